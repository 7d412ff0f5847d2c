// Per-bot config Secrets (SPEC §2.8) as the API server sees them: requests recorded by a local
// fake Kubernetes API, sent through @kubernetes/client-node's real code (src/service/kube.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS } from '../src/settings';
import { writeFleetFile } from '../src/source';
import { loadKube } from '../src/service/kube';
import { SecretsSync } from '../src/service/secrets-sync';
import { ServeHandle, startServe } from '../src/service/serve';
import { tmpDir } from './support/tmp';
import { FakeKube, startFakeKube, writeKubeconfig } from './query-fakes';
import { TestStream, bareRepo, botDoc, commits, get, memoryLogger, scheduleDoc, show, testStream, waitFor, testServeOptions } from './serve-support';
import { botFilePath } from '../src/synth/shard';

jest.setTimeout(60_000);

const MANAGED = { 'app.kubernetes.io/managed-by': 'fleetsynth' };
const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, DEFAULT_SETTINGS.shards)}`;

describe('secrets sync', () => {
  let dir: string;
  let kube: FakeKube;
  let stream: TestStream;
  let serve: ServeHandle | undefined;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    dir = tmpDir('fleetsynth-serve-secrets-');
    kube = await startFakeKube();
    stream = await testStream();
    log = memoryLogger('debug');
  });
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await stream.destroy();
    await kube.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const secretOps = () =>
    kube.requests
      .filter((r) => r.path.includes('/secrets'))
      .map((r) => `${r.method} ${r.path.replace('/api/v1/namespaces/the0/secrets', '')}${r.method === 'GET' ? `?${r.query.get('labelSelector') ?? ''}` : ''}`);

  test('server-side apply of bot-<id>-config with labels, deletes for gone bots, unlabelled Secrets never touched', async () => {
    const fleet = path.join(dir, 'fleet.json');
    const docs = { bots: [botDoc('alpha'), botDoc('beta'), botDoc('foreign'), botDoc('off', { enabled: false })], bot_schedules: [scheduleDoc('gamma')] };
    writeFleetFile(fleet, docs);
    // Already in the cluster: a managed Secret of a bot that is gone, an unlabelled Secret that
    // happens to have a bot's name, and an unrelated one.
    kube.secrets.set('bot-gone-config', { metadata: { name: 'bot-gone-config', labels: { 'the0.app/bot-id': 'gone', ...MANAGED } }, data: {} });
    kube.secrets.set('bot-foreign-config', { metadata: { name: 'bot-foreign-config', labels: {} }, data: {} });
    kube.secrets.set('the0-secrets', { metadata: { name: 'the0-secrets' }, data: {} });

    const repo = bareRepo(dir);
    const access = loadKube({ kubeconfig: writeKubeconfig(dir, kube.url), namespace: 'the0' });
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir, stream: stream }, {
        kube: access,
        logger: log.logger,
      }),
    );
    const s = serve;
    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');
    await waitFor(() => secretOps().includes('DELETE /bot-gone-config'), 10000, 'initial secret sync');

    const patches = kube.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path).sort()).toEqual(
      ['alpha', 'beta', 'gamma'].map((id) => `/api/v1/namespaces/the0/secrets/bot-${id}-config`),
    );
    for (const r of patches) {
      const id = /bot-(.*)-config$/.exec(r.path)![1];
      expect(r.headers['content-type']).toBe('application/apply-patch+yaml');
      expect(r.query.get('fieldManager')).toBe('fleetsynth');
      expect(r.query.get('force')).toBe('true');
      const body = JSON.parse(r.body);
      expect(body.metadata).toEqual({ name: `bot-${id}-config`, namespace: 'the0', labels: { 'the0.app/bot-id': id, ...MANAGED } });
      expect(body.type).toBe('Opaque');
      expect(Object.keys(body.data)).toEqual(['BOT_CONFIG']);
      const doc = [...docs.bots, ...docs.bot_schedules].find((d) => d.id === id)!;
      expect(JSON.parse(Buffer.from(body.data.BOT_CONFIG, 'base64').toString('utf8'))).toEqual(doc.config);
    }
    // Unlabelled Secrets: never patched, never deleted.
    expect(secretOps().filter((o) => /foreign|the0-secrets/.test(o) && !o.startsWith('GET'))).toEqual([]);
    expect(secretOps().filter((o) => o.startsWith('DELETE'))).toEqual(['DELETE /bot-gone-config']);
    expect((await s.readiness()).checks.secrets).toEqual({ ok: true, detail: expect.stringContaining('ok'), informational: true });

    // An update patches that bot only; a delete removes its Secret after its manifest is gone.
    kube.requests.length = 0;
    await stream.publish('the0.bot.updated', botDoc('alpha', { exchange: { api_key: 'AK-rotated-secretvalue' } }));
    await waitFor(() => kube.requests.some((r) => r.method === 'PATCH'), 10000, 'patch after update');
    expect(secretOps().filter((o) => !o.startsWith('GET'))).toEqual(['PATCH /bot-alpha-config']);
    const rotated = JSON.parse(Buffer.from(JSON.parse(kube.requests.find((r) => r.method === 'PATCH')!.body).data.BOT_CONFIG, 'base64').toString());
    expect(rotated.exchange.api_key).toBe('AK-rotated-secretvalue');

    kube.requests.length = 0;
    await stream.publish('the0.bot.deleted', { id: 'beta', config: {} });
    await waitFor(() => secretOps().includes('DELETE /bot-beta-config'), 10000, 'delete after bot deleted');
    expect(show(repo, fileOf('beta'))).toBeUndefined();
    expect(secretOps().filter((o) => !o.startsWith('GET'))).toEqual(['DELETE /bot-beta-config']);
    // Unchanged bots are not re-sent on a redelivered event.
    kube.requests.length = 0;
    await stream.publish('the0.bot.updated', botDoc('alpha', { exchange: { api_key: 'AK-rotated-secretvalue' } }));
    await waitFor(async () => (await stream.consumerInfo()).num_ack_pending === 0 && (await stream.consumerInfo()).delivered === 3, 10000, 'third event acked');
    expect(kube.requests.filter((r) => r.method === 'PATCH')).toEqual([]);

    // Never a secret value in the logs.
    const all = log.lines.join('\n');
    expect(all).not.toMatch(/secretvalue/);
    expect(all).not.toContain(Buffer.from('AK-rotated-secretvalue').toString('base64').slice(0, 16));
  });

  test('a failed apply is retried; readiness reports the error without failing', async () => {
    const fleet = path.join(dir, 'fleet.json');
    writeFleetFile(fleet, { bots: [botDoc('alpha')], bot_schedules: [] });
    kube.failNext = { method: 'PATCH', pathIncludes: '/secrets/', code: 500, status: { kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500, message: 'etcd down' } };
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo: bareRepo(dir), dir: dir }, {
        kube: loadKube({ kubeconfig: writeKubeconfig(dir, kube.url), namespace: 'the0' }),
        retryBaseMs: 100,
        logger: log.logger,
      }),
    );
    const s = serve;
    await waitFor(async () => (await s.readiness()).checks.secrets.detail.includes('etcd down'), 10000, 'error reported');
    expect((await s.readiness()).ready).toBe(true);
    await waitFor(() => kube.secrets.has('bot-alpha-config'), 10000, 'retried apply');
    await waitFor(async () => (await s.readiness()).checks.secrets.ok, 10000, 'ok again');
  });

  test('without Kubernetes credentials serve still runs and /readyz says secrets sync is unavailable', async () => {
    const fleet = path.join(dir, 'fleet.json');
    writeFleetFile(fleet, { bots: [botDoc('alpha')], bot_schedules: [] });
    const repo = bareRepo(dir);
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir, stream: stream }, {
        logger: log.logger,
      }),
    );
    const s = serve;
    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');
    await stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'NOKUBE' }));
    await waitFor(() => show(repo, fileOf('alpha'))?.includes('NOKUBE'), 10000, 'published without kube');
    const r = await get(`http://127.0.0.1:${s.healthPort}/readyz`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.checks.secrets).toEqual({ ok: false, detail: 'unavailable: no credentials', informational: true });
    expect(kube.requests).toEqual([]);
  });
});

