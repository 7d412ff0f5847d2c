import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type pino from 'pino';
import { GitWorkspace } from '../gitops/workspace';
import { stageOrClear } from '../gitops/rollout/stage';
import type { RolloutState } from '../gitops/rollout/state';
import type { FleetDocuments } from '../model/document';
import type { RenderSettings } from '../settings';
import { MongoSource, redactUri } from '../source';
import { BotStore, FileBotStore, MongoBotStore } from './apply-event';
import { BotEvent, EventSubscription, subscribeEvents } from './events';
import { CheckResult, HealthServer, evaluate, startHealthServer } from './health';
import { KubeAccess, loadKube } from './kube';
import { HealthReader, healthFromCredentials } from '../gitops/rollout/health';
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_LEASE_NAME,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  LeaderGate,
  LeaseElector,
  LeaseSettings,
  SoloLeader,
  defaultIdentity,
} from './leader';
import { createLogger } from './logger';
import { EventOutcome, ServeMetrics } from './metrics';
import { BotLookup, lookupFromFile, lookupFromMongo } from './query/lookup';
import { MinioSettings } from './query/minio';
import { QueryServer, startQueryServer } from './query/server';
import { Publisher, ResyncQueue } from './resync';
import { SecretsSync } from './secrets-sync';

/** Where the live service reads and writes bot documents. */
export type ServeSource =
  /** MongoDB: the service does the writes of the0's controller (SPEC §5.4). */
  | { readonly mongo: MongoSource }
  /** A fleet file, rewritten atomically by events; `readOnly` for the embedded example fleet. */
  | { readonly file: string; readonly readOnly?: boolean };

/** Options of {@link startServe}. */
export interface ServeOptions {
  /** Bot documents. */
  readonly source: ServeSource;
  /** Render settings. */
  readonly settings: RenderSettings;
  /** GitOps repository (URL or path) Argo CD watches. */
  readonly repo: string;
  /** Branch (default main). */
  readonly branch?: string;
  /** Output root inside the repository (default dist). */
  readonly path?: string;
  /** Local working copy owned by the service. */
  readonly workDir: string;
  /** Commit author. */
  readonly author?: { readonly name: string; readonly email: string };
  /** NATS server(s); undefined = no event subscriber (periodic reconcile only, like the0 with no NATS_URL). */
  readonly natsUrl?: string;
  /** JetStream stream (default THE0_EVENTS). */
  readonly stream?: string;
  /** Durable consumer (default fleetsynth). */
  readonly durable?: string;
  /** Subject prefix (tests). */
  readonly subjectPrefix?: string;
  /** How often the core fallback looks for the stream (default 30 s). */
  readonly streamCheckMs?: number;
  /** Query API port (default 9477; 0 = any free port; null = no query API). */
  readonly port?: number | null;
  /** Health port (default 8080; 0 = any free port). */
  readonly healthPort?: number;
  /** Listen address of both servers (default all interfaces). */
  readonly host?: string;
  /** Coalescing window (default 200 ms). */
  readonly coalesceMs?: number;
  /** Scheduled-bot query Jobs running at once (default 20). */
  readonly maxQueryJobs?: number;
  /** Where a new durable consumer starts: `new` (default) or `all` the stream keeps (see events.ts). */
  readonly eventsFrom?: 'new' | 'all';
  /** Deliveries after which a failing event is terminated as poison (default 20, see events.ts). */
  readonly maxDeliveries?: number;
  /** Full reconcile period (default 5 min; 0 = only at start). */
  readonly reconcileMs?: number;
  /** Let a full reconcile remove more than max(10, 20 %) of the bot files. */
  readonly allowMassDelete?: boolean;
  /** Backoff base after a failed publish (default 1 s). */
  readonly retryBaseMs?: number;
  /** API server access; undefined = load it (`kubeconfig`, in-cluster, ~/.kube/config); null = none. */
  readonly kube?: KubeAccess | null;
  /** Kubeconfig file (`--kubeconfig`). */
  readonly kubeconfig?: string;
  /** Health of a rollout's wave; undefined = from the same credentials as `kube` (none: rollouts are followed, not advanced); null = none. */
  readonly rolloutHealth?: HealthReader | null;
  /** How often a rolling rollout's wave health is read (default: a quarter of its bake time, 5 to 30 s). */
  readonly rolloutCheckMs?: number;
  /** Query results storage (the CLI reads it from MINIO_* with minioSettingsFromEnv); absent or null = scheduled-bot queries answer 500. */
  readonly minio?: MinioSettings | null;
  /** Realtime bot query URL (tests). */
  readonly realtimeBaseUrl?: (id: string) => string;
  /** Logger (default JSON to stdout). */
  readonly logger?: pino.Logger;
  /** Metrics (default a fresh registry). */
  readonly metrics?: ServeMetrics;
  /**
   * Leader election through a coordination.k8s.io/v1 Lease (needs `kube`); only the leader consumes
   * events and writes. Defaults: name fleetsynth, 15 s / 10 s / 2 s, identity `<hostname>-<pid>`.
   * `false`, or no API server access: this process is its own leader (one replica).
   */
  readonly leader?: Partial<LeaseSettings> | false;
}

