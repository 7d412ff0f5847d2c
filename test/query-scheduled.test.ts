// Scheduled-bot queries (SPEC §4.3) end to end: the query server creates a Job through
// @kubernetes/client-node against a local fake API server, polls it, reads the result the "runtime"
// uploaded to an in-process S3 server (s3rver) through the minio client, deletes both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as Minio from 'minio';
import pino from 'pino';
import { loadKube } from '../src/service/kube';
import { lookupFromDocuments } from '../src/service/query/lookup';
import { QueryServer, startQueryServer } from '../src/service/query/server';
import { DEFAULT_SETTINGS } from '../src/settings';
import { FakeKube, FakeS3, call, startFakeKube, startS3, writeKubeconfig } from './query-fakes';

const ID = 'kqit0jf1shnktk9i5gffkt1c';
const LONG_ID = 'a-very-long-schedule-id-that-fills-most-of-the-sixty-three-chr';

function schedule(id: string, entrypoints: unknown) {
  return {
    id,
    config: { name: 'Nightly', type: 'scheduled/rebalance', version: '1.2.0', schedule: '0 9 * * *', api_secret: 'SKsupersecretvalue' },
    custom: {
      version: '1.2.0',
      filePath: 'user1/rebalance/1.2.0/rebalance.zip',
      config: { name: 'rebalance', runtime: 'nodejs20', type: 'scheduled', entrypoints },
    },
  };
}

const fleet = {
  bots: [],
  bot_schedules: [
    schedule(ID, { bot: 'main.js', query: 'query.js' }),
    schedule(LONG_ID, { bot: 'main.js', query: 'query.js' }),
    schedule('noquery', { bot: 'main.js' }),
    schedule('emptyquery', { bot: 'main.js', query: '' }),
    schedule('noentry', undefined),
  ],
};

type Env = { name: string; value?: string };
const envOf = (job: Record<string, unknown>): Env[] => (job as any).spec.template.spec.containers[0].env; // eslint-disable-line @typescript-eslint/no-explicit-any
const envValue = (job: Record<string, unknown>, name: string) => envOf(job).find((e) => e.name === name)?.value;

let kube: FakeKube;
let s3: FakeS3;
let minio: Minio.Client;
let server: QueryServer;
let base: string;
let tmp: string;
/** What the "runtime" uploads when a Job is created: the result body, or nothing. */
let upload: string | null;