describe('SecretsSync (stub API)', () => {
  const spec = (id: string) => ({ id, configJson: JSON.stringify({ k: id }) }) as never;
  function stubKube(opts: { failApply?: () => boolean; failList?: () => boolean; existing?: Record<string, Record<string, string>> } = {}) {
    const calls: string[] = [];
    const secrets = new Map(Object.entries(opts.existing ?? {}));
    return {
      calls,
      secrets,
      kube: {
        namespace: 'the0',
        async applySecret(name: string, _d: Record<string, string>, labels: Record<string, string>) {
          calls.push(`apply ${name}`);
          if (opts.failApply?.()) throw new Error('HTTP 503');
          secrets.set(name, labels);
        },
        async deleteSecret(name: string) {
          calls.push(`delete ${name}`);
          secrets.delete(name);
        },
        async listSecrets(sel: string) {
          calls.push(`list ${sel}`);
          if (opts.failList?.()) throw new Error('HTTP 500 list');
          const want = sel === '' ? [] : sel.split(',').map((kv) => kv.split('='));
          return [...secrets].filter(([, l]) => want.every(([k, v]) => l[k] === v)).map(([n]) => n).sort();
        },
        async createJob() {},
        async readJob() {
          return null;
        },
        async deleteJob() {},
      },
    };
  }

  test('a failing API server is not hammered: after 10 failures in a row the rest is queued for retry', async () => {
    const k = stubKube({ failApply: () => true });
    const sync = new SecretsSync(k.kube, { logger: memoryLogger('fatal').logger, concurrency: 1 });
    const report = await sync.syncAll(Array.from({ length: 100 }, (_, i) => spec(`b${i}`)), new Set());
    expect(report.failed).toHaveLength(100);
    expect(k.calls.filter((c) => c.startsWith('apply'))).toHaveLength(10);
    expect(sync.hasRetries()).toBe(true);
    expect(sync.status().ok).toBe(false);
  });

  test('nothing is applied before the namespace could be listed (foreign Secrets unknown)', async () => {
    let listFails = true;
    const k = stubKube({ failList: () => listFails, existing: { 'bot-x-config': {} } });
    const sync = new SecretsSync(k.kube, { logger: memoryLogger('fatal').logger });
    const r1 = await sync.syncSome([spec('x'), spec('y')], []);
    expect(r1.failed.sort()).toEqual(['x', 'y']);
    expect(k.calls.some((c) => c.startsWith('apply'))).toBe(false);
    listFails = false;
    const r2 = await sync.syncSome([], []);
    expect(r2.applied).toBe(1);
    expect(r2.foreign).toEqual(['bot-x-config']);
    expect(k.calls.filter((c) => c.startsWith('apply'))).toEqual(['apply bot-y-config']);
    // Unchanged content is not re-sent.
    expect((await sync.syncSome([spec('y')], [])).unchanged).toBe(1);
  });
});
