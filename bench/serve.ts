// Live service latency: a NATS event → the pushed commit on the remote, in a 10,000-bot fleet.
//
//   npm run build && node -r tsx/cjs bench/serve.ts [--bots 10000] [--events 60] [--burst 200] [--coalesce-ms 200]
//
// Real parts as in the tests: NATS JetStream on 127.0.0.1:4222 (a stream of our own), MongoDB
// through the official driver against the in-process wire server (no indexes: every lookup scans
// the collection, so this is pessimistic next to a real mongod), a local bare git repository as
// the Argo CD remote. fleetsynth serve runs in this process with its defaults (200 ms coalescing
// window). Each sample: publish one `the0.bot.updated` event for a random enabled bot, then wait
// until the remote branch moves (fs.watch on the bare repo's ref, plus a 2 ms poll). The latency
// therefore covers NATS delivery, the MongoDB write, the coalescing window, the render of that
// bot, git commit and git push. A burst phase then sends --burst events at once and counts commits.
// Prints a table and writes bench/results/serve.json. Target: p50 ≤ 500 ms.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { EVENT_SUBJECTS } from '../src/service/events';
import { createLogger } from '../src/service/logger';
import { startServe } from '../src/service/serve';
import { DEFAULT_SETTINGS } from '../src/settings';
import { MongoSource } from '../src/source';
import { generateFleet } from '../src/testing/fleet-gen';
import { MongoWireServer } from '../test/support/mongo-wire-server';
import { removeWorkDir } from './disk';

const TARGET_P50_MS = 500;
const NATS_URL = process.env.NATS_URL || '127.0.0.1:4222';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function git(cwd: string, ...args: string[]): string {
  // A first commit of 50,000 bots lists far more than the default 1 MiB of output.
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
}

/** Resolves when the bare repo's branch ref differs from `before` (watch + fast poll). */
function refChange(refFile: string, before: string, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    const read = () => {
      try {
        return fs.readFileSync(refFile, 'utf8').trim();
      } catch {
        return '';
      }
    };
    const check = () => {
      if (done) return;
      if (read() !== before) {
        done = true;
        const t = performance.now();
        cleanup();
        resolve(t);
      }
    };
    const watcher = fs.watch(path.dirname(refFile), check);
    const poll = setInterval(check, 2);
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      cleanup();
      reject(new Error('no commit within timeout'));
    }, timeoutMs);
    const cleanup = () => {
      watcher.close();
      clearInterval(poll);
      clearTimeout(timer);
    };
    check();
  });
}

