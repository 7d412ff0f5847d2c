import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as jsyaml from 'js-yaml';
import { FLEETSYNTH_LABEL } from '../constructs/pod';
import type { FleetDocuments } from '../model/document';
import { REDACTED } from '../model/secrets';
import { mayRemove } from '../model/fleet';
import type { RenderSettings } from '../settings';
import { BOTS_DIR, BOT_FILE_PATTERN } from '../synth/shard';
import { SynthResult, synthesize } from '../synth/synth';
import { listBotFiles } from '../synth/writer';
import { GitError, gitEnv, redactUrl, runGit } from './workspace';

/** Directory under the output root with the live service's own manifests. */
export const PLATFORM_DIR = 'platform';

const MANAGED_MARK = `${Object.keys(FLEETSYNTH_LABEL)[0]}: ${Object.values(FLEETSYNTH_LABEL)[0]}`;
const CONFIG_ANNOTATION = 'fleetsynth.io/config';
const CONFIG_HASH = 'the0.app/config-hash';
const SCHEDULE_HASH = 'the0.app/schedule-hash';
const RUNTIME_LABEL = 'the0.app/runtime';
const VERSION_LABEL = 'the0.app/custom-bot-version';
const ENTRYPOINT_ENV: Record<string, string> = { ENTRYPOINT: 'bot', QUERY_ENTRYPOINT: 'query' };
const REDACTED_JSON = JSON.stringify(REDACTED);
const MAX_VALUE = 120;
const MAX_OTHER = 20;
/** Field changes shown per file in markdown, so one bot cannot fill a pull-request comment. */
const MAX_MD_CHANGES = 40;

/** What a file holds: a realtime bot, a schedule or a platform manifest. */
export type EntryKind = 'bot' | 'schedule' | 'platform';
/** What happened to it. */
export type EntryStatus = 'added' | 'removed' | 'changed';
/** The reviewable aspects of a bot; `other` is any remaining YAML difference. */
export type ChangeField = 'path' | 'image' | 'runtime' | 'version' | 'schedule' | 'resources' | 'entrypoints' | 'config' | 'secret' | 'other';

const FIELD_ORDER: readonly ChangeField[] = ['path', 'image', 'runtime', 'version', 'schedule', 'resources', 'entrypoints', 'config', 'secret', 'other'];

/** One change of one field. Values are display text taken from the rendered files, which hold no secret. */
export interface FieldChange {
  readonly field: ChangeField;
  /** Which part: container resource, entrypoint, config key path, object path. */
  readonly key?: string;
  /** Old value; absent when there was none or it must not be shown. */
  readonly from?: string;
  /** New value; absent when there is none or it must not be shown. */
  readonly to?: string;
  /** Instead of or beside values: `added`, `removed`, `secret changed`, `secret added`, … */
  readonly note?: string;
}

/** One file's change. */
export interface DiffEntry {
  /** Path under the output root (the base path when removed). */
  readonly path: string;
  /** Previous path when the file moved (shard count changed). */
  readonly basePath?: string;
  readonly kind: EntryKind;
  /** Bot or schedule id. */
  readonly id?: string;
  readonly status: EntryStatus;
  /** For changed files: what changed; for added/removed ones: their key facts. */
  readonly changes: FieldChange[];
}

/** Everything that differs between a base tree and a render. */
export interface FleetDiff {
  /** What was compared against, e.g. `HEAD:dist` (credentials redacted). */
  readonly base: string;
  /** Changed files, sorted by path. */
  readonly entries: DiffEntry[];
  /** Files of failed bots that stay as they are (never reported as removed). */
  readonly kept: string[];
  readonly summary: { readonly added: number; readonly changed: number; readonly removed: number; readonly unchanged: number; readonly kept: number };
}

