import * as fs from 'node:fs';
import * as path from 'node:path';
import { FleetsynthError } from '../errors';
import type { BotSpec } from '../model/bot';
import type { FleetDocuments } from '../model/document';
import { buildFleet, Fleet, unownedProblem } from '../model/fleet';
import { modelOptions } from '../config/model-options';
import type { RenderSettings } from '../settings';
import type { BatchItem, BatchTask } from './batch';
import { CACHE_MIN_BATCH, CacheOptions, OutputCache } from './cache';
import type { BotRenderer } from './render';
import { BOTS_DIR, botFilePath, shardName } from './shard';
import { FileStamp, assertPlainOutputTree, findBotFiles, isManagedFile, listBotFiles, writeIfChanged, writeStamped } from './writer';

/** Up to this many ids, a render over chosen ids looks their files up instead of listing every shard. */
const FIND_MAX_IDS = 64;

/**
 * Every shard directory holds this file, so a shard whose last bot is removed still exists in Git:
 * its Argo CD Application then prunes that bot instead of being deleted with the directory (which,
 * with preserveResourcesOnDeletion, would leave the bot running unmanaged). Argo CD ignores it
 * (not *.yaml).
 */
export const SHARD_MARKER = '.fleetsynth-shard';
const SHARD_MARKER_TEXT =
  '# Managed by fleetsynth: keeps this shard directory (and its Argo CD Application) alive when it holds no bot.\n';

/** Directory of the live service's own manifests under the output root. */
const PLATFORM_DIR = 'platform';

/** Raised when the source holds no document at all: never a reason to delete every manifest. */
export class EmptySourceError extends FleetsynthError {
  constructor() {
    super('the source holds no bot and no schedule; refusing to remove every manifest', { hint: 'check the source; use --allow-empty if the fleet really is empty' });
  }
}

