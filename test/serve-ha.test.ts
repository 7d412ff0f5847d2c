// Several serve replicas, one writer: Lease leader election through @kubernetes/client-node's real
// code against a fake API server that implements Leases with resourceVersion conflicts (409); then
// real `fleetsynth serve` child processes (kill -9 is a real one) on real NATS JetStream, MongoDB
// through the official driver against the in-process wire server, and a bare git repository.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { FileBotStore, MongoBotStore } from '../src/service/apply-event';
import { BotEvent, parseEvent } from '../src/service/events';
import { findKubeConfig } from '../src/service/kube';
import { LeaseElector, NotLeaderError, kubeLeaseClient } from '../src/service/leader';
import { ServeMetrics } from '../src/service/metrics';
import { DEFAULT_SETTINGS, settingsFromValues } from '../src/settings';
import { leaseProblems } from '../src/service/leader';
import { MongoSource, readFleetFile, writeFleetFile } from '../src/source';
import { botFilePath } from '../src/synth/shard';
import { FakeKube, startFakeKube } from './query-fakes';
import { botDoc, git, show, tcpProxy, waitFor, sleep, CuttableProxy } from './serve-support';
import { MongoWireServer } from './support/mongo-wire-server';
import { Replica, ReplicaCluster, kubeconfigFor, leaseHolder, queryStatus, startInCluster, startReplicaCluster, stopReplicaCluster, thresholdIn } from './support/serve-replicas';
import { tmpDir } from './support/tmp';

jest.setTimeout(180_000);

