// serve under hostile input (issue 13 items 1, 2, 11): a reconcile over documents of unknown
// owner removes nothing; a payload nested 10,000 deep is terminated, not NAKed forever; an event
// that fails on every delivery is terminated as poison, logged by subject and sequence only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { writeFleetFile } from '../src/source';
import { subscribeEvents } from '../src/service/events';
import { ServeMetrics } from '../src/service/metrics';
import { ServeHandle, startServe } from '../src/service/serve';
import { tmpDir } from './support/tmp';
import { TestStream, bareRepo, botDoc, commits, memoryLogger, scheduleDoc, testServeOptions, testStream, tree, waitFor } from './serve-support';

jest.setTimeout(60_000);

describe('serve under hostile input', () => {
  let dir: string;
  let stream: TestStream | undefined;
  let serve: ServeHandle | undefined;
  beforeEach(() => {
    dir = tmpDir('fleetsynth-harden-serve-');
  });
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await stream?.destroy();
    stream = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each([123, null])('a reconcile with documents whose id is %p removes nothing and still renders the rest', async (badId) => {
    const fleet = path.join(dir, 'fleet.json');
    const ids = ['alpha', 'beta', 'gamma', 'delta', 'eps'];
    writeFleetFile(fleet, { bots: ids.map((id) => botDoc(id)), bot_schedules: [scheduleDoc('sched')] });
    const repo = bareRepo(dir);
    const log = memoryLogger('info');
    serve = await startServe(testServeOptions({ source: { file: fleet }, repo, dir }, { logger: log.logger }));
    const s = serve;
    await waitFor(() => commits(repo).length === 1, 20000, 'first reconcile');
    const before = tree(repo);

    const bots = ids.map((id) => botDoc(id)) as Array<Record<string, any>>;
    for (const b of bots.slice(0, 4)) b.id = badId;
    bots[4].config.symbol = 'RECONCILED';
    writeFleetFile(fleet, { bots, bot_schedules: [{ ...scheduleDoc('sched'), id: badId }] });
    const outcome = await s.queue.reconcile();
    expect(outcome.published).toBe(true);
    expect(tree(repo)).toEqual(before);
    expect(commits(repo)).toHaveLength(2);
    expect(log.lines.some((l) => l.includes('no usable bot id') && l.includes('nothing is removed'))).toBe(true);
    expect(log.lines.join('\n')).not.toMatch(/AK-[a-z0-9-]+-secretvalue/);
  });

  test('a payload nested 10,000 deep is terminated at once; serve keeps handling events', async () => {
    const fleet = path.join(dir, 'fleet.json');
    writeFleetFile(fleet, { bots: [botDoc('alpha')], bot_schedules: [] });
    const repo = bareRepo(dir);
    stream = await testStream();
    const log = memoryLogger('info');
    serve = await startServe(testServeOptions({ source: { file: fleet }, repo, dir, stream }, { logger: log.logger }));
    const s = serve;
    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');
    const deep = `{"id":"deep","config":{"name":"x","p":${'{"n":'.repeat(10_000)}1${'}'.repeat(10_000)}},"custom":{}}`;
    await jetstream(stream.nc).publish(`${stream.prefix}the0.bot.updated`, deep);
    await stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'AFTER-DEEP' }));
    await waitFor(async () => (await stream!.consumerInfo()).ack_floor === 2, 15000, 'both events settled');
    const info = await stream.consumerInfo();
    expect(info.num_ack_pending).toBe(0);
    await waitFor(() => commits(repo).length === 2, 15000, 'the next event is published');
    const metrics = await s.metrics.text();
    expect(metrics).toMatch(/fleetsynth_events_total\{subject="the0.bot.updated",outcome="invalid"\} 1/);
    expect(log.lines.some((l) => l.includes('nested more than 100 levels'))).toBe(true);
  });
});

test('an event that fails on every delivery is terminated after maxDeliveries, logged by subject and sequence, counted', async () => {
  const stream = await testStream();
  const log = memoryLogger('info');
  const metrics = new ServeMetrics({ defaultMetrics: false });
  let calls = 0;
  const sub = await subscribeEvents({
    nc: stream.nc,
    stream: stream.name,
    durable: 'poison-test',
    subjectPrefix: stream.prefix,
    logger: log.logger,
    metrics,
    maxDeliveries: 3,
    deliverPolicy: 'all',
    handler: async () => {
      calls++;
      throw new Error('cannot be applied');
    },
  });
  try {
    await stream.publish('the0.bot.updated', botDoc('poison', { password: 'hunter2-secret-value' }));
    await waitFor(async () => (await stream.consumerInfo('poison-test')).ack_floor === 1, 20000, 'terminated').catch((e) => {
      throw new Error(`${e.message}; calls ${calls}; ${log.lines.join('\n')}`);
    });
    expect(calls).toBe(3);
    const line = log.lines.find((l) => l.includes('terminated as poison'))!;
    expect(JSON.parse(line)).toMatchObject({ subject: 'the0.bot.updated', seq: 1, deliveries: 3, stream: stream.name });
    expect(log.lines.join('\n')).not.toContain('hunter2-secret-value');
    expect(await metrics.text()).toMatch(/fleetsynth_events_total\{subject="the0.bot.updated",outcome="poison"\} 1/);
    // A later good event is still handled.
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(3);
  } finally {
    await sub.stop();
    await stream.destroy();
  }
});

test('a full reconcile ends with git housekeeping of the working copy (loose objects packed once they pile up)', async () => {
  const dir = tmpDir('fleetsynth-harden-serve-gc-');
  const trace = path.join(dir, 'git-trace.txt');
  // trace2's start events carry each command's whole argv (receive-pack's own gc has no -c).
  process.env.GIT_TRACE2 = trace;
  let serve: ServeHandle | undefined;
  try {
    const fleet = path.join(dir, 'fleet.json');
    writeFleetFile(fleet, { bots: [botDoc('alpha')], bot_schedules: [] });
    const repo = bareRepo(dir);
    serve = await startServe(testServeOptions({ source: { file: fleet }, repo, dir }));
    await waitFor(() => commits(repo).length === 1, 20000, 'first reconcile');
    await waitFor(() => fs.existsSync(trace) && /gc\.auto=6700.* gc --auto/.test(fs.readFileSync(trace, 'utf8')), 10000, 'gc --auto after the reconcile');
  } finally {
    delete process.env.GIT_TRACE2;
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
