import { AckPolicy, DeliverPolicy, JetStreamApiError, JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
// Types from nats-core: transport-node re-exports them through a subpath `moduleResolution: node` cannot see.
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type pino from 'pino';
import type { Collection } from '../model/document';
import { MAX_DOCUMENT_DEPTH, tooDeep } from '../model/limits';
import type { EventOutcome, ServeMetrics } from './metrics';

/** The six event subjects of SPEC §5.1 (never `the0.bot.>`: that also matches log traffic). */
export const EVENT_SUBJECTS = [
  'the0.bot.created',
  'the0.bot.updated',
  'the0.bot.deleted',
  'the0.bot-schedule.created',
  'the0.bot-schedule.updated',
  'the0.bot-schedule.deleted',
] as const;

/** Stream the0's API publishes events into. */
export const DEFAULT_STREAM = 'THE0_EVENTS';
/** Durable consumer name (SPEC §5.4). */
export const DEFAULT_DURABLE = 'fleetsynth';
/** Ack wait: how soon a delivery lost with a dropped connection comes back. */
export const DEFAULT_ACK_WAIT_MS = 10_000;
/** Queue group of the core-NATS fallback (not the0's `runtime`: we are not one of its workers). */
export const DEFAULT_QUEUE_GROUP = 'fleetsynth';

/** What an event asks for. */
export type EventAction = 'created' | 'updated' | 'deleted';

/** A parsed bot or schedule event. */
export interface BotEvent {
  /** Subject without any test prefix, e.g. `the0.bot.updated`. */
  readonly subject: string;
  /** Which collection the event is about. */
  readonly collection: Collection;
  /** created, updated or deleted. */
  readonly action: EventAction;
  /** Bot id. */
  readonly id: string;
  /** The document fields carried by the event (`config`, `custom`; deleted events: `config` only). */
  readonly config?: unknown;
  /** `custom` of created/updated events. */
  readonly custom?: unknown;
  /**
   * Where the event sits in the JetStream stream (absent for core NATS deliveries): lets the store
   * refuse an older event of a bot redelivered after a newer one was applied (e.g. after a failover).
   */
  readonly order?: EventOrder;
}

/** Position of an event in its stream: `epoch` tells a recreated stream (sequences restart) apart. */
export interface EventOrder {
  /** Stream name. */
  readonly stream: string;
  /** The stream's creation time (RFC 3339), as JetStream reports it. */
  readonly epoch: string;
  /** Stream sequence. */
  readonly seq: number;
}

/** Compares two stream positions: negative when `a` is older than `b`, 0 when the same event. */
export function compareOrder(a: EventOrder, b: EventOrder): number {
  if (a.epoch !== b.epoch) {
    const ta = Date.parse(a.epoch);
    const tb = Date.parse(b.epoch);
    if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta - tb;
    return a.epoch < b.epoch ? -1 : 1;
  }
  return a.seq - b.seq;
}

/** A message that is not a usable event: never retried, never logged with its body. */
export class EventParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventParseError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses one event in either payload form of SPEC §5.2: flat `{id, config, custom}` or wrapped
 * `{type, entity_id, data: {id, config, custom}, timestamp}` (used when the flat form has no id).
 */
export function parseEvent(subject: string, data: Uint8Array | string): BotEvent {
  const m = /^the0\.(bot|bot-schedule)\.(created|updated|deleted)$/.exec(subject);
  if (!m) throw new EventParseError(`not an event subject: ${subject}`);
  const collection: Collection = m[1] === 'bot' ? 'bots' : 'bot_schedules';
  const action = m[2] as EventAction;
  let body: unknown;
  try {
    body = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch {
    throw new EventParseError('payload is not JSON');
  }
  if (!isObject(body)) throw new EventParseError('payload is not a JSON object');
  // Deeper than MongoDB can store: the write would fail (or overflow the stack) on every delivery.
  if (tooDeep(body, MAX_DOCUMENT_DEPTH + 2)) throw new EventParseError(`payload is nested more than ${MAX_DOCUMENT_DEPTH} levels deep`);
  let doc: Record<string, unknown> = body;
  if (typeof body.id !== 'string' || body.id === '') {
    if (!isObject(body.data)) throw new EventParseError('payload has no "id" and no wrapped "data"');
    doc = body.data;
    if ((typeof doc.id !== 'string' || doc.id === '') && typeof body.entity_id === 'string') doc = { ...doc, id: body.entity_id };
  }
  const id = doc.id;
  if (typeof id !== 'string' || id === '') throw new EventParseError('payload has no bot id');
  if (action !== 'deleted') {
    if (!isObject(doc.config)) throw new EventParseError(`${action} event for ${id} has no "config" object`);
    if (!isObject(doc.custom)) throw new EventParseError(`${action} event for ${id} has no "custom" object`);
  }
  return { subject: m[0], collection, action, id, config: doc.config, custom: doc.custom };
}

/** Called per event; resolves when the event may be acknowledged, rejects to have it redelivered. */
export type EventHandler = (event: BotEvent) => Promise<EventOutcome>;

/** Options of {@link subscribeEvents}. */
export interface EventSubscriptionOptions {
  /** Connected NATS client (reconnects on its own). */
  readonly nc: NatsConnection;
  /** Does the work of one event. */
  readonly handler: EventHandler;
  /** Logger (subject, bot id and outcome only; never message bodies). */
  readonly logger: pino.Logger;
  /** Event counters. */
  readonly metrics?: ServeMetrics;
  /** JetStream stream (default THE0_EVENTS). */
  readonly stream?: string;
  /** Durable consumer name (default fleetsynth). */
  readonly durable?: string;
  /** Prefix of every subject, e.g. `test.x.` (tests run their own stream beside others). */
  readonly subjectPrefix?: string;
  /** Queue group of the core fallback (default fleetsynth). */
  readonly queueGroup?: string;
  /**
   * Where the durable starts when it does not exist yet: `new` (default) takes events published
   * from now on — MongoDB already holds everything before (the0's controller wrote it; run both
   * side by side while switching over); `all` replays what the stream keeps (up to 7 days), which
   * converges (each write is idempotent) but renders intermediate states into Git on the way.
   * A durable lost while running is recreated from the first event not yet handled, whatever this says.
   */
  readonly deliverPolicy?: 'all' | 'new';
  /** How often the core fallback checks whether the stream exists now (default 30 s). */
  readonly streamCheckMs?: number;
  /** Ack wait of the durable (default 10 s; handling in progress is signalled with `working()`). */
  readonly ackWaitMs?: number;
  /**
   * Deliveries after which an event that keeps failing is terminated as poison (logged with its
   * subject and stream sequence, counted as outcome `poison`); the periodic reconcile still heals
   * the manifests from the source. With the backoff between retries, 20 deliveries take ~15 min.
   * @default 20
   */
  readonly maxDeliveries?: number;
}

/** Default of {@link EventSubscriptionOptions.maxDeliveries}. */
export const DEFAULT_MAX_DELIVERIES = 20;

/** A running subscription. */
export interface EventSubscription {
  /** `jetstream` (durable consumer) or `core` (fallback when the stream is missing). */
  readonly mode: 'jetstream' | 'core';
  /** Events being handled right now. */
  inFlight(): number;
  /** Stops taking events and waits for the ones in flight to finish (and be acked). */
  stop(): Promise<void>;
}

function isNotFound(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && (e.code === code || e.status === 404);
}

/**
 * Subscribes to the six event subjects: a JetStream durable pull consumer when the stream
 * exists (events sent while fleetsynth was down are delivered after restart), else a core
 * queue subscription per subject (what the0 did: events sent while down are lost, the periodic
 * reconcile heals the manifests).
 */
export async function subscribeEvents(opts: EventSubscriptionOptions): Promise<EventSubscription> {
  const prefix = opts.subjectPrefix ?? '';
  const stream = opts.stream ?? DEFAULT_STREAM;
  const subjects = EVENT_SUBJECTS.map((s) => prefix + s);
  const log = opts.logger;
  const inFlight = new Set<Promise<void>>();

  const run = async (subject: string, data: Uint8Array, deliveries: number, order?: EventOrder): Promise<'ack' | 'term' | 'retry'> => {
    const bare = subject.startsWith(prefix) ? subject.slice(prefix.length) : subject;
    let event: BotEvent;
    try {
      event = parseEvent(bare, data);
      if (order) event = { ...event, order };
    } catch (e) {
      const outcome: EventOutcome = (EVENT_SUBJECTS as readonly string[]).includes(bare) ? 'invalid' : 'ignored';
      opts.metrics?.events.inc({ subject: bare, outcome });
      // Other subjects only reach us on NATS < 2.10 (no multi-subject filter): not worth a warning.
      if (outcome === 'invalid') log.warn({ subject: bare, outcome, reason: (e as Error).message }, 'event dropped');
      else log.debug({ subject: bare, outcome }, 'message on another subject ignored');
      return outcome === 'invalid' ? 'term' : 'ack';
    }
    const t0 = Date.now();
    try {
      const outcome = await opts.handler(event);
      opts.metrics?.events.inc({ subject: bare, outcome });
      log.info({ subject: bare, botId: event.id, outcome, ms: Date.now() - t0, deliveries }, 'event handled');
      return outcome === 'rejected' ? 'term' : 'ack';
    } catch (e) {
      opts.metrics?.events.inc({ subject: bare, outcome: 'failed' });
      log.error({ subject: bare, botId: event.id, outcome: 'failed', deliveries, err: (e as Error).message }, 'event failed; will be retried');
      return 'retry';
    }
  };
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const jsm = await jetstreamManager(opts.nc);
  // Creation time of the stream the durable reads (see EventOrder.epoch).
  let streamEpoch = '';
  const streamSubjectsNow = async (): Promise<string[] | undefined> => {
    try {
      const info = await jsm.streams.info(stream);
      streamEpoch = info.created;
      return info.config.subjects;
    } catch (e) {
      if (!isNotFound(e, 10059)) throw e;
      return undefined;
    }
  };

  const startCore = (): (() => void) => {
    const subs: Subscription[] = [];
    for (const subject of subjects) {
      subs.push(
        opts.nc.subscribe(subject, {
          queue: opts.queueGroup ?? DEFAULT_QUEUE_GROUP,
          callback: (err, msg) => {
            if (err) return;
            // Core NATS cannot redeliver: retry here a few times before giving up.
            track(
              (async () => {
                for (let attempt = 1; attempt <= 5; attempt++) {
                  if ((await run(msg.subject, msg.data, attempt)) !== 'retry') return;
                  await sleep(Math.min(1000 * 2 ** (attempt - 1), 10_000));
                }
              })(),
            );
          },
        }),
      );
    }
    return () => subs.forEach((sub) => sub.unsubscribe());
  };

  const durable = opts.durable ?? DEFAULT_DURABLE;
  const js = jetstream(opts.nc);
  // Stream sequences of this process's deliveries: a durable recreated under us resumes at the
  // first one not handled yet (in flight, else after the last seen), not at "new" or "all".
  const handling = new Set<number>();
  let lastSeen = 0;
  const resumeAt = (): number | undefined => (handling.size > 0 ? Math.min(...handling) : lastSeen > 0 ? lastSeen + 1 : undefined);
  const ackWait = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const maxDeliveries = opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
  const bareOf = (subject: string) => (subject.startsWith(prefix) ? subject.slice(prefix.length) : subject);
  const handle = (m: JsMsg) => {
    // A short ack wait brings back deliveries lost with a dropped connection quickly; while an
    // event is being handled (coalescing window, render, push) the deadline is pushed forward.
    const keepAlive = setInterval(() => {
      try {
        m.working();
      } catch {
        // disconnected: the redelivery is handled idempotently
      }
    }, Math.max(500, ackWait / 3));
    handling.add(m.seq);
    lastSeen = Math.max(lastSeen, m.seq);
    track(
      run(m.subject, m.data, m.info.deliveryCount, streamEpoch ? { stream: m.info.stream, epoch: streamEpoch, seq: m.seq } : undefined).then((r) => {
        clearInterval(keepAlive);
        handling.delete(m.seq);
        try {
          if (r === 'ack') m.ack();
          else if (r === 'term') m.term();
          else if (m.info.deliveryCount >= maxDeliveries) {
            // Never its body: the config may hold secrets.
            opts.metrics?.events.inc({ subject: bareOf(m.subject), outcome: 'poison' });
            log.error({ subject: bareOf(m.subject), stream: m.info.stream, seq: m.seq, deliveries: m.info.deliveryCount }, 'event failed on every delivery; terminated as poison (the periodic reconcile still heals the manifests)');
            m.term();
          } else m.nak(Math.min(1000 * 2 ** Math.min(m.info.deliveryCount - 1, 6), 60_000));
        } catch (e) {
          // Connection gone: the server redelivers after ack_wait; handling is idempotent.
          log.warn({ subject: m.subject, err: (e as Error).message }, 'ack not sent');
        }
      }),
    );
  };

  /** Consumes until stopped; recreates the durable if it (or the stream) disappears and comes back. */
  const startJetStream = async (streamSubjects: string[]): Promise<() => Promise<void>> => {
    await ensureConsumer(opts, jsm, stream, durable, subjects, streamSubjects, resumeAt());
    let stopped = false;
    let messages: Awaited<ReturnType<Awaited<ReturnType<typeof js.consumers.get>>['consume']>> | undefined;
    const loop = (async () => {
      let first = true;
      while (!stopped) {
        try {
          if (!first) {
            const now = await streamSubjectsNow();
            if (now === undefined) throw new Error(`stream ${stream} not found`);
            await ensureConsumer(opts, jsm, stream, durable, subjects, now, resumeAt());
          }
          first = false;
          const consumer = await js.consumers.get(stream, durable);
          messages = await consumer.consume({ max_messages: 256 });
          const current = messages;
          void (async () => {
            for await (const st of current.status()) {
              // Deleted under us: end this consume and set the durable up again.
              if (st.type === 'consumer_deleted' || (st.type === 'consumer_not_found' && st.count > 1) || st.type === 'stream_not_found') {
                log.warn({ stream, durable, notification: st.type }, 'JetStream consumer lost; recreating');
                current.stop();
                break;
              }
            }
          })().catch(() => undefined);
          for await (const m of messages) handle(m);
          if (!stopped) await sleep(1000);
        } catch (e) {
          if (stopped) break;
          log.error({ stream, durable, err: (e as Error).message }, 'JetStream consumer stopped; retrying');
          await sleep(1000);
        }
      }
    })();
    log.info({ stream, durable, subjects: subjects.length }, 'consuming events from JetStream');
    return async () => {
      stopped = true;
      await messages?.close().catch(() => undefined);
      await loop;
    };
  };

  let mode: 'jetstream' | 'core';
  let stopJs: (() => Promise<void>) | undefined;
  let stopCore: (() => void) | undefined;
  let upgrade: NodeJS.Timeout | undefined;
  const initial = await streamSubjectsNow();
  if (initial !== undefined) {
    mode = 'jetstream';
    stopJs = await startJetStream(initial);
  } else {
    mode = 'core';
    log.warn({ stream }, 'JetStream stream not found: falling back to core NATS queue subscriptions (events sent while down are lost; the periodic reconcile heals manifests)');
    stopCore = startCore();
    // the0's API creates the stream when it starts: switch to the durable consumer once it exists.
    let checking = false;
    upgrade = setInterval(async () => {
      if (checking || !stopCore) return;
      checking = true;
      try {
        const found = await streamSubjectsNow();
        if (found !== undefined && stopCore) {
          stopJs = await startJetStream(found);
          mode = 'jetstream';
          stopCore();
          stopCore = undefined;
          clearInterval(upgrade);
          log.info({ stream }, 'stream found: switched from core subscriptions to the JetStream durable consumer');
        }
      } catch (e) {
        log.warn({ stream, err: (e as Error).message }, 'checking for the stream failed');
      } finally {
        checking = false;
      }
    }, opts.streamCheckMs ?? 30_000);
    upgrade.unref();
  }

  return {
    get mode() {
      return mode;
    },
    inFlight: () => inFlight.size,
    stop: async () => {
      if (upgrade) clearInterval(upgrade);
      stopCore?.();
      stopCore = undefined;
      await stopJs?.();
      await Promise.allSettled([...inFlight]);
    },
  };
}

async function ensureConsumer(
  opts: EventSubscriptionOptions,
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  stream: string,
  durable: string,
  subjects: string[],
  streamSubjects: string[],
  resumeSeq: number | undefined,
): Promise<void> {
  // One consumer keeps the stream's order across the six subjects (created before updated).
  // Several filter subjects need NATS 2.10; on older servers a stream holding only our subjects
  // needs no filter, and any other subject is acked and ignored by the handler.
  const ackWaitNanos = (opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 1_000_000;
  const multiFilter = serverAtLeast(opts.nc.info?.version, [2, 10]);
  const onlyOurs = streamSubjects.every((s) => subjects.includes(s));
  const want = multiFilter && !onlyOurs ? subjects : [];
  if (!multiFilter && !onlyOurs) {
    opts.logger.warn({ stream }, 'NATS server < 2.10 cannot filter a consumer on several subjects; consuming the whole stream and ignoring other subjects');
  }
  let existing;
  try {
    existing = await jsm.consumers.info(stream, durable);
  } catch (e) {
    if (!isNotFound(e, 10014)) throw e;
  }
  if (!existing) {
    const start =
      resumeSeq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resumeSeq }
        : { deliver_policy: opts.deliverPolicy === 'all' ? DeliverPolicy.All : DeliverPolicy.New };
    opts.logger.info({ stream, durable, ...start }, 'creating the durable consumer');
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ...start,
      ack_wait: ackWaitNanos,
      max_ack_pending: 1000,
      ...(want.length > 0 ? { filter_subjects: want } : {}),
    });
    return;
  }
  const have = existing.config.filter_subjects ?? (existing.config.filter_subject ? [existing.config.filter_subject] : []);
  const update: { filter_subjects?: string[]; ack_wait?: number } = {};
  if (multiFilter && have.slice().sort().join(',') !== want.slice().sort().join(',')) update.filter_subjects = want;
  if (existing.config.ack_wait !== ackWaitNanos) update.ack_wait = ackWaitNanos;
  if (Object.keys(update).length > 0) {
    opts.logger.info({ stream, durable, changed: Object.keys(update) }, 'updating the durable consumer');
    await jsm.consumers.update(stream, durable, update);
  }
}

function serverAtLeast(version: string | undefined, min: [number, number]): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