/** How to synthesize. */
export interface SynthOptions {
  /** Output root (`dist`, or a directory inside a GitOps working copy). */
  readonly outDir: string;
  /** Render settings. */
  readonly settings: RenderSettings;
  /** Accept a source with no documents (then every managed bot file is removed). */
  readonly allowEmpty?: boolean;
  /** Render threads; default one per core for large fleets, none for small ones. */
  readonly workers?: number;
  /** Write files and remove stale ones (default true); false only renders and reports. */
  readonly write?: boolean;
  /** Keep every rendered file's text in the result (diff and publish need it). */
  readonly collect?: boolean;
  /** Only these bot ids are re-rendered and pruned (a live resync of a few bots). */
  readonly onlyIds?: ReadonlySet<string>;
  /**
   * Also render the live service's own manifests under `platform/` (default true on full renders).
   * `true` with onlyIds renders them and the shard markers too: that run is one part of a full
   * render split into groups (synthesizeGroups).
   */
  readonly platform?: boolean;
  /** Reuse a renderer (a live service renders single bots often). */
  readonly renderer?: BotRenderer;
  /**
   * Skip validating documents whose files the output cache vouches for (same document, file
   * untouched since written): default on for full writing runs. Their bots are then in
   * `fleet.known`, not `fleet.specs` — callers that need every spec (secrets sync) turn it off.
   */
  readonly reuseValidated?: boolean;
  /** The output cache to use (and leave to the caller to save). */
  readonly outputCache?: OutputCache;
  /** Where the output cache lives, or `{ off: true }`. @default see CacheOptions */
  readonly cache?: CacheOptions;
  /** Told how many of the bots to render are done (on render threads: a chunk at a time). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What a synth did. */
export interface SynthResult {
  /** The validated fleet. */
  readonly fleet: Fleet;
  /** Number of Kubernetes objects rendered. */
  readonly objects: number;
  /** Paths (under the output root) whose bytes changed. */
  readonly written: string[];
  /** Number of files rendered with the same bytes as before. */
  readonly unchanged: number;
  /** Stale managed files removed. */
  readonly removed: string[];
  /** Files of failed bots kept as they were. */
  readonly kept: string[];
  /** Files in shard directories that fleetsynth did not write: left alone. */
  readonly foreign: string[];
  /** Every problem, one line each, naming the bot: documents, leaks, render failures. */
  readonly errors: string[];
  /** Warnings, one line each, naming the bot. */
  readonly warnings: string[];
  /** Rendered text by path, when `collect` was set. */
  readonly files?: Map<string, string>;
  /** Shard marker files (`bots/<shard>/.fleetsynth-shard`) this run created or removed. */
  readonly markers?: string[];
  /** Ids whose previous files stay: failed documents, and bots whose render failed or leaked a secret. */
  readonly keptIds?: ReadonlySet<string>;
}

/** Every path under the output root a writing run created, rewrote or removed: what Git must stage. */
export function changedPaths(r: SynthResult): string[] {
  return [...r.written, ...r.removed, ...(r.markers ?? [])];
}

/** Documents → validated fleet → one file per bot, written deterministically. */
export async function synthesize(docs: FleetDocuments, opts: SynthOptions): Promise<SynthResult> {
  const total = docs.bots.length + docs.bot_schedules.length;
  if (total === 0 && !opts.allowEmpty) throw new EmptySourceError();
  // The no-op fast path starts before validation: an unchanged document with an untouched file
  // is neither validated nor rendered (see cache.ts).
  const reuse =
    (opts.reuseValidated ?? true) && (opts.write ?? true) && !opts.collect && !opts.onlyIds && !opts.outputCache && !opts.settings.customize && total >= CACHE_MIN_BATCH;
  const cache = reuse ? OutputCache.open(opts.outDir, opts.cache) : undefined;
  const fleet = buildFleet(docs, {
    ...modelOptions(opts.settings),
    reuse: cache && { key: (raw, collection) => cache.docKey(raw, collection), known: (key) => cache.known(opts.outDir, key, opts.settings) },
  });
  if (!cache) return synthesizeFleet(fleet, opts);
  try {
    return await synthesizeFleet(fleet, { ...opts, outputCache: cache });
  } finally {
    cache.save();
  }
}

/** Renders and writes an already validated fleet. */
export async function synthesizeFleet(fleet: Fleet, opts: SynthOptions): Promise<SynthResult> {
  const write = opts.write ?? true;
  const only = opts.onlyIds;
  const specs = only ? fleet.specs.filter((s) => only.has(s.id)) : fleet.specs;
  assertPlainOutputTree(opts.outDir, [BOTS_DIR, PLATFORM_DIR]);
  // A few ids (a live resync): their files only; else the listing (remembered per shard).
  const existingFiles = only && only.size <= FIND_MAX_IDS ? findBotFiles(opts.outDir, only) : listBotFiles(opts.outDir, { remember: !opts.cache?.off });
  const existing = new Set(existingFiles.map((f) => f.relPath));
  const items = await renderSpecs(specs, existing, opts, write);
  // Bots the output cache vouches for (see cache.ts): their files stay as they are.
  for (const k of fleet.known) {
    if (!only || only.has(k.id)) items.push({ id: k.id, kind: k.kind, relPath: k.relPath, objects: k.objects, status: 'unchanged', leaks: [] });
  }

  const errors = fleet.errors.filter((e) => !only || (e.id !== undefined && only.has(e.id))).map((e) => e.toString());
  const unowned = unownedProblem(fleet);
  if (unowned) errors.push(unowned);
  const keepIds = new Set(fleet.failedIds);
  const desired = new Set<string>();
  const written: string[] = [];
  const files = opts.collect ? new Map<string, string>() : undefined;
  let unchanged = 0;
  let objects = 0;
  for (const item of items) {
    if (item.error !== undefined) {
      errors.push(`${item.kind === 'realtime' ? 'bots' : 'bot_schedules'}/${item.id}: render failed: ${item.error}`);
      keepIds.add(item.id);
      continue;
    }
    if (item.status === 'leak') {
      errors.push(
        `${item.kind === 'realtime' ? 'bots' : 'bot_schedules'}/${item.id}: the value of secret config key(s) ${item.leaks.join(', ')} ` +
          'also appears in the rendered manifest, so the file is not written (its previous file is kept): ' +
          'if that value is not secret, rename the config key; if it is, it equals public manifest text (guessable): change it',
      );
      keepIds.add(item.id);
      continue;
    }
    desired.add(item.relPath);
    objects += item.objects;
    if (item.status === 'written') written.push(item.relPath);
    else if (item.status === 'unchanged') unchanged++;
    if (files && item.text !== undefined) files.set(item.relPath, item.text);
  }

  const removed: string[] = [];
  const kept: string[] = [];
  const foreign: string[] = [];
  for (const f of existingFiles) {
    if (desired.has(f.relPath)) continue;
    if (only && !only.has(f.id)) continue;
    if (keepIds.has(f.id) || unowned) {
      kept.push(f.relPath);
      continue;
    }
    const abs = path.join(opts.outDir, f.relPath);
    if (!isManagedFile(abs)) {
      foreign.push(f.relPath);
      continue;
    }
    if (write) fs.rmSync(abs, { force: true });
    removed.push(f.relPath);
  }

  // `platform: true` with onlyIds: one part of a full render split by generation (rollouts).
  const full = !only || opts.platform === true;
  const markers = write && full ? writeShardMarkers(opts.outDir, opts.settings.shards) : [];
  if (full && (opts.platform ?? true)) {
    // The output cache vouches for the live service's files as for the bots' (then cdk8s is not even loaded).
    const cache = write && !files ? opts.outputCache : undefined;
    const known = cache?.platform(opts.outDir, opts.settings);
    if (known) {
      objects += known.objects;
      unchanged += known.files;
    } else {
      const stamps: Array<{ relPath: string; stamp: FileStamp; objects: number }> = [];
      const { renderPlatform } = require('../constructs/platform') as typeof import('../constructs/platform');
      for (const f of renderPlatform(opts.settings)) {
        const n = (f.text.match(/^---$/gm)?.length ?? 0) + 1;
        objects += n;
        if (files) files.set(f.relPath, f.text);
        if (!write) continue;
        const abs = path.join(opts.outDir, f.relPath);
        const r = writeStamped(abs, f.text, fs.existsSync(abs), cache !== undefined);
        if (r.status === 'written') written.push(f.relPath);
        else unchanged++;
        if (r.stamp) stamps.push({ relPath: f.relPath, stamp: r.stamp, objects: n });
      }
      cache?.recordPlatform(opts.settings, stamps);
    }
  }

  const warnings = fleet.warnings
    .filter((w) => !only || only.has(w.id))
    .map((w) => `${w.collection}/${w.id}: ${w.message}`);
  return { fleet, objects, written: written.sort(), unchanged, removed: removed.sort(), kept: kept.sort(), foreign: foreign.sort(), errors, warnings, files, markers, keptIds: keepIds };
}

/** Writes the shard markers; returns the marker paths created or removed. */
function writeShardMarkers(outDir: string, shards: number): string[] {
  const changed: string[] = [];
  const wanted = new Set<string>();
  for (let i = 0; i < shards; i++) wanted.add(shardName(i, shards));
  for (const name of wanted) {
    if (writeIfChanged(path.join(outDir, BOTS_DIR, name, SHARD_MARKER), SHARD_MARKER_TEXT, true) === 'written') changed.push(`${BOTS_DIR}/${name}/${SHARD_MARKER}`);
  }
  // Shards beyond the current count (after --shards shrank) lose their marker once empty.
  const root = path.join(outDir, BOTS_DIR);
  for (const dir of fs.readdirSync(root)) {
    if (wanted.has(dir)) continue;
    const marker = path.join(root, dir, SHARD_MARKER);
    if (!fs.existsSync(marker)) continue;
    const rest = fs.readdirSync(path.join(root, dir)).filter((f) => f !== SHARD_MARKER);
    if (rest.length === 0) {
      fs.rmSync(marker);
      changed.push(`${BOTS_DIR}/${dir}/${SHARD_MARKER}`);
    }
  }
  return changed;
}

async function renderSpecs(specs: readonly BotSpec[], existing: Set<string>, opts: SynthOptions, write: boolean): Promise<BatchItem[]> {
  // The renderer (templates, the YAML writer, validation) loads only when a run renders something.
  if (specs.length === 0) return [];
  const { runBatch } = require('./batch') as typeof import('./batch');
  const { WORKER_THRESHOLD, defaultWorkers, runOnWorkers } = require('./pool') as typeof import('./pool');
  const base = { settings: opts.settings, outDir: opts.outDir, write, collect: opts.collect ?? false, ...(opts.cache ? { cacheOptions: opts.cache } : {}) };
  const existingFor = (chunk: readonly BotSpec[]) =>
    chunk.map((s) => botFilePath(s.id, s.fileName, opts.settings.shards)).filter((p) => existing.has(p));
  // A customization hook is a function: it cannot travel to worker threads.
  const workers = opts.settings.customize ? 0 : opts.workers ?? (specs.length >= WORKER_THRESHOLD ? defaultWorkers() : 0);
  if (workers <= 1 || specs.length < 2) {
    const items = runBatch({ ...base, specs, existing: existingFor(specs) }, opts.renderer, opts.outputCache);
    opts.onProgress?.(specs.length, specs.length);
    return items;
  }
  // Several chunks per worker so a slow chunk does not leave a core idle at the end.
  const chunkSize = Math.max(100, Math.ceil(specs.length / (workers * 4)));
  const tasks: BatchTask[] = [];
  for (let i = 0; i < specs.length; i += chunkSize) {
    const chunk = specs.slice(i, i + chunkSize);
    tasks.push({ ...base, specs: chunk, existing: existingFor(chunk) });
  }
  return (await runOnWorkers(tasks, workers, opts.outputCache, opts.onProgress)).flat();
}
