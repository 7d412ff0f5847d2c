import * as fs from 'node:fs';
import { Document, Long, MongoServerError } from 'mongodb';
import type { Collection, FleetDocuments } from '../model/document';
import { MAX_SCHEDULE_ID } from '../model/names';
import { ENABLED_FILTER, MongoSource, SourceError, readFleetFile, writeFleetFile } from '../source';
import { BotEvent, EventOrder, compareOrder } from './events';
import { nextFireTime } from './next-fire';

/** What applying one event did to the source. */
export type ApplyOutcome = 'created' | 'updated' | 'deleted' | 'noop' | 'rejected';

/** Result of {@link BotStore.apply}. */
export interface ApplyResult {
  /** What happened. */
  readonly outcome: ApplyOutcome;
  /** Why an event was rejected, or a remark (never a config value). */
  readonly reason?: string;
}

/**
 * The desired state the live service reads and writes: MongoDB (taking over the writes of
 * the0's controller, SPEC §5.4) or a fleet file.
 */
export interface BotStore {
  /** Where the documents live, without credentials. */
  describe(): string;
  /** Applies one event; idempotent under redelivery. */
  apply(event: BotEvent): Promise<ApplyResult>;
  /**
   * Enabled documents with these ids, plus the schedules whose CronJob names could collide with
   * theirs (same first 43 id characters), so a partial render still detects collisions.
   */
  readIds(ids: ReadonlySet<string>): Promise<FleetDocuments>;
  /** Every enabled document. */
  readAll(): Promise<FleetDocuments>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
  /**
   * Forgets what this process cached of the stores's event positions: called when it becomes the
   * leader (another replica may have written in between).
   */
  forgetOrders?(): void;
}

/** Collection (next to each bot collection) holding the stream position of each bot's last applied event. */
export const EVENT_ORDER_COLLECTION = 'fleetsynth_event_order';

/** Why an event older than the last one applied to its bot is skipped (no config value). */
function staleReason(event: BotEvent, last: EventOrder): string {
  return `stale: stream sequence ${event.order!.seq} is not after ${last.seq}, the last event applied to ${event.id}`;
}

/** Partition size of the0's Docker mode (`bot_count < 100`). */
export const PARTITION_SIZE = 100;

/** Id prefix length whose CronJob names can collide: `schedule-` + 43 chars = 52. */
const CRON_PREFIX = 52 - 'schedule-'.length;

/** `createdAt`/`updatedAt` are stored as RFC 3339 strings (SPEC §5.4). */
export function normalizeCustom(custom: unknown): Record<string, unknown> {
  const c = { ...(custom as Record<string, unknown>) };
  for (const k of ['createdAt', 'updatedAt']) {
    const v = c[k];
    if (typeof v === 'number' && Number.isFinite(v)) c[k] = new Date(v > 1e11 ? v : v * 1000).toISOString();
    else if (v instanceof Date) c[k] = v.toISOString();
    else if (v !== null && typeof v === 'object' && '$date' in (v as object)) {
      const d = (v as { $date: unknown }).$date;
      const t = typeof d === 'string' || typeof d === 'number' ? new Date(d) : undefined;
      if (t && !Number.isNaN(t.getTime())) c[k] = t.toISOString();
    }
  }
  return c;
}

function scheduleOf(config: unknown): unknown {
  return (config as { schedule?: unknown } | null | undefined)?.schedule;
}

/** `next_execution_time` for a schedule config, or undefined when the expression is not valid. */
function nextRun(config: unknown, now: Date): number | undefined {
  try {
    return nextFireTime(String(scheduleOf(config)), now);
  } catch {
    return undefined;
  }
}

/** Checks an event before any write: a schedule needs a string `config.schedule`. */
function precheck(event: BotEvent): string | undefined {
  if (event.action !== 'deleted' && event.collection === 'bot_schedules' && typeof scheduleOf(event.config) !== 'string') {
    return 'schedule event without a string config.schedule';
  }
  return undefined;
}

