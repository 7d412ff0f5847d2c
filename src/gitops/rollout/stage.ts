// The next wave, staged during the bake. A rollout waits bakeSeconds (300 by default) between
// waves, and every runner polls it meanwhile: the poll that finds the current wave healthy and
// baking renders the next wave's bots with the new generation into a directory inside `.git`,
// writes their blobs (kept by a local ref) and compares them with
// the committed files. The run that then commits the wave moves those files into the output root
// by rename, takes their blob ids and diff entries, and renders, hashes and compares only what
// changed since. A staged file is used only when it is exactly what this run would render: the same
// document bytes (its output-cache key), the same settings and the same fleetsynth code; a base
// that moved since (a bot's own change committed meanwhile) gets its entry computed again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelOptions } from '../../config/model-options';
import type { FleetDocuments } from '../../model/document';
import { Fleet, KnownBot, buildFleet } from '../../model/fleet';
import type { RenderSettings } from '../../settings';
import { OutputCache, codeHash, docPart, documentKey, settingsId } from '../../synth/cache';
import type { CacheOptions } from '../../synth/cache';
import { SynthResult, synthesizeFleet } from '../../synth/synth';
import { DiffEntry, classifyPath } from '../diff';
import { diffWritten } from '../diff-written';
import type { GitWorkspace, KnownBlob } from '../workspace';
import { waveOfBot } from './controller';
import type { RolloutState } from './state';

const FORMAT = 1;
const MANIFEST = 'stage.json';

/** One staged bot file. */
export interface StagedBot {
  readonly id: string;
  /** Under the output root. */
  readonly relPath: string;
  /** Its output-cache key: the settings id and the document's hash. */
  readonly key: string;
  readonly objects: number;
  readonly warnings: readonly string[];
  readonly blob: KnownBlob;
  /** The committed blob it was compared with (null: none). */
  readonly base: string | null;
  /** Its diff entry against that base (absent: the same bytes). */
  readonly entry?: DiffEntry;
}

/** A staged wave, as `<stageDir>/stage.json` records it. */
export interface WaveStage {
  readonly format: number;
  /** The generation the wave moves to, and which wave (0-based). */
  readonly generation: string;
  readonly wave: number;
  /** settingsId of the wave's settings, and the code that rendered it. */
  readonly settings: string;
  readonly code: string;
  readonly bots: readonly StagedBot[];
}

/** The staged wave of a working copy, when there is a readable one. */
export function readStage(stageDir: string): WaveStage | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(stageDir, MANIFEST), 'utf8')) as WaveStage;
    return s.format === FORMAT && Array.isArray(s.bots) && typeof s.generation === 'string' && Number.isInteger(s.wave) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a staged wave is the one this rollout commits next with these settings. */
export function stageFits(stage: WaveStage | undefined, state: RolloutState, wave: number, settings: RenderSettings): boolean {
  return stage !== undefined && stage.generation === state.to.generation && stage.wave === wave && stage.settings === settingsId(settings) && stage.code === codeHash();
}

/**
 * Stages the next wave of a rolling rollout (see the module comment), replacing any stage there
 * is. `settings`: the new generation's settings as this run renders them. Returns the stage, or
 * undefined when there is nothing to stage (last wave, no output cache).
 */
