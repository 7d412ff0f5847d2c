import * as path from 'node:path';
import type { FleetDocuments } from '../model/document';
import { readFleetFile, readFleetFileLazy } from './file';
import { DEFAULT_MONGO_NAMES, MongoNames, MongoSource } from './mongo';

export * from './file';
export * from './mongo';

/** The embedded default: the example fleet shipped with fleetsynth. */
export const EXAMPLE_FLEET = path.resolve(__dirname, '../../', __filename.endsWith('.ts') ? '' : '..', 'examples/fleet.yaml');

/** Where bot documents come from: a fleet file or MongoDB. */
export interface Source {
  /** Human-readable origin, without credentials. */
  describe(): string;
  /** Every enabled document of both collections. */
  read(): Promise<FleetDocuments>;
  /**
   * Like read, but documents may stay undecoded (RawDocument) until something needs them: what
   * publish takes, where the output cache knows most documents by their bytes. Optional.
   */
  readLazy?(): Promise<FleetDocuments>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Picks the source: `ref` (a mongodb:// URI or a file), else `env` FLEET_SOURCE, else MONGO_URI, else the example fleet. The CLI passes process.env. */
export function openSource(ref: string | undefined, env: Readonly<Record<string, string | undefined>> = {}, names: MongoNames = DEFAULT_MONGO_NAMES): Source {
  const chosen = [ref, env.FLEET_SOURCE, env.MONGO_URI].find((v) => v !== undefined && v !== '') ?? EXAMPLE_FLEET;
  if (/^mongodb(\+srv)?:\/\//.test(chosen)) return new MongoSource(chosen, names);
  const file = path.resolve(chosen);
  return { describe: () => file, read: async () => readFleetFile(file), readLazy: async () => readFleetFileLazy(file), close: async () => undefined };
}

/** Mongo names from env (`BOTS_DB`, `BOTS_COLLECTION`, `SCHEDULES_DB`, `SCHEDULES_COLLECTION`). */
export function mongoNamesFromEnv(env: Readonly<Record<string, string | undefined>>): MongoNames {
  return {
    botsDb: env.BOTS_DB || DEFAULT_MONGO_NAMES.botsDb,
    botsCollection: env.BOTS_COLLECTION || DEFAULT_MONGO_NAMES.botsCollection,
    schedulesDb: env.SCHEDULES_DB || DEFAULT_MONGO_NAMES.schedulesDb,
    schedulesCollection: env.SCHEDULES_COLLECTION || DEFAULT_MONGO_NAMES.schedulesCollection,
  };
}