/** Options of `diffTrees`. */
export interface DiffOptions {
  /** Label of the base in reports. */
  readonly base?: string;
  /** Ids whose documents failed: their base files are kept, not removed. */
  readonly failedIds?: ReadonlySet<string>;
  /** Only these bot ids are compared (a partial render); platform files are then skipped. */
  readonly onlyIds?: ReadonlySet<string>;
  /** Every base bot file missing from the render is kept, not removed (a document of unknown owner). */
  readonly keepAll?: boolean;
  /** Compare platform files; default: when the current tree has any. */
  readonly platform?: boolean;
}

/** Raised when the base cannot be read. */
export class DiffBaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiffBaseError';
  }
}

// ---------------------------------------------------------------------------------------------
// Reading trees

interface Classified {
  readonly key: string;
  readonly kind: EntryKind;
  readonly id?: string;
}

/** Which managed file a path under the output root is, if any. Bot files match by name, so a shard move is a change. */
export function classifyPath(relPath: string): Classified | undefined {
  const parts = relPath.split('/');
  if (parts.length === 3 && parts[0] === BOTS_DIR) {
    const m = BOT_FILE_PATTERN.exec(parts[2]);
    if (m) return { key: `${BOTS_DIR}:${parts[2]}`, kind: m[1] === 'bot' ? 'bot' : 'schedule', id: m[2] };
    return undefined;
  }
  if (parts.length >= 2 && parts[0] === PLATFORM_DIR && relPath.endsWith('.yaml')) return { key: relPath, kind: 'platform' };
  return undefined;
}

const isManagedText = (text: string) => text.includes(MANAGED_MARK);

/** Managed files (bot files and platform manifests) under an output root on disk. */
export function readTreeFromDir(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const add = (rel: string) => {
    const text = fs.readFileSync(path.join(root, rel), 'utf8');
    if (isManagedText(text)) out.set(rel, text);
  };
  for (const f of listBotFiles(root)) add(f.relPath);
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && e.name.endsWith('.yaml')) add(child);
    }
  };
  walk(PLATFORM_DIR);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Managed files under `subPath` of a commit, read from the object database (`ls-tree` + `cat-file
 * --batch`) without touching any working tree. A ref without that path gives an empty tree.
 */
export async function readTreeFromGit(repoDir: string, ref: string, subPath: string): Promise<Map<string, string>> {
  let top: string;
  let prefix: string;
  try {
    const bare = (await runGit(repoDir, ['rev-parse', '--is-bare-repository'])).stdout.trim() === 'true';
    top = bare ? repoDir : (await runGit(repoDir, ['rev-parse', '--show-toplevel'])).stdout.trim();
    prefix = bare ? '' : (await runGit(repoDir, ['rev-parse', '--show-prefix'])).stdout.trim();
  } catch (e) {
    throw new DiffBaseError(`${repoDir} is not inside a git repository (${(e as Error).message}); pass --base <dir> to compare with a directory`);
  }
  const inRepo = path.posix.normalize(path.posix.join(prefix, subPath.replace(/\\/g, '/'))).replace(/\/+$/, '');
  if (inRepo === '..' || inRepo.startsWith('../')) throw new DiffBaseError(`${subPath} is outside the repository ${top}`);
  const tree = await runGit(top, ['rev-parse', '-q', '--verify', `${ref}^{tree}`], { allowFail: true });
  if (tree.code !== 0) throw new DiffBaseError(`git ref "${ref}" not found in ${top}`);
  const root = inRepo === '.' || inRepo === '' ? '' : `${inRepo}/`;
  const ls = await runGit(top, ['ls-tree', '-r', '-z', '--full-tree', tree.stdout.trim(), '--', ...(root ? [inRepo] : [])]);
  const wanted: { rel: string; sha: string }[] = [];
  for (const rec of ls.stdout.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, sha] = rec.slice(0, tab).split(' ');
    const full = rec.slice(tab + 1);
    if (type !== 'blob' || mode === '120000' || !full.startsWith(root)) continue;
    const rel = full.slice(root.length);
    if (classifyPath(rel)) wanted.push({ rel, sha });
  }
  const texts = await catBlobs(top, wanted.map((w) => w.sha));
  const out = new Map<string, string>();
  wanted.forEach((w, i) => {
    if (isManagedText(texts[i])) out.set(w.rel, texts[i]);
  });
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Reads blobs in one `git cat-file --batch` process. */
function catBlobs(cwd: string, shas: readonly string[]): Promise<string[]> {
  if (shas.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => reject(new GitError(['cat-file', '--batch'], null, e.message)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitError(['cat-file', '--batch'], code, redactUrl(stderr)));
      const buf = Buffer.concat(chunks);
      const out: string[] = [];
      let pos = 0;
      for (let i = 0; i < shas.length; i++) {
        const nl = buf.indexOf(10, pos);
        const header = buf.toString('utf8', pos, nl).split(' ');
        if (header[1] !== 'blob') return reject(new GitError(['cat-file', '--batch'], code, `unexpected object ${header.join(' ')}`));
        const size = Number(header[2]);
        out.push(buf.toString('utf8', nl + 1, nl + 1 + size));
        pos = nl + 1 + size + 1;
      }
      resolve(out);
    });
    child.stdin.end(shas.join('\n') + '\n');
  });
}

