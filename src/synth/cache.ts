import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BotSpec } from '../model/bot';
import type { Collection } from '../model/document';
import { RawDocument } from '../model/raw-document';
import type { KnownBot } from '../model/fleet';
import { objectNameOf } from '../model/names';
import { BOT_FILE_PATTERN } from './shard';
import type { RenderSettings } from '../settings';
import type { ShapeTemplate } from './template';
import { renderInputs } from '../gitops/rollout/generation';
import { FileStamp, settled } from './writer';

/**
 * The no-op fast path: remembers, per output file, the input it was rendered from and the file's
 * stamp (size, mtime, inode) when fleetsynth last wrote or verified it. A bot whose input
 * hash is the same and whose file still has that stamp is not rendered again: its file holds
 * exactly what rendering would write (and what the leak scan already passed).
 *
 * The input hash covers the whole validated bot (every field, secret values included), every
 * render setting, and a hash of the renderer's code (all of fleetsynth's compiled sources, the
 * versions of cdk8s, cdk8s-plus-28, constructs and yaml, the Node version, CDK8S_DISABLE_SORT).
 * The settings are part of each entry's key (a short hash of their JSON before the document's
 * hash), not of the whole file: a rollout renders two generations' settings into one tree, and
 * each bot's entry vouches for its file under the settings it was rendered with.
 * Anything else — no entry, another input, a touched file, an unreadable or foreign cache — is a
 * miss: the bot is rendered and compared byte for byte, as without a cache.
 *
 * Like Git's index, an entry whose file was modified within the timestamp granularity of the
 * moment the cache is saved is "racy" (a later write in the same clock tick would keep the
 * mtime) and is not kept: the next run renders and compares that file.
 *
 * A run that changed a few entries (a one-bot publish) appends them to a journal next to the
 * cache file (`<file>.log`, one JSON line per run, tied to the cache file by its epoch) instead
 * of rewriting the whole file (8 MB at 50,000 bots); a run that changed many, or a journal grown
 * past a quarter of the file, rewrites the file and drops the journal. A torn last line (a
 * killed run) is ignored: its entries are misses, never wrong hits.
 *
 * The cache never lives in the output tree (a GitOps repo): it goes to `CacheOptions.dir`
 * (`$FLEETSYNTH_CACHE_DIR` in the CLI), else `node_modules/.cache/fleetsynth/` beside fleetsynth's
 * installation, else `<userCacheHome>/fleetsynth` (`$XDG_CACHE_HOME`, `~/.cache`), one file per
 * absolute output directory. `CacheOptions.off` (`FLEETSYNTH_CACHE=off`) disables it.
 */

/** Where the output cache lives, or that there is none. Plain data: it travels to worker threads. */
export interface CacheOptions {
  /** No output cache and no remembered shard listings: every run reads and renders everything. @default false */
  readonly off?: boolean;
  /** Directory of the cache files. @default `node_modules/.cache/fleetsynth` beside fleetsynth's installation, else `<userCacheHome>/fleetsynth` */
  readonly dir?: string;
  /** The user's cache directory, used when fleetsynth is not installed under a node_modules. @default `~/.cache` */
  readonly userCacheHome?: string;
}

/** The CLI's cache options: `FLEETSYNTH_CACHE=off`, `FLEETSYNTH_CACHE_DIR`, `XDG_CACHE_HOME` of the given env. */
export function cacheOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): CacheOptions {
  return {
    ...(env.FLEETSYNTH_CACHE === 'off' ? { off: true } : {}),
    ...(env.FLEETSYNTH_CACHE_DIR ? { dir: env.FLEETSYNTH_CACHE_DIR } : {}),
    ...(env.XDG_CACHE_HOME ? { userCacheHome: env.XDG_CACHE_HOME } : {}),
  };
}

/** Batches smaller than this skip the output cache: loading it costs more than rendering them. */
export const CACHE_MIN_BATCH = 64;

const FORMAT = 4;
/** Entries of the live service's files: their paths, and the document part of their key. */
const PLATFORM_PREFIX = 'platform/';
const PLATFORM_KEY = 'platform';
/** At most this many changed entries go to the journal; more rewrite the cache file. */
const JOURNAL_MAX_ENTRIES = 2000;
/** Entries not seen for this many saved runs are dropped (bots that left the fleet). */
const MAX_AGE = 20;
/** A seen entry's mark is refreshed once it is this many saved runs old. */
const REFRESH_AGE = MAX_AGE / 2;
/** Cache files kept besides the current one, and for how long (one file per output directory). */
const MAX_CACHE_FILES = 100;
const MAX_CACHE_FILE_AGE_MS = 14 * 24 * 3600 * 1000;

