// A fast exact reader for the YAML subset fleetsynth's own writer emits (src/synth/yaml.ts): block
// maps and sequences, plain, one-line single-quoted and escape-free double-quoted scalars, `{}` and `[]`, `---` between
// documents. Plain scalars resolve through js-yaml's own CORE_SCHEMA implicit types, so values are
// what js-yaml gives. Anything else (escapes, block scalars, flow collections, comments,
// anchors, tags, tabs, blank lines, duplicate keys, …) gives undefined: the caller then uses js-yaml.
import * as jsyaml from 'js-yaml';

interface ImplicitType {
  resolve(data: string): boolean;
  construct(data: string): unknown;
}
const IMPLICIT: readonly ImplicitType[] = (jsyaml.CORE_SCHEMA as unknown as { compiledImplicit: ImplicitType[] }).compiledImplicit;

class Unsupported extends Error {}
const NO = new Unsupported();

/** The documents of a text, or undefined when the text is not wholly in the subset. */
export function fastLoadAll(text: string): unknown[] | undefined {
  if (!inSubsetChars(text)) return undefined;
  return loadLines(text.slice(0, -1).split('\n'));
}

const inSubsetChars = (text: string) => text.indexOf('\t') < 0 && text.indexOf('\r') < 0 && text.endsWith('\n');

type Path = Array<string | number>;

