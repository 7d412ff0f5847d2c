// Helpers of the serve tests: bot documents, bare git repos, per-test JetStream streams, a TCP
// proxy that can cut a connection, and polling.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { createLogger } from '../src/service/logger';
import { EVENT_SUBJECTS } from '../src/service/events';
import type { ServeOptions, ServeSource } from '../src/service/serve';
import { DEFAULT_SETTINGS } from '../src/settings';

export const NATS_URL = process.env.NATS_TEST_URL ?? '127.0.0.1:4222';

/** A valid realtime bot document, as the API stores it. */
export function botDoc(id: string, config: Record<string, unknown> = {}, query = true): Record<string, unknown> {
  return {
    id,
    config: { name: `bot ${id}`, type: 'realtime/price-alerts', version: '1.0.0', symbol: 'BTCUSDT', customBotId: 'cb-1', exchange: { api_key: `AK-${id}-secretvalue` }, ...config },
    custom: {
      version: '1.0.0',
      filePath: `user1/price-alerts/1.0.0/price-alerts_${id}.zip`,
      createdAt: '2026-01-02T03:04:05Z',
      updatedAt: '2026-02-03T04:05:06Z',
      config: { name: 'price-alerts', runtime: 'python3.11', version: '1.0.0', type: 'realtime', entrypoints: query ? { bot: 'main.py', query: 'query.py' } : { bot: 'main.py' } },
    },
  };
}

/** A valid schedule document. */
export function scheduleDoc(id: string, schedule = '0 9 * * *', config: Record<string, unknown> = {}): Record<string, unknown> {
  const d = botDoc(id, { type: 'scheduled/report', schedule, ...config }, false);
  (d.custom as { config: { type: string } }).config.type = 'scheduled';
  return d;
}

/** Polls (every `pollMs`) until `cond` is truthy (returns it) or fails after `ms`. */
export async function waitFor<T>(cond: () => T | Promise<T>, ms = 15000, what = 'condition', pollMs = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(pollMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs git and returns stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
}

/** An empty bare repository. */
export function bareRepo(dir: string): string {
  const repo = path.join(dir, 'remote.git');
  fs.mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '--bare', '-b', 'main');
  return repo;
}

/** Commits of `branch` in a bare repo, newest first (empty when the branch does not exist). */
export function commits(repo: string, branch = 'main'): string[] {
  try {
    return git(repo, 'rev-list', branch).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Paths a commit touched. */
export function touched(repo: string, sha: string): string[] {
  return git(repo, 'diff-tree', '--no-commit-id', '--name-only', '-r', '--root', sha).trim().split('\n').filter(Boolean);
}

/** A file's content at the branch head of a bare repo, or undefined. */
export function show(repo: string, file: string, branch = 'main'): string | undefined {
  try {
    return git(repo, 'show', `${branch}:${file}`);
  } catch {
    return undefined;
  }
}

/** Every path at the head of a bare repo. */
export function tree(repo: string, branch = 'main'): string[] {
  try {
    return git(repo, 'ls-tree', '-r', '--name-only', branch).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * startServe options of a test: a local bare repo, a work dir under `dir`, no Kubernetes, no MinIO,
 * no query API, no periodic reconcile, listening on 127.0.0.1; NATS on the test stream when given.
 */
export function testServeOptions(
  o: { source: ServeSource; repo: string; dir: string; stream?: TestStream },
  extra: Partial<ServeOptions> = {},
): ServeOptions {
  return {
    source: o.source,
    settings: DEFAULT_SETTINGS,
    repo: o.repo,
    workDir: path.join(o.dir, 'work'),
    ...(o.stream ? { natsUrl: NATS_URL, stream: o.stream.name, subjectPrefix: o.stream.prefix } : {}),
    port: null,
    healthPort: 0,
    host: '127.0.0.1',
    kube: null,
    minio: null,
    reconcileMs: 0,
    ...extra,
  };
}

/** A JetStream stream of our own: unique name and subject prefix, so tests never collide. */
export interface TestStream {
  readonly name: string;
  readonly prefix: string;
  readonly nc: NatsConnection;
  publish(subject: string, payload: unknown): Promise<void>;
  /** Publishes through core NATS (no stream needed). */
  publishCore(subject: string, payload: unknown): Promise<void>;
  /** Creates the stream now (after `testStream({ create: false })`). */
  create(): Promise<void>;
  consumerInfo(durable?: string): Promise<{ num_pending: number; num_ack_pending: number; delivered: number; ack_floor: number }>;
  destroy(): Promise<void>;
}

/** Creates a stream `THE0_EVENTS_TEST_<random>` on prefixed copies of the six subjects (`create: false`: prefix only). */
export async function testStream(opts: { create?: boolean } = {}): Promise<TestStream> {
  const rnd = randomBytes(5).toString('hex');
  const name = `THE0_EVENTS_TEST_${rnd}`;
  const prefix = `t${rnd}.`;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  let created = false;
  const create = async () => {
    await jsm.streams.add({ name, subjects: EVENT_SUBJECTS.map((s) => prefix + s), retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: 3600 * 1e9 });
    created = true;
  };
  if (opts.create ?? true) await create();
  const js = jetstream(nc);
  return {
    name,
    prefix,
    nc,
    create,
    async publish(subject, payload) {
      await js.publish(prefix + subject, JSON.stringify(payload));
    },
    async publishCore(subject, payload) {
      nc.publish(prefix + subject, JSON.stringify(payload));
      await nc.flush();
    },
    async consumerInfo(durable = 'fleetsynth') {
      const ci = await jsm.consumers.info(name, durable);
      return { num_pending: ci.num_pending, num_ack_pending: ci.num_ack_pending, delivered: ci.delivered.stream_seq, ack_floor: ci.ack_floor.stream_seq };
    },
    async destroy() {
      if (created) await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    },
  };
}

/** A TCP proxy to `target` whose connections can be cut (and new ones refused) and restored. */
export interface CuttableProxy {
  readonly port: number;
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetHost: string, targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A logger whose JSON lines are kept in memory (to check that no secret is ever logged). */
export function memoryLogger(level = 'debug') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

/** Minimal HTTP GET. */
export async function get(url: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}