/** [`<settings id>:<input hash>`, size, mtimeMs, ino, objects, generation last seen, warnings of the document] */
type Entry = [string, number, number, number, number, number, string[]?];

interface CacheFile {
  format: number;
  /** Random id of this version of the file: journal lines of another epoch are ignored. */
  epoch?: string;
  outDir: string;
  code: string;
  generation: number;
  entries: Record<string, Entry>;
  /** Shape templates per settings id (plain data, as render threads hand them over): a run that renders a few bots of known shapes needs no cdk8s. */
  templates?: Record<string, TemplateEntries>;
}

/** A TemplateCache's entries (see template.ts). */
export type TemplateEntries = ReadonlyArray<[string, ShapeTemplate | null]>;

/** The input hash of a source document (see OutputCache.docKey). */
export function documentKey(raw: unknown, collection: Collection): string {
  // The collection as a prefix of the hash, not of the hashed text: no copy of the JSON. A
  // document still in its source's bytes is hashed as those bytes, undecoded: the same bytes
  // are the same document (and compact JSON hashes as its JSON.stringify does).
  const hash = raw instanceof RawDocument ? crypto.createHash('sha256').update(raw.bytes).digest('hex') : sha256(JSON.stringify(raw));
  return (collection === 'bots' ? 'b' : 's') + hash;
}

/** Per-output-directory render cache; see the module comment. */
export class OutputCache {
  private readonly entries: Map<string, Entry>;
  private readonly shapeTemplates: Map<string, TemplateEntries>;
  private readonly generation: number;
  private dirty = false;
  /** Entries changed since the cache was opened (what a journal line holds). */
  private readonly changed = new Set<string>();
  /** The next save rewrites the cache file: no valid file was read, templates changed, or the journal grew too long. */
  private rewrite: boolean;
  /** Document hash (without the settings id) → file, built on first use. */
  private byDoc?: Map<string, string>;

  private constructor(
    private readonly file: string,
    private readonly header: Omit<CacheFile, 'entries' | 'generation' | 'epoch'>,
    previous: CacheFile | undefined,
    journal: { generation: number; bytes: number; fileBytes: number } | undefined,
  ) {
    this.entries = new Map(previous ? Object.entries(previous.entries) : []);
    this.shapeTemplates = new Map(previous?.templates && typeof previous.templates === 'object' ? Object.entries(previous.templates) : []);
    this.generation = Math.max(previous?.generation ?? 0, journal?.generation ?? 0) + 1;
    this.epoch = previous?.epoch;
    this.rewrite = previous === undefined || this.epoch === undefined || (journal !== undefined && journal.bytes * 4 > journal.fileBytes);
  }

  /** The epoch of the cache file read (journal lines name it). */
  private epoch: string | undefined;

  /** The cache of an output directory, or undefined when caching is off or impossible. */
  static open(outDir: string, opts: CacheOptions = {}): OutputCache | undefined {
    if (opts.off) return undefined;
    const dir = cacheDir(opts);
    if (dir === undefined) return undefined;
    let abs = path.resolve(outDir);
    try {
      abs = fs.realpathSync(abs);
    } catch {
      // Not created yet: the resolved path names it.
    }
    const file = path.join(dir, `${sha256(abs).slice(0, 32)}.json`);
    const header = { format: FORMAT, outDir: abs, code: codeHash() };
    let previous: CacheFile | undefined;
    let fileBytes = 0;
    try {
      const text = fs.readFileSync(file, 'utf8');
      fileBytes = text.length;
      const data = JSON.parse(text) as CacheFile;
      const valid =
        data.format === header.format && data.outDir === header.outDir && data.code === header.code &&
        typeof data.entries === 'object' && data.entries !== null && Number.isInteger(data.generation);
      if (valid) previous = data;
    } catch {
      // Missing or unreadable: start empty.
    }
    const journal = previous && typeof previous.epoch === 'string' ? replayJournal(`${file}.log`, previous) : undefined;
    return new OutputCache(file, header, previous, journal && { ...journal, fileBytes });
  }

  /** The input key of a bot rendered with `settings` (the code is in the cache header). */
  keyOf(spec: BotSpec, settings: RenderSettings): string {
    return `${settingsId(settings)}:${spec.sourceHash ?? sha256(JSON.stringify(spec))}`;
  }