// ---------------------------------------------------------------------------------------------
// Comparing

/** Compares two trees of managed files (path under the output root → text). */
export function diffTrees(base: ReadonlyMap<string, string>, current: ReadonlyMap<string, string>, opts: DiffOptions = {}): FleetDiff {
  const only = opts.onlyIds;
  const platform = !only && (opts.platform ?? [...current.keys()].some((k) => k.startsWith(`${PLATFORM_DIR}/`)));
  const index = (tree: ReadonlyMap<string, string>) => {
    const m = new Map<string, Classified & { path: string; text: string }>();
    for (const [p, text] of tree) {
      const c = classifyPath(p);
      if (!c) continue;
      if (c.kind === 'platform' ? !platform : only && !only.has(c.id!)) continue;
      m.set(c.key, { ...c, path: p, text });
    }
    return m;
  };
  const a = index(base);
  const b = index(current);
  const entries: DiffEntry[] = [];
  const kept: string[] = [];
  let unchanged = 0;
  for (const [key, cur] of b) {
    const old = a.get(key);
    if (!old) {
      entries.push({ path: cur.path, kind: cur.kind, id: cur.id, status: 'added', changes: keyFacts(cur.text, 'to') });
      continue;
    }
    if (old.text === cur.text && old.path === cur.path) {
      unchanged++;
      continue;
    }
    const changes: FieldChange[] = old.path !== cur.path ? [{ field: 'path', from: old.path, to: cur.path }] : [];
    if (old.text !== cur.text) changes.push(...compareFiles(old.text, cur.text));
    entries.push({ path: cur.path, ...(old.path !== cur.path ? { basePath: old.path } : {}), kind: cur.kind, id: cur.id, status: 'changed', changes });
  }
  for (const [key, old] of a) {
    if (b.has(key)) continue;
    if (old.id !== undefined && (opts.keepAll || opts.failedIds?.has(old.id))) {
      kept.push(old.path);
      continue;
    }
    entries.push({ path: old.path, kind: old.kind, id: old.id, status: 'removed', changes: keyFacts(old.text, 'from') });
  }
  entries.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  kept.sort();
  const count = (s: EntryStatus) => entries.filter((e) => e.status === s).length;
  return {
    base: redactUrl(opts.base ?? 'base'),
    entries,
    kept,
    summary: { added: count('added'), changed: count('changed'), removed: count('removed'), unchanged, kept: kept.length },
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const get = (v: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), v);

interface Facts {
  readonly objects: Map<string, Obj>;
  readonly image?: string;
  readonly runtime?: string;
  readonly version?: string;
  readonly schedule?: string;
  readonly resources: Map<string, string>;
  /** Container names as used in `resources` keys. */
  readonly containers: Set<string>;
  /** Container of each `resources` key. */
  readonly resourceOwner: Map<string, string>;
  readonly entrypoints: Map<string, string>;
  readonly config?: Map<string, string>;
  readonly hash?: string;
}

/** Pod templates of an object, with a label naming the object. */
function podTemplates(o: Obj): Obj[] {
  const t = o.kind === 'CronJob' ? get(o, 'spec', 'jobTemplate', 'spec', 'template') : o.kind === 'Pod' ? o : get(o, 'spec', 'template');
  return isObj(t) && isObj(t.spec) ? [t] : [];
}

function containersOf(template: Obj): Obj[] {
  const spec = template.spec as Obj;
  return [spec.initContainers, spec.containers].flatMap((l) => (Array.isArray(l) ? l.filter(isObj) : []));
}

function parseObjects(text: string): Map<string, Obj> | undefined {
  try {
    const objects = new Map<string, Obj>();
    // Core schema: no timestamps or other types that are not JSON; faster too.
    jsyaml.loadAll(text, (doc) => {
      if (!isObj(doc)) return;
      const name = `${String(doc.kind ?? '?')}/${String(get(doc, 'metadata', 'name') ?? '?')}`;
      objects.set(objects.has(name) ? `${name}#${objects.size}` : name, doc);
    }, { schema: jsyaml.CORE_SCHEMA });
    return objects;
  } catch {
    return undefined;
  }
}

function factsOf(objects: Map<string, Obj>): Facts {
  const images = new Set<string>();
  const resources = new Map<string, string>();
  const containers = new Set<string>();
  const resourceOwner = new Map<string, string>();
  const entrypoints = new Map<string, string>();
  let runtime: string | undefined;
  let version: string | undefined;
  let schedule: string | undefined;
  let config: Map<string, string> | undefined;
  let hash: string | undefined;
  const templates = [...objects].flatMap(([name, o]) => podTemplates(o).map((t) => ({ name, t })));
  for (const [, o] of objects) {
    const labels = get(o, 'metadata', 'labels');
    runtime ??= str(get(labels, RUNTIME_LABEL));
    version ??= str(get(labels, VERSION_LABEL));
    if (o.kind === 'CronJob') schedule ??= str(get(o, 'spec', 'schedule'));
    hash ??= str(get(o, 'metadata', 'annotations', SCHEDULE_HASH));
  }
  for (const { name, t } of templates) {
    const annotations = get(t, 'metadata', 'annotations');
    hash ??= str(get(annotations, CONFIG_HASH));
    const cfg = str(get(annotations, CONFIG_ANNOTATION));
    if (cfg !== undefined && config === undefined) {
      try {
        config = flatten(JSON.parse(cfg));
      } catch {
        config = new Map([['(unparsable)', JSON.stringify(cfg)]]);
      }
    }
    for (const c of containersOf(t)) {
      const cname = templates.length > 1 ? `${name}:${String(c.name)}` : String(c.name);
      containers.add(cname);
      if (typeof c.image === 'string') images.add(c.image);
      for (const [k, v] of flatten(c.resources ?? {})) {
        resources.set(`${cname}.${k}`, v.replace(/^"(.*)"$/, '$1'));
        resourceOwner.set(`${cname}.${k}`, cname);
      }
      for (const e of Array.isArray(c.env) ? c.env.filter(isObj) : []) {
        const ep = ENTRYPOINT_ENV[String(e.name)];
        if (ep && typeof e.value === 'string' && !entrypoints.has(ep)) entrypoints.set(ep, e.value);
      }
    }
  }
  return { objects, image: images.size ? [...images].sort().join(', ') : undefined, runtime, version, schedule, resources, containers, resourceOwner, entrypoints, config, hash };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : v === undefined || v === null ? undefined : String(v));

/** Flattens JSON to leaf paths → compact JSON (arrays and empty objects are leaves). */
function flatten(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (isObj(v) && Object.keys(v).length > 0) {
    for (const k of Object.keys(v).sort()) flatten(v[k], joinKey(prefix, k), out);
  } else if (prefix !== '') {
    out.set(prefix, JSON.stringify(v) ?? 'null');
  } else if (!isObj(v)) {
    out.set('(value)', JSON.stringify(v) ?? 'null');
  }
  return out;
}

const joinKey = (prefix: string, k: string) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? (prefix ? `${prefix}.${k}` : k) : `${prefix}[${JSON.stringify(k)}]`);

