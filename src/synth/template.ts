import type { BotSpec } from '../model/bot';
import { DeferredCheck, ObjectValidationError, deferredChecks, objectProblems, runDeferredChecks, validateObjects } from './validate';
import { HOLE_MARK, YamlTemplate, compileTemplate, fillTemplate, stringifyDocuments } from './yaml';

/**
 * Shape templates: the constructs render each distinct *shape* of bot once, and every bot of
 * that shape gets the same text with its own values in the holes.
 *
 * A bot's shape is its BotSpec with every string value replaced by a hole, except the
 * enumerations the constructs may branch on (`kind`, `runtime`), which count by value, and an
 * empty string, which counts as empty (constructs test strings for emptiness). Numbers,
 * booleans, absent fields and the structure of nested objects are part of the shape too.
 *
 * A template is only used when it is proven to be a pure substitution: the constructs render the
 * shape with hole markers as values (through cdk8s, as every bot), and the result must give,
 * filled in, exactly the text the constructs render directly for (1) the real bot the template
 * was made for and (2) a probe with other values of the same shape — long, mixed-case, with YAML
 * punctuation and a newline — and different values of the fields the constructs must not read.
 * A construct that transformed a value (truncating, hashing, changing case) or read a field it
 * should not would fail that check: that shape is then always rendered directly. A bot whose
 * values hold a hole marker or a cdk8s token string is rendered directly too.
 *
 * The rule for constructs this relies on: branch on a string only by emptiness, or on `kind` and
 * `runtime`. A branch on another string's specific value (`if (spec.entrypoint === 'main.py')`)
 * would not be caught by the check above, only by the tests on generated fleets
 * (`test/template.test.ts`): put such a field in BY_VALUE instead.
 *
 * Holes are written by the exact YAML writer, so quoting and block scalars are decided per value
 * exactly as for a directly rendered file. test/template.test.ts compares both paths.
 */

/** BotSpec fields no construct reads (never rendered): not part of the shape. */
const NOT_RENDERED: ReadonlySet<string> = new Set(['configJson', 'secrets', 'warnings', 'fileName', 'sourceHash']);
/** String fields that count by value: enumerations a construct may branch on. */
const BY_VALUE: ReadonlySet<string> = new Set(['kind', 'runtime']);
/**
 * Fields that count by their `key` alone: the platform config's resolution is one shared object
 * per set of matched rules, so equal keys mean equal values (src/config/resolve.ts).
 */
const BY_KEY: ReadonlySet<string> = new Set(['platform']);
/** A string cdk8s would resolve as a token: never substituted. */
const TOKEN_START = '${Token[';

interface Shape {
  readonly key: string;
  readonly values: string[];
}

/** A bot's shape key and its hole values, or undefined when it must be rendered directly. */
export function shapeOf(spec: BotSpec): Shape | undefined {
  const values: string[] = [];
  let key = '';
  const walk = (v: unknown): boolean => {
    switch (typeof v) {
      case 'string':
        if (v === '') key += 'e';
        else if (v.includes(HOLE_MARK) || v.includes(TOKEN_START)) return false;
        else {
          key += 's';
          values.push(v);
        }
        return true;
      case 'undefined':
        key += 'u';
        return true;
      case 'number':
      case 'boolean':
        key += String(v);
        return true;
      case 'object':
        if (v === null) key += 'n';
        else if (Array.isArray(v)) {
          key += '[';
          for (const x of v) if (!walk(x)) return false;
          key += ']';
        } else {
          key += '{';
          for (const k in v) {
            key += JSON.stringify(k) + ':';
            if (!walk((v as Record<string, unknown>)[k])) return false;
          }
          key += '}';
        }
        return true;
      default:
        return false;
    }
  };
  for (const k in spec) {
    if (NOT_RENDERED.has(k)) continue;
    const v = (spec as unknown as Record<string, unknown>)[k];
    key += k + '=';
    if (BY_VALUE.has(k) && typeof v === 'string') key += JSON.stringify(v) + ';';
    else if (BY_KEY.has(k)) key += (v as { key: string } | undefined)?.key + ';';
    else if (!walk(v)) return undefined;
    else key += ';';
  }
  return { key, values };
}

/** `spec` with its i-th hole value replaced by `value(i)` (and the unread fields by `unread`). */
function withValues(spec: BotSpec, value: (i: number) => string, unread?: Partial<BotSpec>): BotSpec {
  let i = 0;
  const map = (v: unknown): unknown => {
    if (typeof v === 'string') return v === '' ? v : value(i++);
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map(map);
    const o: Record<string, unknown> = {};
    for (const k in v) o[k] = map((v as Record<string, unknown>)[k]);
    return o;
  };
  const out: Record<string, unknown> = {};
  for (const k in spec) {
    const v = (spec as unknown as Record<string, unknown>)[k];
    out[k] = NOT_RENDERED.has(k) || BY_KEY.has(k) || (BY_VALUE.has(k) && typeof v === 'string') ? v : map(v);
  }
  return { ...(out as unknown as BotSpec), ...unread };
}

/** A value of the probe: unlike any real value, with what YAML quoting and case changes notice. */
const probeValue = (i: number) => `Probe-${i} Mixed: 'q' "dq" #x ${'long'.repeat(20)}\nsecond line`;

