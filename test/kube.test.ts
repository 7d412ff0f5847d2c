// API server access (src/service/kube.ts) at HTTP level, through @kubernetes/client-node's real
// code against a local fake API server: the requests we send and how answers are turned into results.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIELD_MANAGER, KubeAccess, KubeError, loadKube } from '../src/service/kube';
import { FakeKube, startFakeKube, writeKubeconfig } from './query-fakes';

let kube: FakeKube;
let access: KubeAccess;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-kube-'));
  kube = await startFakeKube();
  access = loadKube({ kubeconfig: writeKubeconfig(tmp, kube.url, 'ctx-ns'), namespace: 'the0' })!;
});

afterAll(async () => {
  await kube.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  kube.requests.length = 0;
});

describe('applySecret', () => {
  test('sends a server-side apply PATCH with fieldManager, force, labels and base64 data', async () => {
    const config = JSON.stringify({ api_key: 'AKsupersecret', note: 'ünïcode' });
    await access.applySecret('bot-abc-config', { BOT_CONFIG: config }, { 'the0.app/bot-id': 'abc', 'app.kubernetes.io/managed-by': 'fleetsynth' });
    expect(kube.requests).toHaveLength(1);
    const r = kube.requests[0];
    expect(r.method).toBe('PATCH');
    expect(r.path).toBe('/api/v1/namespaces/the0/secrets/bot-abc-config');
    expect(r.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(r.query.get('fieldManager')).toBe(FIELD_MANAGER);
    expect(r.query.get('force')).toBe('true');
    expect(r.headers.authorization).toBe('Bearer test-token');
    const body = JSON.parse(r.body);
    expect(body).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bot-abc-config', namespace: 'the0', labels: { 'the0.app/bot-id': 'abc', 'app.kubernetes.io/managed-by': 'fleetsynth' } },
      type: 'Opaque',
      data: { BOT_CONFIG: Buffer.from(config, 'utf8').toString('base64') },
    });
    expect(Buffer.from(body.data.BOT_CONFIG, 'base64').toString('utf8')).toBe(config);
  });

  test('a refused apply is an error naming status and reason, without the Secret data', async () => {
    const secret = 'AKsupersecretvalue';
    kube.failNext = {
      method: 'PATCH',
      pathIncludes: '/secrets/',
      code: 422,
      status: {
        kind: 'Status',
        status: 'Failure',
        reason: 'Invalid',
        code: 422,
        // A server that echoes the value back: it must be cut out of our message.
        message: `Secret "bot-x-config" is invalid: data[BOT_CONFIG]: ${secret} / ${Buffer.from(secret).toString('base64')}`,
      },
    };
    const err = await access.applySecret('bot-x-config', { BOT_CONFIG: secret }, {}).catch((e) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err.statusCode).toBe(422);
    expect(err.message).toMatch(/^apply Secret the0\/bot-x-config: HTTP 422 Invalid: Secret "bot-x-config" is invalid/);
    const everything = JSON.stringify(err) + err.message + String(err.stack);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(secret).toString('base64'));
  });

  test('an unreachable API server is an error without the Secret data', async () => {
    const kc = writeKubeconfig(fs.mkdtempSync(path.join(tmp, 'x-')), 'http://127.0.0.1:1');
    const down = loadKube({ kubeconfig: kc })!;
    const err = await down.applySecret('bot-y-config', { BOT_CONFIG: 'SKverysecretvalue' }, {}).catch((e) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err.message).toMatch(/^apply Secret the0\/bot-y-config: .*ECONNREFUSED/);
    expect(JSON.stringify(err) + err.message).not.toContain('SKverysecretvalue');
  });
});

