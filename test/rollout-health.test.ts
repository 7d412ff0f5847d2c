// Rollout health through @kubernetes/client-node's real code against a fake API server at HTTP
// level: Deployments, Pods, CronJobs and Jobs as the API server lists them, label selectors with
// set-based `in (…)` as the API server parses them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { RolloutTarget, kubeHealthReader } from '../src/gitops/rollout/health';
import { LocalServer, readAll, startHttp, writeKubeconfig } from './query-fakes';

type Obj = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; generation?: number }; [k: string]: unknown };

/** `a=b,c in (x,y)` → predicate over labels. */
function selector(sel: string): (labels: Record<string, string>) => boolean {
  const parts: Array<(l: Record<string, string>) => boolean> = [];
  for (const m of sel.matchAll(/([^,\s]+)\s+in\s+\(([^)]*)\)|([^,=\s]+)=([^,]*)/g)) {
    if (m[1]) {
      const set = new Set(m[2].split(',').map((s) => s.trim()));
      parts.push((l) => set.has(l[m[1]]));
    } else parts.push((l) => l[m[3]] === m[4]);
  }
  return (l) => parts.every((p) => p(l));
}

interface FakeCluster extends LocalServer {
  deployments: Obj[];
  pods: Obj[];
  cronJobs: Obj[];
  jobs: Obj[];
  lists: string[];
}