/** Documents of these lines; with `trace`, the path (document index first) of the scalar on each traced line goes into `sites`. */
function loadLines(all: string[], trace?: ReadonlySet<number>, sites?: Map<number, Path>): unknown[] | undefined {
  const docs: unknown[] = [];
  try {
    let start = 0;
    for (let i = 0; i <= all.length; i++) {
      if (i === all.length || all[i] === '---') {
        if (i === start) return undefined; // an empty document: leave it to js-yaml
        const p = new Parser(all.slice(start, i));
        if (trace) p.traceInto(trace, sites!, start, docs.length);
        docs.push(p.document());
        start = i + 1;
      }
    }
    return docs;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/**
 * Where a line's scalar value starts, when the line holds one (`key: value`, `- value`,
 * `- key: value`, `- - value`), read as the parser reads it; -1 otherwise.
 */
function scalarStart(line: string): number {
  let n = indentOf(line);
  let rest = line.slice(n);
  for (;;) {
    if (rest === '-') return -1;
    if (rest.startsWith('- ')) {
      const item = rest.slice(2);
      if (item === '' || item[0] === ' ') return -1;
      if (item === '-' || item.startsWith('- ') || (item[0] !== "'" && item[0] !== '"' && keyEnd(item) >= 0)) {
        rest = item;
        n += 2;
        continue;
      }
      return n + 2;
    }
    const k = keyEnd(rest);
    if (k < 0) return -1;
    const v = rest.slice(k + 1);
    if (v === '' || v.length < 2 || v[1] === ' ') return -1;
    return n + k + 2;
  }
}

/** A text's documents with the path of the scalar on each line that holds one. */
export interface Traced {
  readonly lines: readonly string[];
  readonly docs: unknown[];
  readonly sites: ReadonlyMap<number, Path>;
}

const TRACE_ALL: ReadonlySet<number> = { has: () => true } as unknown as ReadonlySet<number>;

/**
 * The documents of `lines` from a traced text with the same structure (same lines but for scalar
 * values), sharing every subtree that holds no changed value; undefined when the structure differs.
 * Exactly what `fastLoadAll` gives for those lines (the parser reads a value from its line alone).
 */
function derive(t: Traced, lines: readonly string[]): unknown[] | undefined {
  if (lines.length !== t.lines.length) return undefined;
  const changed: Array<[Path, unknown]> = [];
  try {
    for (let i = 0; i < lines.length; i++) {
      const x = t.lines[i];
      const y = lines[i];
      if (x === y) continue;
      const p = t.sites.get(i);
      if (!p) return undefined;
      const at = scalarStart(y);
      if (at < 0 || scalarStart(x) !== at || x.slice(0, at) !== y.slice(0, at)) return undefined;
      changed.push([p, scalar(y.slice(at))]);
    }
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  // Copy on write along the path of each changed value.
  const docs = t.docs.slice();
  const fresh = new Set<unknown>([docs]);
  for (const [p, value] of changed) {
    let parent = docs as unknown as Record<string | number, unknown>;
    for (let j = 0; j < p.length - 1; j++) {
      let child = parent[p[j]];
      if (!fresh.has(child)) {
        child = Array.isArray(child) ? child.slice() : { ...(child as object) };
        parent[p[j]] = child;
        fresh.add(child);
      }
      parent = child as Record<string | number, unknown>;
    }
    parent[p[p.length - 1]] = value;
  }
  return docs;
}

/** Recently parsed texts of this thread, one per line count: files of one shape differ in values only. */
const shapes = new Map<number, Traced>();
const MAX_SHAPES = 64;

/**
 * A text's documents, traced: derived from a recently read text of the same shape when there is
 * one (no parse), else parsed. The documents may share subtrees with other texts' documents:
 * callers must not mutate them. Undefined when the text is not wholly in the subset.
 */
export function fastLoadTraced(text: string): Traced | undefined {
  if (!inSubsetChars(text)) return undefined;
  const lines = text.slice(0, -1).split('\n');
  const like = shapes.get(lines.length);
  const derived = like && derive(like, lines);
  if (derived) return { lines, docs: derived, sites: like.sites };
  const sites = new Map<number, Path>();
  const docs = loadLines(lines, TRACE_ALL, sites);
  if (!docs) return undefined;
  const t = { lines, docs, sites };
  if (shapes.size >= MAX_SHAPES) shapes.clear();
  shapes.set(lines.length, t);
  return t;
}

/** The documents of `text` derived from a traced text of the same shape, or undefined. */
export function fastLoadLike(t: Traced, text: string): unknown[] | undefined {
  if (!inSubsetChars(text)) return undefined;
  return derive(t, text.slice(0, -1).split('\n'));
}

/**
 * The documents of two texts that differ only in scalar values on the same lines (a fleet-wide
 * change usually does): the new text is read (fastLoadTraced), the old one derived from it.
 * Exactly what `fastLoadAll` gives for each text, or undefined (then parse each).
 */
export function fastLoadPair(oldText: string, newText: string): { a: unknown[]; b: unknown[] } | undefined {
  const t = fastLoadTraced(newText);
  const a = t && fastLoadLike(t, oldText);
  return a ? { a, b: t.docs } : undefined;
}

function indentOf(line: string): number {
  let n = 0;
  while (n < line.length && line.charCodeAt(n) === 32) n++;
  return n;
}

const MAY_RESOLVE = /^[~nNtTfF+\-.0-9]/;
const PLAIN_START_BAD = /^[?:,[\]{}#&*!|>'"%@`]/;

function plain(s: string): unknown {
  if (s === '' || PLAIN_START_BAD.test(s) || (s[0] === '-' && (s.length === 1 || s[1] === ' '))) throw NO;
  if (s.indexOf(' #') >= 0 || s.indexOf(': ') >= 0 || s.endsWith(':') || s.endsWith(' ') || s.startsWith('---') || s.startsWith('...')) throw NO;
  // CORE_SCHEMA's implicit types (null, bool, int, float) all start with one of these characters.
  if (!MAY_RESOLVE.test(s)) return s;
  for (const t of IMPLICIT) if (t.resolve(s)) return t.construct(s);
  return s;
}

function singleQuoted(s: string): string {
  // s starts with ' ; must end with the closing quote and hold only doubled quotes inside.
  if (s.length < 2 || s[s.length - 1] !== "'") throw NO;
  const inner = s.slice(1, -1);
  if (inner.replace(/''/g, '').indexOf("'") >= 0) throw NO;
  return inner.replace(/''/g, "'");
}

function scalar(s: string): unknown {
  if (s === '{}') return {};
  if (s === '[]') return [];
  if (s[0] === "'") return singleQuoted(s);
  if (s[0] === '"') {
    // Double-quoted without escapes only (the writer quotes "false", "8080", …); escapes: js-yaml.
    const inner = s.slice(1, -1);
    if (s.length < 2 || s[s.length - 1] !== '"' || inner.indexOf('"') >= 0 || inner.indexOf('\\') >= 0) throw NO;
    return inner;
  }
  return plain(s);
}

/** Where a block-map line's key ends: the index of its `:` (followed by a space or the line's end), or -1. */
function keyEnd(rest: string): number {
  if (rest[0] === "'" || rest[0] === '"') throw NO; // quoted keys: js-yaml
  const i = rest.indexOf(': ');
  if (i >= 0) return i;
  return rest.endsWith(':') ? rest.length - 1 : -1;
}

class Parser {
  private i = 0;
  private trace?: ReadonlySet<number>;
  private sites?: Map<number, Path>;
  private offset = 0;
  private path: Path = [];
  constructor(private readonly lines: string[]) {}

  /** Records the path of the scalar on each traced line (absolute index: `offset` + this document's line). */
  traceInto(trace: ReadonlySet<number>, sites: Map<number, Path>, offset: number, doc: number): void {
    this.trace = trace;
    this.sites = sites;
    this.offset = offset;
    this.path = [doc];
  }

  private site(line: number, key: string | number): void {
    if (this.trace?.has(this.offset + line)) this.sites!.set(this.offset + line, [...this.path, key]);
  }

  document(): unknown {
    const first = this.lines[0];
    if (indentOf(first) !== 0) throw NO;
    const v = this.block(0);
    if (this.i !== this.lines.length) throw NO;
    return v;
  }

  /** A block node whose first line is at `indent`. */
  private block(indent: number): unknown {
    const line = this.lines[this.i];
    const rest = line.slice(indent);
    if (rest === '-' || rest.startsWith('- ')) return this.seq(indent);
    if (keyEnd(rest) >= 0) return this.map(indent);
    // A lone scalar line (a sequence item's value written on its own line is not emitted).
    throw NO;
  }

  private seq(indent: number): unknown[] {
    const out: unknown[] = [];
    while (this.i < this.lines.length) {
      const line = this.lines[this.i];
      const n = indentOf(line);
      if (n < indent) break;
      if (n > indent) throw NO;
      const rest = line.slice(n);
      if (rest === '-') throw NO; // nested node on the next line: not emitted
      if (!rest.startsWith('- ')) break;
      const item = rest.slice(2);
      if (item === '' || item[0] === ' ') throw NO;
      if (item === '-' || item.startsWith('- ') || (item[0] !== "'" && item[0] !== '"' && keyEnd(item) >= 0)) {
        // The item is a block node starting on this line at indent+2.
        this.lines[this.i] = ' '.repeat(indent + 2) + item;
        this.path.push(out.length);
        out.push(this.block(indent + 2));
        this.path.pop();
      } else {
        this.site(this.i, out.length);
        out.push(scalar(item));
        this.i++;
      }
    }
    return out;
  }

  private map(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    while (this.i < this.lines.length) {
      const line = this.lines[this.i];
      const n = indentOf(line);
      if (n < indent) break;
      if (n > indent) throw NO;
      const rest = line.slice(n);
      if (rest === '-' || rest.startsWith('- ')) break;
      const k = keyEnd(rest);
      if (k < 0) throw NO;
      const rawKey = rest.slice(0, k);
      const key = plain(rawKey);
      if (typeof key !== 'string' || key === '__proto__' || Object.prototype.hasOwnProperty.call(out, key)) throw NO;
      const value = rest.slice(k + 1);
      this.i++;
      if (value === '') {
        const next = this.lines[this.i];
        const m = next === undefined ? -1 : indentOf(next);
        this.path.push(key);
        if (next !== undefined && m > indent) out[key] = this.block(m);
        else if (next !== undefined && m === indent && (next.slice(m) === '-' || next.slice(m).startsWith('- '))) out[key] = this.seq(indent);
        else throw NO; // a key with no value: js-yaml
        this.path.pop();
      } else {
        const v = value.slice(1);
        if (v === '' || v[0] === ' ') throw NO;
        this.site(this.i - 1, key);
        out[key] = scalar(v);
      }
    }
    return out;
  }
}