export async function stageNextWave(p: {
  readonly ws: GitWorkspace;
  readonly docs: FleetDocuments;
  readonly state: RolloutState;
  readonly settings: RenderSettings;
  readonly cache?: CacheOptions;
  readonly workers?: number;
  /** Label of the base in diff entries. */
  readonly base: string;
}): Promise<WaveStage | undefined> {
  const { ws, state, settings } = p;
  const wave = state.current + 1;
  if (state.status !== 'rolling' || wave >= state.waves.length) return undefined;
  const main = OutputCache.open(ws.outDir, p.cache);
  if (!main) return undefined;
  return ws.withLock(async () => {
    await ws.clearStaged();
    const out = path.join(ws.stageDir, 'out');
    fs.mkdirSync(out, { recursive: true });
    // The wave's bots validated and rendered as the wave's commit would; the other bots are
    // taken as the cache knows them (they are not rendered here).
    const fleet = buildFleet(p.docs, {
      ...modelOptions(settings),
      reuse: {
        key: (raw, collection) => main.docKey(raw, collection),
        known: (key) => {
          const k = main.known(ws.outDir, key, 'any');
          return k && waveOfBot(state, k.id) !== wave ? k : undefined;
        },
      },
    });
    const ids = new Set(fleet.specs.map((s) => s.id).filter((id) => waveOfBot(state, id) === wave));
    if (ids.size === 0) return undefined;
    const cache = OutputCache.open(out, p.cache);
    if (!cache) return undefined;
    const synth = await synthesizeFleet(fleet, { outDir: out, settings, write: true, onlyIds: ids, platform: false, workers: p.workers, outputCache: cache });
    const files = synth.written.filter((rel) => cache.entry(rel) !== undefined);
    if (files.length === 0) return undefined;
    const bases = await ws.indexBlobs(files);
    const diff = await diffWritten({ ...synth, written: files, removed: [], kept: [] }, out, (paths) => ws.readBase(paths), { base: p.base });
    const entries = new Map(diff.entries.map((e) => [e.path, e]));
    // A file read within the clock tick it was written in is hashed again when committed: let it settle.
    await new Promise((r) => setTimeout(r, 25));
    const blobs = await ws.storeStaged(files);
    const bots: StagedBot[] = [];
    for (const rel of files) {
      const e = cache.entry(rel)!;
      const blob = blobs.get(rel);
      const id = classifyPath(rel)?.id;
      if (id === undefined || !blob || blob.size !== e.stamp.size || blob.mtimeMs !== e.stamp.mtimeMs || blob.ino !== e.stamp.ino) continue;
      const entry = entries.get(rel);
      bots.push({ id, relPath: rel, key: e.key, objects: e.objects, warnings: e.warnings, blob, base: bases.get(rel) ?? null, ...(entry ? { entry } : {}) });
    }
    const stage: WaveStage = { format: FORMAT, generation: state.to.generation, wave, settings: settingsId(settings), code: codeHash(), bots };
    fs.writeFileSync(path.join(ws.stageDir, MANIFEST), JSON.stringify(stage));
    return stage;
  });
}

/** Staged files moved into the output root for this run's wave commit. */
export interface Installed {
  /** Paths under the output root, with their blobs (for the commit). */
  readonly blobs: Map<string, KnownBlob>;
  /** What the output cache now knows of each moved-in file (its settings, objects, warnings), by bot id. */
  readonly known: Map<string, Pick<KnownBot, 'relPath' | 'objects' | 'warnings' | 'renderedWith'>>;
  readonly stage: WaveStage;
}

/**
 * Moves the staged files of the documents this run still has unchanged (their keys among
 * `keys`) into the output root and records them in the output cache as rendered with the wave's
 * settings, so the render takes them as known. Files whose rename fails stay as they were.
 */