async function exists(key: string): Promise<boolean> {
  try {
    await minio.statObject('query-results', key);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-query-'));
  kube = await startFakeKube();
  s3 = await startS3();
  minio = new Minio.Client({ ...s3.settings, region: 'us-east-1' });
  kube.onJobCreated = async (job) => {
    if (upload !== null) await minio.putObject('query-results', envValue(job, 'QUERY_RESULT_KEY')!, Buffer.from(upload));
  };
  const access = loadKube({ kubeconfig: writeKubeconfig(tmp, kube.url) });
  expect(access).not.toBeNull();
  server = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments(fleet),
    settings: DEFAULT_SETTINGS,
    kube: access,
    minio: s3.settings,
    logger: pino({ level: 'silent' }),
    pollIntervalMs: 50,
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
  await kube.close();
  await s3.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const afterTestRestore: (() => void)[] = [];
afterEach(() => afterTestRestore.splice(0).forEach((f) => f()));

beforeEach(() => {
  kube.requests.length = 0;
  kube.created.length = 0;
  kube.deleted.length = 0;
  kube.jobBehaviour = (_n, reads) => (reads >= 3 ? { succeeded: 1 } : { active: 1 });
  upload = JSON.stringify({ status: 'ok', data: { positions: 3, pnl: -12.5 } });
});

const query = (body: unknown) => call(`${base}/query`, { body: JSON.stringify(body) });

test('ok: Job created, polled until it succeeds, result read and deleted, Job deleted', async () => {
  const before = BigInt(Date.now()) * 1_000_000n;
  const r = await query({ bot_id: ID, query_path: 'portfolio', params: { symbol: 'ETH', depth: 2 }, timeout_sec: 20 });
  expect(r.status).toBe(200);
  expect(r.json.status).toBe('ok');
  expect(r.json.data).toEqual({ positions: 3, pnl: -12.5 });
  expect(r.json.error).toBeUndefined();
  expect(Number.isInteger(r.json.duration)).toBe(true);
  expect(r.json.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);

  expect(kube.created).toHaveLength(1);
  const job = kube.created[0] as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const name: string = job.metadata.name;
  expect(name).toMatch(new RegExp(`^query-${ID}-\\d{19}$`));
  expect(name.length).toBeLessThanOrEqual(63);
  expect(job.metadata.namespace).toBe('the0');
  expect(job.metadata.labels).toMatchObject({
    'the0.app/managed-by': 'the0-query-handler',
    'the0.app/bot-id': ID,
    'the0.app/query': 'true',
  });
  expect(job.spec).toMatchObject({ backoffLimit: 0, ttlSecondsAfterFinished: 300, activeDeadlineSeconds: 20 });
  expect(job.spec.template.spec.restartPolicy).toBe('Never');
  expect(job.spec.template.metadata.labels['the0.app/managed-by']).toBe('the0-query-handler');

  const key = envValue(job, 'QUERY_RESULT_KEY')!;
  const m = new RegExp(`^${ID}/(\\d+)/result\\.json$`).exec(key);
  expect(m).not.toBeNull();
  const nanos = BigInt(m![1]);
  expect(nanos).toBeGreaterThanOrEqual(before);
  expect(name.endsWith(`-${m![1]}`)).toBe(true);
  expect(envValue(job, 'QUERY_PATH')).toBe('/portfolio');
  expect(JSON.parse(envValue(job, 'QUERY_PARAMS')!)).toEqual({ symbol: 'ETH', depth: 2 });
  expect(envValue(job, 'ENTRYPOINT')).toBe('query.js');
  expect(envOf(job).map((e) => e.name)).not.toContain('BOT_TYPE');
  expect(envOf(job).map((e) => e.name)).not.toContain('QUERY_ENTRYPOINT');
  // No secret in the Job: BOT_CONFIG is a secretKeyRef.
  expect(JSON.stringify(job)).not.toContain('SKsupersecretvalue');

  // Polled (3 reads), then deleted with background propagation; the result object is gone.
  const reads = kube.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/jobs/${name}`));
  expect(reads).toHaveLength(3);
  expect(kube.deleted).toEqual([{ name, propagationPolicy: 'Background' }]);
  expect(kube.jobs.has(name)).toBe(false);
  expect(await exists(key)).toBe(false);
  // Requests went through the client library with the kubeconfig's credentials.
  expect(kube.requests[0].headers.authorization).toBe('Bearer test-token');
});

test('no params: no QUERY_PARAMS; long ids keep the whole unique suffix', async () => {
  const r = await query({ bot_id: LONG_ID, query_path: '/x' });
  expect(r.status).toBe(200);
  const job = kube.created[0] as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(envOf(job).map((e) => e.name)).not.toContain('QUERY_PARAMS');
  const name: string = job.metadata.name;
  expect(name.length).toBeLessThanOrEqual(63);
  // 63 = 'query-' + 37 chars of the id + '-' + 19 digits.
  expect(name).toMatch(new RegExp(`^query-${LONG_ID.slice(0, 37)}-\\d{19}$`));
  const nanos = /\/(\d+)\/result\.json$/.exec(envValue(job, 'QUERY_RESULT_KEY')!)![1];
  expect(name.endsWith(`-${nanos}`)).toBe(true);
  expect(job.spec.activeDeadlineSeconds).toBe(30);
});

test('the bot says error in its result → 500 with its message', async () => {
  upload = JSON.stringify({ status: 'error', error: 'no positions for ETH' });
  const r = await query({ bot_id: ID, query_path: '/portfolio' });
  expect(r.status).toBe(500);
  expect(r.json).toMatchObject({ status: 'error', error: 'no positions for ETH' });
  expect(kube.deleted).toHaveLength(1);
});

test('Job failed → 500 "query job failed", the log stays server-side, Job deleted', async () => {
  upload = null;
  kube.jobBehaviour = (_n, reads) =>
    reads >= 2
      ? { failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] }
      : { active: 1 };
  const lines: string[] = [];
  const logged = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments(fleet),
    settings: DEFAULT_SETTINGS,
    kube: loadKube({ kubeconfig: path.join(tmp, 'kubeconfig') }),
    minio: s3.settings,
    logger: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }),
    pollIntervalMs: 50,
  });
  try {
    const r = await call(`http://127.0.0.1:${logged.port}/query`, { body: JSON.stringify({ bot_id: ID, query_path: '/p', params: { api_key: 'AKparamsecret' } }) });
    expect(r.status).toBe(500);
    expect(r.json.status).toBe('error');
    expect(r.json.error).toBe('query job failed');
    expect(r.text).not.toContain('Traceback');
    const name = (kube.created[0] as any).metadata.name; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(kube.deleted).toEqual([{ name, propagationPolicy: 'Background' }]);
    const log = lines.join('');
    expect(log).toContain('BackoffLimitExceeded');
    expect(log).toContain('ValueError: boom');
    expect(log).not.toContain('AKparamsecret');
  } finally {
    await logged.close();
  }
});

test('deadline reached → 500, Job deleted', async () => {
  upload = null;
  kube.jobBehaviour = () => ({ active: 1 });
  const t0 = Date.now();
  const r = await query({ bot_id: ID, query_path: '/slow', timeout_sec: 1 });
  expect(r.status).toBe(500);
  expect(r.json.error).toBe('query timed out after 1s');
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(kube.deleted).toHaveLength(1);
  expect(kube.jobs.size).toBe(0);
});

test('Job succeeded without a result → 500', async () => {
  upload = null;
  const r = await query({ bot_id: ID, query_path: '/x' });
  expect(r.status).toBe(500);
  expect(r.json.error).toBe('query job succeeded but left no result');
  expect(kube.deleted).toHaveLength(1);
});

test('an unparsable result → 500, object deleted', async () => {
  upload = 'not json';
  const r = await query({ bot_id: ID, query_path: '/x' });
  expect(r.status).toBe(500);
  expect(r.json.error).toBe('invalid response from query job: not valid JSON');
  const key = envValue(kube.created[0], 'QUERY_RESULT_KEY')!;
  expect(await exists(key)).toBe(false);
});

test('the API server refuses the Job → 500 with its reason', async () => {
  kube.failNext = {
    method: 'POST',
    pathIncludes: '/jobs',
    code: 403,
    status: { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'jobs.batch is forbidden: User "system:serviceaccount:the0:fleetsynth" cannot create resource' },
  };
  const r = await query({ bot_id: ID, query_path: '/x' });
  expect(r.status).toBe(500);
  expect(r.json.error).toMatch(/^creating query job failed: create Job the0\/query-.* HTTP 403 Forbidden: jobs.batch is forbidden/);
  expect(kube.deleted).toHaveLength(0);
});

test('two concurrent queries get distinct Jobs and result keys', async () => {
  // s3rver's directory clean-up after a delete races with a concurrent delete under the same
  // prefix (500, then the minio client's retry succeeds); its retry warning is noise here.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  afterTestRestore.push(() => warn.mockRestore());
  const [a, b] = await Promise.all([query({ bot_id: ID, query_path: '/x' }), query({ bot_id: ID, query_path: '/x' })]);
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  const names = kube.created.map((j) => (j as any).metadata.name); // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(new Set(names).size).toBe(2);
  expect(kube.deleted).toHaveLength(2);
});

test.each([
  ['noquery', 'bot noquery does not have a query entrypoint'],
  ['emptyquery', 'bot emptyquery does not have a query entrypoint'],
  ['noentry', 'bot noentry does not have entrypoints configured'],
])('schedule %s → 404, no Job', async (id, message) => {
  const r = await query({ bot_id: id, query_path: '/x' });
  expect(r.status).toBe(404);
  expect(r.json.error).toBe(message);
  expect(kube.created).toHaveLength(0);
});

test('MinIO missing → 500 "scheduled-bot queries unavailable", no Job', async () => {
  const s = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments(fleet),
    settings: DEFAULT_SETTINGS,
    kube: loadKube({ kubeconfig: path.join(tmp, 'kubeconfig') }),
    minio: null,
    logger: pino({ level: 'silent' }),
  });
  try {
    const r = await call(`http://127.0.0.1:${s.port}/query`, { body: JSON.stringify({ bot_id: ID, query_path: '/x' }) });
    expect(r.status).toBe(500);
    expect(r.json.error).toMatch(/^scheduled-bot queries unavailable: MinIO credentials not configured/);
    expect(kube.created).toHaveLength(0);
  } finally {
    await s.close();
  }
});

