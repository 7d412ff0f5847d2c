import { RawDocument } from '../model/raw-document';
import type { MongoClient, MongoClientOptions } from 'mongodb';
import type { Collection, FleetDocuments } from '../model/document';
import { SourceError } from './file';

/** Where the two collections live (SPEC §1; both overridable). */
export interface MongoNames {
  /** Database of realtime bots. */
  readonly botsDb: string;
  /** Collection of realtime bots. */
  readonly botsCollection: string;
  /** Database of schedules. */
  readonly schedulesDb: string;
  /** Collection of schedules. */
  readonly schedulesCollection: string;
}

/** SPEC defaults: `bot_runner.bots` and `bot_scheduler.bot_schedules`. */
export const DEFAULT_MONGO_NAMES: MongoNames = {
  botsDb: 'bot_runner',
  botsCollection: 'bots',
  schedulesDb: 'bot_scheduler',
  schedulesCollection: 'bot_schedules',
};

/** the0's enabled filter (SPEC §1.2): only a boolean `config.enabled: false` disables. */
export const ENABLED_FILTER = { $or: [{ 'config.enabled': { $ne: false } }, { 'config.enabled': { $exists: false } }] };

/** Removes credentials from a MongoDB URI for messages and logs. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

/** The MongoDB source, through the official driver. */
export class MongoSource {
  private client?: Promise<MongoClient>;

  constructor(
    private readonly uri: string,
    private readonly names: MongoNames = DEFAULT_MONGO_NAMES,
    private readonly clientOptions: MongoClientOptions = {},
  ) {}

  /** `mongodb://host/…` without credentials. */
  describe(): string {
    return redactUri(this.uri);
  }

  /** The connected client (connects on first use; concurrent first calls share one client). */
  connect(): Promise<MongoClient> {
    this.client ??= this.open().catch((e) => {
      this.client = undefined;
      throw e;
    });
    return this.client;
  }

  private async open(): Promise<MongoClient> {
    // The driver loads when a MongoDB source is opened: commands reading a fleet file skip it.
    const { MongoClient: Client } = require('mongodb') as typeof import('mongodb');
    const client = new Client(this.uri, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, ...this.clientOptions });
    try {
      await client.connect();
    } catch (e) {
      await client.close().catch(() => undefined);
      throw new SourceError(`cannot reach MongoDB at ${this.describe()}: ${(e as Error).message}`);
    }
    return client;
  }

  /** The driver collection behind one of our two lists. */
  async collection(which: Collection) {
    const client = await this.connect();
    return which === 'bots'
      ? client.db(this.names.botsDb).collection(this.names.botsCollection)
      : client.db(this.names.schedulesDb).collection(this.names.schedulesCollection);
  }

  /** Every enabled bot and schedule (full scan: one fleetsynth owns all bots). */
  async read(): Promise<FleetDocuments> {
    try {
      const [bots, schedules] = await Promise.all([this.readCollection('bots'), this.readCollection('bot_schedules')]);
      return { bots, bot_schedules: schedules };
    } catch (e) {
      if (e instanceof SourceError) throw e;
      throw new SourceError(`reading MongoDB at ${this.describe()} failed: ${(e as Error).message}`);
    }
  }

  /** One enabled document by id (an indexed lookup, never a scan), or null. */
  async findEnabled(which: Collection, id: string): Promise<Record<string, unknown> | null> {
    const coll = await this.collection(which);
    return coll.findOne({ id, ...ENABLED_FILTER }, { projection: { _id: 0 } });
  }

  /**
   * Like read, but the documents stay BSON (RawDocument) until something needs them: the output
   * cache knows most of them by a hash of their bytes, so a publish decodes only new or changed ones.
   */
  async readLazy(): Promise<FleetDocuments> {
    try {
      const [bots, schedules] = await Promise.all([this.readCollection('bots', true), this.readCollection('bot_schedules', true)]);
      return { bots, bot_schedules: schedules };
    } catch (e) {
      if (e instanceof SourceError) throw e;
      throw new SourceError(`reading MongoDB at ${this.describe()} failed: ${(e as Error).message}`);
    }
  }

  private async readCollection(which: Collection, raw = false): Promise<unknown[]> {
    const coll = await this.collection(which);
    if (!raw) return coll.find(ENABLED_FILTER, { projection: { _id: 0 }, sort: { id: 1 }, batchSize: 2000 }).toArray();
    // The driver's own decoder, with the options it decodes documents with by default.
    const { BSON } = require('mongodb') as typeof import('mongodb');
    const decode = { format: 'BSON', fn: (b: Uint8Array) => BSON.deserialize(b) };
    const docs = await coll.find(ENABLED_FILTER, { projection: { _id: 0 }, sort: { id: 1 }, batchSize: 2000, raw: true }).toArray();
    return docs.map((d) => new RawDocument(d as unknown as Uint8Array, decode));
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    const pending = this.client;
    this.client = undefined;
    const client = await pending?.catch(() => undefined);
    await client?.close();
  }
}