/** Runs tasks one after another, in call order (event order must survive concurrent handling). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.then(task, task);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** Collision candidates of schedule ids long enough to be truncated. */
function cronPrefixes(ids: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const id of ids) if (id.length >= CRON_PREFIX && id.length <= MAX_SCHEDULE_ID + 10) out.add(id.slice(0, CRON_PREFIX));
  return [...out];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** MongoDB store: the writes of the0's controller, then indexed reads of single bots. */
export class MongoBotStore implements BotStore {
  private readonly serial = new Serial();
  /** Positions this process wrote (or read) in its current term: one round trip less per event. */
  private readonly orderCache = new Map<string, EventOrder | null>();

  constructor(
    private readonly source: MongoSource,
    private readonly opts: { readonly now?: () => Date } = {},
  ) {}

  describe(): string {
    return this.source.describe();
  }

  apply(event: BotEvent): Promise<ApplyResult> {
    return this.serial.run(() => this.applyNow(event));
  }

  /**
   * With a stream position: an event not newer than the last one applied to its bot (a
   * redelivery that arrives after a newer event, e.g. across a failover) changes nothing; the
   * position is recorded after the write (a crash in between re-applies the same event, which is
   * idempotent). The record outlives a delete, so an old `created` cannot bring a bot back.
   */
  private async applyNow(event: BotEvent): Promise<ApplyResult> {
    if (!event.order) return this.write(event);
    await this.source.connect();
    const orders = await this.orders(event.collection);
    const key = `${event.collection}:${event.id}`;
    let last = this.orderCache.get(key);
    if (last === undefined) {
      const rec = await orders.findOne({ _id: key });
      last = rec && typeof rec.seq === 'number' ? { stream: String(rec.stream), epoch: String(rec.epoch), seq: rec.seq } : null;
      this.orderCache.set(key, last);
    }
    if (last && compareOrder(event.order, last) <= 0) return { outcome: 'noop', reason: staleReason(event, last) };
    const r = await this.write(event);
    if (r.outcome !== 'rejected') {
      const { stream, epoch, seq } = event.order;
      this.orderCache.delete(key); // unknown until the write below is known to have landed
      await orders.updateOne({ _id: key }, { $set: { stream, epoch, seq } }, { upsert: true });
      this.orderCache.set(key, event.order);
    }
    return r;
  }

  private async orders(which: Collection) {
    const coll = await this.source.collection(which);
    const client = await this.source.connect();
    return client.db(coll.dbName).collection<{ _id: string; stream: string; epoch: string; seq: number }>(EVENT_ORDER_COLLECTION);
  }

  private async write(event: BotEvent): Promise<ApplyResult> {
    await this.source.connect();
    const problem = precheck(event);
    if (problem) return { outcome: 'rejected', reason: problem };
    const coll = await this.source.collection(event.collection);
    if (event.action === 'deleted') {
      let deleted = 0;
      // Duplicates (if any) all go: the API deleted the bot.
      for (let i = 0; i < 10; i++) {
        const doc = await coll.findOneAndDelete({ id: event.id });
        if (!doc) break;
        deleted++;
        if (doc.segment_id !== undefined && doc.segment_id !== null) {
          await this.partitions(event.collection).then((p) => p.updateOne({ _id: doc.segment_id }, { $inc: { bot_count: -1 } }));
        }
      }
      return { outcome: deleted > 0 ? 'deleted' : 'noop' };
    }

    const now = this.opts.now?.() ?? new Date();
    const custom = normalizeCustom(event.custom);
    const existing = await coll.findOne({ id: event.id }, { projection: { _id: 0, config: 1 } });
    if (existing && event.action === 'created') return { outcome: 'noop' };
    if (existing) {
      const set: Document = { config: event.config, custom };
      if (event.collection === 'bot_schedules' && scheduleOf(existing.config) !== scheduleOf(event.config)) {
        const next = nextRun(event.config, now);
        if (next !== undefined) set.next_execution_time = Long.fromNumber(next);
      }
      const r = await coll.updateMany({ id: event.id }, { $set: set });
      return { outcome: r.modifiedCount > 0 ? 'updated' : 'noop' };
    }

    const segment = await this.takeSegment(event.collection);
    const doc: Document = { id: event.id, segment_id: segment, config: event.config, custom };
    if (event.collection === 'bot_schedules') {
      const next = nextRun(event.config, now);
      if (next !== undefined) doc.next_execution_time = Long.fromNumber(next);
    }
    const release = async () => (await this.partitions(event.collection)).updateOne({ _id: segment }, { $inc: { bot_count: -1 } });
    let r;
    try {
      r = await coll.updateOne({ id: event.id }, { $setOnInsert: doc }, { upsert: true });
    } catch (e) {
      // The event will be redelivered and take a slot again: give this one back (best effort).
      await release().catch(() => undefined);
      throw e;
    }
    if (r.upsertedCount === 0) {
      // Someone created it between our read and write: give the partition slot back.
      await release();
      return { outcome: 'noop' };
    }
    return { outcome: 'created' };
  }

