import * as YAML from 'yaml';

/**
 * A YAML writer that produces exactly what cdk8s's `Yaml.stringify` (the `yaml` package, v2,
 * `{ keepUndefined: true, lineWidth: 0, version: '1.1' }`) writes for the plain JSON data that
 * `ApiObject.toJson()` returns — without building a YAML node tree per document.
 *
 * Block structure (maps, sequences, indentation) is simple and written here; every string scalar
 * is rendered by the `yaml` package's own string stringifier with the context it would have had,
 * so quoting, block scalars and YAML 1.1 type guessing ("yes", "0777", "1e3", dates) are the
 * library's decisions, not a copy of them. Anything outside that plain-data subset (non-integer
 * numbers, undefined, very long keys) falls back to the `yaml` package for the whole document.
 * test/yaml.test.ts checks byte equality against cdk8s on edge cases and random data.
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

class Unsupported extends Error {}

type Ctx = { doc: YAML.Document; indent: string; indentStep: string; implicitKey: boolean; inFlow: null; options: typeof options };

// The tag yaml uses for JS strings; its stringify is what yaml calls for every string scalar.
// (Required, not imported: yaml's `./util` export has no types under moduleResolution "node".)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { stringTag } = require('yaml/util') as { stringTag: { stringify: (item: object, ctx: Ctx) => string } };

function libraryString(value: string, indent: string, implicitKey: boolean): string {
  return stringTag.stringify({ value }, { doc, indent, indentStep: '  ', implicitKey, inFlow: null, options });
}

// Words YAML 1.1 reads as booleans or null; everything else matching SIMPLE is a plain string.
const YAML11_WORDS = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);
const SIMPLE = /^[a-z][a-z0-9-]*$/;

const MAX_CACHE = 50_000;
let valueCache = new Map<string, string>();
let keyCache = new Map<string, string>();

// Lines starting like a document marker are quoted depending on the indent (yaml's
// containsDocumentMarker), so their rendering is never cached.
const DOCUMENT_MARKER = /^(%|---|\.\.\.)/m;

function scalarString(s: string, indent: string, implicitKey: boolean): string {
  if (SIMPLE.test(s) && !YAML11_WORDS.has(s)) return s;
  // yaml resolves the JS string '<<' to its YAML 1.1 merge-key tag, which prints it bare.
  if (s === '<<') return s;
  // Other single-line results do not depend on the indent (lineWidth 0 disables folding), so
  // they can be cached per key/value role.
  if (s.includes('\n') || DOCUMENT_MARKER.test(s)) return libraryString(s, indent, implicitKey);
  const cache = implicitKey ? keyCache : valueCache;
  let out = cache.get(s);
  if (out === undefined) {
    out = libraryString(s, indent, implicitKey);
    if (cache.size >= MAX_CACHE) {
      if (implicitKey) keyCache = new Map();
      else valueCache = new Map();
    }
    (implicitKey ? keyCache : valueCache).set(s, out);
  }
  return out;
}

function isCollection(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

function isEmptyCollection(v: object): boolean {
  if (Array.isArray(v)) return v.length === 0;
  for (const _ in v) return false;
  return true;
}

// Renders `v` as yaml's stringify does for a node whose context indent is `indent`.
function node(v: unknown, indent: string): string {
  switch (typeof v) {
    case 'string':
      return scalarString(v, indent, false);
    case 'number':
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw new Unsupported();
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return seq(v, indent);
      if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) throw new Unsupported();
      return map(v as Record<string, unknown>, indent);
    default:
      throw new Unsupported();
  }
}

function seq(items: unknown[], indent: string): string {
  if (items.length === 0) return '[]';
  const itemIndent = indent + '  ';
  let out = '';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += '\n' + indent;
    out += '- ' + node(items[i], itemIndent);
  }
  return out;
}

function map(obj: Record<string, unknown>, indent: string): string {
  const inner = indent + '  ';
  let out = '';
  let first = true;
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined || k.length > 1000) throw new Unsupported();
    if (!first) out += '\n' + indent;
    first = false;
    out += scalarString(k, inner, true) + ':';
    if (isCollection(v) && !isEmptyCollection(v)) {
      out += '\n' + inner + node(v, inner);
    } else {
      const s = node(v, inner);
      out += s === '' || s[0] === '\n' ? s : ' ' + s;
    }
  }
  return first ? '{}' : out;
}

/** One YAML document, exactly as `YAML.stringify(obj, cdk8s's options)` writes it. */
export function stringifyDocument(obj: unknown): string {
  if (isCollection(obj) && !Array.isArray(obj) && !isEmptyCollection(obj)) {
    try {
      return map(obj as Record<string, unknown>, '') + '\n';
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
    }
  }
  return YAML.stringify(obj, STRINGIFY_OPTIONS);
}

/** Several documents joined as cdk8s's `Yaml.stringify(...docs)` joins them. */
export function stringifyDocuments(docs: readonly unknown[]): string {
  return docs.map((d) => (d === undefined ? '\n' : stringifyDocument(d))).join('---\n');
}
