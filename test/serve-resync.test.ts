// The resync queue's guarantees: a failed push is retried with backoff and never loses pending
// ids; the periodic full reconcile heals changes that came without an event; an empty source
// never prunes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS } from '../src/settings';
import { writeFleetFile } from '../src/source';
import { ServeHandle, startServe } from '../src/service/serve';
import { botFilePath } from '../src/synth/shard';
import { tmpDir } from './support/tmp';
import { TestStream, bareRepo, botDoc, commits, memoryLogger, show, testStream, touched, tree, waitFor, testServeOptions } from './serve-support';

jest.setTimeout(60_000);
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
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { publish } = require('../src/gitops/publish') as typeof import('../src/gitops/publish');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openSource } = require('../src/source') as typeof import('../src/source');
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
});