const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, DEFAULT_SETTINGS.shards)}`;
const quiet = pino({ level: 'silent' });


describe('LeaseElector through client-node against a fake API server', () => {
  let dir: string;
  let kube: FakeKube;
  const electors: LeaseElector[] = [];
  const proxies: CuttableProxy[] = [];
  beforeEach(async () => {
    dir = tmpDir('fleetsynth-lease-');
    kube = await startFakeKube();
  });
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop();
    for (const p of proxies.splice(0)) await p.close();
    await kube.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const elector = (identity: string, url: string, settings: Partial<{ durationMs: number; renewDeadlineMs: number; retryPeriodMs: number }> = {}) => {
    const found = findKubeConfig({ kubeconfig: kubeconfigFor(dir, url, identity) })!;
    const metrics = new ServeMetrics({ defaultMetrics: false });
    const s = { name: 'fleetsynth', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300, identity, ...settings };
    const e = new LeaseElector({ client: kubeLeaseClient(found.kc, found.namespace, s.name, 1000), namespace: found.namespace, settings: s, logger: quiet, metrics: metrics.leaderMetrics });
    const events: { what: 'started' | 'stopped'; at: number }[] = [];
    e.on('started', () => events.push({ what: 'started', at: Date.now() }));
    e.on('stopped', () => events.push({ what: 'stopped', at: Date.now() }));
    electors.push(e);
    return { e, events, metrics };
  };

  test('three candidates: exactly one leads, the race is settled by 409s, the others follow and name the holder', async () => {
    const cs = ['a', 'b', 'c'].map((id) => elector(id, kube.url));
    for (const c of cs) c.e.start();
    await waitFor(() => cs.some((c) => c.e.isLeader()), 10000, 'a leader');
    // Several renew rounds: still exactly one.
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      expect(cs.filter((c) => c.e.isLeader())).toHaveLength(1);
    }
    const leader = cs.find((c) => c.e.isLeader())!;
    const lease = kube.leases.get('fleetsynth')!;
    expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe(leader.e.identity);
    expect((lease.spec as { leaseDurationSeconds: number }).leaseDurationSeconds).toBe(3);
    for (const c of cs.filter((x) => x !== leader)) {
      expect(c.e.holder()).toBe(leader.e.identity);
      expect(() => c.e.assertLeading('push')).toThrow(NotLeaderError);
      expect(() => c.e.assertLeading('push')).toThrow(`held by ${leader.e.identity}`);
      expect(await c.metrics.registry.getSingleMetricAsString('fleetsynth_leader')).toMatch(/fleetsynth_leader 0/);
    }
    expect(() => leader.e.assertLeading('push')).not.toThrow();
    expect(await leader.metrics.registry.getSingleMetricAsString('fleetsynth_leader')).toMatch(/fleetsynth_leader 1/);
    // Only the leader ever wrote the Lease.
    expect(new Set(kube.leaseWrites.map((w) => w.holder))).toEqual(new Set([leader.e.identity]));
    // The create race (all three at once) is settled by the API server: the losers got 409s or saw a holder.
    expect(kube.leaseWrites[0].verb).toBe('create');
  });

  test('a stale resourceVersion is refused with 409 and the loser does not lead', async () => {
    const a = elector('a', kube.url);
    a.e.start();
    await waitFor(() => a.e.isLeader(), 5000, 'a leads');
    // Someone else updates the Lease behind a's back (as a second replica would).
    const before = kube.leaseConflicts;
    const found = findKubeConfig({ kubeconfig: kubeconfigFor(dir, kube.url, 'intruder') })!;
    const client = kubeLeaseClient(found.kc, found.namespace, 'fleetsynth', 1000);
    const seen = (await client.read())!;
    await sleep(400); // a renews meanwhile: the version read is stale now
    const r = await client.replace({ ...seen, spec: { ...seen.spec, holderIdentity: 'intruder' } });
    expect(r).toBe('conflict');
    expect(kube.leaseConflicts).toBe(before + 1);
    expect(a.e.isLeader()).toBe(true);
  });

  test('stop() releases the Lease: the follower takes it at its next attempt, long before it would expire', async () => {
    const a = elector('a', kube.url, { durationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 300 });
    const b = elector('b', kube.url, { durationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 300 });
    a.e.start();
    await waitFor(() => a.e.isLeader(), 5000, 'a leads');
    b.e.start();
    await waitFor(() => b.e.holder() === 'a', 5000, 'b sees a');
    await a.e.stop();
    expect(a.e.isLeader()).toBe(false);
    // A 60 s Lease: only a release lets b in within this wait.
    await waitFor(() => b.e.isLeader(), 10_000, 'b takes over');
    const writes = kube.leaseWrites;
    const release = writes.findIndex((w) => w.holder === '');
    expect(release).toBeGreaterThan(0);
    expect(writes[release - 1].holder).toBe('a');
    expect(writes[release + 1].holder).toBe('b');
    expect((kube.leases.get('fleetsynth')!.spec as { leaseTransitions: number }).leaseTransitions).toBe(1);
    expect(await b.metrics.registry.getSingleMetricAsString('fleetsynth_lease_transitions_total')).toMatch(/ 1$/m);
  });

  test('a partitioned leader stops leading (and refuses writes) before the other replica acquires', async () => {
    const proxy = await tcpProxy('127.0.0.1', kube.port);
    proxies.push(proxy);
    const a = elector('a', `http://${proxy.url}`);
    const b = elector('b', kube.url);
    a.e.start();
    await waitFor(() => a.e.isLeader(), 5000, 'a leads');
    b.e.start();
    await waitFor(() => b.e.holder() === 'a', 5000, 'b sees a');
    proxy.cut();
    const cutAt = Date.now();
    // While a still believes it leads, writes pass; the moment its renew deadline passes they are refused.
    let refusedAt = 0;
    await waitFor(() => {
      try {
        a.e.assertLeading('push');
        return false;
      } catch (e) {
        expect(e).toBeInstanceOf(NotLeaderError);
        refusedAt = Date.now();
        return true;
      }
    }, 10_000, 'a refuses writes');
    await waitFor(() => b.e.isLeader(), 10_000, 'b takes over');
    const stopped = a.events.find((x) => x.what === 'stopped')!;
    const started = b.events.find((x) => x.what === 'started')!;
    expect(stopped).toBeDefined();
    expect(refusedAt).toBeLessThan(started.at);
    expect(stopped.at).toBeLessThan(started.at);
    expect(refusedAt - cutAt).toBeGreaterThanOrEqual(0);
    // b waited for the Lease to expire (no release): its acquisition came after a's last renewal + the duration, by b's clock.
    const lastByA = [...kube.leaseWrites].reverse().find((w) => w.holder === 'a')!;
    const firstByB = kube.leaseWrites.find((w) => w.holder === 'b')!;
    expect(firstByB.at - lastByA.at).toBeGreaterThanOrEqual(3000);
    // Healed: a sees b's Lease and stays a follower.
    proxy.restore();
    await waitFor(() => a.e.holder() === 'b', 5000, 'a sees b');
    expect(a.e.isLeader()).toBe(false);
  });
});