  /**
   * The input hash of a source document: the bot it validates to is a function of the document,
   * its collection and the settings (in the header). The document is hashed as JSON: a BSON
   * value changing type but not its JSON text (a Date becoming the same ISO string) is not seen.
   */
  docKey(raw: unknown, collection: Collection): string {
    return documentKey(raw, collection);
  }

  /**
   * What the cache knows of the document with this key (docKey): its file, when that file still is
   * exactly what was written for the same document (so it needs neither validation nor rendering)
   * with `settings` — or, when `settings` is `any`, with whichever settings (`renderedWith` says
   * which: a rollout decides per bot after reading every document).
   */
  known(outDir: string, key: string, settings: RenderSettings | 'any'): KnownBot | undefined {
    if (this.byDoc === undefined) {
      this.byDoc = new Map();
      for (const [relPath, e] of this.entries) this.byDoc.set(docPart(e[0]), relPath);
    }
    const relPath = this.byDoc.get(key);
    if (relPath === undefined) return undefined;
    const stored = this.entries.get(relPath)?.[0];
    if (stored === undefined || docPart(stored) !== key) return undefined;
    const renderedWith = stored.slice(0, stored.length - key.length - 1);
    if (settings !== 'any' && renderedWith !== settingsId(settings)) return undefined;
    const objects = this.lookup(outDir, relPath, stored);
    if (objects === undefined) return undefined;
    const m = BOT_FILE_PATTERN.exec(path.posix.basename(relPath));
    if (!m) return undefined;
    const id = m[2];
    const kind = m[1] === 'bot' ? 'realtime' : 'scheduled';
    return { id, kind, objectName: objectNameOf(kind, id), relPath, objects, warnings: this.entries.get(relPath)![6] ?? [], renderedWith };
  }

  /**
   * The number of objects in the file at `relPath` when it was written for exactly this input
   * and has not been touched since; undefined otherwise.
   */
  lookup(outDir: string, relPath: string, key: string): number | undefined {
    const e = this.entries.get(relPath);
    if (!Array.isArray(e) || e[0] !== key) return undefined;
    const st = fs.lstatSync(`${outDir}/${relPath}`, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile() || st.size !== e[1] || st.mtimeMs !== e[2] || st.ino !== e[3]) return undefined;
    // "Seen" marks are refreshed only when they get old, so a run that changes nothing does not
    // rewrite the cache file (the generation only advances when the cache is saved).
    if (this.generation - e[5] >= REFRESH_AGE) {
      e[5] = this.generation;
      this.touch(relPath);
    }
    return e[4];
  }

  /** What the cache holds for a file: its input key, stamp, objects and warnings (undefined: nothing). */
  entry(relPath: string): { key: string; stamp: FileStamp; objects: number; warnings: readonly string[] } | undefined {
    const e = this.entries.get(relPath);
    return Array.isArray(e) ? { key: e[0], stamp: { size: e[1], mtimeMs: e[2], ino: e[3] }, objects: e[4], warnings: e[6] ?? [] } : undefined;
  }

  /** Remembers a file just written or verified for this input. */
  record(relPath: string, key: string, stamp: FileStamp, objects: number, warnings: readonly string[] = []): void {
    const e: Entry = [key, stamp.size, stamp.mtimeMs, stamp.ino, objects, this.generation];
    if (warnings.length > 0) e.push([...warnings]);
    this.entries.set(relPath, e);
    this.byDoc?.set(docPart(key), relPath);
    this.touch(relPath);
  }

  /**
   * The live service's files (`platform/`), when every one was written with these settings and is
   * untouched: their count and objects (they need not be rendered, so cdk8s need not load).
   */
  platform(outDir: string, settings: RenderSettings): { files: number; objects: number } | undefined {
    const key = `${settingsId(settings)}:${PLATFORM_KEY}`;
    let files = 0;
    let objects = 0;
    for (const relPath of this.entries.keys()) {
      if (!relPath.startsWith(PLATFORM_PREFIX)) continue;
      const n = this.lookup(outDir, relPath, key);
      if (n === undefined) return undefined;
      files++;
      objects += n;
    }
    return files > 0 ? { files, objects } : undefined;
  }

