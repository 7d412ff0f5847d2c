// Comparison: two trees of managed files → entries per file; two versions of a file → field changes.
import { REDACTED } from '../../model/secrets';
import { redactUrl } from '../workspace';
import { CONFIG_ANNOTATION, CONFIG_HASH, ENTRYPOINT_ENV, OWN_MARK, Obj, POD_FIELDS, RUNTIME_LABEL, SCHEDULE_HASH, VERSION_LABEL, clip, containersOf, factsOf, get, isObj, keyFacts, objectsOf, parseObjects, podTemplates } from './facts';
import { fastLoadLike, fastLoadTraced } from './fast-yaml';
import { Classified, classifyPath } from './tree';
import { ChangeField, DiffEntry, DiffOptions, EntryStatus, FieldChange, FleetDiff, PLATFORM_DIR } from './types';

const REDACTED_JSON = JSON.stringify(REDACTED);
const MAX_OTHER = 20;
const FIELD_ORDER: readonly ChangeField[] = ['path', 'image', 'runtime', 'version', 'schedule', 'resources', 'pod', 'entrypoints', 'config', 'secret', 'other'];

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
    const e = compareEntry(a.get(key), cur);
    if (e === 'unchanged') unchanged++;
    else entries.push(e);
  }
  for (const [key, old] of a) {
    if (b.has(key)) continue;
    const e = baseOnlyEntry(old, opts);
    if (e === 'kept') kept.push(old.path);
    else entries.push(e);
  }
  return finishDiff(entries, kept, unchanged, opts);
}

/** A managed file of the render (`cur`) against its base file (`old`, absent when the base has none). */
export function compareEntry(old: { path: string; text: string } | undefined, cur: Classified & { path: string; text: string }): DiffEntry | 'unchanged' {
  if (!old) return { path: cur.path, kind: cur.kind, id: cur.id, status: 'added', changes: keyFacts(cur.text, 'to') };
  if (old.text === cur.text && old.path === cur.path) return 'unchanged';
  const changes: FieldChange[] = old.path !== cur.path ? [{ field: 'path', from: old.path, to: cur.path }] : [];
  if (old.text !== cur.text) changes.push(...compareFiles(old.text, cur.text));
  return { path: cur.path, ...(old.path !== cur.path ? { basePath: old.path } : {}), kind: cur.kind, id: cur.id, status: 'changed', changes };
}

/** A managed base file the render does not have: removed, or kept (a failed bot, or every bot when the render may not remove). */
export function baseOnlyEntry(old: Classified & { path: string; text: string }, opts: DiffOptions): DiffEntry | 'kept' {
  if (old.id !== undefined && (opts.keepAll || opts.failedIds?.has(old.id))) return 'kept';
  return { path: old.path, kind: old.kind, id: old.id, status: 'removed', changes: keyFacts(old.text, 'from') };
}

