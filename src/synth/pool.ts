import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BatchItem, BatchTask, keepTemplates, lookupCached, recordCached, renderBatch, seedTemplates, wantsCache } from './batch';
import { OutputCache } from './cache';
import { BotRenderer } from './render';
import type { SeedMessage } from './worker';
import { botFilePath } from './shard';

/** Fleets smaller than this render in the calling thread: starting workers would cost more. */
export const WORKER_THRESHOLD = 1500;

/** Bots per unit of work handed to a thread: small enough to balance, large enough to be cheap. */
const CHUNK = 64;

/** Default number of render threads: one per core, at most 8 (the calling thread is one of them). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

function workerFile(): string {
  // Compiled: lib/src/synth/worker.js beside this file. Under ts-jest/tsx (a .ts file), use the
  // compiled copy that `npm run build` produced.
  const here = path.join(__dirname, 'worker.js');
  if (fs.existsSync(here)) return here;
  const built = path.resolve(__dirname, '../../lib/src/synth/worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`render worker not found (looked for ${here} and ${built}); run "npm run build"`);
}

/** One unit of work: consecutive bots of one task. */
interface Chunk {
  readonly task: number;
  readonly indexes: number[];
  readonly batch: BatchTask;
  result?: BatchItem[];
}

/**
 * Work done on a chunk's rendered items in the thread that rendered them (so the calling thread
 * never holds the fleet's text): e.g. diff compares each file with its base there. The items
 * come back without their text.
 */
export interface ChunkHook {
  /** Compiled module (absolute path) that worker threads load; it exports `chunkHook` with the signature of `run`. */
  readonly module: string;
  /** The hook on the calling thread (the same function the module exports). */
  readonly run: (items: BatchItem[], input: unknown) => Promise<unknown>;
  /** The hook's input for one chunk (structured-cloneable), built in the calling thread when the chunk is handed out. */
  readonly input: (batch: BatchTask) => unknown;
  /** The hook's output for one chunk, in the calling thread, in no particular chunk order. */
  readonly output: (batch: BatchTask, out: unknown) => void;
  /**
   * Young generation of the worker threads (V8's default: up to 48 MB). A hook whose chunks make
   * short-lived garbage only (diff) keeps the process's peak RSS lower with a small one.
   */
  readonly youngGenerationMb?: number;
}

/** A chunk sent to a worker with a hook (see worker.ts). */
export interface HookedTaskMessage {
  readonly hooked: BatchTask;
  readonly module: string;
  readonly input: unknown;
}

/**
 * Renders batch tasks with `workers` threads in all: the calling thread and `workers - 1` worker
 * threads, pulling small chunks from one queue (the calling thread renders while the workers
 * start, and nobody waits at the end for a big last chunk). Bots whose files the output cache
 * vouches for are not rendered at all; when few bots are left, no worker is started.
 * Returns one item list per task, in the tasks' order.
 */
export async function runOnWorkers(
  tasks: BatchTask[],
  workers: number,
  shared?: OutputCache,
  onProgress?: (done: number, total: number) => void,
  hook?: ChunkHook,
): Promise<BatchItem[][]> {
  const results: Array<Array<BatchItem | undefined>> = tasks.map((t) => new Array(t.specs.length));
  const first = tasks[0];
  const total = tasks.reduce((n, t) => n + t.specs.length, 0);
  // One cache for the run, when every task writes to the same tree with the same settings.
  const same = first !== undefined && tasks.every((t) => t.outDir === first.outDir && t.settings === first.settings);
  const cache = shared ?? (same && wantsCache(first, total) ? OutputCache.open(first.outDir!, first.cacheOptions) : undefined);

  // What the cache does not vouch for, cut into chunks.
  const chunks: Chunk[] = [];
  const cached: Array<{ keys: string[]; paths: string[] } | undefined> = [];
  tasks.forEach((task, t) => {
    let todo = task.specs.map((_, i) => i);
    if (cache) {
      const { items, misses, keys, paths } = lookupCached(task, cache);
      items.forEach((item, i) => (results[t][i] = item));
      cached[t] = { keys, paths };
      todo = misses;
    }
    const existing = new Set(task.existing);
    for (let i = 0; i < todo.length; i += CHUNK) {
      const indexes = todo.slice(i, i + CHUNK);
      const specs = indexes.map((j) => task.specs[j]);
      chunks.push({
        task: t,
        indexes,
        batch: {
          ...task,
          specs,
          existing: specs.map((s) => botFilePath(s.id, s.fileName, task.settings.shards)).filter((p) => existing.has(p)),
          cache: false,
          stamps: cache !== undefined,
        },
      });
    }
  });

  const pending = chunks.reduce((n, c) => n + c.indexes.length, 0);
  const threads = pending < WORKER_THRESHOLD ? 1 : Math.max(1, Math.min(workers, Math.ceil(chunks.length / 2)));
  // Progress: the bots the cache vouched for are done at once, the others a chunk at a time.
  let done = total - pending;
  onProgress?.(done, total);
  await runChunks(chunks, threads - 1, onProgress && ((n) => onProgress((done += n), total)), cache, hook);

  for (const c of chunks) c.indexes.forEach((i, j) => (results[c.task][i] = c.result![j]));
  if (cache) {
    tasks.forEach((task, t) => recordCached(cache, task.specs, cached[t]!.paths, results[t] as BatchItem[], cached[t]!.keys));
    if (!shared) cache.save();
  }
  return results as BatchItem[][];
}

