import * as YAML from 'yaml';

/**
 * A YAML writer that produces exactly what cdk8s's `Yaml.stringify` (the `yaml` package, v2,
 * `{ keepUndefined: true, lineWidth: 0, version: '1.1' }`) writes for the plain JSON data that
 * `ApiObject.toJson()` returns — without building a YAML node tree per document.
 *
 * Block structure (maps, sequences, indentation) is simple and written here, appended to one
 * string per document. String scalars follow the `yaml` package's own decisions: one-line strings
 * are tested with the library's own regular expressions and the YAML 1.1 schema's own tag tests
 * (plain, or single-quoted when they hold `"` but no `'`); everything else — newlines, control
 * characters, document markers, double quotes — is rendered by the library's string stringifier
 * with the context it would have had. So quoting, block scalars and YAML 1.1 type guessing ("yes",
 * "0777", "1e3", dates) are the library's, not a copy of them. Anything outside that plain-data
 * subset (non-integer numbers, undefined, very long keys) falls back to the `yaml` package for
 * the whole document. test/yaml.test.ts checks byte equality against cdk8s on edge cases and
 * random data.
 */

const STRINGIFY_OPTIONS = { keepUndefined: true, lineWidth: 0, version: '1.1' } as const;

const doc = new YAML.Document(null, { version: '1.1' });
// The option set yaml's createStringifyContext builds for cdk8s's options.
const options = {
  blockQuote: true,
  commentString: (s: string) => s.replace(/^(?!$)(?: $)?/gm, '#'),
  defaultKeyType: null,
  defaultStringType: 'PLAIN',
  directives: null,
  doubleQuotedAsJSON: false,
  doubleQuotedMinMultiLineLength: 40,
  falseStr: 'false',
  flowCollectionPadding: true,
  indentSeq: true,
  lineWidth: 0,
  minContentWidth: 20,
  nullStr: 'null',
  simpleKeys: false,
  singleQuote: null,
  trailingComma: false,
  trueStr: 'true',
  verifyAliasOrder: true,
  keepUndefined: true,
  version: '1.1',
  ...(doc.schema as unknown as { toStringOptions?: object }).toStringOptions,
};

// Thrown (one shared instance, no stack trace to capture) when a document leaves the plain subset.
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('outside the plain-data subset');

type Ctx = { doc: YAML.Document; indent: string; indentStep: string; implicitKey: boolean; inFlow: null; options: typeof options };

// The tag yaml uses for JS strings; its stringify is what yaml calls for every string scalar.
// (Required, not imported: yaml's `./util` export has no types under moduleResolution "node".)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { stringTag } = require('yaml/util') as { stringTag: { stringify: (item: object, ctx: Ctx) => string } };

function libraryString(value: string, depth: number, implicitKey: boolean): string {
  return stringTag.stringify({ value }, { doc, indent: indent(depth), indentStep: '  ', implicitKey, inFlow: null, options });
}

// Indentation strings by depth ('  ' per level), with and without a leading newline.
const INDENT: string[] = [''];
const NEWLINE: string[] = ['\n'];
function indent(depth: number): string {
  while (INDENT.length <= depth) INDENT.push(INDENT[INDENT.length - 1] + '  ');
  return INDENT[depth];
}
function newline(depth: number): string {
  return NEWLINE[depth] ?? (NEWLINE[depth] = '\n' + indent(depth));
}

/**
 * `^[a-z][a-z0-9-]*$` and no YAML 1.1 type reads it: written as is, in any role. Of the schema's
 * non-string tags, only null and bool (words of at most 5 letters) and the exponent float
 * (`e9`, `e-5`) can match such a string, so those are checked with the schema's own tests.
 */
function isSimple(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  const first = s.charCodeAt(0);
  if (first < 97 || first > 122) return false;
  for (let i = 1; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return false;
  }
  if (n > 5 && first !== 101) return true;
  let simple = shortWords.get(s);
  if (simple === undefined) {
    simple = !NON_STRING_TAGS.some((t) => t.test(s));
    if (shortWords.size >= MAX_CACHE) shortWords = new Map();
    shortWords.set(s, simple);
  }
  return simple;
}
let shortWords = new Map<string, boolean>();

// What yaml's stringifyString → plainString → quotedString decide for a one-line string in block
// context, with the library's own regular expressions and the schema's own tag tests.
const FORCE_DOUBLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u;
const NOT_PLAIN = /^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/;
// Exactly the tags plainString tests (`tag.default && tag.tag !== str && tag.test`).
const NON_STRING_TAGS: RegExp[] = [
  ...doc.schema.tags,
  ...((doc.schema as unknown as { compat?: typeof doc.schema.tags }).compat ?? []),
]
  .filter((t) => t.default && t.tag !== 'tag:yaml.org,2002:str' && t.test)
  .map((t) => t.test as RegExp);