  private async partitions(which: Collection) {
    const coll = await this.source.collection(which);
    const client = await this.source.connect();
    return client.db(coll.dbName).collection<{ _id: number; bot_count: number }>('partitions');
  }

  /** A partition with room (`$inc bot_count`), else a new one numbered by `counters.partition_id`. */
  private async takeSegment(which: Collection): Promise<number> {
    const coll = await this.source.collection(which);
    const db = (await this.source.connect()).db(coll.dbName);
    const partitions = db.collection<{ _id: number; bot_count: number }>('partitions');
    const counters = db.collection<{ _id: string; seq: number }>('counters');
    for (let attempt = 0; attempt < 5; attempt++) {
      const p = await partitions.findOneAndUpdate({ bot_count: { $lt: PARTITION_SIZE } }, { $inc: { bot_count: 1 } }, { sort: { _id: 1 }, returnDocument: 'after' });
      if (p) return p._id;
      const c = await counters.findOneAndUpdate({ _id: 'partition_id' }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after' });
      const id = Number(c?.seq);
      try {
        await partitions.insertOne({ _id: id, bot_count: 1 });
        return id;
      } catch (e) {
        // A partition with this number exists (counter behind the data): take the next one.
        if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
      }
    }
    throw new SourceError('could not allocate a partition after 5 attempts');
  }

  forgetOrders(): void {
    this.orderCache.clear();
  }

  async readIds(ids: ReadonlySet<string>): Promise<FleetDocuments> {
    const list = [...ids];
    if (list.length === 0) return { bots: [], bot_schedules: [] };
    const byId = { id: { $in: list } };
    const prefixes = cronPrefixes(ids).map((p) => ({ id: { $regex: `^${escapeRegex(p)}` } }));
    const scheduleFilter = prefixes.length > 0 ? { $and: [ENABLED_FILTER, { $or: [byId, ...prefixes] }] } : { ...byId, ...ENABLED_FILTER };
    const find = async (which: Collection, filter: Document) =>
      (await this.source.collection(which)).find(filter, { projection: { _id: 0 }, sort: { id: 1 } }).toArray();
    const [bots, schedules] = await Promise.all([find('bots', { ...byId, ...ENABLED_FILTER }), find('bot_schedules', scheduleFilter)]);
    return { bots, bot_schedules: schedules };
  }

  async readAll(): Promise<FleetDocuments> {
    return this.source.read();
  }

  async ping(): Promise<void> {
    const client = await this.source.connect();
    await client.db('admin').command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}

/**
 * Fleet-file store: events rewrite the file atomically (temp file + rename). Events that
 * arrive together are applied in memory and written once.
 */
export class FileBotStore implements BotStore {
  private docs?: FleetDocuments;
  /** Stream position of each bot's last applied event (in memory: a fleet file is one replica's). */
  private readonly orders = new Map<string, EventOrder>();
  private stamp = '';
  private flushing?: Promise<void>;
  private readonly serial = new Serial();

  constructor(
    private readonly file: string,
    private readonly opts: {
      /** Never write (the embedded example fleet). */
      readonly readOnly?: boolean;
      /** Clock for next_execution_time. */
      readonly now?: () => Date;
      /** Atomic writer (default writeFleetFile). */
      readonly write?: (file: string, docs: FleetDocuments) => void;
    } = {},
  ) {}

  describe(): string {
    return this.file;
  }

  private current(): FleetDocuments {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    const stamp = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
    // Reload on outside edits, but never over changes still waiting for their write.
    if (!this.docs || (stamp !== this.stamp && !this.flushing)) {
      this.docs = readFleetFile(this.file);
      this.stamp = stamp;
    }
    return this.docs;
  }

  async apply(event: BotEvent): Promise<ApplyResult> {
    const r = await this.serial.run(async () => this.applyInMemory(event));
    if (r.outcome !== 'noop' && r.outcome !== 'rejected') await this.flush();
    return r;
  }

  private applyInMemory(event: BotEvent): ApplyResult {
    const problem = precheck(event);
    if (problem) return { outcome: 'rejected', reason: problem };
    if (this.opts.readOnly) return { outcome: 'noop', reason: 'read-only source (the embedded example fleet)' };
    if (event.order) {
      const key = `${event.collection}:${event.id}`;
      const last = this.orders.get(key);
      if (last && compareOrder(event.order, last) <= 0) return { outcome: 'noop', reason: staleReason(event, last) };
      this.orders.set(key, event.order);
    }
    const docs = this.current();
    const list = docs[event.collection] as Record<string, unknown>[];
    const at = list.findIndex((d) => d !== null && typeof d === 'object' && d.id === event.id);
    let outcome: ApplyOutcome;
    if (event.action === 'deleted') {
      const kept = list.filter((d) => !(d !== null && typeof d === 'object' && d.id === event.id));
      outcome = kept.length !== list.length ? 'deleted' : 'noop';
      docs[event.collection] = kept;
    } else if (at >= 0) {
      if (event.action === 'created') return { outcome: 'noop' };
      const old = list[at];
      const next: Record<string, unknown> = { ...old, config: event.config, custom: normalizeCustom(event.custom) };
      if (event.collection === 'bot_schedules' && scheduleOf(old.config) !== scheduleOf(event.config)) {
        const t = nextRun(event.config, this.opts.now?.() ?? new Date());
        if (t !== undefined) next.next_execution_time = t;
      }
      outcome = JSON.stringify(next) === JSON.stringify(old) ? 'noop' : 'updated';
      list[at] = next;
    } else {
      const doc: Record<string, unknown> = { id: event.id, config: event.config, custom: normalizeCustom(event.custom) };
      if (event.collection === 'bot_schedules') {
        const t = nextRun(event.config, this.opts.now?.() ?? new Date());
        if (t !== undefined) doc.next_execution_time = t;
      }
      list.push(doc);
      outcome = 'created';
    }
    return { outcome };
  }

  /** One write for every event applied in this turn of the event loop. */
  private flush(): Promise<void> {
    if (!this.flushing) {
      // Events applied before the write runs (setImmediate) share it.
      this.flushing = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.flushing = undefined;
          try {
            (this.opts.write ?? writeFleetFile)(this.file, this.docs!);
            const st = fs.statSync(this.file);
            this.stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
            resolve();
          } catch (e) {
            this.docs = undefined; // re-read what is really on disk next time
            reject(new SourceError(`cannot write fleet file ${this.file}: ${(e as Error).message}`));
          }
        });
      });
    }
    return this.flushing;
  }

  async readIds(ids: ReadonlySet<string>): Promise<FleetDocuments> {
    const docs = this.current();
    const prefixes = cronPrefixes(ids);
    const idOf = (d: unknown) => (d !== null && typeof d === 'object' ? (d as { id?: unknown }).id : undefined);
    return {
      bots: docs.bots.filter((d) => ids.has(idOf(d) as string)),
      bot_schedules: docs.bot_schedules.filter((d) => {
        const id = idOf(d);
        return typeof id === 'string' && (ids.has(id) || prefixes.some((p) => id.startsWith(p)));
      }),
    };
  }

  async readAll(): Promise<FleetDocuments> {
    return this.current();
  }

  async ping(): Promise<void> {
    fs.accessSync(this.file, fs.constants.R_OK);
  }

  async close(): Promise<void> {
    await this.flushing?.catch(() => undefined);
  }
}