/** The diff of these entries (sorted here), kept paths and unchanged count. */
export function finishDiff(entries: DiffEntry[], kept: string[], unchanged: number, opts: Pick<DiffOptions, 'base'>): FleetDiff {
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

/** Field-by-field comparison of two versions of one file. */
export function compareFiles(oldText: string, newText: string): FieldChange[] {
  // Two versions of a file written by fleetsynth usually differ in a few values only: parse one
  // and derive the other (same objects as parsing both; equal subtrees are shared).
  // Files of one shape (fleetsynth renders from templates) are derived from each other too.
  const tb = pairing ? fastLoadTraced(newText) : undefined;
  const ad = tb && fastLoadLike(tb, oldText);
  const ta = tb && !ad ? fastLoadTraced(oldText) : undefined;
  const ao = ad ? objectsOf(ad) : ta ? objectsOf(ta.docs) : parseObjects(oldText);
  const bo = tb ? objectsOf(tb.docs) : parseObjects(newText);
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
  mapChanges('pod', a.pod, b.pod, out);
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

/** For tests: compare by parsing both texts (the reference for the paired reading). */
let pairing = true;
export function setPairedReading(on: boolean): void {
  pairing = on;
}

/**
 * A copy of an object with private copies of every node stripCovered changes (the two sides may
 * share subtrees, see fastLoadPair); the rest is shared.
 */
function privatize(o: Obj): Obj {
  const own = (parent: Obj, k: string): Obj | undefined => {
    const v = parent[k];
    if (!isObj(v)) return undefined;
    const c = { ...v };
    parent[k] = c;
    return c;
  };
  const c = { ...o };
  const meta = own(c, 'metadata');
  if (meta) ['labels', 'annotations'].forEach((k) => own(meta, k));
  const spec = own(c, 'spec');
  let holder: Obj | undefined;
  if (c.kind === 'CronJob') {
    const jt = spec && own(spec, 'jobTemplate');
    const jts = jt && own(jt, 'spec');
    holder = jts && own(jts, 'template');
  } else if (c.kind === 'Pod') holder = c;
  else holder = spec && own(spec, 'template');
  if (holder) {
    const tm = holder === c ? meta : own(holder, 'metadata');
    if (tm) ['labels', 'annotations'].forEach((k) => own(tm, k));
    const ts = holder === c ? spec : own(holder, 'spec');
    if (ts) {
      for (const k of ['initContainers', 'containers']) {
        const l = ts[k];
        if (Array.isArray(l)) ts[k] = l.map((e) => (isObj(e) ? { ...e } : e));
      }
    }
  }
  return c;
}

/** Removes what the named fields report (from private copies: the facts were taken already). */
function stripCovered(objects: Map<string, Obj>): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const [name, original] of objects) {
    const c = privatize(original);
    const dropKeys = (m: unknown, keys: string[]) => isObj(m) && keys.forEach((k) => delete m[k]);
    dropKeys(get(c, 'metadata', 'labels'), [RUNTIME_LABEL, VERSION_LABEL]);
    dropKeys(get(c, 'metadata', 'annotations'), [SCHEDULE_HASH, CONFIG_HASH]);
    if (c.kind === 'CronJob') dropKeys(c.spec, ['schedule']);
    for (const t of podTemplates(c)) {
      dropKeys(t.spec, [...POD_FIELDS]);
      for (const k of ['labels', 'annotations']) {
        const m = get(t, 'metadata', k);
        if (isObj(m)) dropKeys(m, Object.keys(m).filter((x) => !OWN_MARK.test(x)));
      }
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
    // Only the keys whose values differ (most subtrees of two versions are shared), in key order.
    const differ: string[] = [];
    for (const k of Object.keys(x)) if (x[k] !== y[k]) differ.push(k);
    for (const k of Object.keys(y)) if (!Object.prototype.hasOwnProperty.call(x, k) && y[k] !== undefined) differ.push(k);
    for (const k of differ.sort()) deepDiff(x[k], y[k], childPath(p, k), out);
    return;
  }
  if (Array.isArray(x) && Array.isArray(y)) {
    const named = (l: unknown[]) => l.every((e) => isObj(e) && typeof e.name === 'string') && new Set(l.map((e) => (e as Obj).name)).size === l.length;
    if (named(x) && named(y)) {
      const mx = new Map(x.map((e) => [(e as Obj).name as string, e]));
      const my = new Map(y.map((e) => [(e as Obj).name as string, e]));
      for (const k of [...new Set([...mx.keys(), ...my.keys()])]) {
        const a = mx.get(k);
        const b = my.get(k);
        if (a !== b) deepDiff(a, b, `${p}[${k}]`, out);
      }
      return;
    }
    if (x.length === y.length) {
      x.forEach((e, i) => e !== y[i] && deepDiff(e, y[i], `${p}[${i}]`, out));
      return;
    }
  }
  if (JSON.stringify(x) === JSON.stringify(y)) return;
  out.push({ field: 'other', key: p, from: display(x), to: display(y) });
}