/** yaml's `containsDocumentMarker` (`/^(%|---|\.\.\.)/m`) for a string without newlines. */
function startsWithDocumentMarker(s: string): boolean {
  const c = s.charCodeAt(0);
  return c === 37 || ((c === 45 || c === 46) && s.charCodeAt(1) === c && s.charCodeAt(2) === c);
}

/** A one-line scalar as yaml writes it, or undefined when the library must decide. */
function fastString(s: string): string | undefined {
  if (s === '' || FORCE_DOUBLE.test(s)) return undefined;
  let quote = NOT_PLAIN.test(s);
  for (let i = 0; !quote && i < NON_STRING_TAGS.length; i++) quote = NON_STRING_TAGS[i].test(s);
  if (!quote) return s;
  // quotedString: with `"` and no `'` it is single-quoted; one line, so nothing to escape or fold.
  if (s.includes('"') && !s.includes("'")) return "'" + s + "'";
  return undefined;
}

// Results for short strings (keys, and values repeated across bots: images, paths, quantities).
// Long, unique strings (the config annotation) are computed each time and not kept.
const MAX_CACHE = 20_000;
const MAX_CACHED_LENGTH = 128;
let keyCache = new Map<string, string>();
let valueCache = new Map<string, string>();

// Map keys repeat across every bot (a few dozen distinct ones): one lookup, simple ones included.
function keyString(k: string, depth: number): string {
  const hit = keyCache.get(k);
  return hit !== undefined ? hit : scalarString(k, depth, true);
}

function scalarString(s: string, depth: number, implicitKey: boolean): string {
  if (isSimple(s)) {
    if (implicitKey && s.length <= MAX_CACHED_LENGTH && keyCache.size < MAX_CACHE) keyCache.set(s, s);
    return s;
  }
  // yaml resolves the JS string '<<' to its YAML 1.1 merge-key tag, which prints it bare.
  if (s === '<<') return s;
  // Multi-line strings and document markers depend on the indent: always the library's, uncached.
  if (s.includes('\n') || startsWithDocumentMarker(s)) return libraryString(s, depth, implicitKey);
  // One-line results do not depend on the indent (lineWidth 0 disables folding).
  if (s.length > MAX_CACHED_LENGTH) return fastString(s) ?? libraryString(s, depth, implicitKey);
  let cache = implicitKey ? keyCache : valueCache;
  let out = cache.get(s);
  if (out === undefined) {
    out = fastString(s) ?? libraryString(s, depth, implicitKey);
    if (cache.size >= MAX_CACHE) {
      cache = new Map();
      if (implicitKey) keyCache = cache;
      else valueCache = cache;
    }
    cache.set(s, out);
  }
  return out;
}

/** A scalar value at `depth`: string, safe integer, boolean or null. */
function scalar(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return scalarString(v, depth, false);
    case 'number':
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw UNSUPPORTED;
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return 'null';
      throw UNSUPPORTED;
    default:
      throw UNSUPPORTED;
  }
}

function checkPlainObject(v: object): void {
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw UNSUPPORTED;
}

// `:` and a new line at each depth: what a key writes before a nested collection.
const COLON_NEWLINE: string[] = [];
function colonNewline(depth: number): string {
  return COLON_NEWLINE[depth] ?? (COLON_NEWLINE[depth] = ':' + newline(depth));
}

// The document being written. Collections append to it; scalars are returned and appended.
let out = '';

/**
 * A map at `depth`: `prefix` then its first key where the cursor is, its other keys on new
 * lines. Returns false, having written nothing, when the map is empty.
 */
function emitMap(obj: Record<string, unknown>, depth: number, prefix: string): boolean {
  const inner = depth + 1;
  const nl = newline(depth);
  let first = true;
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined || k.length > 1000 || (holes !== null && k.includes(HOLE_MARK))) throw UNSUPPORTED;
    if (first) {
      out += prefix;
      first = false;
    } else {
      out += nl;
    }
    out += keyString(k, inner);
    if (typeof v === 'object' && v !== null) {
      if (Array.isArray(v)) {
        if (v.length === 0) out += ': []';
        else {
          out += colonNewline(inner);
          emitSeq(v, inner);
        }
      } else {
        checkPlainObject(v);
        if (!emitMap(v as Record<string, unknown>, inner, colonNewline(inner))) out += ': {}';
      }
    } else if (holes !== null && typeof v === 'string' && v.includes(HOLE_MARK)) {
      addHole(v, inner, true);
    } else {
      out += mapValue(scalar(v, inner));
    }
  }
  return !first;
}

/** What a map writes after its key for a scalar: `: x`, or `:` before a block scalar's header line. */
function mapValue(s: string): string {
  return s === '' || s.charCodeAt(0) === 10 ? ':' + s : ': ' + s;
}

