import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BotSpec } from '../model/bot';
import type { RenderSettings } from '../settings';
import { CACHE_MIN_BATCH, CacheOptions, OutputCache } from './cache';
import { BotRenderer } from './render';
import { botFilePath } from './shard';
import { FileStamp, WriteStatus, writeStamped } from './writer';

export { CACHE_MIN_BATCH } from './cache';

/** A slice of the fleet to render (and write) in one thread. */
export interface BatchTask {
  /** Render settings. */
  readonly settings: RenderSettings;
  /** Bots to render. */
  readonly specs: readonly BotSpec[];
  /** Output root; files are written under it unless `write` is false. */
  readonly outDir?: string;
  /** Relative paths that exist in the output tree (so missing files skip the read). */
  readonly existing: readonly string[];
  /** Write changed files. */
  readonly write: boolean;
  /** Return each file's text (for diff and publish). */
  readonly collect: boolean;
  /** Use the output cache (see cache.ts); default: when writing a batch of CACHE_MIN_BATCH or more. */
  readonly cache?: boolean;
  /** Where the output cache lives, or that there is none. @default see CacheOptions */
  readonly cacheOptions?: CacheOptions;
  /** Return the stamp of every file written or verified (for the caller's cache). */
  readonly stamps?: boolean;
}

/** What happened to one bot. */
export interface BatchItem {
  readonly id: string;
  readonly kind: BotSpec['kind'];
  readonly relPath: string;
  readonly objects: number;
  /** `leak` when a secret value was found: the file is not written. */
  readonly status: WriteStatus | 'leak' | 'rendered';
  /** Secret key paths that leaked. */
  readonly leaks: string[];
  /** File text, when collected. */
  readonly text?: string;
  /** Render failure (a bug or an unexpected value), named by bot. */
  readonly error?: string;
  /** The file's stamp after writing or comparing it, when asked for. */
  readonly stamp?: FileStamp;
}

/** Whether a task (or `count` bots with its options) should go through the output cache. */
export function wantsCache(task: BatchTask, count = task.specs.length): boolean {
  // The cache keys on the settings' JSON, which cannot tell one customization hook from another.
  return task.write && !!task.outDir && !task.cacheOptions?.off && !task.settings.customize && (task.cache ?? count >= CACHE_MIN_BATCH);
}

/**
 * Renders a slice of the fleet in this thread (through the output cache when it applies: the
 * caller's `shared` one, which the caller saves, or one opened and saved here).
 */
export function runBatch(task: BatchTask, renderer = new BotRenderer(task.settings), shared?: OutputCache): BatchItem[] {
  const cache = shared ?? (wantsCache(task) ? OutputCache.open(task.outDir!, task.cacheOptions) : undefined);
  if (!cache) return renderBatch(task, renderer);
  const { items, misses, keys, paths } = lookupCached(task, cache);
  if (misses.length > 0) seedTemplates(cache, renderer);
  const rendered = renderBatch({ ...task, specs: misses.map((i) => task.specs[i]), stamps: true }, renderer);
  keepTemplates(cache, renderer);
  misses.forEach((i, j) => (items[i] = rendered[j]));
  recordCached(cache, task.specs, paths, items as BatchItem[], keys);
  if (!shared) cache.save();
  return items as BatchItem[];
}

/** Gives a renderer the shape templates the output cache kept for its settings (no cdk8s for known shapes). */
export function seedTemplates(cache: OutputCache, renderer: BotRenderer): void {
  const kept = renderer.templates && cache.templates(renderer.settings);
  if (kept) renderer.templates!.seed(kept);
}

/** Keeps a renderer's templates in the output cache when it built new ones. */
export function keepTemplates(cache: OutputCache, renderer: BotRenderer): void {
  const t = renderer.templates;
  if (t && t.learned > 0) {
    cache.recordTemplates(renderer.settings, t.entries());
    t.learned = 0;
  }
}

/**
 * Splits a task into the bots whose files the cache vouches for (final items, `unchanged`) and
 * the indexes of the bots that must be rendered; `keys` and `paths` hold every bot's input hash
 * and file path.
 */
export function lookupCached(
  task: BatchTask,
  cache: OutputCache,
): { items: Array<BatchItem | undefined>; misses: number[]; keys: string[]; paths: string[] } {
  const existing = new Set(task.existing);
  const items: Array<BatchItem | undefined> = new Array(task.specs.length);
  const misses: number[] = [];
  const keys: string[] = new Array(task.specs.length);
  const paths: string[] = new Array(task.specs.length);
  task.specs.forEach((spec, i) => {
    const relPath = (paths[i] = botFilePath(spec.id, spec.fileName, task.settings.shards));
    const key = (keys[i] = cache.keyOf(spec, task.settings));
    const objects = existing.has(relPath) ? cache.lookup(task.outDir!, relPath, key) : undefined;
    let text: string | undefined;
    if (objects !== undefined && task.collect) {
      try {
        text = fs.readFileSync(path.join(task.outDir!, relPath), 'utf8');
      } catch {
        // Gone since the lookup: render it.
      }
    }
    if (objects === undefined || (task.collect && text === undefined)) misses.push(i);
    else items[i] = { id: spec.id, kind: spec.kind, relPath, objects, status: 'unchanged', leaks: [], text };
  });
  return { items, misses, keys, paths };
}

/** Remembers what was just written or verified; forgets bots that failed or leaked. */
export function recordCached(
  cache: OutputCache,
  specs: readonly BotSpec[],
  paths: readonly string[],
  items: readonly BatchItem[],
  keys: readonly string[],
): void {
  items.forEach((item, i) => {
    if (item.stamp !== undefined && (item.status === 'written' || item.status === 'unchanged')) {
      cache.record(item.relPath, keys[i], item.stamp, item.objects, specs[i].warnings);
    } else if (item.stamp === undefined && item.status !== 'unchanged') {
      cache.forget(paths[i]);
    }
  });
}

/** Renders (and writes) every bot of a task in this thread, without the cache. */
export function renderBatch(task: BatchTask, renderer: BotRenderer): BatchItem[] {
  const existing = new Set(task.existing);
  const out: BatchItem[] = [];
  for (const spec of task.specs) {
    let r;
    try {
      r = renderer.render(spec);
    } catch (e) {
      out.push({ id: spec.id, kind: spec.kind, relPath: '', objects: 0, status: 'rendered', leaks: [], error: (e as Error).message });
      continue;
    }
    let status: BatchItem['status'] = 'rendered';
    let stamp: FileStamp | undefined;
    if (r.leaks.length > 0) status = 'leak';
    else if (task.write && task.outDir) {
      ({ status, stamp } = writeStamped(path.join(task.outDir, r.relPath), r.text, existing.has(r.relPath), task.stamps ?? false));
    }
    out.push({
      id: r.id,
      kind: r.kind,
      relPath: r.relPath,
      objects: r.objects,
      status,
      leaks: r.leaks,
      text: task.collect && status !== 'leak' ? r.text : undefined,
      stamp,
    });
  }
  return out;
}