  /** Remembers the live service's files just written or verified with these settings (and only those). */
  recordPlatform(settings: RenderSettings, files: ReadonlyArray<{ relPath: string; stamp: FileStamp; objects: number }>): void {
    for (const relPath of [...this.entries.keys()]) {
      if (relPath.startsWith(PLATFORM_PREFIX) && this.entries.delete(relPath)) this.touch(relPath);
    }
    const key = `${settingsId(settings)}:${PLATFORM_KEY}`;
    for (const f of files) {
      this.entries.set(f.relPath, [key, f.stamp.size, f.stamp.mtimeMs, f.stamp.ino, f.objects, this.generation]);
      this.touch(f.relPath);
    }
  }

  /** The shape templates kept for these settings (built by an earlier run with the same code). */
  templates(settings: RenderSettings): TemplateEntries | undefined {
    const t = this.shapeTemplates.get(settingsId(settings));
    return Array.isArray(t) ? t : undefined;
  }

  /** Keeps the shape templates of these settings for later runs. */
  recordTemplates(settings: RenderSettings, entries: TemplateEntries): void {
    this.shapeTemplates.set(settingsId(settings), entries);
    this.dirty = true;
    this.rewrite = true;
  }

  /** Forgets a file (its bot failed, leaked or was not written). */
  forget(relPath: string): void {
    if (this.entries.delete(relPath)) this.touch(relPath);
  }

  private touch(relPath: string): void {
    this.dirty = true;
    if (!this.rewrite) this.changed.add(relPath);
    if (this.changed.size > JOURNAL_MAX_ENTRIES) {
      this.rewrite = true;
      this.changed.clear();
    }
  }

  /** Writes the cache (atomically); failures only cost the next run its fast path. */
  save(): void {
    if (!this.dirty) return;
    const now = Date.now();
    if (!this.rewrite && this.epoch !== undefined) {
      // A journal line: the changed entries (a racy one is dropped, like in the file).
      const entries: Record<string, Entry | null> = {};
      for (const relPath of this.changed) {
        const e = this.entries.get(relPath);
        entries[relPath] = e && settled(e[2], now) ? e : null;
      }
      try {
        fs.appendFileSync(`${this.file}.log`, JSON.stringify({ epoch: this.epoch, generation: this.generation, entries }) + '\n');
        this.dirty = false;
        this.changed.clear();
        return;
      } catch {
        // Fall through to a rewrite.
      }
    }
    const entries: Record<string, Entry> = {};
    for (const [relPath, e] of this.entries) {
      if (this.generation - e[5] < MAX_AGE && settled(e[2], now)) entries[relPath] = e;
    }
    // Templates only of settings some kept file was rendered with.
    const used = new Set<string>();
    for (const e of Object.values(entries)) used.add(e[0].slice(0, e[0].indexOf(':')));
    const templates: Record<string, TemplateEntries> = {};
    for (const [sid, t] of this.shapeTemplates) if (used.has(sid)) templates[sid] = t;
    const epoch = crypto.randomBytes(8).toString('hex');
    const data: CacheFile = { ...this.header, epoch, generation: this.generation, entries, templates };
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(data));
      fs.renameSync(tmp, this.file);
      // Lines of the old epoch would be ignored anyway; the journal starts again.
      fs.rmSync(`${this.file}.log`, { force: true });
      this.epoch = epoch;
      this.rewrite = false;
      this.changed.clear();
      this.dirty = false;
    } catch {
      fs.rmSync(tmp, { force: true });
    }
    pruneCacheDir(path.dirname(this.file), this.file);
  }
}

/**
 * Applies the journal lines of the cache file's epoch to its entries, in order; stops at a line
 * that does not parse (a torn write). Undefined when there is no journal.
 */
function replayJournal(logFile: string, data: CacheFile): { generation: number; bytes: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  let generation = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: { epoch?: unknown; generation?: unknown; entries?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      break;
    }
    if (rec.epoch !== data.epoch || !Number.isInteger(rec.generation) || typeof rec.entries !== 'object' || rec.entries === null) continue;
    for (const [relPath, e] of Object.entries(rec.entries as Record<string, Entry | null>)) {
      if (e === null) delete data.entries[relPath];
      else if (Array.isArray(e)) data.entries[relPath] = e;
    }
    generation = Math.max(generation, rec.generation as number);
  }
  return { generation, bytes: text.length };
}

/** When a cache file was last saved: its own mtime, or its journal's (a run that only appended). */
function lastUsed(file: string): number {
  const own = fs.statSync(file).mtimeMs;
  try {
    return Math.max(own, fs.statSync(`${file}.log`).mtimeMs);
  } catch {
    return own;
  }
}