export function installStage(stage: WaveStage, stageDir: string, outDir: string, cache: OutputCache | undefined, keys: ReadonlySet<string>): Installed {
  const blobs = new Map<string, KnownBlob>();
  const known: Installed['known'] = new Map();
  const todo = stage.bots.filter((b) => keys.has(docPart(b.key)));
  // The file a staged one replaces is moved aside, not overwritten: renaming onto an existing
  // file frees its inode there and then, which costs twice the two renames (4,500 files: 200 →
  // 100 ms here). The files moved aside go with the stage directory at the next staging.
  const aside = path.join(stageDir, 'replaced');
  for (const dir of new Set(todo.map((b) => path.dirname(b.relPath)))) {
    fs.mkdirSync(path.join(outDir, dir), { recursive: true });
    fs.mkdirSync(path.join(aside, dir), { recursive: true });
  }
  for (const b of todo) {
    const to = path.join(outDir, b.relPath);
    const old = path.join(aside, b.relPath);
    let moved = false;
    try {
      fs.renameSync(to, old);
      moved = true;
    } catch {
      // not there (a bot new to the output root)
    }
    try {
      fs.renameSync(path.join(stageDir, 'out', b.relPath), to);
    } catch {
      if (moved) fs.renameSync(old, to);
      continue;
    }
    // Only a file still exactly as staged is taken; another one is rendered (and hashed) again.
    const st = fs.lstatSync(to, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size !== b.blob.size || st.mtimeMs !== b.blob.mtimeMs || st.ino !== b.blob.ino) continue;
    cache?.record(b.relPath, b.key, { size: b.blob.size, mtimeMs: b.blob.mtimeMs, ino: b.blob.ino }, b.objects, b.warnings);
    blobs.set(b.relPath, b.blob);
    known.set(b.id, { relPath: b.relPath, objects: b.objects, warnings: b.warnings, renderedWith: stage.settings });
  }
  return { blobs, known, stage };
}

/** The staged diff entries still true: those whose base is still the committed blob. */
export function stagedEntries(installed: Installed, committed: ReadonlyMap<string, string>): Map<string, DiffEntry | null> {
  const out = new Map<string, DiffEntry | null>();
  for (const b of installed.stage.bots) {
    if (!installed.blobs.has(b.relPath) || (committed.get(b.relPath) ?? null) !== b.base) continue;
    out.set(b.relPath, b.entry ?? null);
  }
  return out;
}

/** The output-cache keys of every document of a source (what a staged file's key must be among). */
export function documentKeys(docs: FleetDocuments): Set<string> {
  const keys = new Set<string>();
  for (const raw of docs.bots) keys.add(documentKey(raw, 'bots'));
  for (const raw of docs.bot_schedules) keys.add(documentKey(raw, 'bot_schedules'));
  return keys;
}

/** A fleet with the moved-in bots taken as known (their files are what the render would write), so they are not rendered. */
export function withStagedFiles(fleet: Fleet, installed: Installed): Fleet {
  const moved: KnownBot[] = [];
  const specs = fleet.specs.filter((s) => {
    const k = installed.known.get(s.id);
    if (!k) return true;
    moved.push({ id: s.id, kind: s.kind, objectName: s.objectName, ...k });
    return false;
  });
  return moved.length === 0 ? fleet : { ...fleet, specs, known: [...fleet.known, ...moved] };
}

/** A render's result with the staged files moved in counted as written (they are what the commit takes). */
export function withInstalled(synth: SynthResult, installed: Installed): SynthResult {
  const written = new Set(synth.written);
  const added = [...installed.blobs.keys()].filter((p) => !written.has(p));
  return { ...synth, written: [...written, ...added].sort(), unchanged: synth.unchanged - added.length };
}

/**
 * What a runner does with the stage after a rollout step that committed no wave: stages the next
 * wave of a rolling rollout (unless an earlier poll did), or drops the stage of one that is over.
 * Returns the bots this call staged.
 */
export async function stageOrClear(p: Parameters<typeof stageNextWave>[0]): Promise<number | undefined> {
  if (p.state.status !== 'rolling') {
    if (fs.existsSync(p.ws.stageDir)) await p.ws.withLock(() => p.ws.clearStaged());
    return undefined;
  }
  if (stageFits(readStage(p.ws.stageDir), p.state, p.state.current + 1, p.settings)) return undefined; // staged by an earlier poll
  try {
    return (await stageNextWave(p))?.bots.length;
  } catch (e) {
    await p.ws.withLock(() => p.ws.clearStaged()).catch(() => undefined);
    throw e;
  }
}
