import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type pino from 'pino';
import { GitWorkspace } from '../gitops/workspace';
import type { RenderSettings } from '../settings';
import { MongoSource, redactUri } from '../source';
import { BotStore, FileBotStore, MongoBotStore } from './apply-event';
import { BotEvent, EventSubscription, subscribeEvents } from './events';
import { CheckResult, HealthServer, evaluate, startHealthServer } from './health';
import { KubeAccess, loadKube } from './kube';
import { HealthReader, healthFromCredentials } from '../gitops/rollout/health';
import { createLogger } from './logger';
import { EventOutcome, ServeMetrics } from './metrics';
import { BotLookup, lookupFromFile, lookupFromMongo } from './query/lookup';
import { MinioSettings } from './query/minio';
import { QueryServer, startQueryServer } from './query/server';
import { ResyncQueue } from './resync';
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
}

/** A running service. */
export interface ServeHandle {
  /** Port of /healthz, /readyz, /metrics. */
  readonly healthPort: number;
  /** Port of the query API, when started. */
  readonly queryPort?: number;
  /** The resync queue (tests and benchmarks wait on it). */
  readonly queue: ResyncQueue;
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
  const secrets = kube ? new SecretsSync(kube, { logger: logger.child({ part: 'secrets' }), metrics }) : null;
  if (!kube) logger.warn('no Kubernetes credentials (in-cluster account, --kubeconfig, KUBECONFIG, ~/.kube/config): per-bot config Secrets are NOT synced and scheduled-bot queries fail');

  // Wave health comes from the same credentials as the Secrets (none: a rollout is followed, not advanced).
  const rolloutHealth = opts.rolloutHealth !== undefined ? opts.rolloutHealth : kube && opts.kube === undefined ? healthFromCredentials(opts.kubeconfig, opts.settings.namespace) : null;
  const workspace = new GitWorkspace({ repo: opts.repo, branch: opts.branch ?? 'main', workDir: opts.workDir, path: opts.path ?? 'dist', author: opts.author });
  const queue = new ResyncQueue({
    store,
    publisher: workspace,
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

  let nc: NatsConnection | undefined;
  let natsConnected = false;
  let natsError: string | undefined;
  let subscription: EventSubscription | undefined;
  let stopping = false;

  const checks = {
    nats: (): CheckResult => {
      if (!opts.natsUrl) return { ok: true, detail: 'not configured (no event subscriber; periodic reconcile only)' };
      if (natsConnected && subscription) return { ok: true, detail: `connected (${subscription.mode === 'jetstream' ? 'JetStream durable consumer' : 'core queue subscription: stream not found'})` };
      if (natsConnected) return { ok: false, detail: 'connected, not subscribed yet' };
      return { ok: false, detail: natsError ? `disconnected: ${natsError}` : 'disconnected' };
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
      const s = queue.status();
      if (s.reconcileRefused) return { ok: false, detail: `full reconcile refused: ${s.reconcileRefused}` };
      if (s.lastPublishOk === undefined) return { ok: false, detail: 'no publish yet (first reconcile running)' };
      if (!s.lastPublishOk) return { ok: false, detail: `last publish failed (${s.failures}x, ${s.pending} bot(s) pending): ${s.lastError}` };
      return { ok: true, detail: `ok${s.lastCommit ? ` (last commit ${s.lastCommit.slice(0, 12)})` : ''}${s.pending ? `, ${s.pending} pending` : ''}` };
    },
    rollout: (): CheckResult => {
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

  queue.start();

  const handler = async (event: BotEvent): Promise<EventOutcome> => {
    // The coalescing window counts from the event's arrival, not from the end of its write.
    const arrival = queue.arrive();
    let r;
    try {
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
    // Also on a no-op (a redelivery): the earlier delivery may have died before its render.
    await queue.enqueue([event.id], arrival);
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
        for (let attempt = 1; !stopping; attempt++) {
          try {
            subscription = await subscribeEvents({
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
            if (stopping) await subscription.stop();
            return;
          } catch (e) {
            natsError = (e as Error).message;
            log.error({ err: natsError, attempt }, 'subscribing to events failed; retrying');
            await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (attempt - 1), 30_000)));
          }
        }
      })()
    : Promise.resolve();

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      logger.info('stopping: no new events, publishing what is pending');
      // Stop fetching at once; events in flight finish (and are acked) once the queue has published.
      const subscriptionStopped = subscription?.stop().catch((e) => logger.error({ err: (e as Error).message }, 'stopping the subscription failed'));
      await queue.close();
      await subscriptionStopped;
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
    queue,
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