const clip = (s: string) => (s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s);

/** Facts of an added (`to`) or removed (`from`) file. */
function keyFacts(text: string, side: 'from' | 'to'): FieldChange[] {
  const objects = parseObjects(text);
  if (!objects) return [];
  const f = factsOf(objects);
  const out: FieldChange[] = [];
  const add = (field: ChangeField, v: string | undefined) => v !== undefined && out.push({ field, [side]: clip(v) });
  add('image', f.image);
  add('runtime', f.runtime);
  add('version', f.version);
  add('schedule', f.schedule);
  for (const [k, v] of f.entrypoints) out.push({ field: 'entrypoints', key: k, [side]: clip(v) });
  return out;
}

/** Field-by-field comparison of two versions of one file. */
export function compareFiles(oldText: string, newText: string): FieldChange[] {
  const ao = parseObjects(oldText);
  const bo = parseObjects(newText);
  if (!ao || !bo) return [{ field: 'other', note: 'not parsable as YAML; contents differ' }];
  const a = factsOf(ao);
  const b = factsOf(bo);
  const out: FieldChange[] = [];
  const scalar = (field: ChangeField, x?: string, y?: string) => {
    if (x !== y) out.push({ field, ...(x !== undefined ? { from: clip(x) } : {}), ...(y !== undefined ? { to: clip(y) } : {}), ...(x === undefined ? { note: 'added' } : y === undefined ? { note: 'removed' } : {}) });
  };
  scalar('image', a.image, b.image);
  scalar('runtime', a.runtime, b.runtime);
  scalar('version', a.version, b.version);
  scalar('schedule', a.schedule, b.schedule);
  // Resources of a container that only one side has are part of that container's "other" entry.
  const both = (k: string) => {
    const owner = a.resourceOwner.get(k) ?? b.resourceOwner.get(k)!;
    return a.containers.has(owner) && b.containers.has(owner);
  };
  mapChanges('resources', filterKeys(a.resources, both), filterKeys(b.resources, both), out);
  mapChanges('entrypoints', a.entrypoints, b.entrypoints, out);
  if (a.config && b.config) {
    configChanges(a.config, b.config, out);
    const visibleEqual = mapsEqual(a.config, b.config);
    if (visibleEqual && a.hash !== b.hash && a.version === b.version) {
      // The hash covers config, custom bot version and enabled flag. A schedule's manifest does
      // not show the custom bot version, so there a changed hash may be that version.
      const secret = [...b.config.values()].includes(REDACTED_JSON);
      if (secret && a.version !== undefined) out.push({ field: 'secret', note: 'secret changed' });
      else if (secret) out.push({ field: 'secret', note: 'secret or custom bot version changed' });
      else {
        const note = a.version !== undefined ? 'config hash changed with the same visible config' : 'config hash changed with the same visible config (custom bot version?)';
        out.push({ field: 'other', key: 'config hash', from: a.hash, to: b.hash, note });
      }
    }
  } else if (a.config || b.config) {
    out.push({ field: 'config', note: a.config ? 'config annotation removed' : 'config annotation added' });
  }
  const other: FieldChange[] = [];
  const sa = stripCovered(a.objects);
  const sb = stripCovered(b.objects);
  for (const name of [...new Set([...sa.keys(), ...sb.keys()])].sort()) deepDiff(sa.get(name), sb.get(name), name, other);
  if (other.length > MAX_OTHER) {
    const n = other.length - MAX_OTHER;
    other.length = MAX_OTHER;
    other.push({ field: 'other', note: `… and ${n} more` });
  }
  out.push(...other);
  if (out.length === 0) out.push({ field: 'other', note: 'formatting only' });
  return out.sort((x, y) => FIELD_ORDER.indexOf(x.field) - FIELD_ORDER.indexOf(y.field));
}