/** A running service. */
export interface ServeHandle {
  /** Port of /healthz, /readyz, /metrics. */
  readonly healthPort: number;
  /** Port of the query API, when started. */
  readonly queryPort?: number;
  /** The resync queue of the current (or last) leadership term (tests and benchmarks wait on it). */
  readonly queue: ResyncQueue;
  /** Who leads; `started`/`stopped` for leader-only loops. */
  readonly leader: LeaderGate;
  /** The metrics registry. */
  readonly metrics: ServeMetrics;
  /** `jetstream`, `core`, or undefined while not (yet) subscribed. */
  eventMode(): 'jetstream' | 'core' | undefined;
  /** Readiness as /readyz reports it. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, CheckResult> }>;
  /** Graceful stop: no new events, finish the pending commit and push, close connections. */
  stop(): Promise<void>;
}

/**
 * `fleetsynth serve`: events → MongoDB (or fleet file) writes → coalesced render of the touched
 * bots → one commit and push; a periodic full reconcile; per-bot Secrets; the query API; health.
 */
export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const logger = opts.logger ?? createLogger();
  const metrics = opts.metrics ?? new ServeMetrics();
  const store: BotStore = 'mongo' in opts.source ? new MongoBotStore(opts.source.mongo) : new FileBotStore(opts.source.file, { readOnly: opts.source.readOnly });
  const lookup: BotLookup = 'mongo' in opts.source ? lookupFromMongo(opts.source.mongo) : lookupFromFile(opts.source.file);

  const kube = opts.kube !== undefined ? opts.kube : loadKube({ kubeconfig: opts.kubeconfig, namespace: opts.settings.namespace });

  const identity = (opts.leader && opts.leader.identity) || defaultIdentity();
  const gate: SoloLeader | LeaseElector =
    opts.leader !== false && kube?.leases
      ? (() => {
          const ls: LeaseSettings = {
            name: (opts.leader && opts.leader.name) || DEFAULT_LEASE_NAME,
            durationMs: (opts.leader && opts.leader.durationMs) || DEFAULT_LEASE_DURATION_MS,
            renewDeadlineMs: (opts.leader && opts.leader.renewDeadlineMs) || DEFAULT_RENEW_DEADLINE_MS,
            retryPeriodMs: (opts.leader && opts.leader.retryPeriodMs) || DEFAULT_RETRY_PERIOD_MS,
            identity,
          };
          const timeoutMs = Math.max(500, Math.min(ls.renewDeadlineMs / 2, 5000));
          return new LeaseElector({ client: kube.leases(ls.name, timeoutMs), namespace: kube.namespace, settings: ls, logger: logger.child({ part: 'leader' }), metrics: metrics.leaderMetrics });
        })()
      : new SoloLeader(identity, metrics.leaderMetrics);
  const ha = gate.mode === 'lease';
  metrics.leader.set(0);

  // Fencing: every Git publish checks the Lease right before its render and right before its
  // commit and push (a rejected push renders again, so it checks again); Secret writes too.
  const workspace = new GitWorkspace({ repo: opts.repo, branch: opts.branch ?? 'main', workDir: opts.workDir, path: opts.path ?? 'dist', author: opts.author });
  const publisher = fencedPublisher(workspace, gate);
  const secretsKube: KubeAccess | null = kube && {
    ...kube,
    applySecret: (name, data, labels) => {
      gate.assertLeading(`apply Secret ${name}`);
      return kube.applySecret(name, data, labels);
    },
    deleteSecret: (name) => {
      gate.assertLeading(`delete Secret ${name}`);
      return kube.deleteSecret(name);
    },
  };
  const secrets = secretsKube ? new SecretsSync(secretsKube, { logger: logger.child({ part: 'secrets' }), metrics }) : null;
  if (!kube) logger.warn('no Kubernetes credentials (in-cluster account, --kubeconfig, KUBECONFIG, ~/.kube/config): per-bot config Secrets are NOT synced and scheduled-bot queries fail');

  // Wave health comes from the same credentials as the Secrets (none: a rollout is followed, not advanced).
  const rolloutHealth = opts.rolloutHealth !== undefined ? opts.rolloutHealth : kube && opts.kube === undefined ? healthFromCredentials(opts.kubeconfig, opts.settings.namespace) : null;
  // One queue per leadership term: a deposed leader's queue is closed, a new term starts with a
  // full reconcile that re-derives everything pending from the source.
  const newQueue = () =>
    new ResyncQueue({
      store,
      publisher,
      settings: opts.settings,
      logger: logger.child({ part: 'resync' }),
      metrics,
      secrets,
      coalesceMs: opts.coalesceMs,
      reconcileMs: opts.reconcileMs,
      retryBaseMs: opts.retryBaseMs,
      allowMassDelete: opts.allowMassDelete,
      rollout: { health: rolloutHealth, checkMs: opts.rolloutCheckMs },
    });
  let queue = newQueue();
  let queueStarted = false;

  let nc: NatsConnection | undefined;
  let natsConnected = false;
  let natsError: string | undefined;
  let subscription: EventSubscription | undefined;
  let stopping = false;

  // With leader election, ready means "can answer queries" (source reachable) on every replica:
  // the leader-only parts (events, publish) are reported but do not take a replica out of the Service.
  const leaderOnly = (r: CheckResult): CheckResult => (ha ? { ...r, informational: true } : r);
  const checks = {
    leader: (): CheckResult => {
      if (!ha) return { ok: true, detail: `leader (${identity}, no leader election: single replica)`, informational: true };
      const err = (gate as LeaseElector).error();
      if (gate.isLeader()) return { ok: true, detail: `leader (${identity})`, informational: true };
      const holder = gate.holder();
      return { ok: true, detail: `follower (${identity}); leader: ${holder ?? 'none known'}${err ? `; Lease: ${err}` : ''}`, informational: true };
    },
    nats: (): CheckResult => {
      if (!opts.natsUrl) return { ok: true, detail: 'not configured (no event subscriber; periodic reconcile only)' };
      if (natsConnected && subscription) return leaderOnly({ ok: true, detail: `connected (${subscription.mode === 'jetstream' ? 'JetStream durable consumer' : 'core queue subscription: stream not found'})` });
      if (natsConnected && !gate.isLeader()) return leaderOnly({ ok: true, detail: 'connected (follower: not consuming events)' });
      if (natsConnected) return leaderOnly({ ok: false, detail: 'connected, not subscribed yet' });
      return leaderOnly({ ok: false, detail: natsError ? `disconnected: ${natsError}` : 'disconnected' });
    },
    source: async (): Promise<CheckResult> => {
      try {
        await store.ping();
        return { ok: true, detail: `reachable: ${store.describe()}` };
      } catch (e) {
        return { ok: false, detail: `unreachable: ${(e as Error).message}` };
      }
    },
    publish: (): CheckResult => {
      if (!gate.isLeader()) return leaderOnly({ ok: true, detail: 'follower: the leader publishes' });
      const s = queue.status();
      if (s.reconcileRefused) return leaderOnly({ ok: false, detail: `full reconcile refused: ${s.reconcileRefused}` });
      if (s.lastPublishOk === undefined) return leaderOnly({ ok: false, detail: 'no publish yet (first reconcile running)' });
      if (!s.lastPublishOk) return leaderOnly({ ok: false, detail: `last publish failed (${s.failures}x, ${s.pending} bot(s) pending): ${s.lastError}` });
      return leaderOnly({ ok: true, detail: `ok${s.lastCommit ? ` (last commit ${s.lastCommit.slice(0, 12)})` : ''}${s.pending ? `, ${s.pending} pending` : ''}` });
    },
    rollout: (): CheckResult => {
      if (!gate.isLeader()) return { ok: true, detail: 'follower: the leader carries rollouts on', informational: true };
      const r = queue.status().rollout;
      if (!r) return { ok: true, detail: 'none recorded', informational: true };
      const where = `wave ${r.wave} of ${r.waves}`;
      if (r.status === 'halted') {
        const failing = r.failures.slice(0, 10).map((f) => `${f.id}: ${f.reason}`).join('; ');
        const more = r.failures.length > 10 ? `; … and ${r.failures.length - 10} more` : '';
        return { ok: false, detail: `HALTED at ${where} (${r.change}): ${r.failures.length} bot(s) failing: ${failing}${more}; see \`fleetsynth rollout status\``, informational: true };
      }
      const advancing = rolloutHealth ? '' : ' (no Kubernetes credentials: followed, not advanced)';
      return { ok: true, detail: `${r.status} at ${where} (${r.change})${r.note ? `: ${r.note}` : ''}${r.status === 'rolling' ? advancing : ''}`, informational: true };
    },
    secrets: (): CheckResult => {
      if (!secrets) return { ok: false, detail: 'unavailable: no credentials', informational: true };
      const st = secrets.status();
      return { ...st, informational: true };
    },
  };

  // Connect once before anything uses the source in parallel (a failure here is only logged:
  // the queue retries and /readyz reports it).
  await store.ping().catch((e) => logger.error({ source: store.describe(), err: (e as Error).message }, 'source not reachable at start'));

  const health: HealthServer = await startHealthServer({ port: opts.healthPort ?? 8080, host: opts.host, checks, metrics, logger });

  let query: QueryServer | undefined;
  try {
    if (opts.port !== null) {
      query = await startQueryServer({
        port: opts.port ?? 9477,
        host: opts.host,
        lookup,
        settings: opts.settings,
        kube,
        minio: opts.minio ?? null,
        realtimeBaseUrl: opts.realtimeBaseUrl,
        logger: logger.child({ part: 'query' }),
        observe: metrics.observeQuery,
        maxQueryJobs: opts.maxQueryJobs,
      });
    }
  } catch (e) {
    await health.close();
    throw e;
  }

  const handler = async (event: BotEvent): Promise<EventOutcome> => {
    // A replica that lost the Lease writes nothing: the event is redelivered to the leader.
    gate.assertLeading(`apply the event for ${event.id}`);
    const q = queue;
    // The coalescing window counts from the event's arrival, not from the end of its write.
    const arrival = q.arrive();
    let r;
    try {
      gate.assertLeading(`write ${event.id} to the source`);
      r = await store.apply(event);
    } catch (e) {
      arrival.cancel();
      throw e;
    }
    if (r.outcome === 'rejected') {
      arrival.cancel();
      logger.warn({ botId: event.id, subject: event.subject, reason: r.reason }, 'event rejected');
      return 'rejected';
    }
    if (r.reason && r.outcome === 'noop') logger.info({ botId: event.id, subject: event.subject, reason: r.reason }, 'event changed nothing');
    // Also on a no-op (a redelivery): the earlier delivery may have died before its render.
    await q.enqueue([event.id], arrival);
    return r.outcome === 'noop' ? 'noop' : 'applied';
  };

  const natsLoop = opts.natsUrl
    ? (async () => {
        const log = logger.child({ part: 'events' });
        // The first connect is retried here (so a stop can interrupt it); after that the client
        // reconnects forever with backoff on its own.
        let conn: NatsConnection | undefined;
        for (let attempt = 1; !conn; attempt++) {
          if (stopping) return;
          try {
            conn = await connect({
              servers: opts.natsUrl!.split(',').map((s) => s.trim()),
              name: 'fleetsynth',
              maxReconnectAttempts: -1,
              reconnectTimeWait: 1000,
              reconnectJitter: 500,
              pingInterval: 10_000,
              maxPingOut: 2,
            });
          } catch (e) {
            natsError = (e as Error).message;
            log.error({ err: natsError, attempt }, 'NATS connect failed; retrying');
            await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (attempt - 1), 30_000)));
          }
        }
        nc = conn;
        if (stopping) {
          await conn.close();
          return;
        }
        natsConnected = true;
        log.info({ server: redactUri(conn.getServer()) }, 'connected to NATS');
        void (async () => {
          for await (const s of conn.status()) {
            if (s.type === 'disconnect') {
              natsConnected = false;
              log.warn('NATS disconnected; reconnecting');
            } else if (s.type === 'reconnect') {
              natsConnected = true;
              natsError = undefined;
              log.info('NATS reconnected');
            } else if (s.type === 'error') {
              natsError = String((s as { error?: unknown }).error ?? 'error');
            }
          }
        })().catch(() => undefined);
        consume();
      })()
    : Promise.resolve();

  // Only the leader consumes: the durable consumer is subscribed on gaining the Lease and stopped
  // on losing it (events not acked by then are redelivered by JetStream to the next leader).
  let subscribing: Promise<void> | undefined;
  function consume(): void {
    const conn = nc;
    if (!conn || stopping || !gate.isLeader() || subscription || subscribing) return;
    const log = logger.child({ part: 'events' });
    subscribing = (async () => {
      for (let attempt = 1; !stopping && gate.isLeader(); attempt++) {
        try {
          const sub = await subscribeEvents({
            nc: conn,
            handler,
            logger: log,
            metrics,
            stream: opts.stream,
            durable: opts.durable,
            subjectPrefix: opts.subjectPrefix,
            streamCheckMs: opts.streamCheckMs,
            deliverPolicy: opts.eventsFrom,
            maxDeliveries: opts.maxDeliveries,
          });
          if (stopping || !gate.isLeader()) await sub.stop();
          else subscription = sub;
          return;
        } catch (e) {
          natsError = (e as Error).message;
          log.error({ err: natsError, attempt }, 'subscribing to events failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (attempt - 1), 30_000)));
        }
      }
    })().finally(() => {
      subscribing = undefined;
      // Lost and regained the Lease while subscribing: subscribe again.
      if (!subscription) consume();
    });
  }
  const unconsume = async (): Promise<void> => {
    await subscribing;
    const sub = subscription;
    subscription = undefined;
    await sub?.stop().catch((e) => logger.error({ err: (e as Error).message }, 'stopping the subscription failed'));
  };

  // Terms: each start of leadership gets a fresh queue (its first cycle is a full reconcile, which
  // syncs the working copy first); each end closes it without publishing (the writes are in the
  // source: the next leader's reconcile renders them) and stops consuming.
  let termEnd: Promise<void> = Promise.resolve();
  const onStarted = () => {
    void termEnd.then(() => {
      if (stopping || !gate.isLeader()) return;
      if (queueStarted) queue = newQueue();
      queueStarted = true;
      store.forgetOrders?.();
      queue.start();
      consume();
    });
  };
  const onStopped = () => {
    const q = queue;
    termEnd = termEnd.then(async () => {
      if (stopping) return;
      logger.warn('not the leader any more: stopped consuming events and writing');
      const sub = unconsume();
      await q.close(0);
      await sub;
    });
  };
  if (gate instanceof SoloLeader) {
    // Synchronously, as before leader election: the queue runs when startServe returns.
    gate.start();
    queueStarted = true;
    queue.start();
  } else {
    gate.on('started', onStarted);
    gate.on('stopped', onStopped);
    gate.start();
    // A follower clones its working copy now (read only), so a takeover starts with a fetch.
    void workspace.sync().catch((e) => logger.warn({ err: (e as Error).message }, 'syncing the working copy ahead of a takeover failed (the leader term syncs again)'));
  }

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      logger.info('stopping: no new events, publishing what is pending');
      gate.off('stopped', onStopped);
      await termEnd;
      // Stop fetching at once; events in flight finish (and are acked) once the queue has published.
      const subscriptionStopped = unconsume();
      await queue.close();
      await subscriptionStopped;
      // Then hand the Lease over at once (released, not left to expire).
      await gate.stop();
      // A first connect still being retried sees `stopping` and gives up.
      await within(natsLoop, 2000);
      if (nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
      await query?.close().catch(() => undefined);
      await health.close();
      await store.close().catch(() => undefined);
      logger.info('stopped');
    })());

  return {
    healthPort: health.port,
    queryPort: query?.port,
    get queue() {
      return queue;
    },
    leader: gate,
    metrics,
    eventMode: () => subscription?.mode,
    readiness: () => evaluate(checks),
    stop,
  };
}