// A non-empty sequence: `- item` lines at `depth`, item content at `depth + 1`.
function emitSeq(items: unknown[], depth: number): void {
  const inner = depth + 1;
  const nlDash = newline(depth) + '- ';
  for (let i = 0; i < items.length; i++) {
    out += i > 0 ? nlDash : '- ';
    const v = items[i];
    if (typeof v === 'object' && v !== null) {
      if (Array.isArray(v)) {
        if (v.length === 0) out += '[]';
        else emitSeq(v, inner);
      } else {
        checkPlainObject(v);
        if (!emitMap(v as Record<string, unknown>, inner, '')) out += '{}';
      }
    } else if (holes !== null && typeof v === 'string' && v.includes(HOLE_MARK)) {
      addHole(v, inner, false);
    } else {
      out += scalar(v, inner);
    }
  }
}

/** One YAML document, exactly as `YAML.stringify(obj, cdk8s's options)` writes it. */
export function stringifyDocument(obj: unknown): string {
  if (typeof obj === 'object' && obj !== null && !Array.isArray(obj)) {
    out = '';
    try {
      checkPlainObject(obj);
      if (emitMap(obj as Record<string, unknown>, 0, '')) return out + '\n';
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
    } finally {
      out = '';
    }
  }
  return YAML.stringify(obj, STRINGIFY_OPTIONS);
}

/** Several documents joined as cdk8s's `Yaml.stringify(...docs)` joins them. */
export function stringifyDocuments(docs: readonly unknown[]): string {
  let text = '';
  for (let i = 0; i < docs.length; i++) {
    if (i > 0) text += '---\n';
    text += docs[i] === undefined ? '\n' : stringifyDocument(docs[i]);
  }
  return text;
}

// ---- templates: a file's text with holes for string values ---------------------------------------

/** Marks a hole in a template's data: `\u0000<index>\u0000` stands for value `index`. */
export const HOLE_MARK = '\u0000';
const HOLE_RE = /\u0000(\d+)\u0000/g;

/** A string value made of literal text and values, written as one scalar at `depth`. */
interface Hole {
  /** Literal text and value indexes, alternating: [text, index, text, index, …, text]. */
  readonly parts: ReadonlyArray<string | number>;
  readonly depth: number;
  /** A map value (`key: x`) rather than a sequence item (`- x`). */
  readonly inMap: boolean;
}

/**
 * The text of several YAML documents with holes where string values go: `segments[i]`, then
 * hole `i` written with the values it refers to, then `segments[i + 1]`, and so on.
 */
export interface YamlTemplate {
  readonly segments: readonly string[];
  readonly holes: readonly Hole[];
}

// The template being compiled (holes and finished segments), or null when writing plain data.
let holes: Hole[] | null = null;
let segments: string[] = [];

function addHole(v: string, depth: number, inMap: boolean): void {
  const parts: Array<string | number> = [];
  let last = 0;
  for (const m of v.matchAll(HOLE_RE)) {
    parts.push(v.slice(last, m.index), Number(m[1]));
    last = m.index! + m[0].length;
  }
  parts.push(v.slice(last));
  // A marker that is not a well-formed hole: no template for this data.
  if (parts.some((p) => typeof p === 'string' && p.includes(HOLE_MARK))) throw UNSUPPORTED;
  segments.push(out);
  out = '';
  holes!.push({ parts, depth, inMap });
}

/**
 * Compiles documents whose string values may hold holes (`\u0000<n>\u0000`) into a template
 * whose `fillTemplate` output is exactly `stringifyDocuments` of the same documents with the
 * holes replaced by the values. Undefined when the documents leave what the fast writer writes
 * (the library would decide the whole document) or a hole is in a key.
 */
export function compileTemplate(docs: readonly unknown[]): YamlTemplate | undefined {
  holes = [];
  segments = [];
  out = '';
  try {
    for (let i = 0; i < docs.length; i++) {
      if (i > 0) out += '---\n';
      const d = docs[i];
      if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
      checkPlainObject(d);
      if (!emitMap(d as Record<string, unknown>, 0, '')) return undefined;
      out += '\n';
    }
    segments.push(out);
    return { segments, holes };
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  } finally {
    holes = null;
    segments = [];
    out = '';
  }
}

/** The text of a template with its holes filled: exactly what `stringifyDocuments` writes for the data. */
export function fillTemplate(t: YamlTemplate, values: readonly string[]): string {
  const { segments: segs, holes: hs } = t;
  let text = segs[0];
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const p = h.parts;
    let v: string;
    if (p.length === 3 && p[0] === '' && p[2] === '') v = values[p[1] as number];
    else {
      v = '';
      for (let j = 0; j < p.length; j++) v += j & 1 ? values[p[j] as number] : (p[j] as string);
    }
    const s = scalarString(v, h.depth, false);
    text += (h.inMap ? mapValue(s) : s) + segs[i + 1];
  }
  return text;
}
