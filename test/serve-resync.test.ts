// The resync queue's guarantees: a failed push is retried with backoff and never loses pending
// ids; the periodic full reconcile heals changes that came without an event; an empty source
// never prunes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { publish } from '../src/gitops/publish';
import { DEFAULT_ROLLOUT, ROLLOUT_FILE, parseRolloutState } from '../src/gitops/rollout/state';
import { fakeCluster } from './support/fake-cluster';
import { ServeHandle, startServe } from '../src/service/serve';
import { botFilePath } from '../src/synth/shard';
import { tmpDir } from './support/tmp';
import { TestStream, bareRepo, botDoc, commits, git, memoryLogger, show, testStream, touched, tree, waitFor, testServeOptions } from './serve-support';

jest.setTimeout(180_000);
const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, DEFAULT_SETTINGS.shards)}`;

describe('resync queue', () => {
  let dir: string;
  let stream: TestStream | undefined;
  let serve: ServeHandle | undefined;
  beforeEach(() => {
    dir = tmpDir('fleetsynth-serve-resync-');
  });
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await stream?.destroy();
    stream = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a failed push is retried with backoff; pending ids survive and land in one commit', async () => {
    const fleet = path.join(dir, 'fleet.json');
    writeFleetFile(fleet, { bots: [botDoc('alpha'), botDoc('beta')], bot_schedules: [] });
    const repo = bareRepo(dir);
    stream = await testStream();
    const log = memoryLogger('info');
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir, stream: stream }, {
        retryBaseMs: 300,
        logger: log.logger,
      }),
    );
    const s = serve;
    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');

    // The remote goes away.
    const away = `${repo}.away`;
    fs.renameSync(repo, away);
    await stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'WHILE-DOWN-1' }));
    await waitFor(async () => (await s.readiness()).checks.publish.detail.startsWith('last publish failed'), 10000, 'failure reported');
    await stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'WHILE-DOWN-2' }));
    // Both events are acked (durable in the fleet file, queued for retry) while the remote is down.
    await waitFor(async () => (await stream!.consumerInfo()).num_ack_pending === 0 && (await stream!.consumerInfo()).ack_floor === 2, 10000, 'acked while down');
    await waitFor(() => s.queue.status().pending === 2 && s.queue.status().failures >= 2, 10000, 'retrying with both ids pending');
    expect((await s.readiness()).ready).toBe(false);

    fs.renameSync(away, repo);
    await waitFor(() => commits(repo).length === 2, 15000, 'published after the remote is back');
    expect(touched(repo, commits(repo)[0]).sort()).toEqual([fileOf('alpha'), fileOf('beta')].sort());
    expect(show(repo, fileOf('alpha'))).toContain('WHILE-DOWN-1');
    expect(show(repo, fileOf('beta'))).toContain('WHILE-DOWN-2');
    await waitFor(async () => (await s.readiness()).ready, 5000, 'ready again');
    expect(await s.metrics.text()).toMatch(/fleetsynth_push_failures_total [2-9]/);
    // Backoff: the failures were not retried in a tight loop.
    const failed = log.lines.filter((l) => l.includes('publish failed; will retry')).length;
    expect(failed).toBeGreaterThanOrEqual(2);
    expect(failed).toBeLessThan(20);
  });

  test('the periodic full reconcile heals a change that came without an event, and an empty source prunes nothing', async () => {
    const fleet = path.join(dir, 'fleet.yaml');
    writeFleetFile(fleet, { bots: [botDoc('alpha'), botDoc('beta')], bot_schedules: [] });
    const repo = bareRepo(dir);
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir }, {
        reconcileMs: 700,
        logger: memoryLogger('warn').logger,
      }),
    );
    await waitFor(() => commits(repo).length === 1, 20000, 'initial reconcile');
    // Edited behind fleetsynth's back (no event): the next reconcile publishes it.
    writeFleetFile(fleet, { bots: [botDoc('alpha', { symbol: 'HEALED' })], bot_schedules: [] });
    await waitFor(() => show(repo, fileOf('alpha'))?.includes('HEALED') && show(repo, fileOf('beta')) === undefined, 10000, 'healed');
    const n = commits(repo).length;
    // An empty source: reconciles keep running and change nothing.
    writeFleetFile(fleet, { bots: [], bot_schedules: [] });
    await new Promise((r) => setTimeout(r, 2000));
    expect(commits(repo)).toHaveLength(n);
    expect(tree(repo)).toContain(fileOf('alpha'));
  });
});

describe('mass removal guard', () => {
  let dir: string;
  let serve: ServeHandle | undefined;
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a full reconcile that would remove most bot files is refused; events still publish; readiness says why', async () => {
    dir = tmpDir('fleetsynth-serve-mass-');
    const fleet = path.join(dir, 'fleet.json');
    const ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
    writeFleetFile(fleet, { bots: ids.map((id) => botDoc(id)), bot_schedules: [] });
    const repo = bareRepo(dir);
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir }, {
        reconcileMs: 500,
        logger: memoryLogger('fatal').logger,
      }),
    );
    const s = serve;
    await waitFor(() => commits(repo).length === 1, 20000, 'initial reconcile');
    // A partial source (a wrong database, a half restore): 5 of 30 bots left, one of them changed.
    writeFleetFile(fleet, { bots: [botDoc('m0', { symbol: 'EVENT' }), ...ids.slice(1, 5).map((id) => botDoc(id))], bot_schedules: [] });
    await waitFor(async () => (await s.readiness()).checks.publish.detail.startsWith('full reconcile refused: refusing to remove 25 of 30'), 10000, 'refusal');
    expect(commits(repo)).toHaveLength(1);
    expect((await s.readiness()).ready).toBe(false);
    // An event for one bot is still published (the guard is for full reconciles).
    await s.queue.enqueue(['m0']);
    await waitFor(() => show(repo, fileOf('m0'))?.includes('EVENT'), 10000, 'event published');
    expect(tree(repo).filter((p) => p.endsWith('.yaml') && p.includes('/bot-'))).toHaveLength(30);
    // The source is fixed: the next reconcile succeeds and clears the refusal.
    writeFleetFile(fleet, { bots: [botDoc('m0', { symbol: 'EVENT' }), ...ids.slice(1).map((id) => botDoc(id))], bot_schedules: [] });
    await waitFor(async () => (await s.readiness()).ready, 10000, 'ready again');
  });
});

describe('serve and a rollout recorded in Git', () => {
  let dir: string;
  let serve: ServeHandle | undefined;
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the full reconcile renders every bot with the generation rollout.json gives its wave: it never undoes a canary', async () => {
    dir = tmpDir('fleetsynth-serve-rollout-');
    const fleet = path.join(dir, 'fleet.yaml');
    const ids = Array.from({ length: 30 }, (_, i) => `bot${String(i).padStart(3, '0')}`);
    writeFleetFile(fleet, { bots: ids.map((id) => botDoc(id)), bot_schedules: [] });
    const repo = bareRepo(dir);
    const rollout = { version: '1.0.0', health: null };
    const pub = (image: string) =>
      publish({ source: openSource(fleet), settings: { ...DEFAULT_SETTINGS, runtimeImage: image }, repo, workDir: path.join(dir, `wd-${image}`), rollout });
    await pub('rt:1');
    const started = await pub('rt:2');
    const canary = new Set(started.rollout!.waveIds);
    expect(canary.size).toBeGreaterThan(0);
    const imageOf = (id: string) => /image: (\S+)/.exec(show(repo, fileOf(id)) ?? '')?.[1];
    // serve runs with the new image already; its reconcile must keep the rollout's split.
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir }, { settings: { ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' }, reconcileMs: 500, logger: memoryLogger('warn').logger }),
    );
    writeFleetFile(fleet, { bots: ids.map((id) => botDoc(id, id === ids[29] ? { symbol: 'OWN-CHANGE' } : {})), bot_schedules: [] });
    await waitFor(() => show(repo, fileOf(ids[29]))?.includes('OWN-CHANGE'), 20000, 'own change reconciled');
    for (const id of ids) expect(imageOf(id)).toBe(canary.has(id) ? 'rt:2' : 'rt:1');
  });

  /** A fleet published on rt:1, then a rollout to `image` started by a publish without credentials (the canary only). */
  async function startedByPublish(image: string, bakeSeconds: number) {
    dir = tmpDir('fleetsynth-serve-rollout-');
    const fleet = path.join(dir, 'fleet.yaml');
    const ids = Array.from({ length: 60 }, (_, i) => `bot${String(i).padStart(3, '0')}`);
    writeFleetFile(fleet, { bots: ids.map((id) => botDoc(id)), bot_schedules: [] });
    const repo = bareRepo(dir);
    const rollout = { settings: { ...DEFAULT_ROLLOUT, bakeSeconds, timeoutSeconds: 600 }, version: '1.0.0', health: null };
    const pub = (img: string) => publish({ source: openSource(fleet), settings: { ...DEFAULT_SETTINGS, runtimeImage: img }, repo, workDir: path.join(dir, `wd-${img}`), rollout });
    await pub('rt:1');
    const started = await pub(image);
    expect(started.rollout?.notes.join('\n')).toMatch(/rollout started: .*\n.*wave 1 of 4 \(1 %\)/);
    const cluster = await fakeCluster(repo, dir);
    const images = () => ids.map((id) => /image: (\S+)/.exec(show(repo, fileOf(id)) ?? '')?.[1]);
    const state = () => parseRolloutState(show(repo, `dist/${ROLLOUT_FILE}`)!);
    return { fleet, ids, repo, cluster, images, state, canary: started.rollout!.waveIds };
  }

  test('serve advances a rollout that publish started: each healthy wave in its own commit, to 100 %, and reports it', async () => {
    const r = await startedByPublish('rt:2', 0);
    try {
      expect(r.images().filter((i) => i === 'rt:2').length).toBe(r.canary.length);
      serve = await startServe(
        testServeOptions({ source: { file: r.fleet }, repo: r.repo, dir }, { settings: { ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' }, rolloutHealth: r.cluster.health, rolloutCheckMs: 100, logger: memoryLogger('warn').logger }),
      );
      await waitFor(() => r.state().status === 'done', 150_000, 'rollout done');
      expect(r.images().every((i) => i === 'rt:2')).toBe(true);
      const log = git(r.repo, 'log', '--format=%s', 'main');
      for (const w of [2, 3, 4]) expect(log).toMatch(new RegExp(`fleetsynth rollout: wave ${w} of 4`));
      expect(r.state().history.map((h) => h.bots).reduce((a, b) => a + b, 0)).toBe(r.ids.length);
      const ready = await serve.readiness();
      expect(ready.checks.rollout.detail).toMatch(/^done at wave 4 of 4/);
      // Rollout checks take no event: their cycles used to count from -Infinity and fail on the metric.
      expect(serve.queue.status().failures).toBe(0);
      await waitFor(async () => /fleetsynth_rollout_status\{status="done"\} 1/.test(await serve!.metrics.text()), 5000, 'done in metrics');
      // Done: no more polling commits.
      const n = commits(r.repo).length;
      await new Promise((res) => setTimeout(res, 500));
      expect(commits(r.repo).length).toBe(n);
    } finally {
      await r.cluster.server.close();
    }
  });

  test('serve stages each next wave while the one before bakes, and commits it from the stage: the same files a fresh render gives', async () => {
    const r = await startedByPublish('rt:2', 2);
    try {
      const mem = memoryLogger('info');
      serve = await startServe(
        testServeOptions({ source: { file: r.fleet }, repo: r.repo, dir }, { settings: { ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' }, rolloutHealth: r.cluster.health, rolloutCheckMs: 100, logger: mem.logger }),
      );
      await waitFor(() => r.state().status === 'done', 150_000, 'rollout done');
      expect(r.images().every((i) => i === 'rt:2')).toBe(true);
      const staged = mem.lines.filter((l) => /next wave staged for its turn/.test(l)).map((l) => JSON.parse(l) as { wave: number; bots: number });
      const movedIn = mem.lines.filter((l) => /staged files moved in/.test(l)).map((l) => JSON.parse(l) as { wave: number; staged: number });
      expect(staged.map((l) => l.wave)).toEqual([2, 3, 4]);
      expect(movedIn.map((l) => l.wave)).toEqual([2, 3, 4]);
      const history = r.state().history;
      for (const m of movedIn) expect(m.staged).toBe(history[m.wave - 1].bots);
      // What Git holds is what a fresh runner without a cache renders now: nothing to change.
      const fresh = await publish({ source: openSource(r.fleet), settings: { ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' }, repo: r.repo, workDir: path.join(dir, 'wd-check'), cache: { off: true }, rollout: { version: '1.0.0', health: null }, dryRun: true });
      expect(fresh.diff.entries).toEqual([]);
    } finally {
      await r.cluster.server.close();
    }
  });

  test('serve halts a bad image at the canary: no later wave, the failing bots and pod reasons in /readyz, metrics and the log', async () => {
    const r = await startedByPublish('rt:bad', 0);
    try {
      const mem = memoryLogger('warn');
      serve = await startServe(
        testServeOptions({ source: { file: r.fleet }, repo: r.repo, dir }, { settings: { ...DEFAULT_SETTINGS, runtimeImage: 'rt:bad' }, rolloutHealth: r.cluster.health, rolloutCheckMs: 100, logger: mem.logger }),
      );
      await waitFor(() => r.state().status === 'halted', 150_000, 'rollout halted');
      const st = r.state();
      expect(st.current).toBe(0);
      expect(st.failures!.length).toBeGreaterThan(0);
      expect(st.failures!.every((f) => r.canary.includes(f.id) && /ImagePullBackOff/.test(f.reason))).toBe(true);
      await waitFor(async () => ((c) => c.rollout.ok === false && c.publish.ok)((await serve!.readiness()).checks), 10_000, 'halt in readyz, the halt published');
      const ready = await serve.readiness();
      const blocking = Object.entries(ready.checks).filter(([, c]) => !c.ok && !c.informational);
      expect(blocking).toEqual([]); // queries still answer: a halt is reported, not an outage
      expect(ready.ready).toBe(true);
      expect(ready.checks.rollout.detail).toMatch(new RegExp(`^HALTED at wave 1 of 4 \\(runtimeImage "rt:1" → "rt:bad"\\): ${st.failures!.length} bot\\(s\\) failing: ${st.failures![0].id}: .*ImagePullBackOff`));
      const metrics = await serve.metrics.text();
      expect(metrics).toMatch(/fleetsynth_rollout_status\{status="halted"\} 1/);
      expect(metrics).toMatch(new RegExp(`fleetsynth_rollout_failing_bots ${st.failures!.length}`));
      expect(mem.lines.some((l) => /rollout halted/.test(l) && /ImagePullBackOff/.test(l))).toBe(true);
      // Time passes: nothing more rolls out.
      await new Promise((res) => setTimeout(res, 600));
      expect(r.images().filter((i) => i === 'rt:bad').length).toBe(r.canary.length);
      expect(r.state().status).toBe('halted');
    } finally {
      await r.cluster.server.close();
    }
  });
});
