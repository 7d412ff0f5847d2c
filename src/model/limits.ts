/**
 * Bounds on the shape of untrusted data (fleet files, documents, event payloads), checked
 * without recursion so that the check itself cannot overflow the stack.
 */

/**
 * Deepest nesting a document may have. MongoDB refuses to store documents nested more than 100
 * levels, so no document the0 wrote is deeper; deeper data only comes from a hand-made file or
 * event, and would overflow the stack of every recursive step after it (hash, redaction, BSON).
 */
export const MAX_DOCUMENT_DEPTH = 100;

/** What {@link measure} found beyond a bound, or nothing. */
export interface ShapeViolation {
  /** The nesting went beyond `maxDepth`. */
  readonly tooDeep?: boolean;
  /** The data (counted with every alias expanded) holds more than `maxNodes` values. */
  readonly tooLarge?: boolean;
}

/**
 * Walks `value` iteratively, counting every value as often as it is reachable (a YAML alias
 * shares one object between many places: each place counts, as it would once serialized), and
 * stops at the first bound exceeded.
 */
export function measure(value: unknown, maxDepth: number, maxNodes = Infinity): ShapeViolation | undefined {
  const stack: unknown[] = [value];
  const depths: number[] = [0];
  let nodes = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    const d = depths.pop()!;
    if (++nodes > maxNodes) return { tooLarge: true };
    if (v === null || typeof v !== 'object') continue;
    if (d >= maxDepth) return { tooDeep: true };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        stack.push(v[i]);
        depths.push(d + 1);
      }
    } else if (!(v instanceof Date) && !ArrayBuffer.isView(v)) {
      for (const k in v) {
        stack.push((v as Record<string, unknown>)[k]);
        depths.push(d + 1);
      }
    }
  }
  return undefined;
}

/**
 * Whether `value` nests deeper than `maxDepth` (arrays and objects). Recursive, but never deeper
 * than `maxDepth` frames (it stops there), so it cannot overflow; faster than {@link measure}
 * for the per-document check.
 */
export function tooDeep(value: unknown, maxDepth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (maxDepth <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (tooDeep(value[i], maxDepth - 1)) return true;
    return false;
  }
  for (const k in value) if (tooDeep((value as Record<string, unknown>)[k], maxDepth - 1)) return true;
  return false;
}
