// The whole-fleet entry of the library: a fleet's documents → fleetsynth's layout (one file per bot
// under bots/<shard>/, platform/ manifests) in the output directory of the user's own cdk8s app,
// with the same guards (empty source, bad documents, leak scan, pruning of managed files only)
// and speed (shape templates, worker threads, output cache) as `fleetsynth synth`.
import type { App } from 'cdk8s';
import type { BotCustomizer } from '../constructs/customize';
import { ConfigError, assertNoProblems } from '../errors';
import type { FleetDocuments } from '../model/document';
import { DEFAULT_SETTINGS, RenderSettings, checkSettings } from '../settings';
import { Source, openSource } from '../source';
import type { CacheOptions } from './cache';
import { SynthResult, synthesize } from './synth';

/** Props of synthFleet. */
export interface SynthFleetOptions {
  /** Where the documents come from: a Source, a fleet file path or a mongodb:// URI. @default documents must be given */
  readonly source?: Source | string;
  /** The documents themselves, instead of a source. @default read from source */
  readonly documents?: FleetDocuments;
  /** The user's cdk8s App; bots are written under its outdir beside the app's own charts. @default none */
  readonly app?: Pick<App, 'outdir'>;
  /** Output root. @default app.outdir, else 'dist' */
  readonly outDir?: string;
  /** Render settings over DEFAULT_SETTINGS (namespace, runtime image, shards, …). @default DEFAULT_SETTINGS */
  readonly settings?: Partial<RenderSettings>;
  /** Called with each bot (no secret values) and its ApiObjects before rendering; see BotCustomizer. @default none */
  readonly customize?: BotCustomizer;
  /** Accept a source with no documents (then every managed bot file is removed). @default false */
  readonly allowEmpty?: boolean;
  /** Render threads. @default one per core for large fleets; none with a customize hook */
  readonly workers?: number;
  /** Where the output cache lives, or `{ off: true }`. @default see CacheOptions */
  readonly cache?: CacheOptions;
}

/**
 * Renders a whole fleet into an output directory. A bad document does not stop the others: it is
 * in `result.errors` (named by bot and field) and its previous file is kept; exit non-zero on it
 * (`reportSynth` prints the result and returns the exit code). Bad settings throw a ConfigError,
 * an empty source an EmptySourceError, an unreadable one a SourceError.
 */
export async function synthFleet(opts: SynthFleetOptions): Promise<SynthResult> {
  const settings: RenderSettings = { ...DEFAULT_SETTINGS, ...opts.settings, ...(opts.customize ? { customize: opts.customize } : {}) };
  assertNoProblems(checkSettings(settings));
  if (opts.documents === undefined && opts.source === undefined) throw new ConfigError(['synthFleet: give `source` or `documents`']);
  const outDir = opts.outDir ?? opts.app?.outdir ?? 'dist';
  const owned = typeof opts.source === 'string' ? openSource(opts.source) : undefined;
  try {
    const docs = opts.documents ?? (await (owned ?? (opts.source as Source)).read());
    return await synthesize(docs, { outDir, settings, allowEmpty: opts.allowEmpty, workers: opts.workers, cache: opts.cache });
  } finally {
    await owned?.close();
  }
}