const filterKeys = (m: Map<string, string>, keep: (k: string) => boolean) => new Map([...m].filter(([k]) => keep(k)));

function mapChanges(field: ChangeField, a: Map<string, string>, b: Map<string, string>, out: FieldChange[]): void {
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    out.push({ field, key: k, ...(x !== undefined ? { from: clip(x) } : { note: 'added' }), ...(y !== undefined ? { to: clip(y) } : { note: 'removed' }) });
  }
}

function mapsEqual(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Config key changes; a redacted value is only ever described, never shown (it is `<secret>` anyway). */
function configChanges(a: Map<string, string>, b: Map<string, string>, out: FieldChange[]): void {
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    const xs = x === REDACTED_JSON;
    const ys = y === REDACTED_JSON;
    if (xs || ys) {
      const note = x === undefined ? 'secret added' : y === undefined ? 'secret removed' : xs ? 'no longer secret' : 'now secret';
      out.push({ field: 'config', key: k, note });
    } else if (x === undefined) out.push({ field: 'config', key: k, note: 'added', to: clip(y!) });
    else if (y === undefined) out.push({ field: 'config', key: k, note: 'removed', from: clip(x) });
    else out.push({ field: 'config', key: k, from: clip(x), to: clip(y) });
  }
}

/** Removes (in place: the facts were taken already) what the named fields report. */
function stripCovered(objects: Map<string, Obj>): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const [name, c] of objects) {
    const dropKeys = (m: unknown, keys: string[]) => isObj(m) && keys.forEach((k) => delete m[k]);
    dropKeys(get(c, 'metadata', 'labels'), [RUNTIME_LABEL, VERSION_LABEL]);
    dropKeys(get(c, 'metadata', 'annotations'), [SCHEDULE_HASH, CONFIG_HASH]);
    if (c.kind === 'CronJob') dropKeys(c.spec, ['schedule']);
    for (const t of podTemplates(c)) {
      dropKeys(get(t, 'metadata', 'labels'), [RUNTIME_LABEL, VERSION_LABEL]);
      dropKeys(get(t, 'metadata', 'annotations'), [CONFIG_HASH, CONFIG_ANNOTATION]);
      for (const k of ['labels', 'annotations']) {
        const m = get(t, 'metadata', k);
        if (isObj(m) && Object.keys(m).length === 0) delete (t.metadata as Obj)[k];
      }
      for (const ctr of containersOf(t)) {
        delete ctr.image;
        delete ctr.resources;
        if (Array.isArray(ctr.env)) ctr.env = ctr.env.filter((e) => !(isObj(e) && (String(e.name) in ENTRYPOINT_ENV || e.name === 'RUNTIME')));
      }
    }
    out.set(name, c);
  }
  return out;
}