async function startCluster(): Promise<FakeCluster> {
  const c = { deployments: [], pods: [], cronJobs: [], jobs: [], lists: [] } as unknown as FakeCluster;
  const routes: Array<[RegExp, () => Obj[]]> = [
    [/^\/apis\/apps\/v1\/namespaces\/the0\/deployments$/, () => c.deployments],
    [/^\/api\/v1\/namespaces\/the0\/pods$/, () => c.pods],
    [/^\/apis\/batch\/v1\/namespaces\/the0\/cronjobs$/, () => c.cronJobs],
  ];
  const server = await startHttp(async (req, res) => {
    await readAll(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    for (const [re, items] of routes) {
      if (re.test(url.pathname) && req.method === 'GET') {
        const sel = url.searchParams.get('labelSelector') ?? '';
        c.lists.push(`${url.pathname} ${sel}`);
        const match = selector(sel);
        return send(200, { kind: 'List', apiVersion: 'v1', metadata: {}, items: items().filter((o) => match(o.metadata.labels ?? {})) });
      }
    }
    const job = /^\/apis\/batch\/v1\/namespaces\/the0\/jobs\/([^/]+)$/.exec(url.pathname);
    if (job && req.method === 'GET') {
      const j = c.jobs.find((o) => o.metadata.name === decodeURIComponent(job[1]));
      return j ? send(200, j) : send(404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
    }
    send(404, { kind: 'Status', code: 404, reason: 'NotFound', message: `no route ${url.pathname}` });
  });
  return Object.assign(c, server);
}

const MARK = 'fleetsynth.io/generation';
const SINCE = new Date('2026-12-03T10:00:00Z');
const after = (s: number) => new Date(SINCE.getTime() + s * 1000).toISOString();

function deployment(id: string, opts: { gen?: string; observed?: number; updated?: number; available?: number; stalled?: boolean } = {}): Obj {
  return {
    metadata: { name: `bot-${id}`, labels: { 'the0.app/bot-id': id }, annotations: { [MARK]: opts.gen ?? 'new' }, generation: 2 },
    status: {
      observedGeneration: opts.observed ?? 2,
      replicas: 1,
      updatedReplicas: opts.updated ?? 1,
      availableReplicas: opts.available ?? 1,
      conditions: opts.stalled ? [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] : [],
    },
  };
}

function pod(id: string, containers: Array<Record<string, unknown>>, created = after(5)): Obj {
  return {
    metadata: { name: `bot-${id}-abc`, labels: { 'the0.app/bot-id': id, 'the0.app/managed-by': 'the0-bot-controller' }, creationTimestamp: created },
    status: { phase: 'Running', containerStatuses: containers },
  };
}

const running = { name: 'bot', restartCount: 0, state: { running: {} } };
const target = (id: string, kind: 'realtime' | 'scheduled' = 'realtime'): RolloutTarget => ({
  id,
  kind,
  name: kind === 'realtime' ? `bot-${id}` : `schedule-${id}`,
  markerKey: MARK,
  markerValue: 'new',
});

describe('rollout health from the Kubernetes API', () => {
  let cluster: FakeCluster;
  let dir: string;
  let kc: KubeConfig;
  beforeEach(async () => {
    cluster = await startCluster();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-health-'));
    kc = new KubeConfig();
    kc.loadFromFile(writeKubeconfig(dir, cluster.url));
  });
  afterEach(async () => {
    await cluster.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('realtime bots: healthy, not yet synced, not yet observed, failing with the pod reason', async () => {
    cluster.deployments.push(
      deployment('ok'),
      deployment('old', { gen: 'previous' }),
      deployment('slow', { observed: 1 }),
      deployment('pull'),
      deployment('crash'),
      deployment('oom'),
      deployment('stuck', { stalled: true, available: 0 }),
      deployment('starting', { available: 0 }),
    );
    cluster.pods.push(
      pod('ok', [running]),
      pod('pull', [{ name: 'bot', restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }]),
      pod('crash', [{ name: 'bot', restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } } }]),
      pod('oom', [{ name: 'bot', restartCount: 1, state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', finishedAt: after(30) } } }]),
      pod('starting', [{ name: 'bot', restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }]),
    );
    const ids = ['ok', 'old', 'slow', 'pull', 'crash', 'oom', 'stuck', 'starting', 'missing'];
    const health = await kubeHealthReader(kc, 'the0').check(ids.map((id) => target(id)), SINCE);
    const by = Object.fromEntries(health.map((h) => [h.id, h]));
    expect(by.ok).toEqual({ id: 'ok', state: 'healthy' });
    expect(by.old).toMatchObject({ state: 'pending', reason: 'not synced yet' });
    expect(by.slow).toMatchObject({ state: 'pending', reason: 'rollout not observed yet' });
    expect(by.pull).toMatchObject({ state: 'unhealthy', reason: 'ImagePullBackOff (container bot)' });
    expect(by.crash).toMatchObject({ state: 'unhealthy', reason: 'CrashLoopBackOff (container bot)' });
    expect(by.oom).toMatchObject({ state: 'unhealthy', reason: 'OOMKilled (container bot, 1 restart)' });
    expect(by.stuck).toMatchObject({ state: 'unhealthy', reason: 'ProgressDeadlineExceeded' });
    expect(by.starting).toMatchObject({ state: 'pending', reason: 'ContainerCreating' });
    expect(by.missing).toMatchObject({ state: 'pending', reason: 'Deployment not applied yet' });
    // One Deployment list and one Pod list for the chunk, with a set-based selector.
    expect(cluster.lists.filter((l) => l.includes('/deployments'))).toHaveLength(1);
    expect(cluster.lists[0]).toContain('the0.app/bot-id in (ok,old,slow,');
  });

  test('a restart before the wave was committed does not count against it', async () => {
    cluster.deployments.push(deployment('veteran'));
    cluster.pods.push(
      pod('veteran', [{ name: 'bot', restartCount: 2, state: { running: {} }, lastState: { terminated: { reason: 'Error', finishedAt: after(-3600) } } }], after(-7200)),
    );
    const [h] = await kubeHealthReader(kc, 'the0').check([target('veteran')], SINCE);
    expect(h).toEqual({ id: 'veteran', state: 'healthy' });
  });

  test('scheduled bots: the first Job after the wave decides; none ran yet is healthy', async () => {
    for (const id of ['good', 'bad', 'idle', 'busy']) {
      cluster.cronJobs.push({ metadata: { name: `schedule-${id}`, labels: { 'the0.app/schedule-id': id }, annotations: { [MARK]: 'new' } } });
    }
    const jobPod = (id: string, job: string, created: string): Obj => ({
      metadata: { name: `${job}-x`, labels: { 'the0.app/schedule-id': id, 'the0.app/bot-id': id, 'job-name': job }, creationTimestamp: created },
      status: { phase: 'Succeeded' },
    });
    cluster.pods.push(jobPod('good', 'schedule-good-1', after(60)), jobPod('bad', 'schedule-bad-1', after(60)), jobPod('bad', 'schedule-bad-0', after(-600)), jobPod('busy', 'schedule-busy-1', after(60)));
    cluster.jobs.push(
      { metadata: { name: 'schedule-good-1', creationTimestamp: after(60) }, status: { succeeded: 1 } },
      { metadata: { name: 'schedule-bad-1', creationTimestamp: after(60) }, status: { failed: 3, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] } },
      { metadata: { name: 'schedule-bad-0', creationTimestamp: after(-600) }, status: { succeeded: 1 } },
      { metadata: { name: 'schedule-busy-1', creationTimestamp: after(60) }, status: { active: 1 } },
    );
    const health = await kubeHealthReader(kc, 'the0').check(['good', 'bad', 'idle', 'busy', 'gone'].map((id) => target(id, 'scheduled')), SINCE);
    const by = Object.fromEntries(health.map((h) => [h.id, h]));
    expect(by.good).toEqual({ id: 'good', state: 'healthy' });
    expect(by.bad).toMatchObject({ state: 'unhealthy', reason: 'Job schedule-bad-1 failed: BackoffLimitExceeded' });
    expect(by.idle).toEqual({ id: 'idle', state: 'healthy' });
    expect(by.busy).toMatchObject({ state: 'pending', reason: 'Job schedule-busy-1 running' });
    expect(by.gone).toMatchObject({ state: 'pending', reason: 'CronJob not applied yet' });
  });

  test('large waves are read in chunks of 100 ids per request', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `b${i}`);
    for (const id of ids) {
      cluster.deployments.push(deployment(id));
      cluster.pods.push(pod(id, [running]));
    }
    const health = await kubeHealthReader(kc, 'the0').check(ids.map((id) => target(id)), SINCE);
    expect(health.filter((h) => h.state === 'healthy')).toHaveLength(250);
    expect(cluster.lists.filter((l) => l.includes('/deployments'))).toHaveLength(3);
  });
});