/** Renders the chunks on this thread and `workerCount` worker threads, sharing one queue. */
async function runChunks(chunks: Chunk[], workerCount: number, onChunk?: (bots: number) => void, cache?: OutputCache, hook?: ChunkHook): Promise<void> {
  if (chunks.length === 0) return;
  let next = 0;
  const take = () => (next < chunks.length ? chunks[next++] : undefined);
  const limits = hook?.youngGenerationMb ? { resourceLimits: { maxYoungGenerationSizeMb: hook.youngGenerationMb } } : undefined;
  const pool = workerCount > 0 ? Array.from({ length: workerCount }, () => new Worker(workerFile(), limits)) : [];
  // While the workers start, this thread builds the templates of every shape in the run (cdk8s
  // renders a few bots per shape) and hands them over: the workers then only fill templates and
  // never load cdk8s.
  let renderer = new BotRenderer(chunks[0].batch.settings);
  const first = renderer;
  if (cache) seedTemplates(cache, renderer);
  if (pool.length > 0 && renderer.templates) {
    const settings = renderer.settings;
    renderer.templates.prepare(chunks.flatMap((c) => (c.batch.settings === settings ? c.batch.specs : [])));
    const seed: SeedMessage = { seed: renderer.templates.entries(), settings };
    for (const w of pool) w.postMessage(seed);
  }
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    next = chunks.length;
  };
  try {
    const workersDone = pool.map(
      (w) =>
        new Promise<void>((resolve) => {
          // Two chunks in flight, so a worker never waits for this thread to hand it the next one.
          const inFlight: Chunk[] = [];
          const give = () => {
            const c = take();
            if (!c) return;
            inFlight.push(c);
            if (hook) w.postMessage({ hooked: c.batch, module: hook.module, input: hook.input(c.batch) } satisfies HookedTaskMessage);
            else w.postMessage(c.batch);
          };
          w.on('message', (m: { ok: boolean; items?: BatchItem[]; error?: string; out?: unknown }) => {
            const c = inFlight.shift()!;
            if (!m.ok) fail(new Error(`render worker failed: ${m.error}`));
            else {
              c.result = m.items!;
              if (hook) hook.output(c.batch, m.out);
              onChunk?.(c.indexes.length);
            }
            give();
            if (inFlight.length === 0) resolve();
          });
          w.once('error', (e) => {
            fail(e);
            resolve();
          });
          give();
          give();
          if (inFlight.length === 0) resolve();
        }),
    );
    for (let c = take(); c !== undefined; c = take()) {
      if (renderer.settings !== c.batch.settings) renderer = new BotRenderer(c.batch.settings);
      c.result = renderBatch(c.batch, renderer);
      if (hook) {
        const input = hook.input(c.batch);
        const items = c.result;
        c.result = items.map(({ text: _text, ...item }) => item);
        try {
          hook.output(c.batch, await hook.run(items, input));
        } catch (e) {
          fail(e as Error);
          break;
        }
      }
      onChunk?.(c.indexes.length);
      // Let worker messages in (results, next chunk) between chunks.
      if (pool.length > 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(workersDone);
    if (cache) keepTemplates(cache, first);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  if (failed) throw failed;
}