describe('secrets', () => {
  test('listSecrets asks for metadata only, by label selector, and returns sorted names', async () => {
    await access.applySecret('bot-b-config', { BOT_CONFIG: '{}' }, { 'app.kubernetes.io/managed-by': 'fleetsynth' });
    await access.applySecret('bot-a-config', { BOT_CONFIG: '{}' }, { 'app.kubernetes.io/managed-by': 'fleetsynth' });
    await access.applySecret('other', { x: '1' }, { team: 'x' });
    kube.requests.length = 0;
    const names = await access.listSecrets('app.kubernetes.io/managed-by=fleetsynth');
    expect(names).toEqual(expect.arrayContaining(['bot-a-config', 'bot-b-config']));
    expect(names).not.toContain('other');
    expect(names).toEqual([...names].sort());
    const r = kube.requests[0];
    expect(r.method).toBe('GET');
    expect(r.path).toBe('/api/v1/namespaces/the0/secrets');
    expect(r.query.get('labelSelector')).toBe('app.kubernetes.io/managed-by=fleetsynth');
    expect(r.headers.accept).toContain('as=PartialObjectMetadataList');
  });

  test('deleteSecret deletes; a missing Secret is fine', async () => {
    await access.applySecret('bot-del-config', { BOT_CONFIG: '{}' }, {});
    await access.deleteSecret('bot-del-config');
    expect(kube.secrets.has('bot-del-config')).toBe(false);
    await expect(access.deleteSecret('bot-del-config')).resolves.toBeUndefined();
    expect(kube.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([
      '/api/v1/namespaces/the0/secrets/bot-del-config',
      '/api/v1/namespaces/the0/secrets/bot-del-config',
    ]);
  });
});

describe('jobs', () => {
  const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'query-x-1', namespace: 'the0' }, spec: { template: { spec: { containers: [] } } } };

  test('createJob POSTs the object unchanged; readJob reports status; deleteJob uses Background propagation', async () => {
    kube.jobBehaviour = (_n, reads) => (reads >= 2 ? { succeeded: 1 } : { active: 1 });
    await access.createJob(job);
    const post = kube.requests[0];
    expect(post.method).toBe('POST');
    expect(post.path).toBe('/apis/batch/v1/namespaces/the0/jobs');
    expect(JSON.parse(post.body)).toEqual(job);
    expect(await access.readJob('query-x-1')).toEqual({});
    expect(await access.readJob('query-x-1')).toEqual({ succeeded: 1 });
    await access.deleteJob('query-x-1');
    expect(kube.deleted).toContainEqual({ name: 'query-x-1', propagationPolicy: 'Background' });
  });

  test('readJob of a missing Job is null; deleting it again is fine', async () => {
    expect(await access.readJob('query-x-1')).toBeNull();
    await expect(access.deleteJob('query-x-1')).resolves.toBeUndefined();
  });

  test('readJob reports the Failed condition', async () => {
    kube.jobBehaviour = () => ({ failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }] });
    await access.createJob({ ...job, metadata: { ...job.metadata, name: 'query-x-2' } });
    expect(await access.readJob('query-x-2')).toEqual({ failed: 1, reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(await access.jobLogs!('query-x-2')).toContain('ValueError: boom');
  });

  test('a conflict on create is a KubeError with the status', async () => {
    await access.createJob({ ...job, metadata: { ...job.metadata, name: 'query-x-3' } });
    const err = await access.createJob({ ...job, metadata: { ...job.metadata, name: 'query-x-3' } }).catch((e) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err.statusCode).toBe(409);
    expect(err.message).toBe('create Job the0/query-x-3: HTTP 409 AlreadyExists: jobs.batch "query-x-3" already exists');
  });
});

describe('loadKube', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('null without credentials (KUBECONFIG missing, empty HOME, not in a cluster)', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    process.env.KUBECONFIG = path.join(home, 'does-not-exist');
    process.env.HOME = home;
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
    delete process.env.TOKEN_FILE_PATH;
    expect(loadKube()).toBeNull();
  });

  test('KUBECONFIG, then the context namespace; opts.namespace wins', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'kc-'));
    process.env.KUBECONFIG = writeKubeconfig(dir, kube.url, 'from-context');
    expect(loadKube()!.namespace).toBe('from-context');
    expect(loadKube({ namespace: 'the0' })!.namespace).toBe('the0');
  });

  test('~/.kube/config when nothing else is set', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    fs.mkdirSync(path.join(home, '.kube'));
    fs.renameSync(writeKubeconfig(home, kube.url, 'home-ns'), path.join(home, '.kube', 'config'));
    delete process.env.KUBECONFIG;
    delete process.env.KUBERNETES_SERVICE_HOST;
    process.env.HOME = home;
    expect(loadKube()!.namespace).toBe('home-ns');
  });

  test('in-cluster: KUBERNETES_SERVICE_HOST + token file', async () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    const token = path.join(home, 'token');
    fs.writeFileSync(token, 'in-cluster-token\n');
    process.env.KUBECONFIG = path.join(home, 'missing');
    process.env.HOME = home;
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(kube.port);
    process.env.TOKEN_FILE_PATH = token;
    const k = loadKube({ namespace: 'the0' });
    expect(k).not.toBeNull();
    expect(k!.namespace).toBe('the0');
  });

  test('an explicit --kubeconfig that does not exist is an error', () => {
    expect(() => loadKube({ kubeconfig: path.join(tmp, 'nope') })).toThrow(/kubeconfig .*nope does not exist/);
  });
});
