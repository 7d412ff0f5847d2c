// A diff of a full render against a base, streamed: the base is listed (with blob ids in git), the
// render threads compare each chunk's files with their base files as they render them (chunk.ts),
// and this thread keeps only the entries. Neither the fleet's text nor the base's is ever held
// here at once; only base files the render does not produce (removed or kept) and the platform
// files are read on this thread.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Fleet } from '../../model/fleet';
import { unownedProblem } from '../../model/fleet';
import type { RenderSettings } from '../../settings';
import type { BatchItem, BatchTask } from '../../synth/batch';
import type { SynthResult } from '../../synth/synth';
import { BOTS_DIR, botFilePath } from '../../synth/shard';
import { assertPlainOutputTree } from '../../synth/writer';
import { ChunkInput, ChunkOutput, chunkHook, closeReaders } from './chunk';
import { diffTrees, finishDiff } from './compare';
import { BaseFile, BaseListing, classifyPath, readBaseFiles } from './tree';
import { DiffEntry, DiffOptions, FleetDiff, PLATFORM_DIR } from './types';

/** Options of `streamDiff`. */
export interface StreamDiffOptions extends Pick<DiffOptions, 'base'> {
  /** Render threads; default one per core for large fleets. */
  readonly workers?: number;
  /** Output root the render lists (the base directory, or an empty scratch one). */
  readonly outDir: string;
}

function hookModule(): string {
  // Compiled: lib/src/gitops/diff/chunk.js beside this file; under ts-jest/tsx, the built copy.
  const here = path.join(__dirname, 'chunk.js');
  if (fs.existsSync(here)) return here;
  const built = path.resolve(__dirname, '../../../lib/src/gitops/diff/chunk.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`diff chunk module not found (looked for ${here} and ${built}); run "npm run build"`);
}

/**
 * Renders a validated fleet (nothing is written) and compares it with a listed base, chunk by
 * chunk in the render threads. Same entries as `diffTrees` of the base's managed files and the
 * collected render.
 */
export async function streamDiff(fleet: Fleet, settings: RenderSettings, listing: BaseListing, opts: StreamDiffOptions): Promise<{ diff: FleetDiff; synth: SynthResult }> {
  assertPlainOutputTree(opts.outDir, [BOTS_DIR, PLATFORM_DIR]);
  const { source } = listing;
  // Which base file each key is: as diffTrees' index, the last managed one in path order. Keys
  // named more than once (a bot file in two shard directories) are settled by reading them.
  const byKey = new Map<string, BaseFile[]>();
  for (const f of listing.files) {
    const key = classifyPath(f.rel)!.key;
    const list = byKey.get(key);
    if (list) list.push(f);
    else byKey.set(key, [f]);
  }
  const index = new Map<string, BaseFile>();
  const known = new Map<string, string>();
  for (const [key, list] of byKey) {
    if (list.length === 1) {
      index.set(key, list[0]);
      continue;
    }
    const texts = await readBaseFiles(source, list);
    for (let i = list.length - 1; i >= 0; i--) {
      if (texts[i] === undefined) continue;
      index.set(key, list[i]);
      known.set(list[i].rel, texts[i]!);
      break;
    }
  }

  const specs = fleet.specs;
  const keyOf = (s: { id: string; fileName: string }) => classifyPath(botFilePath(s.id, s.fileName, settings.shards))!.key;
  const consumed = new Set<string>();
  const entries: DiffEntry[] = [];
  let unchanged = 0;
  const hook = {
    module: hookModule(),
    // Measured at 10,000 bots: peak RSS 318 → 294 MB, same time (a render with no hook keeps V8's default: it was slower with it).
    youngGenerationMb: 8,
    // A copy: values read from a file are slices of its text, which they would keep alive (the
    // workers' entries come copied already).
    run: async (items: BatchItem[], input: unknown) => structuredClone(await chunkHook(items, input)),
    input: (batch: BatchTask): ChunkInput => ({ source, base: batch.specs.map((s) => index.get(keyOf(s)) ?? null) }),
    output: (batch: BatchTask, out: unknown) => {
      (out as ChunkOutput).forEach((r, i) => {
        if (r === null) return;
        consumed.add(keyOf(batch.specs[i]));
        if (r === 'unchanged') unchanged++;
        else entries.push(r);
      });
    },
  };

  let items: BatchItem[] = [];
  if (specs.length > 0) {
    const { defaultWorkers, runOnWorkers, WORKER_THRESHOLD } = require('../../synth/pool') as typeof import('../../synth/pool');
    // A customization hook is a function: it cannot travel to worker threads.
    const workers = settings.customize ? 1 : opts.workers ?? (specs.length >= WORKER_THRESHOLD ? defaultWorkers() : 1);
    const chunkSize = Math.max(100, Math.ceil(specs.length / (Math.max(1, workers) * 4)));
    const tasks: BatchTask[] = [];
    for (let i = 0; i < specs.length; i += chunkSize) tasks.push({ settings, outDir: opts.outDir, specs: specs.slice(i, i + chunkSize), existing: [], write: false, collect: true });
    try {
      items = (await runOnWorkers(tasks, Math.max(1, workers), undefined, undefined, hook)).flat();
    } finally {
      closeReaders();
    }
  }

  // As synthesizeFleet reports them.
  const errors = fleet.errors.map((e) => e.toString());
  const unowned = unownedProblem(fleet);
  if (unowned) errors.push(unowned);
  let objects = 0;
  // As in publish, a bot whose render failed or leaked keeps its file: kept, never "removed".
  const keptIds = new Set(fleet.failedIds);
  for (const item of items) {
    const where = `${item.kind === 'realtime' ? 'bots' : 'bot_schedules'}/${item.id}`;
    if (item.error !== undefined || item.status === 'leak') keptIds.add(item.id);
    if (item.error !== undefined) errors.push(`${where}: render failed: ${item.error}`);
    else if (item.status === 'leak') {
      errors.push(
        `${where}: the value of secret config key(s) ${item.leaks.join(', ')} ` +
          'also appears in the rendered manifest, so the file is not written (its previous file is kept): ' +
          'if that value is not secret, rename the config key; if it is, it equals public manifest text (guessable): change it',
      );
    } else objects += item.objects;
  }

  // The live service's files, and base files no rendered bot took: on this thread (few).
  const { renderPlatform } = require('../../constructs/platform') as typeof import('../../constructs/platform');
  const platform = new Map<string, string>();
  for (const f of renderPlatform(settings)) {
    objects += (f.text.match(/^---$/gm)?.length ?? 0) + 1;
    platform.set(f.relPath, f.text);
  }
  const rest = [...index].filter(([key, f]) => !consumed.has(key) && !known.has(f.rel)).map(([, f]) => f);
  const texts = await readBaseFiles(source, rest);
  const baseRest = new Map(known);
  rest.forEach((f, i) => texts[i] !== undefined && baseRest.set(f.rel, texts[i]!));
  for (const key of consumed) {
    const f = index.get(key);
    if (f) baseRest.delete(f.rel);
  }
  const part = diffTrees(baseRest, platform, { base: opts.base, failedIds: keptIds, keepAll: fleet.unowned !== 0 });
  const diff = finishDiff([...entries, ...part.entries], [...part.kept], unchanged + part.summary.unchanged, { base: opts.base });

  const warnings = fleet.warnings.map((w) => `${w.collection}/${w.id}: ${w.message}`);
  const synth: SynthResult = { fleet, objects, written: [], unchanged: 0, removed: [], kept: [], foreign: [], errors, warnings, markers: [], keptIds };
  return { diff, synth };
}
