import { createHash, createHmac } from 'node:crypto';

/**
 * Serializes a value the way Go's encoding/json marshals a decoded `interface{}`:
 * no whitespace, object keys sorted by their UTF-8 bytes at every depth, and HTML-safe
 * escaping of `<`, `>`, `&`, U+2028 and U+2029. the0 hashes configs this way, so both
 * tools agree on "changed" (SPEC §2.3).
 */
export function goJson(value: unknown): string {
  return htmlEscape(encode(value));
}

/** Compact JSON with keys sorted by code point at every depth, without Go's HTML escaping. */
export function sortedJson(value: unknown): string {
  return encode(value);
}

/**
 * First 16 hex chars of SHA-256 over the Go-style JSON of {Config, CustomBotVersion, Enabled}:
 * the0's own hash (SPEC §2.3). With `key`, HMAC-SHA256 under that key instead: the same input and
 * length, but a config (secret values included) cannot be guessed from it offline.
 */
export function configHash(config: unknown, customVersion: string, enabled: unknown, key?: string): string {
  const input = `{"Config":${goJson(config ?? null)},"CustomBotVersion":${goJson(customVersion)},"Enabled":${goJson(enabled ?? null)}}`;
  const h = key ? createHmac('sha256', key) : createHash('sha256');
  return h.update(input, 'utf8').digest('hex').slice(0, 16);
}

/** Compares strings by code point, which is the order of their UTF-8 bytes. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function encode(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // Go rejects NaN/Inf; a decoded document never holds them. JS shortest round-trip
      // formatting equals Go's for float64 (including the 1e21 / 1e-7 exponent rules).
      // A BSON double -0.0 stays -0 in both decoders; Go writes it as `-0`, JSON.stringify as `0`.
      if (Object.is(value, -0)) return '-0';
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(encode).join(',')}]`;
      const asJson = (value as { toJSON?: () => unknown }).toJSON;
      if (typeof asJson === 'function') return encode(asJson.call(value));
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareUtf8);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k])}`).join(',')}}`;
    }
    default:
      return 'null';
  }
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function htmlEscape(json: string): string {
  return json.replace(HTML_UNSAFE, (c) => HTML_ESCAPES[c]);
}