/** Waits for `p`, at most `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/**
 * The queue's publisher: the workspace, fenced by the leader gate right before the render and
 * right before the commit and push (a rejected push renders again, so it checks again). The
 * render's `changes` is passed on: a render declared without it would get the workspace's
 * whole-tree reset before and `git add -A` after (~0.3 s per commit at 50,000 files).
 */
export function fencedPublisher(workspace: Pick<GitWorkspace, 'publish'> & Partial<Pick<GitWorkspace, 'housekeep'>>, gate: Pick<LeaderGate, 'assertLeading'>): Publisher {
  const ws = workspace instanceof GitWorkspace ? workspace : undefined;
  return {
    ...(workspace.housekeep ? { housekeep: () => workspace.housekeep!() } : {}),
    // Staging writes objects and a local ref only (nothing is pushed), by the leader only.
    ...(ws
      ? {
          stageDir: ws.stageDir,
          stage: (p: { docs: FleetDocuments; state: RolloutState; settings: RenderSettings }) => {
            gate.assertLeading('stage the next rollout wave');
            return stageOrClear({ ws, ...p, base: 'HEAD' });
          },
        }
      : {}),
    publish: (render, o) =>
      workspace.publish(async (outDir, changes) => {
        gate.assertLeading('render into the GitOps working copy');
        const message = await render(outDir, changes);
        if (message !== null) gate.assertLeading('commit and push to Git');
        return message;
      }, o),
  };
}
