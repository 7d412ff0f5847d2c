// Finds one bot by id for a query: realtime bots first, then schedules (SPEC §4.1). Never a scan
// of the fleet per query (the0 scanned 2–4 collections per request: SPEC §9 #5).
import * as fs from 'node:fs';
import type { Collection } from '../../model/document';
import { isEnabled } from '../../model/document';
import { readFleetFile } from '../../source/file';
import type { MongoSource } from '../../source/mongo';

/** A found bot: which collection it is in and its document as stored. */
export interface FoundBot {
  collection: Collection;
  doc: unknown;
}

/** Looks up one enabled bot or schedule by id. */
export interface BotLookup {
  /** The enabled realtime bot with this id, else the enabled schedule, else null. */
  find(id: string): Promise<FoundBot | null>;
}

/** Lookup through MongoDB: one indexed `findOne` per collection (realtime first). */
export function lookupFromMongo(ms: Pick<MongoSource, 'findEnabled'>): BotLookup {
  return {
    async find(id) {
      const bot = await ms.findEnabled('bots', id);
      if (bot) return { collection: 'bots', doc: bot };
      const schedule = await ms.findEnabled('bot_schedules', id);
      if (schedule) return { collection: 'bot_schedules', doc: schedule };
      return null;
    },
  };
}

/**
 * Lookup in a fleet file, indexed by id. The file is read again only when it changed (mtime,
 * size or inode: an atomic rename gives a new inode), so a query costs one `stat`.
 */
export function lookupFromFile(file: string): BotLookup {
  let stamp = '';
  let index: { bots: Map<string, unknown>; schedules: Map<string, unknown> } = { bots: new Map(), schedules: new Map() };
  const refresh = async () => {
    const st = await fs.promises.stat(file);
    const now = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (now === stamp) return;
    const fleet = readFleetFile(file);
    index = { bots: byId(fleet.bots), schedules: byId(fleet.bot_schedules) };
    stamp = now;
  };
  return {
    async find(id) {
      await refresh();
      const bot = index.bots.get(id);
      if (bot !== undefined) return { collection: 'bots', doc: bot };
      const schedule = index.schedules.get(id);
      if (schedule !== undefined) return { collection: 'bot_schedules', doc: schedule };
      return null;
    },
  };
}

/** A lookup over documents held in memory (tests, benchmarks, the embedded example fleet). */
export function lookupFromDocuments(docs: { bots?: unknown[]; bot_schedules?: unknown[] }): BotLookup {
  const bots = byId(docs.bots ?? []);
  const schedules = byId(docs.bot_schedules ?? []);
  return {
    async find(id) {
      const bot = bots.get(id);
      if (bot !== undefined) return { collection: 'bots', doc: bot };
      const schedule = schedules.get(id);
      if (schedule !== undefined) return { collection: 'bot_schedules', doc: schedule };
      return null;
    },
  };
}

// Enabled documents by id (SPEC §1.2 filter); the first of duplicate ids wins, as findOne would.
function byId(docs: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const d of docs) {
    const id = (d as { id?: unknown } | null)?.id;
    if (typeof id === 'string' && isEnabled(d) && !m.has(id)) m.set(id, d);
  }
  return m;
}
