// Failover of `fleetsynth serve` replicas: the leader is killed (kill -9) → the next commit is pushed
// by the new leader. Default Lease settings (15 s / 10 s / 2 s) unless given.
//
//   npm run bench:failover [-- --rounds 3 --bots 200 --lease-duration 15 --renew-deadline 10 --retry-period 2]
//
// Real parts as in test/serve-ha.test.ts: each replica is `node bin/fleetsynth serve` in its own
// process (a real kill -9), NATS JetStream on 127.0.0.1:4222 (a stream of our own), MongoDB through
// the official driver against the in-process wire server, a bare git repository, and a fake
// Kubernetes API (Leases with resourceVersion conflicts) through @kubernetes/client-node.
//
// Each round: two replicas run, one leads. The leader is killed; at once an update of one bot is
// published; the time until the remote branch holds that update (pushed by the survivor) is the
// failover. Meanwhile queries go to the surviving replica every 20 ms: each must be answered
// (the bots have no query entrypoint, so the answer is the source's 404 "no query entrypoint").
// A replacement replica is started before the next round.
//
// Baselines measured in the same run: (1) one replica without leader election, killed and
// restarted (a new process on a fresh working copy; Kubernetes would also need to schedule the pod
// and pull the image, which this leaves out), kill → the same kind of commit; (2) the lease duration
// itself (the wait a Lease-based takeover cannot avoid without trusting another node's clock);
// (3) event → commit latency of a replica leading through the Lease vs the single replica.
// Prints a table and writes bench/results/failover.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_SETTINGS } from '../src/settings';
import { botFilePath } from '../src/synth/shard';
import { botDoc, show, waitFor as pollFor } from '../test/serve-support';
import { Replica, ReplicaCluster, leaseHolder, queryStatus, startInCluster, startReplicaCluster, stopReplicaCluster, thresholdIn } from '../test/support/serve-replicas';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS } from '../src/service/leader';

