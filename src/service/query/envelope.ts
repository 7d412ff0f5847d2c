// The bot's answer `{"status","data","error"}` (the SDKs' envelope) and the query API's response.

/** What a bot answered, with `data` kept as the bot's own JSON text. */
export interface Envelope {
  /** `ok` or `error` as the bot said it. */
  status: string;
  /**
   * Raw JSON text of `data`, undefined when absent or null. Kept as text so that numbers beyond
   * 2^53 (exchange order ids) pass through unchanged, as Go's json.RawMessage does.
   */
  data?: string;
  /** The bot's error message, undefined when empty. */
  error?: string;
}

/** A query that could not be executed; its message becomes the 500 response's `error`. */
export class QueryFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryFailure';
  }
}

/**
 * Parses a bot's answer. Never quotes the answer in an error: it may hold secrets. Like the0,
 * an `available` list (the SDK's list of known paths) is appended to the error.
 */
export function parseEnvelope(text: string, from: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new QueryFailure(`invalid response from ${from}: not valid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new QueryFailure(`invalid response from ${from}: not a JSON object`);
  }
  const obj = value as Record<string, unknown>;
  let error = typeof obj.error === 'string' ? obj.error : obj.error === undefined || obj.error === null ? '' : JSON.stringify(obj.error);
  if (error !== '' && Array.isArray(obj.available) && obj.available.length > 0) {
    error = `${error} (available: ${obj.available.map(String).join(', ')})`;
  }
  const status = typeof obj.status === 'string' ? obj.status : error !== '' ? 'error' : 'ok';
  const env: Envelope = { status };
  if (obj.data !== undefined && obj.data !== null) env.data = rawMember(text, 'data');
  if (error !== '') env.error = error;
  return env;
}

/** The query API's response body (SPEC §4.1), fields in Go's order, with a trailing newline as json.Encoder writes. */
export function responseBody(r: { status: string; data?: string; error?: string; durationNs: bigint | number; timestamp: string }): string {
  let s = `{"status":${JSON.stringify(r.status)}`;
  if (r.data !== undefined) s += `,"data":${r.data}`;
  if (r.error !== undefined && r.error !== '') s += `,"error":${JSON.stringify(r.error)}`;
  return `${s},"duration":${r.durationNs.toString()},"timestamp":${JSON.stringify(r.timestamp)}}\n`;
}

// Raw text of the last top-level member `key` of a JSON object already known to be valid
// (JSON.parse keeps the last of duplicate keys; so does this).
function rawMember(text: string, key: string): string | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipWs(text, i + 1);
  let found: string | undefined;
  while (i < text.length && text[i] !== '}') {
    const keyEnd = skipString(text, i);
    const k = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd) + 1; // ':'
    const start = skipWs(text, i);
    const end = skipValue(text, start);
    if (k === key) found = text.slice(start, end);
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return found;
}

function skipWs(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\n' || t[i] === '\r' || t[i] === '\t')) i++;
  return i;
}

// From an opening quote to just past the closing one.
function skipString(t: string, i: number): number {
  i++;
  while (i < t.length) {
    const c = t.charCodeAt(i);
    if (c === 92 /* \ */) i += 2;
    else if (c === 34 /* " */) return i + 1;
    else i++;
  }
  return i;
}

function skipValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < t.length) {
      const ch = t[i];
      if (ch === '"') {
        i = skipString(t, i);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < t.length && !',}] \n\r\t'.includes(t[i])) i++;
  return i;
}
