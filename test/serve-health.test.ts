// /healthz, /readyz and /metrics of fleetsynth serve.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MongoSource, writeFleetFile } from '../src/source';
import { ServeHandle, startServe } from '../src/service/serve';
import { tmpDir } from './support/tmp';
import { TestStream, bareRepo, botDoc, commits, get, memoryLogger, testStream, waitFor, testServeOptions } from './serve-support';

jest.setTimeout(60_000);

describe('health endpoints', () => {
  let dir: string;
  let serve: ServeHandle | undefined;
  let stream: TestStream | undefined;
  beforeEach(() => {
    dir = tmpDir('fleetsynth-serve-health-');
  });
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await stream?.destroy();
    stream = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('ready service: /healthz ok, /readyz 200 with every check, /metrics with the service metrics', async () => {
    const fleet = path.join(dir, 'fleet.yaml');
    writeFleetFile(fleet, { bots: [botDoc('alpha')], bot_schedules: [] });
    const repo = bareRepo(dir);
    stream = await testStream();
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir, stream: stream }, {
        port: 0,
        logger: memoryLogger('warn').logger,
      }),
    );
    const s = serve;
    const base = `http://127.0.0.1:${s.healthPort}`;
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: 'ok\n', type: 'text/plain; charset=utf-8' });

    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');
    await waitFor(async () => (await s.readiness()).ready, 5000, 'readiness');
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.type).toBe('application/json');
    const body = JSON.parse(ready.body);
    expect(body.status).toBe('ok');
    expect(body.checks.nats).toEqual({ ok: true, detail: 'connected (JetStream durable consumer)' });
    expect(body.checks.source).toEqual({ ok: true, detail: `reachable: ${fleet}` });
    expect(body.checks.publish.ok).toBe(true);
    expect(body.checks.publish.detail).toMatch(/^ok \(last commit [0-9a-f]{12}\)$/);
    expect(body.checks.secrets).toEqual({ ok: false, detail: 'unavailable: no credentials', informational: true });

    // One query so the query latency histogram has a sample (an unknown bot: 404).
    const q = await fetch(`http://127.0.0.1:${s.queryPort}/query`, { method: 'POST', body: JSON.stringify({ bot_id: 'nope', query_path: '/x' }) });
    expect(q.status).toBe(404);
    await stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'M' }));
    await waitFor(() => commits(repo).length === 2, 15000, 'event commit');
    await waitFor(async () => (await s.metrics.text()).includes('fleetsynth_commits_total{mode="events"} 1'), 5000, 'commit counted');

    const m = await get(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.body).toContain('fleetsynth_events_total{subject="the0.bot.updated",outcome="applied"} 1');
    expect(m.body).toMatch(/fleetsynth_resync_seconds_count\{mode="events"\} 1/);
    expect(m.body).toMatch(/fleetsynth_resync_seconds_count\{mode="reconcile"\} 1/);
    expect(m.body).toMatch(/fleetsynth_commits_total\{mode="events"\} 1/);
    expect(m.body).toMatch(/fleetsynth_commits_total\{mode="reconcile"\} 1/);
    expect(m.body).toContain('fleetsynth_push_failures_total 0');
    expect(m.body).toContain('fleetsynth_query_seconds_count{kind="none",status="404"} 1');
    expect(m.body).toContain('fleetsynth_process_cpu_user_seconds_total');

    expect((await get(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  test('not ready: unreachable source, unreachable NATS, failing publish — 503 with details; still alive', async () => {
    const dead = 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300';
    serve = await startServe(
      testServeOptions({ source: { mongo: new MongoSource(dead, undefined, { serverSelectionTimeoutMS: 300 }) }, repo: path.join(dir, 'no-such-remote.git'), dir: dir }, {
        natsUrl: '127.0.0.1:1',
        retryBaseMs: 100,
        logger: memoryLogger('fatal').logger,
      }),
    );
    const base = `http://127.0.0.1:${serve.healthPort}`;
    expect((await get(`${base}/healthz`)).status).toBe(200);
    const s = serve;
    await waitFor(async () => (await s.readiness()).checks.publish.detail.startsWith('last publish failed'), 15000, 'publish failure');
    const r = await get(`${base}/readyz`);
    expect(r.status).toBe(503);
    const body = JSON.parse(r.body);
    expect(body.status).toBe('not ready');
    expect(body.checks.nats.ok).toBe(false);
    expect(body.checks.nats.detail).toMatch(/^disconnected/);
    expect(body.checks.source.ok).toBe(false);
    expect(body.checks.source.detail).toMatch(/^unreachable: /);
    expect(body.checks.publish.ok).toBe(false);
    const m = await get(`${base}/metrics`);
    expect(m.body).toMatch(/fleetsynth_push_failures_total [1-9]/);
  });
});