const TARGET_FAILOVER_MS = 15_000;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** serve-support's waitFor, polling every 5 ms: the latencies measured end when it sees the change. */
const waitFor = <T>(cond: () => T | Promise<T>, ms: number, what: string) => pollFor(cond, ms, what, 5);
const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, DEFAULT_SETTINGS.shards)}`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};


/** The shared parts and a counter for replica names. */
type Env = ReplicaCluster & { n: number };

const holder = leaseHolder;

function start(e: Env, lease: { duration: number; renewDeadline: number; retryPeriod: number } | 'solo'): Replica {
  return startInCluster(e, `serve-${++e.n}`, lease === 'solo' ? { args: ['--leader-election', 'false'] } : { lease });
}

let seq = 1000;
/** Publishes an update of `id` and resolves with the ms until the remote branch holds it. */
async function eventToCommit(e: Env, id: string, t0 = performance.now()): Promise<number> {
  const value = ++seq;
  await e.stream.publish('the0.bot.updated', botDoc(id, { threshold: value }, false));
  await waitFor(() => thresholdIn(show(e.repo, fileOf(id))) === value, 120_000, `update ${value} of ${id} in Git`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 3);
  const bots = arg('bots', 200);
  const lease = { duration: arg('lease-duration', DEFAULT_LEASE_DURATION_MS / 1000), renewDeadline: arg('renew-deadline', DEFAULT_RENEW_DEADLINE_MS / 1000), retryPeriod: arg('retry-period', DEFAULT_RETRY_PERIOD_MS / 1000) };
  const ids = Array.from({ length: bots }, (_, i) => `fo-${i}`);
  const e: Env = { ...(await startReplicaCluster('fleetsynth-bench-failover-', ids.map((id) => botDoc(id, { threshold: 0 }, false)))), n: 0 };
  const results: Record<string, unknown> = { bots, lease, rounds };
  try {
    // ---- baseline: one replica, no leader election, killed and restarted ----
    let solo = start(e, 'solo');
    await solo.ready;
    await waitFor(() => solo.find('consuming events from JetStream').length > 0 && thresholdIn(show(e.repo, fileOf(ids[0]))) === 0, 60_000, 'solo ready');
    await sleep(3000);
    const soloLatency: number[] = [];
    for (let i = 0; i < 10; i++) soloLatency.push(await eventToCommit(e, ids[i % ids.length]));
    const restarts: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      solo.kill('SIGKILL');
      await solo.exited;
      solo = start(e, 'solo');
      restarts.push(await eventToCommit(e, ids[r], t0));
    }
    solo.kill('SIGTERM');
    await solo.exited;

    // ---- two replicas, the leader killed each round ----
    let a = start(e, lease);
    let b = start(e, lease);
    await Promise.all([a.ready, b.ready]);
    await waitFor(() => [a, b].some((r) => r.identity === holder(e) && r.find('consuming events from JetStream').length > 0), 60_000, 'a leader');
    // Settled as the single replica was: the leader's first reconcile done, the follower's clone done.
    await waitFor(() => [a, b].some((r) => r.lines.some((l) => (l.msg === 'published' || l.msg === 'nothing to publish') && l.mode === 'reconcile')), 60_000, 'first reconcile');
    await sleep(3000);
    const haLatency: number[] = [];
    for (let i = 0; i < 10; i++) haLatency.push(await eventToCommit(e, ids[(i + 50) % ids.length]));
    const failovers: number[] = [];
    const takeovers: number[] = [];
    let queries = 0;
    let failedQueries = 0;
    for (let r = 0; r < rounds; r++) {
      const leader = [a, b].find((x) => x.identity === holder(e))!;
      const survivor = leader === a ? b : a;
      await survivor.ready;
      // Queries to the survivor throughout the failover.
      let querying = true;
      const load = (async () => {
        while (querying) {
          const q = await queryStatus(survivor.queryPort!, ids[0]);
          queries++;
          if (!(q.status === 404 && q.body.includes('does not have a query entrypoint'))) failedQueries++;
          await sleep(20);
        }
      })();
      await sleep(500 + Math.random() * lease.retryPeriod * 1000); // a random phase of the renew cycle
      const t0 = performance.now();
      const wall0 = Date.now();
      leader.kill('SIGKILL');
      failovers.push(await eventToCommit(e, ids[r + 10], t0));
      const acquired = survivor.find('leading: acquired the Lease').pop();
      if (acquired) takeovers.push(acquired.t - wall0);
      querying = false;
      await load;
      await leader.exited;
      // A replacement (the Deployment's new pod), following the new leader.
      const fresh = start(e, lease);
      await fresh.ready;
      await waitFor(() => fresh.find('Lease holder observed').length > 0, 30_000, 'replacement follows');
      if (leader === a) a = fresh;
      else b = fresh;
    }

    const row = (name: string, xs: number[]) => `${name.padEnd(58)} ${xs.map((x) => `${(x / 1000).toFixed(2)} s`).join('  ')}   median ${(median(xs) / 1000).toFixed(2)} s`;
    const lines = [
      `fleetsynth serve failover — ${bots} bots, lease ${lease.duration} s / renew deadline ${lease.renewDeadline} s / retry ${lease.retryPeriod} s, ${rounds} rounds`,
      '',
      row('HA: leader kill -9 → next commit pushed by new leader', failovers),
      row('   of which: kill → survivor acquired the Lease', takeovers),
      row('baseline: 1 replica kill -9 → restarted → next commit', restarts),
      `${'baseline: lease duration (takeover wait after last renew)'.padEnd(58)} ${lease.duration.toFixed(2)} s`,
      '',
      row('event → commit, leader through the Lease (10 events)', haLatency),
      row('event → commit, single replica (10 events)', soloLatency),
      '',
      `queries to the survivor during failovers: ${queries}, failed: ${failedQueries}`,
      `target: failover ≤ ${TARGET_FAILOVER_MS / 1000} s with defaults — median ${(median(failovers) / 1000).toFixed(2)} s, worst ${(Math.max(...failovers) / 1000).toFixed(2)} s: ${Math.max(...failovers) <= TARGET_FAILOVER_MS ? 'met' : 'MISSED'}; zero failed queries: ${failedQueries === 0 ? 'met' : 'MISSED'}`,
    ];
    console.log(lines.join('\n'));
    Object.assign(results, { failoverMs: failovers, takeoverMs: takeovers, soloRestartMs: restarts, haLatencyMs: haLatency, soloLatencyMs: soloLatency, queries, failedQueries });
    const out = path.join(__dirname, 'results');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'failover.json'), JSON.stringify(results, null, 2) + '\n');
  } catch (err) {
    // What each replica was doing (its last log lines), to tell a stuck takeover from a slow one.
    for (const r of e.replicas) {
      console.error(`--- ${r.identity} (exit ${r.child.exitCode ?? r.child.signalCode ?? 'running'}), lease holder ${holder(e) || '(none)'}`);
      for (const l of r.lines.slice(-25)) console.error(`${new Date(l.t).toISOString()} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, t: undefined, time: undefined, service: undefined, name: undefined, pid: undefined, hostname: undefined })}`);
    }
    throw err;
  } finally {
    await stopReplicaCluster(e);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