test('a client that goes away stops the wait and the Job is still deleted', async () => {
  upload = null;
  kube.jobBehaviour = () => ({ active: 1 });
  const ac = new AbortController();
  const p = fetch(`${base}/query`, { method: 'POST', body: JSON.stringify({ bot_id: ID, query_path: '/x', timeout_sec: 60 }), signal: ac.signal }).catch(() => null);
  for (let i = 0; i < 100 && kube.created.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(kube.created).toHaveLength(1);
  ac.abort();
  await p;
  for (let i = 0; i < 100 && kube.deleted.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(kube.deleted).toHaveLength(1);
});

test('more scheduled queries than --max-query-jobs at once: the extra one fails fast (500), the others run', async () => {
  let release = false;
  kube.jobBehaviour = () => (release ? { succeeded: 1 } : { active: 1 });
  const capped = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments(fleet),
    settings: DEFAULT_SETTINGS,
    kube: loadKube({ kubeconfig: path.join(tmp, 'kubeconfig') }),
    minio: s3.settings,
    logger: pino({ level: 'silent' }),
    pollIntervalMs: 50,
    maxQueryJobs: 1,
  });
  try {
    const url = `http://127.0.0.1:${capped.port}/query`;
    const first = call(url, { body: JSON.stringify({ bot_id: ID, query_path: '/a', timeout_sec: 20 }) });
    while (kube.created.length === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    const second = await call(url, { body: JSON.stringify({ bot_id: LONG_ID, query_path: '/b', timeout_sec: 20 }) });
    expect(second.status).toBe(500);
    expect(second.json).toMatchObject({ status: 'error', error: 'too many scheduled-bot queries running (limit 1); try again shortly' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(kube.created).toHaveLength(1);
    release = true;
    expect((await first).status).toBe(200);
    // The slot is free again.
    const third = await call(url, { body: JSON.stringify({ bot_id: LONG_ID, query_path: '/c', timeout_sec: 20 }) });
    expect(third.status).toBe(200);
    expect(kube.created).toHaveLength(2);
  } finally {
    await capped.close();
  }
});