/** Different values of the fields the constructs must not read. */
const PROBE_UNREAD: Partial<BotSpec> = {
  configJson: '{"probe":true}',
  secrets: [{ path: 'probe.key', value: 'probe-secret-value' }],
  warnings: ['probe warning'],
  fileName: 'probe-file.yaml',
  sourceHash: 'probe-hash',
};

/** One shape's template. */
export interface ShapeTemplate {
  readonly yaml: YamlTemplate;
  readonly objects: number;
  /** API-server checks of the values that differ per bot (the rest was checked once, on the shape's bot). */
  readonly checks: readonly DeferredCheck[];
}

const HOLES = /\u0000(\d+)\u0000/g;
const fillHoles = (values: readonly string[]) => (s: string) => s.replace(HOLES, (_, i: string) => values[Number(i)]);

/** A marked value as literal text and hole numbers; undefined when it holds no hole. */
function splitHoles(s: string): Array<string | number> | undefined {
  if (!s.includes(HOLE_MARK)) return undefined;
  const parts: Array<string | number> = [];
  let last = 0;
  for (const m of s.matchAll(HOLES)) {
    if (m.index! > last) parts.push(s.slice(last, m.index));
    parts.push(Number(m[1]));
    last = m.index! + m[0].length;
  }
  if (last < s.length) parts.push(s.slice(last));
  return parts;
}

/** A rendered file: its text and its number of objects. */
export interface RenderedText {
  readonly text: string;
  readonly objects: number;
}

/**
 * Templates by shape, built on first use with `direct` (the constructs through cdk8s). `null`
 * marks a shape that failed the check: rendered directly every time.
 */
export class TemplateCache {
  private readonly byShape = new Map<string, ShapeTemplate | null>();
  /** Bots rendered from a template, and directly. */
  filled = 0;
  direct = 0;
  /** Shapes this cache built itself (not seeded). */
  learned = 0;

  constructor(
    private readonly render: (spec: BotSpec) => unknown[],
    /** Check every bot's objects as the API server does (see validate.ts); off only in tests of the substitution itself. */
    private readonly validate = true,
  ) {}

  /** Number of shapes seen (with and without a usable template). */
  get shapes(): number {
    return this.byShape.size;
  }

  /** The file of one bot: from its shape's template when there is one, else rendered directly. */
  text(spec: BotSpec): RenderedText {
    const shape = shapeOf(spec);
    if (shape) {
      const t = this.byShape.get(shape.key);
      if (t) {
        this.filled++;
        if (this.validate && t.checks.length > 0) runDeferredChecks(t.checks, shape.values, fillHoles(shape.values));
        return { text: fillTemplate(t.yaml, shape.values), objects: t.objects };
      }
      if (t === undefined) {
        const { problems, ...own } = this.learn(spec, shape);
        if (this.byShape.get(shape.key)) this.filled++;
        else this.direct++;
        if (this.validate && problems.length > 0) throw new ObjectValidationError(problems);
        return own;
      }
    }
    this.direct++;
    const objects = this.render(spec);
    if (this.validate) validateObjects(objects);
    return { text: stringifyDocuments(objects), objects: objects.length };
  }

  /** Builds now the templates of these bots' shapes that are not built yet (one bot per shape). */
  prepare(specs: Iterable<BotSpec>): void {
    for (const spec of specs) {
      const shape = shapeOf(spec);
      if (shape && !this.byShape.has(shape.key)) this.learn(spec, shape);
    }
  }

  /**
   * Builds and stores the template (or null) of a new shape from one of its bots. That bot's own
   * direct rendering is part of the check, and its file either way (a template that passes gives
   * exactly these bytes).
   */
  private learn(spec: BotSpec, shape: Shape): RenderedText & { problems: string[] } {
    const own = this.render(spec);
    const text = stringifyDocuments(own);
    this.byShape.set(shape.key, this.build(spec, shape, text, own.length));
    this.learned++;
    return { text, objects: own.length, problems: this.validate ? objectProblems(own) : [] };
  }

  /** The templates built so far (plain data), to seed another thread's cache. */
  entries(): Array<[string, ShapeTemplate | null]> {
    return [...this.byShape];
  }

  /** Adds templates another cache built for the same settings. */
  seed(entries: ReadonlyArray<[string, ShapeTemplate | null]>): void {
    for (const [key, t] of entries) if (!this.byShape.has(key)) this.byShape.set(key, t);
  }

  private build(spec: BotSpec, shape: Shape, ownText: string, ownObjects: number): ShapeTemplate | null {
    try {
      const marked = this.render(withValues(spec, (i) => `${HOLE_MARK}${i}${HOLE_MARK}`));
      const yaml = compileTemplate(marked);
      if (!yaml || marked.length !== ownObjects) return null;
      if (fillTemplate(yaml, shape.values) !== ownText) return null;
      const probeValues = shape.values.map((_, i) => probeValue(i));
      const probe = this.render(withValues(spec, probeValue, PROBE_UNREAD));
      if (fillTemplate(yaml, probeValues) !== stringifyDocuments(probe)) return null;
      // A structural problem with holes (a selector and a label from different values) cannot be
      // decided per value: such a shape is rendered and validated directly, bot by bot.
      const { checks, problems } = deferredChecks(marked, splitHoles);
      if (problems.length > 0) return null;
      return { yaml, objects: marked.length, checks };
    } catch {
      // A construct refused a marker or probe value: this shape is rendered directly.
      return null;
    }
  }
}
