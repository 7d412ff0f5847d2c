// Finds, reads and validates the platform config file: fleetsynth.config.{yaml,yml,json,mjs}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as YAMLModule from 'yaml';
import type { z } from 'zod/v4';
import { ConfigError } from './errors';
import type { ConfigFile } from './schema';

// Loaded when a config file is read: a run without one (most publishes) does not pay for zod or yaml.
const schemaModule = () => require('./schema') as typeof import('./schema');
const yamlModule = () => require('yaml') as typeof YAMLModule;

/** File names looked for in the working directory, in this order. */
export const CONFIG_FILE_NAMES = ['fleetsynth.config.yaml', 'fleetsynth.config.yml', 'fleetsynth.config.json', 'fleetsynth.config.mjs'] as const;

/** A config file read and validated. */
export interface LoadedConfig {
  /** Absolute path of the file. */
  readonly file: string;
  /** The validated settings and blocks. */
  readonly config: ConfigFile;
  /** The `customize` hook of a `.mjs` config, passed on unvalidated. */
  readonly customize?: unknown;
}

/** Where to look: `--config`, else `FLEETSYNTH_CONFIG`, else the working directory. */
export interface ConfigLocation {
  readonly explicit?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** The config file to use, or undefined when there is none (an explicit one must exist). */
export function findConfigFile(loc: ConfigLocation): string | undefined {
  const cwd = loc.cwd ?? process.cwd();
  const given = loc.explicit || loc.env?.FLEETSYNTH_CONFIG || undefined;
  if (given) {
    const file = path.resolve(cwd, given);
    if (!fs.existsSync(file)) throw new ConfigError(file, [`no such file (given by ${loc.explicit ? '--config' : 'FLEETSYNTH_CONFIG'})`]);
    return file;
  }
  const found = CONFIG_FILE_NAMES.map((n) => path.join(cwd, n)).filter((f) => fs.existsSync(f));
  if (found.length > 1) throw new ConfigError(cwd, [`more than one config file: ${found.map((f) => path.basename(f)).join(', ')}; keep one or pass --config`]);
  return found[0];
}

// A real dynamic import: TypeScript's CommonJS output would turn `import()` into `require()`,
// which cannot load an ES module on Node 20.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<{ default?: unknown }>;

/** Reads the raw object of a config file (YAML, JSON or an ES module's default export). */
async function readRaw(file: string): Promise<unknown> {
  if (file.endsWith('.mjs') || file.endsWith('.js')) {
    try {
      const mod = await importModule(pathToFileURL(file).href);
      return mod.default;
    } catch (e) {
      throw new ConfigError(file, [`cannot load the module: ${(e as Error).message.split('\n')[0]}`]);
    }
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError(file, [`not valid JSON: ${(e as Error).message}`]);
    }
  }
  const doc = yamlModule().parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`));
  return doc.toJS();
}

/** Reads and validates one config file. */
export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const raw = await readRaw(file);
  if (raw === null || raw === undefined) return { file, config: {} };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, ['(file): must be a mapping of settings']);
  const { customize, ...rest } = raw as Record<string, unknown>;
  const isModule = /\.m?js$/.test(file);
  if (customize !== undefined && !isModule) throw new ConfigError(file, ['customize: a function, only possible in fleetsynth.config.mjs']);
  if (customize !== undefined && typeof customize !== 'function') throw new ConfigError(file, ['customize: must be a function']);
  return { file, config: validateConfig(file, rest), customize };
}

/** Validates a config object; a ConfigError names every key path at fault. */
export function validateConfig(file: string, raw: unknown): ConfigFile {
  const r = schemaModule().configFileSchema.safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  const problems: string[] = [];
  for (const issue of r.error.issues) problems.push(...describeIssue(issue));
  throw new ConfigError(file, problems);
}

/** `rules[2].pod.tolerations[0].operator` */
export function keyPath(p: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s === '' ? '(file)' : s;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    return issue.keys.map((k) => {
      const at = keyPath([...issue.path, k]);
      const parent = issue.path[issue.path.length - 1];
      const { PROTECTED_POD_KEYS } = schemaModule();
      if (parent === 'pod' && k in PROTECTED_POD_KEYS) return `${at}: is protected: ${PROTECTED_POD_KEYS[k]}`;
      if (k === 'selector' || k === 'containers') return `${at}: is protected: ${PROTECTED_POD_KEYS[k]}`;
      const near = closest(k, known);
      return `${at}: unknown key${near ? `; did you mean "${near}"?` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
    });
  }
  if (issue.code === 'invalid_key') return issue.issues.map((i) => `${keyPath(issue.path)}: key ${i.message}`);
  return [`${keyPath(issue.path)}: ${issueMessage(issue)}`];
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `must be ${issue.expected}${'input' in issue && issue.input !== undefined ? `, got ${describeType(issue.input)}` : ''}`;
  return issue.message;
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : typeof v === 'string' ? 'a string' : `${typeof v} ${JSON.stringify(v)}`;
  // A string is not shown: a misplaced one could be a credential (a MongoDB URI, a token).
}

/** Keys the schema knows at a path (through optionals, arrays, records, unions). */
function knownKeysAt(p: ReadonlyArray<PropertyKey>): string[] {
  let nodes: unknown[] = [schemaModule().configFileSchema];
  for (const seg of p) nodes = nodes.flatMap((n) => childrenOf(n, seg));
  const keys = new Set<string>();
  for (const n of nodes.flatMap(unwrap)) {
    const shape = (n as { _zod: { def: { type: string; shape?: Record<string, unknown> } } })._zod.def;
    if (shape.type === 'object' && shape.shape) for (const k of Object.keys(shape.shape)) if (k !== '$schema') keys.add(k);
  }
  return [...keys];
}

type Def = { type: string; innerType?: unknown; element?: unknown; valueType?: unknown; options?: unknown[]; shape?: Record<string, unknown>; in?: unknown };

function unwrap(n: unknown): unknown[] {
  const def = (n as { _zod: { def: Def } })._zod.def;
  if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') return unwrap(def.innerType);
  if (def.type === 'union') return (def.options ?? []).flatMap(unwrap);
  if (def.type === 'pipe') return unwrap(def.in);
  return [n];
}

function childrenOf(n: unknown, seg: PropertyKey): unknown[] {
  return unwrap(n).flatMap((u) => {
    const def = (u as { _zod: { def: Def } })._zod.def;
    if (def.type === 'object' && typeof seg === 'string' && def.shape?.[seg]) return [def.shape[seg]];
    if (def.type === 'array' && typeof seg === 'number') return [def.element];
    if (def.type === 'record') return [def.valueType];
    return [];
  });
}

/** The known key nearest to `k` by edit distance, when near enough to be a typo. */
export function closest(k: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of known) {
    const d = editDistance(k.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(k.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
