// `fleetsynth serve` replicas as real child processes (the built CLI, bin/fleetsynth), so a kill -9
// is a real one: for the HA tests (test/serve-ha.test.ts) and bench/failover.ts. Each replica's
// JSON log lines are kept and parsed; its ports come from its own "listening" lines.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import { FakeKube, startFakeKube, writeKubeconfig } from '../query-fakes';
import { NATS_URL, TestStream, bareRepo, testStream } from '../serve-support';
import { MongoWireServer } from './mongo-wire-server';
import { tmpDir } from './tmp';

const ROOT = path.join(__dirname, '..', '..');

/** One parsed log line of a replica (pino JSON). */
export interface LogLine {
  readonly msg: string;
  /** Parsed `time` (ms since epoch). */
  readonly t: number;
  readonly [field: string]: unknown;
}

/** Options of {@link startReplica}. */
export interface ReplicaOptions {
  /** Lease holder identity (`--leader-identity`). */
  readonly identity: string;
  /** mongodb:// URI of the source. */
  readonly mongoUri: string;
  /** Bare repository. */
  readonly repo: string;
  /** This replica's own working copy. */
  readonly workDir: string;
  /** NATS URL, stream and subject prefix. */
  readonly natsUrl: string;
  readonly stream: string;
  readonly prefix: string;
  /** Kubeconfig pointing at the (fake) API server. */
  readonly kubeconfig: string;
  /** Lease settings in seconds (absent: serve's defaults). */
  readonly lease?: { duration?: number; renewDeadline?: number; retryPeriod?: number };
  /** Extra flags. */
  readonly args?: readonly string[];
}

/** A running replica. */
export interface Replica {
  readonly identity: string;
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  /** Resolves once both servers listen. */
  readonly ready: Promise<{ healthPort: number; queryPort: number }>;
  healthPort?: number;
  queryPort?: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lines with this message. */
  find(msg: string): LogLine[];
  /** Whether the replica's log says it leads now (last of acquired / stopped leading). */
  leading(): boolean;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `node bin/fleetsynth serve` with its own ports (0 = any free one) and a clean environment. */
export function startReplica(o: ReplicaOptions): Replica {
  const args = [
    path.join(ROOT, 'bin', 'fleetsynth'),
    'serve',
    '--source', o.mongoUri,
    '--repo', o.repo,
    '--work-dir', o.workDir,
    '--port', '0',
    '--health-port', '0',
    '--nats-url', o.natsUrl,
    '--nats-stream', o.stream,
    '--nats-subject-prefix', o.prefix,
    '--kubeconfig', o.kubeconfig,
    '--leader-identity', o.identity,
    ...(o.lease?.duration !== undefined ? ['--lease-duration', String(o.lease.duration)] : []),
    ...(o.lease?.renewDeadline !== undefined ? ['--lease-renew-deadline', String(o.lease.renewDeadline)] : []),
    ...(o.lease?.retryPeriod !== undefined ? ['--lease-retry-period', String(o.lease.retryPeriod)] : []),
    ...(o.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', GIT_TERMINAL_PROMPT: '0' };
  const child = spawn(process.execPath, args, { cwd: path.dirname(o.workDir), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let resolveReady!: (v: { healthPort: number; queryPort: number }) => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<{ healthPort: number; queryPort: number }>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  const r: Replica = {
    identity: o.identity,
    child,
    lines,
    ready,
    exited: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
    find: (msg) => lines.filter((l) => l.msg === msg),
    leading() {
      for (let i = lines.length - 1; i >= 0; i--) {
        if (lines[i].msg === 'leading: acquired the Lease') return true;
        if (lines[i].msg === 'stopped leading') return false;
      }
      return false;
    },
    kill: (signal) => {
      child.kill(signal);
    },
  };
  let buf = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue;
      }
      const line = { ...parsed, msg: String(parsed.msg ?? ''), t: Date.parse(String(parsed.time)) } as LogLine;
      lines.push(line);
      if (line.msg === 'health server listening (/healthz, /readyz, /metrics)') r.healthPort = line.port as number;
      if (line.msg === 'query server listening') r.queryPort = line.port as number;
      if (r.healthPort && r.queryPort) resolveReady({ healthPort: r.healthPort, queryPort: r.queryPort });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  void r.exited.then(({ code, signal }) => rejectReady(new Error(`replica ${o.identity} exited (${code ?? signal}) before listening: ${stderr.slice(-2000)}`)));
  return r;
}

/** POSTs a query; resolves with the HTTP status, or 0 when the connection failed. */
export async function queryStatus(port: number, botId: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ bot_id: botId, query_path: '/status' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    return { status: 0, body: (e as Error).message };
  }
}

/** What a set of replicas shares: MongoDB (wire server), a fake API server with Leases, a JetStream stream, a bare repo. */
export interface ReplicaCluster {
  readonly dir: string;
  readonly repo: string;
  readonly kube: FakeKube;
  readonly mongo: MongoWireServer;
  readonly client: MongoClient;
  readonly stream: TestStream;
  /** Every replica started in it (stopReplicaCluster kills those still running). */
  readonly replicas: Replica[];
}

/** Starts the shared parts, with `bots` in `bot_runner.bots`. */
export async function startReplicaCluster(prefix: string, bots: readonly object[]): Promise<ReplicaCluster> {
  const dir = tmpDir(prefix);
  const mongo = await MongoWireServer.start();
  const client = new MongoClient(mongo.uri);
  await client.connect();
  await client.db('bot_runner').collection('bots').insertMany(bots.map((b) => ({ ...b })));
  return { dir, repo: bareRepo(dir), kube: await startFakeKube(), mongo, client, stream: await testStream(), replicas: [] };
}

/** A kubeconfig of its own under `dir/name`, pointing at `url`. */
export function kubeconfigFor(dir: string, url: string, name: string): string {
  const sub = path.join(dir, name);
  fs.mkdirSync(sub, { recursive: true });
  return writeKubeconfig(sub, url);
}

/** Starts a replica in the cluster (its own working copy and kubeconfig; `kubeUrl` e.g. through a proxy). */
export function startInCluster(c: ReplicaCluster, identity: string, o: Pick<ReplicaOptions, 'lease' | 'args'> & { kubeUrl?: string } = {}): Replica {
  const r = startReplica({
    identity,
    mongoUri: c.mongo.uri,
    repo: c.repo,
    workDir: path.join(c.dir, `work-${identity}`),
    natsUrl: NATS_URL,
    stream: c.stream.name,
    prefix: c.stream.prefix,
    kubeconfig: kubeconfigFor(c.dir, o.kubeUrl ?? c.kube.url, `kc-${identity}`),
    ...(o.lease ? { lease: o.lease } : {}),
    ...(o.args ? { args: o.args } : {}),
  });
  c.replicas.push(r);
  return r;
}

/** Kills the replicas still running and stops the shared parts. */
export async function stopReplicaCluster(c: ReplicaCluster): Promise<void> {
  for (const r of c.replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.kill('SIGKILL');
  await Promise.all(c.replicas.map((r) => r.exited));
  await c.stream.destroy();
  await c.client.close();
  await c.mongo.stop();
  await c.kube.close();
  fs.rmSync(c.dir, { recursive: true, force: true });
}

/** The holder of the `fleetsynth` Lease in the fake API server ('' when none). */
export const leaseHolder = (c: ReplicaCluster): string => (c.kube.leases.get('fleetsynth')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '';

/** The `threshold` config value in a bot's rendered file (NaN when absent). */
export const thresholdIn = (text: string | undefined): number => (text ? Number(/"threshold":(\d+)/.exec(text)?.[1] ?? NaN) : NaN);
