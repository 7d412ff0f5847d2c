// The live loop end to end with real parts: NATS JetStream on 127.0.0.1:4222 (a stream of our
// own per test), MongoDB through the official driver against the in-process wire server, a bare
// git repository as the Argo CD remote.
import * as fs from 'node:fs';
import { MongoClient } from 'mongodb';
import { DEFAULT_SETTINGS } from '../src/settings';
import { MongoSource } from '../src/source';
import { ServeHandle, startServe } from '../src/service/serve';
import { MongoWireServer } from './support/mongo-wire-server';
import { tmpDir } from './support/tmp';
import { NATS_URL, TestStream, bareRepo, botDoc, commits, memoryLogger, scheduleDoc, show, tcpProxy, testStream, touched, tree, waitFor, testServeOptions } from './serve-support';
import { botFilePath } from '../src/synth/shard';

const SHARDS = DEFAULT_SETTINGS.shards;
const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, SHARDS)}`;

interface Env {
  dir: string;
  repo: string;
  mongo: MongoWireServer;
  client: MongoClient;
  stream: TestStream;
  log: ReturnType<typeof memoryLogger>;
  serve?: ServeHandle;
}

async function setup(seed: Record<string, unknown>[] = [botDoc('alpha'), botDoc('beta')], schedules: Record<string, unknown>[] = [scheduleDoc('gamma')], stream = true): Promise<Env> {
  const dir = tmpDir('fleetsynth-serve-');
  const mongo = await MongoWireServer.start();
  const client = new MongoClient(mongo.uri);
  await client.connect();
  if (seed.length) await client.db('bot_runner').collection('bots').insertMany(seed.map((d) => ({ ...d })));
  if (schedules.length) await client.db('bot_scheduler').collection('bot_schedules').insertMany(schedules.map((d) => ({ ...d })));
  return { dir, repo: bareRepo(dir), mongo, client, stream: await testStream({ create: stream }), log: memoryLogger('info') };
}

async function start(env: Env, extra: Partial<Parameters<typeof startServe>[0]> = {}): Promise<ServeHandle> {
  env.serve = await startServe(
    testServeOptions({ source: { mongo: new MongoSource(env.mongo.uri) }, repo: env.repo, dir: env.dir, stream: env.stream }, {
      retryBaseMs: 200,
      logger: env.log.logger,
      ...extra,
    }),
  );
  return env.serve;
}

async function teardown(env: Env): Promise<void> {
  await env.serve?.stop();
  await env.stream.destroy();
  await env.client.close();
  await env.mongo.stop();
  fs.rmSync(env.dir, { recursive: true, force: true });
}

/** No config value of any bot ever reaches the logs. */
function expectNoSecretsLogged(env: Env): void {
  const all = env.log.lines.join('\n');
  expect(all).not.toMatch(/AK-[a-z0-9-]+-secretvalue/);
  expect(all).not.toContain('"config"');
}

jest.setTimeout(60_000);

describe('serve with MongoDB and JetStream', () => {
  let env: Env;
  afterEach(async () => teardown(env));

  test('an updated bot reaches the remote in one commit touching one file, and MongoDB holds the update', async () => {
    env = await setup();
    const serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1, 20000, 'initial reconcile commit');
    expect(tree(env.repo)).toEqual(expect.arrayContaining([fileOf('alpha'), fileOf('beta')]));
    await waitFor(() => serve.eventMode() === 'jetstream', 10000, 'subscription');

    const updated = botDoc('alpha', { symbol: 'SOLUSDT', threshold: 4.2 });
    await env.stream.publish('the0.bot.updated', updated);
    await waitFor(() => commits(env.repo).length === 2, 15000, 'event commit');
    const head = commits(env.repo)[0];
    expect(touched(env.repo, head)).toEqual([fileOf('alpha')]);
    expect(show(env.repo, fileOf('alpha'))).toContain('"symbol":"SOLUSDT"');

    const doc = await env.client.db('bot_runner').collection('bots').findOne({ id: 'alpha' }, { projection: { _id: 0 } });
    expect(doc?.config).toEqual(updated.config);
    // Acked: nothing pending on the durable consumer.
    await waitFor(async () => (await env.stream.consumerInfo()).num_ack_pending === 0, 5000, 'ack');
    expect((await env.stream.consumerInfo()).num_pending).toBe(0);
    const metrics = await serve.metrics.text();
    expect(metrics).toMatch(/fleetsynth_events_total\{subject="the0.bot.updated",outcome="applied"\} 1/);
    expect(metrics).toMatch(/fleetsynth_commits_total\{mode="events"\} 1/);
    expectNoSecretsLogged(env);
  });

  test('created, deleted and schedule events: file added and removed, partitions kept', async () => {
    env = await setup();
    const serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');
    await env.stream.publish('the0.bot.created', botDoc('delta'));
    await env.stream.publish('the0.bot.deleted', { id: 'beta', config: {} });
    await env.stream.publish('the0.bot-schedule.updated', scheduleDoc('gamma', '*/5 * * * *'));
    await waitFor(() => show(env.repo, fileOf('delta')) !== undefined && show(env.repo, fileOf('beta')) === undefined, 15000, 'files');
    const gammaFile = `dist/${botFilePath('gamma', 'schedule-gamma.yaml', SHARDS)}`;
    await waitFor(() => show(env.repo, gammaFile)?.includes("schedule: '*/5 * * * *'") || show(env.repo, gammaFile)?.includes('schedule: "*/5 * * * *"'), 15000, 'schedule');
    expect(await env.client.db('bot_runner').collection('bots').countDocuments({ id: 'beta' })).toBe(0);
    const gamma = await env.client.db('bot_scheduler').collection('bot_schedules').findOne({ id: 'gamma' });
    expect(typeof gamma?.next_execution_time).toBe('number');
    expect(gamma!.next_execution_time % 300).toBe(0);
  });

  test('an event sent while the service was stopped is handled after restart (JetStream durable)', async () => {
    env = await setup();
    let serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');
    await serve.stop();
    env.serve = undefined;

    await env.stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'WHILE-DOWN' }));
    await new Promise((r) => setTimeout(r, 300));
    expect((await env.client.db('bot_runner').collection('bots').findOne({ id: 'beta' }))?.config.symbol).toBe('BTCUSDT');

    serve = await start(env);
    await waitFor(() => show(env.repo, fileOf('beta'))?.includes('"symbol":"WHILE-DOWN"'), 20000, 'event after restart');
    expect((await env.client.db('bot_runner').collection('bots').findOne({ id: 'beta' }))?.config.symbol).toBe('WHILE-DOWN');
    await waitFor(async () => (await env.stream.consumerInfo()).num_ack_pending === 0, 5000, 'ack');
  });

  test('a burst of 200 events is coalesced into few commits', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
    env = await setup(ids.map((id) => botDoc(id)), []);
    const serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');

    const events = 200;
    // Published together (JetStream keeps their order), as a mass update through the API would.
    await Promise.all(Array.from({ length: events }, (_, i) => env.stream.publish('the0.bot.updated', botDoc(ids[i % ids.length], { threshold: i }))));
    // Last event of each bot: threshold 150..199.
    await waitFor(() => show(env.repo, fileOf('burst-49'))?.includes('"threshold":199'), 30000, 'last event published');
    await waitFor(async () => (await env.stream.consumerInfo()).num_ack_pending === 0, 10000, 'acks');
    const made = commits(env.repo).length - 1;
    for (let b = 0; b < ids.length; b++) expect(show(env.repo, fileOf(ids[b]))).toContain(`"threshold":${150 + b}`);
    expect(made).toBeGreaterThanOrEqual(1);
    // Typically 1–3 commits. The window closes at most 2 s after a burst starts, so on a loaded
    // machine, where the 200 source writes trickle in, more (24 once, with the whole suite running
    // on 2 slow cores); without coalescing it would be ~200. bench:serve measures the real figure.
    expect(made).toBeLessThanOrEqual(40);
    env.log.logger.info({ events, commits: made }, 'burst result');
  });

  test('NATS connection dropping mid-run does not lose the pending change', async () => {
    env = await setup();
    const proxy = await tcpProxy('127.0.0.1', Number(NATS_URL.split(':')[1] ?? 4222));
    try {
      const serve = await start(env, { natsUrl: proxy.url, coalesceMs: 1500 });
      await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');

      // Event A is applied to MongoDB and waits in the coalescing window when the connection drops.
      await env.stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'DURING-CUT' }));
      await waitFor(async () => (await env.client.db('bot_runner').collection('bots').findOne({ id: 'alpha' }))?.config.symbol === 'DURING-CUT', 5000, 'A applied');
      proxy.cut();
      await waitFor(async () => !(await serve.readiness()).checks.nats.ok, 5000, 'nats not ready');
      // Event B is published while fleetsynth is cut off.
      await env.stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'SENT-WHILE-CUT' }));

      // A's commit is pushed although NATS is gone.
      await waitFor(() => show(env.repo, fileOf('alpha'))?.includes('"symbol":"DURING-CUT"'), 10000, 'A published while disconnected');
      expect(show(env.repo, fileOf('beta'))).not.toContain('SENT-WHILE-CUT');

      proxy.restore();
      await waitFor(() => show(env.repo, fileOf('beta'))?.includes('"symbol":"SENT-WHILE-CUT"'), 30000, 'B published after reconnect');
      await waitFor(async () => (await serve.readiness()).checks.nats.ok, 10000, 'nats ready again');
      // Everything acked in the end (A possibly redelivered and handled again, idempotently).
      await waitFor(async () => {
        const ci = await env.stream.consumerInfo();
        return ci.num_ack_pending === 0 && ci.num_pending === 0;
      }, 40000, 'all acked');
      expect(show(env.repo, fileOf('alpha'))).toContain('"symbol":"DURING-CUT"');
    } finally {
      await env.serve?.stop();
      env.serve = undefined;
      await proxy.close();
    }
  }, 120_000);

  test('without the stream: core NATS queue subscription, and /readyz says so', async () => {
    env = await setup(undefined, undefined, false);
    const serve = await start(env, { streamCheckMs: 300 });
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'core', 20000, 'ready (core)');
    const r = await serve.readiness();
    expect(r.checks.nats).toEqual({ ok: true, detail: expect.stringContaining('core queue subscription') });
    await env.stream.publishCore('the0.bot.updated', botDoc('alpha', { symbol: 'CORE' }));
    await waitFor(() => show(env.repo, fileOf('alpha'))?.includes('"symbol":"CORE"'), 15000, 'core event published');
    // Log traffic is never subscribed to.
    await env.stream.publishCore('the0.bot.logs.alpha', 'some log line');
    expect(env.log.lines.join('\n')).not.toContain('the0.bot.logs');

    // The API creates the stream later: the service switches to the durable consumer.
    await env.stream.create();
    await waitFor(() => serve.eventMode() === 'jetstream', 10000, 'switched to JetStream');
    await env.stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'DURABLE' }));
    await waitFor(() => show(env.repo, fileOf('beta'))?.includes('"symbol":"DURABLE"'), 15000, 'JetStream event published');
    await waitFor(async () => (await env.stream.consumerInfo()).num_ack_pending === 0, 5000, 'acked');
  });

  test('a new durable starts at new events; --events-from all replays what the stream holds', async () => {
    env = await setup();
    // Published before fleetsynth ever ran: MongoDB (the0's controller) already has it or not;
    // by default it is not replayed.
    await env.stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'BEFORE-FIRST-START' }));
    const serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');
    expect((await env.stream.consumerInfo()).num_pending).toBe(0);
    await env.stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'AFTER-START' }));
    await waitFor(() => show(env.repo, fileOf('alpha'))?.includes('"symbol":"AFTER-START"'), 20000, 'new event');
    expect(show(env.repo, fileOf('beta'))).not.toContain('BEFORE-FIRST-START');
    expect((await env.client.db('bot_runner').collection('bots').findOne({ id: 'beta' }))?.config.symbol).toBe('BTCUSDT');
    await serve.stop();
    env.serve = undefined;

    // Without the durable, `all` takes the stream from its start (both events, in order).
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(env.stream.nc);
    await jsm.consumers.delete(env.stream.name, 'fleetsynth');
    await start(env, { eventsFrom: 'all' });
    await waitFor(() => show(env.repo, fileOf('beta'))?.includes('"symbol":"BEFORE-FIRST-START"'), 20000, 'replayed event');
    expect((await env.client.db('bot_runner').collection('bots').findOne({ id: 'beta' }))?.config.symbol).toBe('BEFORE-FIRST-START');
  });

  test('a durable consumer deleted under the service is recreated', async () => {
    env = await setup();
    const serve = await start(env);
    await waitFor(() => commits(env.repo).length === 1 && serve.eventMode() === 'jetstream', 20000, 'ready');
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(env.stream.nc);
    await env.stream.publish('the0.bot.updated', botDoc('beta', { symbol: 'BEFORE-DELETE' }));
    await waitFor(() => show(env.repo, fileOf('beta'))?.includes('"symbol":"BEFORE-DELETE"'), 20000, 'event before deletion');
    await waitFor(async () => (await env.stream.consumerInfo()).ack_floor === 1, 5000, 'acked');
    const handled = (await env.stream.consumerInfo()).ack_floor;
    await jsm.consumers.delete(env.stream.name, 'fleetsynth');
    await waitFor(async () => (await env.stream.consumerInfo().catch(() => undefined)) !== undefined, 20000, 'consumer recreated');
    // It resumes after the last event it handled: neither only new events nor the whole stream.
    const config = (await jsm.consumers.info(env.stream.name, 'fleetsynth')).config;
    expect(config.deliver_policy).toBe('by_start_sequence');
    expect(config.opt_start_seq).toBe(handled + 1);
    await env.stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'AFTER-RECREATE' }));
    await waitFor(() => show(env.repo, fileOf('alpha'))?.includes('"symbol":"AFTER-RECREATE"'), 20000, 'event after recreation');
  });
});