async function main(): Promise<void> {
  const bots = arg('bots', 10_000);
  const events = arg('events', 60);
  const burst = arg('burst', 200);
  const coalesceMs = arg('coalesce-ms', 200);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-bench-serve-'));
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _e, cb) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    }),
  });

  // Fleet into the wire server's collections directly (the driver path is what serve uses).
  const fleet = generateFleet(bots);
  const mongo = await MongoWireServer.start();
  mongo.collection('bot_runner', 'bots').push(...(fleet.bots as Record<string, unknown>[]).map((d) => structuredClone(d)));
  mongo.collection('bot_scheduler', 'bot_schedules').push(...(fleet.bot_schedules as Record<string, unknown>[]).map((d) => structuredClone(d)));
  const enabled = (fleet.bots as { id: string; config: { enabled?: unknown } }[]).filter((d) => d.config.enabled !== false);

  // A stream of our own on prefixed subjects (never touches a real THE0_EVENTS).
  const rnd = Math.random().toString(36).slice(2, 10);
  const stream = `THE0_EVENTS_BENCH_${rnd}`;
  const prefix = `b${rnd}.`;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: EVENT_SUBJECTS.map((s) => prefix + s), retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: 3600 * 1e9 });
  const js = jetstream(nc);

  const repo = path.join(dir, 'remote.git');
  fs.mkdirSync(repo);
  git(repo, 'init', '-q', '--bare', '-b', 'main');
  const refFile = path.join(repo, 'refs', 'heads', 'main');

  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const t0 = performance.now();
    const initial = refChange(refFile, '', 170_000);
    serve = await startServe({
      source: { mongo: new MongoSource(mongo.uri) },
      settings: DEFAULT_SETTINGS,
      repo,
      workDir: path.join(dir, 'work'),
      natsUrl: NATS_URL,
      stream,
      subjectPrefix: prefix,
      port: null,
      healthPort: 0,
      host: '127.0.0.1',
      kube: null,
      minio: null,
      reconcileMs: 0,
      coalesceMs,
      logger,
    });
    await initial;
    const initialMs = performance.now() - t0;
    const files = git(repo, 'ls-tree', '-r', '--name-only', 'main').split('\n').filter((l) => l.startsWith('dist/bots/') && l.endsWith('.yaml')).length;
    while (serve.eventMode() !== 'jetstream') await new Promise((r) => setTimeout(r, 20));
    process.stderr.write(`initial reconcile: ${files} bot files pushed in ${(initialMs / 1000).toFixed(1)} s\n`);

    // Sequential events: one at a time, each to its own commit.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const latencies: number[] = [];
    const warmup = 3;
    // FLEETSYNTH_BENCH_PROFILE=<file>: a CPU profile of this process over the sequential events only.
    const profileFile = process.env.FLEETSYNTH_BENCH_PROFILE;
    const inspector = profileFile ? new (require('node:inspector') as typeof import('node:inspector')).Session() : undefined;
    const post = (method: string) => new Promise<unknown>((res, rej) => inspector!.post(method, (e, r) => (e ? rej(e) : res(r))));
    if (inspector) {
      inspector.connect();
      await post('Profiler.enable');
      await post('Profiler.start');
    }
    for (let i = 0; i < events + warmup; i++) {
      const bot = enabled[Math.floor(rand() * enabled.length)] as unknown as { id: string; config: Record<string, unknown>; custom: unknown };
      const before = fs.readFileSync(refFile, 'utf8').trim();
      const payload = JSON.stringify({ id: bot.id, config: { ...bot.config, threshold: 1000 + i }, custom: bot.custom });
      const moved = refChange(refFile, before);
      const start = performance.now();
      await js.publish(`${prefix}the0.bot.updated`, payload);
      const end = await moved;
      if (i >= warmup) latencies.push(end - start);
      await new Promise((r) => setTimeout(r, 20 + rand() * 80));
    }
    if (inspector) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      fs.writeFileSync(profileFile!, JSON.stringify(profile));
      inspector.disconnect();
    }
    const shas = git(repo, 'rev-list', `-n`, String(events), 'main').trim().split('\n');
    const filesPerCommit = shas.map((sha) => git(repo, 'diff-tree', '--no-commit-id', '--name-only', '-r', sha).trim().split('\n').length);

    // Burst: many events at once → few commits.
    const beforeBurst = git(repo, 'rev-list', '--count', 'main').trim();
    const burstStart = performance.now();
    const burstIds = new Set<string>();
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < burst; i++) {
      const bot = enabled[Math.floor(rand() * enabled.length)] as unknown as { id: string; config: Record<string, unknown>; custom: unknown };
      burstIds.add(bot.id);
      acks.push(js.publish(`${prefix}the0.bot.updated`, JSON.stringify({ id: bot.id, config: { ...bot.config, threshold: 5000 + i }, custom: bot.custom })));
    }
    await Promise.all(acks);
    // Done when every event is acked by the service.
    for (;;) {
      const ci = await jsm.consumers.info(stream, 'fleetsynth');
      if (ci.num_pending === 0 && ci.num_ack_pending === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const burstMs = performance.now() - burstStart;
    const burstCommits = Number(git(repo, 'rev-list', '--count', 'main').trim()) - Number(beforeBurst);

    // A periodic full reconcile with nothing to change (what runs every 5 min by default).
    const rc0 = performance.now();
    const rc = await serve.queue.reconcile();
    const reconcileNoopMs = performance.now() - rc0;
    if (!rc.published) throw new Error(`reconcile failed: ${rc.error}`);

    const sorted = [...latencies].sort((a, b) => a - b);
    const published = logLines.map((l) => JSON.parse(l)).filter((o) => o.msg === 'published' && o.mode === 'events');
    const sample = published.slice(warmup, warmup + events);
    const serverMs = sample.map((o) => o.ms as number).sort((a, b) => a - b);
    const p50Of = (k: string) => pct(sample.map((o) => o[k] as number).sort((a, b) => a - b), 50);
    const breakdown = { waitMs: p50Of('waitMs'), gitSyncMs: p50Of('syncMs'), readMs: p50Of('readMs'), renderMs: p50Of('renderMs'), commitPushMs: p50Of('gitMs') };
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      fleet: { documents: bots, enabledRealtime: enabled.length, botFiles: files },
      coalesceMs,
      initialReconcileSeconds: Math.round(initialMs) / 1000,
      noopReconcileSeconds: Math.round(reconcileNoopMs) / 1000,
      eventToPushMs: {
        samples: sorted.length,
        p50: round(pct(sorted, 50)),
        p90: round(pct(sorted, 90)),
        p99: round(pct(sorted, 99)),
        max: round(sorted[sorted.length - 1]),
        mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
      },
      serverQueueToPushMs: { p50: pct(serverMs, 50), p99: pct(serverMs, 99), p50Breakdown: breakdown },
      filesPerCommit: { min: Math.min(...filesPerCommit), max: Math.max(...filesPerCommit) },
      burst: { events: burst, distinctBots: burstIds.size, commits: burstCommits, allAckedSeconds: Math.round(burstMs) / 1000 },
      target: { p50Ms: TARGET_P50_MS, met: pct(sorted, 50) <= TARGET_P50_MS },
    };

    const rows: [string, string][] = [
      ['fleet', `${bots} documents, ${files} bot files, ${enabled.length} enabled realtime bots`],
      ['initial reconcile (render + commit + push)', `${result.initialReconcileSeconds.toFixed(1)} s`],
      ['periodic full reconcile, nothing changed', `${(reconcileNoopMs / 1000).toFixed(1)} s`],
      ['coalescing window', `${coalesceMs} ms`],
      [`event → pushed commit, ${sorted.length} samples`, `p50 ${result.eventToPushMs.p50} ms   p90 ${result.eventToPushMs.p90} ms   p99 ${result.eventToPushMs.p99} ms   max ${result.eventToPushMs.max} ms`],
      ['  of which queued → pushed (server side)', `p50 ${result.serverQueueToPushMs.p50} ms   p99 ${result.serverQueueToPushMs.p99} ms`],
      ['  p50 breakdown', `window ${breakdown.waitMs} + git sync ${breakdown.gitSyncMs} + read ${breakdown.readMs} + render ${breakdown.renderMs} + commit/push ${breakdown.commitPushMs} ms`],
      ['files per commit', `${result.filesPerCommit.min}–${result.filesPerCommit.max}`],
      [`burst of ${burst} events (${burstIds.size} bots)`, `${burstCommits} commits, all acked in ${result.burst.allAckedSeconds.toFixed(1)} s`],
      [`target p50 ≤ ${TARGET_P50_MS} ms`, result.target.met ? 'met' : 'NOT met'],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
    const out = path.resolve(__dirname, 'results', 'serve.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
  } finally {
    await serve?.stop();
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
    await mongo.stop();
    removeWorkDir(dir);
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