const childPath = (p: string, k: string) => (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`);
const display = (v: unknown) => clip(typeof v === 'string' ? v : JSON.stringify(v));
const isScalar = (v: unknown) => v === null || typeof v !== 'object';

function deepDiff(x: unknown, y: unknown, p: string, out: FieldChange[]): void {
  if (x === y) return;
  if (x === undefined) {
    out.push({ field: 'other', key: p, note: 'added', ...(isScalar(y) ? { to: display(y) } : {}) });
    return;
  }
  if (y === undefined) {
    out.push({ field: 'other', key: p, note: 'removed', ...(isScalar(x) ? { from: display(x) } : {}) });
    return;
  }
  if (isObj(x) && isObj(y)) {
    for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) deepDiff(x[k], y[k], childPath(p, k), out);
    return;
  }
  if (Array.isArray(x) && Array.isArray(y)) {
    const named = (l: unknown[]) => l.every((e) => isObj(e) && typeof e.name === 'string') && new Set(l.map((e) => (e as Obj).name)).size === l.length;
    if (named(x) && named(y)) {
      const mx = new Map(x.map((e) => [(e as Obj).name as string, e]));
      const my = new Map(y.map((e) => [(e as Obj).name as string, e]));
      for (const k of [...new Set([...mx.keys(), ...my.keys()])]) deepDiff(mx.get(k), my.get(k), `${p}[${k}]`, out);
      return;
    }
    if (x.length === y.length) {
      x.forEach((e, i) => deepDiff(e, y[i], `${p}[${i}]`, out));
      return;
    }
  }
  if (JSON.stringify(x) === JSON.stringify(y)) return;
  out.push({ field: 'other', key: p, from: display(x), to: display(y) });
}

// ---------------------------------------------------------------------------------------------
// Rendering the fleet and comparing it with a base

/** What to compare a render with: a directory, or a path inside a commit of a local repository. */
export type DiffBase = { readonly dir: string } | { readonly repo: string; readonly ref: string; readonly path: string };

/** Reads a base tree and names it. */
export async function readBase(base: DiffBase): Promise<{ label: string; files: Map<string, string> }> {
  if ('dir' in base) {
    if (!fs.existsSync(base.dir)) throw new DiffBaseError(`base directory ${base.dir} does not exist`);
    return { label: base.dir, files: readTreeFromDir(base.dir) };
  }
  return { label: `${base.ref}:${base.path}`, files: await readTreeFromGit(base.repo, base.ref, base.path) };
}

/** Options of `diffRender`. */
export interface DiffRenderOptions {
  readonly docs: FleetDocuments;
  readonly settings: RenderSettings;
  readonly base: DiffBase;
  readonly allowEmpty?: boolean;
  readonly workers?: number;
}

/** Renders the fleet in memory (nothing is written) and compares it with the base. */
export async function diffRender(opts: DiffRenderOptions): Promise<{ diff: FleetDiff; synth: SynthResult }> {
  const { label, files } = await readBase(opts.base);
  // Rendering without writing still lists an output root; give it an empty one for a git base.
  const scratch = 'dir' in opts.base ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-'));
  try {
    const synth = await synthesize(opts.docs, {
      outDir: scratch ?? (opts.base as { dir: string }).dir,
      settings: opts.settings,
      allowEmpty: opts.allowEmpty,
      workers: opts.workers,
      write: false,
      collect: true,
    });
    const diff = diffTrees(files, synth.files ?? new Map(), { base: label, failedIds: synth.fleet.failedIds, keepAll: !mayRemove(synth.fleet) });
    return { diff, synth };
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Reports

/** Report formats. */
export type DiffFormat = 'text' | 'markdown' | 'json';

/** Caps of the markdown report (a pull-request comment holds at most 65,536 characters). */
export interface MarkdownLimits {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

/** Formats a diff. */
export function formatDiff(diff: FleetDiff, format: DiffFormat, limits: MarkdownLimits = {}): string {
  if (format === 'json') return JSON.stringify(diff, null, 2) + '\n';
  if (format === 'markdown') return formatMarkdown(diff, limits);
  return formatText(diff);
}

/** True when the diff has something to review. */
export const hasChanges = (d: FleetDiff): boolean => d.entries.length > 0;

function entryName(e: DiffEntry): string {
  return e.kind === 'platform' ? `platform ${e.path.slice(PLATFORM_DIR.length + 1)}` : `${e.kind} ${e.id}`;
}

function changeLabel(c: FieldChange): string {
  return c.key !== undefined ? `${c.field} ${c.key}` : c.field;
}

function changeValue(c: FieldChange, code: (s: string) => string = (s) => s): string {
  if (c.from !== undefined && c.to !== undefined) return `${code(c.from)} → ${code(c.to)}${c.note ? ` (${c.note})` : ''}`;
  if (c.to !== undefined) return c.note ? `${c.note} ${code(c.to)}` : code(c.to);
  if (c.from !== undefined) return c.note ? `${c.note} (was ${code(c.from)})` : code(c.from);
  return c.note ?? 'changed';
}

function summaryLine(d: FleetDiff): string {
  const s = d.summary;
  if (d.entries.length === 0) return `no changes (${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept` : ''})`;
  return `${s.added} added, ${s.changed} changed, ${s.removed} removed, ${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept (failed, left as they are)` : ''}`;
}

function formatText(d: FleetDiff): string {
  const lines = [`fleetsynth diff against ${d.base}: ${summaryLine(d)}`];
  const sign: Record<EntryStatus, string> = { added: '+', changed: '~', removed: '-' };
  for (const e of d.entries) {
    lines.push(`${sign[e.status]} ${e.path} (${entryName(e)}${e.status === 'changed' ? '' : ` ${e.status}`})`);
    for (const c of e.changes) lines.push(`    ${c.field === 'secret' ? c.note : `${changeLabel(c)}: ${changeValue(c)}`}`);
  }
  for (const k of d.kept) lines.push(`= ${k} (kept: its document failed)`);
  return lines.join('\n') + '\n';
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A markdown code span that no value can break out of. */
function mdCode(s: string): string {
  const text = s.replace(/\r?\n/g, '⏎');
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function formatMarkdown(d: FleetDiff, limits: MarkdownLimits): string {
  const maxEntries = limits.maxEntries ?? 200;
  const maxBytes = limits.maxBytes ?? 60_000;
  const s = d.summary;
  const head = [
    '### fleetsynth diff',
    '',
    `Compared with ${mdCode(d.base)}: ${summaryLine(d)}.`,
    '',
    '| change | files |',
    '|:--|--:|',
    `| added | ${s.added} |`,
    `| changed | ${s.changed} |`,
    `| removed | ${s.removed} |`,
    `| unchanged | ${s.unchanged} |`,
    ...(s.kept ? [`| kept (failed) | ${s.kept} |`] : []),
    '',
    '',
  ].join('\n');
  let out = head;
  let shown = 0;
  const tail = (n: number) => `\n… and ${n} more (run \`fleetsynth diff\` for the full list)\n`;
  for (const e of d.entries) {
    const fields = [...new Set(e.changes.map((c) => c.field))].join(', ');
    const block = [
      `<details><summary>${e.status} <code>${escapeHtml(entryName(e))}</code>${e.status === 'changed' && fields ? `: ${escapeHtml(fields)}` : ''}</summary>`,
      '',
      `${mdCode(e.path)}${e.basePath ? ` (was ${mdCode(e.basePath)})` : ''}`,
      '',
      ...e.changes.slice(0, MAX_MD_CHANGES).map((c) => `- ${c.field === 'secret' ? '**secret changed**' : `**${c.field}**${c.key !== undefined ? ` ${mdCode(c.key)}` : ''}: ${changeValue(c, mdCode)}`}`),
      ...(e.changes.length > MAX_MD_CHANGES ? [`- … and ${e.changes.length - MAX_MD_CHANGES} more changes`] : []),
      '',
      '</details>',
      '',
      '',
    ].join('\n');
    const rest = d.entries.length - shown;
    if (shown >= maxEntries || Buffer.byteLength(out + block + tail(rest)) > maxBytes) {
      return out + tail(rest);
    }
    out += block;
    shown++;
  }
  if (d.kept.length) out += `\n${d.kept.length} file(s) of failed documents kept as they are.\n`;
  return out;
}