/** Keeps the cache directory bounded: files of output directories not synthesized for weeks go. */
function pruneCacheDir(dir: string, keep: string): void {
  try {
    const now = Date.now();
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => path.join(dir, f))
      .filter((f) => f !== keep)
      .map((f) => ({ f, mtime: lastUsed(f) }))
      .sort((a, b) => b.mtime - a.mtime);
    files.forEach(({ f, mtime }, i) => {
      if (i >= MAX_CACHE_FILES || now - mtime > MAX_CACHE_FILE_AGE_MS) {
        fs.rmSync(f, { force: true });
        fs.rmSync(`${f}.log`, { force: true });
      }
    });
  } catch {
    // Best effort.
  }
}

// One-shot hashing where Node has it (20.12+), else a Hash object.
const hashHex: (s: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (s) => (crypto as unknown as { hash: (alg: string, data: string) => string }).hash('sha256', s)
    : (s) => crypto.createHash('sha256').update(s).digest('hex');

function sha256(s: string): string {
  return hashHex(s);
}

const settingsIds = new WeakMap<RenderSettings, string>();

/**
 * A short id of what a settings object renders (the prefix of every entry key made with it): its
 * render inputs, keys sorted, and its generation. Two objects that render alike share it: the old
 * generation's settings rebuilt from `rollout.json` and the settings it was first rendered with.
 */
export function settingsId(settings: RenderSettings): string {
  let id = settingsIds.get(settings);
  if (id === undefined) settingsIds.set(settings, (id = sha256(`${settings.generation ?? ''}\0${JSON.stringify(renderInputs(settings))}`).slice(0, 16)));
  return id;
}

/** The document part of an entry key (`<settings id>:<document hash>`). */
export function docPart(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}

/** Cache directories found, by the options that chose them (null: none writable). */
const cachedDirs = new Map<string, string | null>();

/** The cache directory (created), or undefined when none is writable. */
function cacheDir(opts: CacheOptions): string | undefined {
  const memoKey = `${opts.dir ?? ''}\0${opts.userCacheHome ?? ''}`;
  const known = cachedDirs.get(memoKey);
  if (known !== undefined) return known ?? undefined;
  const candidates: string[] = [];
  if (opts.dir) candidates.push(opts.dir);
  const root = packageRoot();
  if (root !== undefined) {
    // Installed as a dependency: <project>/node_modules/fleetsynth → <project>/node_modules/.cache.
    if (path.basename(path.dirname(root)) === 'node_modules') candidates.push(path.join(path.dirname(root), '.cache', 'fleetsynth'));
    else if (fs.existsSync(path.join(root, 'node_modules'))) candidates.push(path.join(root, 'node_modules', '.cache', 'fleetsynth'));
  }
  candidates.push(path.join(opts.userCacheHome || path.join(os.homedir(), '.cache'), 'fleetsynth'));
  for (const dir of candidates) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      cachedDirs.set(memoKey, dir);
      return dir;
    } catch {
      // Try the next one.
    }
  }
  cachedDirs.set(memoKey, null);
  return undefined;
}

/** fleetsynth's package directory (the one with its package.json). */
function packageRoot(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'fleetsynth') return dir;
    } catch {
      // Not here.
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

let cachedCode: string | undefined;

/**
 * A hash of everything besides the bot and the settings that shapes a rendered file: every
 * source file of fleetsynth as it runs (lib/src compiled, or src under ts-node/jest), the
 * rendering libraries' versions, the Node version and cdk8s's key-sorting switch.
 */
export function codeHash(): string {
  if (cachedCode !== undefined) return cachedCode;
  const h = crypto.createHash('sha256');
  h.update(`${process.version}\0${process.env.CDK8S_DISABLE_SORT ?? ''}\0`);
  for (const pkg of ['cdk8s', 'cdk8s-plus-28', 'constructs', 'yaml']) h.update(`${pkg}@${packageVersion(pkg)}\0`);
  const srcRoot = path.resolve(__dirname, '..');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(js|ts|cjs|mjs|json)$/.test(e.name) && !e.name.endsWith('.map')) files.push(p);
    }
  };
  walk(srcRoot);
  for (const f of files.sort()) h.update(`${path.relative(srcRoot, f)}\0`).update(fs.readFileSync(f)).update('\0');
  cachedCode = h.digest('hex');
  return cachedCode;
}

function packageVersion(name: string): string {
  try {
    for (let dir = path.dirname(require.resolve(name)); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? '?';
    }
  } catch {
    // Not resolvable: part of the hash as unknown.
  }
  return '?';
}