describe('leader election settings (option table: flags > env > config file > defaults)', () => {
  test('durations in seconds or with a unit, identity from POD_NAME, off by LEADER_ELECTION=false', () => {
    const s = settingsFromValues({ leaseRenewDeadline: 4 }, { LEASE_DURATION: '1500ms', POD_NAME: 'fleetsynth-7d9f-abcde', LEASE_NAME: 'fs' }, { leaseRetryPeriod: 1, leaseRenewDeadline: 9 });
    expect(s.leader).toEqual({ enabled: true, name: 'fs', durationMs: 1500, renewDeadlineMs: 4000, retryPeriodMs: 1000, identity: 'fleetsynth-7d9f-abcde' });
    expect(settingsFromValues({}, { LEADER_ELECTION: 'false' }, {}).leader).toEqual({ enabled: false });
    expect(settingsFromValues({}, {}, {}).leader).toEqual({ enabled: true });
    expect(() => settingsFromValues({}, { LEASE_DURATION: 'soon' }, {})).toThrow(/LEASE_DURATION/);
  });

  test('inconsistent durations are named', () => {
    expect(leaseProblems({ durationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 })).toEqual([]);
    expect(leaseProblems({ durationMs: 10000, renewDeadlineMs: 10000, retryPeriodMs: 2000 })).toEqual([expect.stringMatching(/renew deadline \(10000 ms\) must be shorter than the lease duration/)]);
    expect(leaseProblems({ durationMs: 15000, renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toEqual([expect.stringMatching(/retry period .* shorter than the renew deadline/)]);
  });
});

describe('per-bot event order across redeliveries (stream position stored with the write)', () => {
  const EPOCH = '2026-01-01T00:00:00.000Z';
  const ev = (subject: string, payload: Record<string, unknown>, seq: number, epoch = EPOCH): BotEvent => ({
    ...parseEvent(subject, JSON.stringify(payload)),
    order: { stream: 'THE0_EVENTS', epoch, seq },
  });

  test('MongoDB: an older event redelivered after a newer one changes nothing; a delete is not undone by an old create; a recreated stream starts over', async () => {
    const mongo = await MongoWireServer.start();
    const client = new MongoClient(mongo.uri);
    const store = new MongoBotStore(new MongoSource(mongo.uri));
    try {
      await client.connect();
      const bots = client.db('bot_runner').collection('bots');
      expect((await store.apply(ev('the0.bot.created', doc('x', 1), 10))).outcome).toBe('created');
      expect((await store.apply(ev('the0.bot.updated', doc('x', 5), 14))).outcome).toBe('updated');
      // seq 12 was in flight on a leader that died; JetStream redelivers it after seq 14 was applied.
      const stale = await store.apply(ev('the0.bot.updated', doc('x', 3), 12));
      expect(stale.outcome).toBe('noop');
      expect(stale.reason).toMatch(/stale: stream sequence 12 is not after 14/);
      expect(stale.reason).not.toContain('AK-');
      expect(Number((await bots.findOne({ id: 'x' }))?.config.threshold)).toBe(5);
      // The same event again (redelivered after its ack was lost): nothing.
      expect((await store.apply(ev('the0.bot.updated', doc('x', 5), 14))).outcome).toBe('noop');
      // Deleted at 20; an old "created" (seq 11) must not bring it back.
      expect((await store.apply(ev('the0.bot.deleted', { id: 'x', config: {} }, 20))).outcome).toBe('deleted');
      expect((await store.apply(ev('the0.bot.created', doc('x', 1), 11))).outcome).toBe('noop');
      expect(await bots.countDocuments({ id: 'x' })).toBe(0);
      // The stream was recreated (sequences restart): its events are newer.
      expect((await store.apply(ev('the0.bot.created', doc('x', 7), 1, '2026-06-01T00:00:00.000Z'))).outcome).toBe('created');
      expect(Number((await bots.findOne({ id: 'x' }))?.config.threshold)).toBe(7);
      // Without a stream position (core NATS fallback) events apply as before.
      expect((await store.apply(parseEvent('the0.bot.updated', JSON.stringify(doc('x', 8))))).outcome).toBe('updated');
      const order = await client.db('bot_runner').collection('fleetsynth_event_order').findOne({ _id: 'bots:x' as never });
      expect(order).toMatchObject({ stream: 'THE0_EVENTS', epoch: '2026-06-01T00:00:00.000Z', seq: 1 });
    } finally {
      await store.close();
      await client.close();
      await mongo.stop();
    }
  });

  test('fleet file: the same rule within the process', async () => {
    const dir = tmpDir('fleetsynth-order-');
    try {
      const file = path.join(dir, 'fleet.json');
      writeFleetFile(file, { bots: [doc('x', 0)], bot_schedules: [] });
      const store = new FileBotStore(file);
      expect((await store.apply(ev('the0.bot.updated', doc('x', 5), 14))).outcome).toBe('updated');
      expect((await store.apply(ev('the0.bot.updated', doc('x', 3), 12))).outcome).toBe('noop');
      expect(Number((readFleetFile(file).bots[0] as { config: { threshold: number } }).config.threshold)).toBe(5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

type Cluster = ReplicaCluster & { readonly proxies: CuttableProxy[] };

const BOTS = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'];
/** Bots without a query entrypoint: a query is answered from the source (404 "no query entrypoint") by any replica. */
const doc = (id: string, threshold: number) => botDoc(id, { threshold }, false);

async function cluster(): Promise<Cluster> {
  return { ...(await startReplicaCluster('fleetsynth-ha-', BOTS.map((id) => doc(id, 0)))), proxies: [] };
}

async function teardown(c: Cluster): Promise<void> {
  await stopReplicaCluster(c);
  for (const p of c.proxies) await p.close();
}

function replica(c: Cluster, identity: string, lease: { duration: number; renewDeadline: number; retryPeriod: number }, kubeUrl = c.kube.url): Replica {
  return startInCluster(c, identity, { lease, kubeUrl });
}

const holder = leaseHolder;

/** The threshold of a bot's file in every commit that changed it, oldest first. */
function history(repo: string, id: string): number[] {
  const shas = git(repo, 'log', '--reverse', '--format=%H', 'main', '--', fileOf(id)).trim().split('\n').filter(Boolean);
  return shas.map((sha) => thresholdIn(git(repo, 'show', `${sha}:${fileOf(id)}`)));
}

async function mongoThreshold(c: Cluster, id: string): Promise<number> {
  const d = await c.client.db('bot_runner').collection('bots').findOne({ id });
  return Number((d?.config as { threshold?: unknown } | undefined)?.threshold);
}

/** Polls every replica's query API until stopped; counts answers that are not the expected 404 from the source. */
function queryPoller(c: Cluster) {
  const failures: { identity: string; status: number; body: string; at: number }[] = [];
  let answered = 0;
  let running = true;
  const dead = new Set<Replica>();
  const loop = (async () => {
    while (running) {
      await Promise.all(
        c.replicas
          .filter((r) => r.queryPort && r.child.exitCode === null && r.child.signalCode === null && !dead.has(r))
          .map(async (r) => {
            const q = await queryStatus(r.queryPort!, 'b0');
            if (dead.has(r)) return; // killed while the request was out: not a survivor
            if (q.status === 404 && q.body.includes('does not have a query entrypoint')) answered++;
            else failures.push({ identity: r.identity, status: q.status, body: q.body.slice(0, 200), at: Date.now() });
          }),
      );
      await sleep(50);
    }
  })();
  return {
    failures,
    answered: () => answered,
    killed: (r: Replica) => dead.add(r),
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe('serve replicas (child processes) on NATS, MongoDB and a bare repo', () => {
  let c: Cluster;
  afterEach(async () => teardown(c));

  test.each([2, 3])('%i replicas: kill -9 of the leader mid-burst loses nothing, applies each bot in order, commits nothing twice; survivors answer every query', async (n) => {
    c = await cluster();
    const lease = { duration: 3, renewDeadline: 2, retryPeriod: 0.3 };
    const rs = Array.from({ length: n }, (_, i) => replica(c, `serve-${i}`, lease));
    await Promise.all(rs.map((r) => r.ready));
    await waitFor(() => holder(c) !== '' && rs.find((r) => r.identity === holder(c))?.find('consuming events from JetStream').length, 30_000, 'a leader consuming');
    await waitFor(() => BOTS.every((id) => thresholdIn(show(c.repo, fileOf(id))) === 0), 30_000, 'initial reconcile');
    const leader = rs.find((r) => r.identity === holder(c))!;
    const poller = queryPoller(c);

    // Every bot gets K updates in publish order, interleaved; the leader dies halfway.
    const K = 8;
    const publishRound = async (k: number) => {
      for (const id of BOTS) await c.stream.publish('the0.bot.updated', doc(id, k));
    };
    for (let k = 1; k <= K / 2; k++) await publishRound(k);
    await waitFor(() => leader.find('event handled').length >= BOTS.length, 20_000, 'the leader handling the burst');
    leader.kill('SIGKILL');
    poller.killed(leader);
    const killedAt = Date.now();
    for (let k = K / 2 + 1; k <= K; k++) await publishRound(k);

    const others = rs.filter((r) => r !== leader);
    await waitFor(() => others.some((r) => r.identity === holder(c)), 30_000, 'a new leader');
    const next = others.find((r) => r.identity === holder(c))!;
    await waitFor(() => BOTS.every((id) => thresholdIn(show(c.repo, fileOf(id))) === K), 60_000, 'every bot at its last update in Git');
    // Everything acked, including the killed leader's deliveries (redelivered after the ack wait).
    await waitFor(async () => {
      const ci = await c.stream.consumerInfo();
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    }, 60_000, 'all events acked');
    await sleep(1000); // let any late (redelivered) event reach the source and Git
    await poller.stop();

    for (const id of BOTS) {
      expect(thresholdIn(show(c.repo, fileOf(id)))).toBe(K);
      expect(await mongoThreshold(c, id)).toBe(K);
      // Publish order in Git: every commit that touched the bot moved it forward, none repeated a state.
      const h = history(c.repo, id);
      expect(h[0]).toBe(0);
      for (let i = 1; i < h.length; i++) expect(h[i]).toBeGreaterThan(h[i - 1]);
      expect(h[h.length - 1]).toBe(K);
    }
    // Only leaders wrote: the new leader's pushes all came after it acquired the Lease.
    const acquired = next.find('leading: acquired the Lease')[0];
    expect(acquired.t).toBeGreaterThanOrEqual(killedAt - 50);
    for (const p of next.find('published')) expect(p.t).toBeGreaterThanOrEqual(acquired.t);
    for (const r of others.filter((x) => x !== next)) expect(r.find('published')).toEqual([]);
    // The new leader's first publish was its full reconcile (pending work re-derived from the source).
    expect(next.lines.find((l) => l.msg === 'published' || l.msg === 'nothing to publish')?.mode).toBe('reconcile');
    // Survivors answered throughout.
    expect(poller.failures).toEqual([]);
    expect(poller.answered()).toBeGreaterThan(20);
    // Every survivor is ready (answers queries) and says who leads.
    for (const r of others) {
      const res = await fetch(`http://127.0.0.1:${r.healthPort}/readyz`);
      const body = (await res.json()) as { checks: Record<string, { detail: string }> };
      expect(res.status).toBe(200);
      expect(body.checks.leader.detail).toMatch(r === next ? /^leader \(/ : new RegExp(`^follower .*leader: ${next.identity}`));
      const metrics = await (await fetch(`http://127.0.0.1:${r.healthPort}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`fleetsynth_leader ${r === next ? 1 : 0}\\b`));
      expect(metrics).toMatch(/fleetsynth_lease_transitions_total [1-9]/);
    }
  });

  test('SIGTERM of the leader hands the Lease over at once (released, not expired)', async () => {
    c = await cluster();
    // A 60 s Lease: a takeover within the wait below can only come from a release.
    const lease = { duration: 60, renewDeadline: 40, retryPeriod: 0.5 };
    const rs = [replica(c, 'serve-a', lease), replica(c, 'serve-b', lease)];
    await Promise.all(rs.map((r) => r.ready));
    await waitFor(() => rs.some((r) => r.identity === holder(c) && r.find('consuming events from JetStream').length), 30_000, 'a leader consuming');
    await waitFor(() => thresholdIn(show(c.repo, fileOf('b0'))) === 0, 30_000, 'initial reconcile');
    const leader = rs.find((r) => r.identity === holder(c))!;
    const other = rs.find((r) => r !== leader)!;

    await c.stream.publish('the0.bot.updated', doc('b1', 7));
    leader.kill('SIGTERM');
    const exit = await leader.exited;
    expect(exit.code).toBe(0);
    // The event in flight was published by the old leader before it let go.
    expect(thresholdIn(show(c.repo, fileOf('b1')))).toBe(7);
    expect(leader.find('released the Lease')).toHaveLength(1);

    await waitFor(() => holder(c) === other.identity && other.find('consuming events from JetStream').length, 20_000, 'the other replica takes over');
    const writes = c.kube.leaseWrites;
    const release = writes.findIndex((w) => w.holder === '');
    expect(writes[release + 1]?.holder).toBe(other.identity);
    expect(writes[release + 1].at - writes[release].at).toBeLessThan(20_000);

    await c.stream.publish('the0.bot.updated', doc('b2', 9));
    await waitFor(() => thresholdIn(show(c.repo, fileOf('b2'))) === 9, 20_000, 'the new leader publishes');
    const sha = git(c.repo, 'log', '-1', '--format=%H', 'main', '--', fileOf('b2')).trim();
    // The log line follows the push: wait for it rather than race it.
    await waitFor(() => other.find('published').some((p) => p.commit === sha), 10_000, 'the new leader logs its commit');
    expect(leader.find('published').map((p) => p.commit)).not.toContain(sha);
  });

  test('a partitioned leader (API server unreachable) stops writing before its Lease expires; the other takes over', async () => {
    c = await cluster();
    const lease = { duration: 4, renewDeadline: 2, retryPeriod: 0.3 };
    const pa = await tcpProxy('127.0.0.1', c.kube.port);
    const pb = await tcpProxy('127.0.0.1', c.kube.port);
    c.proxies.push(pa, pb);
    const a = replica(c, 'serve-a', lease, `http://${pa.url}`);
    await a.ready;
    await waitFor(() => holder(c) === 'serve-a' && a.find('consuming events from JetStream').length, 30_000, 'a leads');
    const b = replica(c, 'serve-b', lease, `http://${pb.url}`);
    await b.ready;
    await waitFor(() => thresholdIn(show(c.repo, fileOf('b0'))) === 0, 30_000, 'initial reconcile');
    await c.stream.publish('the0.bot.updated', doc('b0', 1));
    await waitFor(() => thresholdIn(show(c.repo, fileOf('b0'))) === 1, 20_000, 'a publishes');

    pa.cut();
    // Events keep coming during the partition: b0..b5 each get updates 2..16.
    let k = 2;
    for (; k <= 16; k++) {
      for (const id of BOTS) await c.stream.publish('the0.bot.updated', doc(id, k));
      await sleep(400);
    }
    const last = k - 1;
    await waitFor(() => holder(c) === 'serve-b', 30_000, 'b takes over');
    await waitFor(() => BOTS.every((id) => thresholdIn(show(c.repo, fileOf(id))) === last), 60_000, 'every bot at its last update');
    await waitFor(async () => {
      const ci = await c.stream.consumerInfo();
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    }, 60_000, 'all events acked');

    const stopped = a.find('stopped leading')[0];
    const acquired = b.find('leading: acquired the Lease')[0];
    expect(stopped).toBeDefined();
    expect(acquired).toBeDefined();
    // a gave up before b could start: nothing a wrote can interleave with b's writes.
    expect(stopped.t).toBeLessThan(acquired.t);
    for (const p of a.find('published')) expect(p.t).toBeLessThan(acquired.t);
    for (const e of a.find('event handled')) expect(e.t).toBeLessThan(acquired.t);
    for (const id of BOTS) {
      expect(await mongoThreshold(c, id)).toBe(last);
      const h = history(c.repo, id);
      for (let i = 1; i < h.length; i++) expect(h[i]).toBeGreaterThan(h[i - 1]);
    }
    // a still answers queries while partitioned from the API server (queries need the source only).
    const q = await queryStatus(a.queryPort!, 'b0');
    expect(q.status).toBe(404);
    expect(q.body).toContain('does not have a query entrypoint');
  });
});
