// Fact extraction: the reviewable aspects of one rendered file (image, runtime, version, schedule,
// resources, entrypoints, redacted config, hash), read back from its YAML.
import * as jsyaml from 'js-yaml';
import type { ChangeField, FieldChange } from './types';
import { fastLoadAll } from './fast-yaml';

export const CONFIG_ANNOTATION = 'fleetsynth.io/config';
export const CONFIG_HASH = 'the0.app/config-hash';
export const SCHEDULE_HASH = 'the0.app/schedule-hash';
export const RUNTIME_LABEL = 'the0.app/runtime';
export const VERSION_LABEL = 'the0.app/custom-bot-version';
export const ENTRYPOINT_ENV: Record<string, string> = { ENTRYPOINT: 'bot', QUERY_ENTRYPOINT: 'query' };
/** Pod-spec fields the platform config renders (`pod:`): reported as `pod <field>`. */
export const POD_FIELDS = [
  'nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints', 'priorityClassName', 'runtimeClassName',
  'imagePullSecrets', 'terminationGracePeriodSeconds', 'dnsConfig',
] as const;
/** Pod labels and annotations that are the contract's or fleetsynth's own, not the config's. */
export const OWN_MARK = /^(the0\.app|fleetsynth\.io)\//;
const MAX_VALUE = 120;

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
export const get = (v: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), v);

export interface Facts {
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
  /** Config-driven pod fields (`tolerations`, `labels.team`, ...) → compact JSON. */
  readonly pod: Map<string, string>;
}

/** Pod templates of an object, with a label naming the object. */
export function podTemplates(o: Obj): Obj[] {
  const t = o.kind === 'CronJob' ? get(o, 'spec', 'jobTemplate', 'spec', 'template') : o.kind === 'Pod' ? o : get(o, 'spec', 'template');
  return isObj(t) && isObj(t.spec) ? [t] : [];
}

export function containersOf(template: Obj): Obj[] {
  const spec = template.spec as Obj;
  return [spec.initContainers, spec.containers].flatMap((l) => (Array.isArray(l) ? l.filter(isObj) : []));
}

export function parseObjects(text: string): Map<string, Obj> | undefined {
  try {
    // fleetsynth's own writer's subset is read without js-yaml (same values); anything else is
    // read with js-yaml's core schema (no timestamps or other types that are not JSON).
    const fast = fastLoadAll(text);
    if (fast) return objectsOf(fast);
    const docs: unknown[] = [];
    jsyaml.loadAll(text, (d) => docs.push(d), { schema: jsyaml.CORE_SCHEMA });
    return objectsOf(docs);
  } catch {
    return undefined;
  }
}

/** A file's documents by `Kind/name` (a repeated name gets `#n`). */
export function objectsOf(docs: readonly unknown[]): Map<string, Obj> {
  const objects = new Map<string, Obj>();
  for (const doc of docs) {
    if (!isObj(doc)) continue;
    const name = `${String(doc.kind ?? '?')}/${String(get(doc, 'metadata', 'name') ?? '?')}`;
    objects.set(objects.has(name) ? `${name}#${objects.size}` : name, doc);
  }
  return objects;
}

export function factsOf(objects: Map<string, Obj>): Facts {
  const images = new Set<string>();
  const resources = new Map<string, string>();
  const containers = new Set<string>();
  const resourceOwner = new Map<string, string>();
  const entrypoints = new Map<string, string>();
  const pod = new Map<string, string>();
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
    const prefix = templates.length > 1 ? `${name}:` : '';
    for (const f of POD_FIELDS) {
      const v = get(t, 'spec', f);
      if (v !== undefined) pod.set(prefix + f, json(v));
    }
    for (const m of ['labels', 'annotations'] as const) {
      const kv = get(t, 'metadata', m);
      if (isObj(kv)) for (const k of Object.keys(kv).sort()) if (!OWN_MARK.test(k)) pod.set(`${prefix}${m}.${k}`, json(kv[k]));
    }
    const annotations = get(t, 'metadata', 'annotations');
    hash ??= str(get(annotations, CONFIG_HASH));
    const cfg = str(get(annotations, CONFIG_ANNOTATION));
    if (cfg !== undefined && config === undefined) {
      config = flattenConfig(cfg);
    }
    for (const c of containersOf(t)) {
      const cname = templates.length > 1 ? `${name}:${String(c.name)}` : String(c.name);
      containers.add(cname);
      if (typeof c.image === 'string') images.add(c.image);
      for (const [k, v] of isObj(c.resources) ? flattenShared(c.resources) : flatten(c.resources ?? {})) {
        resources.set(`${cname}.${k}`, v.replace(/^"(.*)"$/, '$1'));
        resourceOwner.set(`${cname}.${k}`, cname);
      }
      for (const e of Array.isArray(c.env) ? c.env.filter(isObj) : []) {
        const ep = ENTRYPOINT_ENV[String(e.name)];
        if (ep && typeof e.value === 'string' && !entrypoints.has(ep)) entrypoints.set(ep, e.value);
      }
    }
  }
  return { objects, image: images.size ? [...images].sort().join(', ') : undefined, runtime, version, schedule, resources, containers, resourceOwner, entrypoints, config, hash, pod };
}

// The two versions of a file compared share most subtrees (fast-yaml derives one from the other):
// what is computed from a subtree is computed once. Results are read, never changed.
const jsonOf = new WeakMap<object, string>();
const flatOf = new WeakMap<object, Map<string, string>>();
let lastConfig: { text: string; flat: Map<string, string> } | undefined;

/** JSON.stringify, remembered per object. */
function json(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  let s = jsonOf.get(v);
  if (s === undefined) jsonOf.set(v, (s = JSON.stringify(v)));
  return s;
}

/** flatten of an object, remembered per object. */
function flattenShared(v: Obj): Map<string, string> {
  let m = flatOf.get(v);
  if (m === undefined) flatOf.set(v, (m = flatten(v)));
  return m;
}

/** The config annotation's JSON, flattened; the last one is remembered (both versions usually carry the same). */
function flattenConfig(text: string): Map<string, string> {
  if (lastConfig?.text === text) return lastConfig.flat;
  let flat: Map<string, string>;
  try {
    flat = flatten(JSON.parse(text));
  } catch {
    flat = new Map([['(unparsable)', JSON.stringify(text)]]);
  }
  lastConfig = { text, flat };
  return flat;
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

export const clip = (s: string) => (s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s);

/** Facts of an added (`to`) or removed (`from`) file. */
export function keyFacts(text: string, side: 'from' | 'to'): FieldChange[] {
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

