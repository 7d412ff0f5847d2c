// A JSON fleet file split into its documents' bytes without decoding it: a byte scan finds each
// element of `bots` and `bot_schedules`, then the rest of the file (the elements replaced by 0)
// is parsed to prove the scan saw the structure JSON.parse sees. Anything unexpected — not an
// object at the top, a list that is not an array, unbalanced brackets, trailing text — gives
// undefined, and the caller parses the file as a whole (with its usual errors).
import { RawDocument } from '../model/raw-document';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** The documents of a JSON fleet file as undecoded RawDocuments, or undefined (see the module comment). */
export function splitFleetJson(buf: Buffer): { bots: RawDocument[]; bot_schedules: RawDocument[] } | undefined {
  const n = buf.length;
  let i = 0;
  const ws = () => {
    while (i < n && isSpace(buf[i])) i++;
  };
  /** Index just past the string starting at `at` (a quote), or -1. */
  const endOfString = (at: number): number => {
    let j = at + 1;
    for (;;) {
      const q = buf.indexOf(QUOTE, j);
      if (q < 0) return -1;
      let b = q - 1;
      while (buf[b] === BACKSLASH) b--;
      // An even number of backslashes before the quote: it closes the string.
      if ((q - 1 - b) % 2 === 0) return q + 1;
      j = q + 1;
    }
  };
  /** Index just past the value starting at i, or -1. */
  const endOfValue = (at: number): number => {
    const c = buf[at];
    if (c === QUOTE) return endOfString(at);
    if (c === OPEN_OBJ || c === OPEN_ARR) {
      let depth = 0;
      let j = at;
      while (j < n) {
        const d = buf[j];
        if (d === QUOTE) {
          j = endOfString(j);
          if (j < 0) return -1;
          continue;
        }
        if (d === OPEN_OBJ || d === OPEN_ARR) depth++;
        else if (d === CLOSE_OBJ || d === CLOSE_ARR) {
          depth--;
          if (depth === 0) return j + 1;
        }
        j++;
      }
      return -1;
    }
    // A scalar: up to the next delimiter.
    let j = at;
    while (j < n) {
      const d = buf[j];
      if (d === COMMA || d === CLOSE_OBJ || d === CLOSE_ARR || isSpace(d)) break;
      j++;
    }
    return j > at ? j : -1;
  };

  // The skeleton: the file's text with every element replaced by 0, for JSON.parse.
  const skeleton: string[] = [];
  let copied = 0;
  const lists: Record<string, RawDocument[]> = {};
  ws();
  if (buf[i] !== OPEN_OBJ) return undefined;
  i++;
  ws();
  if (buf[i] === CLOSE_OBJ) return undefined;
  for (;;) {
    ws();
    if (buf[i] !== QUOTE) return undefined;
    const keyEnd = endOfString(i);
    if (keyEnd < 0) return undefined;
    let key: unknown;
    try {
      key = JSON.parse(buf.toString('utf8', i, keyEnd));
    } catch {
      return undefined;
    }
    i = keyEnd;
    ws();
    if (buf[i] !== COLON) return undefined;
    i++;
    ws();
    if ((key === 'bots' || key === 'bot_schedules') && buf[i] === OPEN_ARR) {
      const docs: RawDocument[] = [];
      i++;
      ws();
      if (buf[i] !== CLOSE_ARR) {
        for (;;) {
          ws();
          const end = endOfValue(i);
          if (end < 0) return undefined;
          docs.push(new RawDocument(buf.subarray(i, end)));
          skeleton.push(buf.toString('utf8', copied, i), '0');
          copied = end;
          i = end;
          ws();
          if (buf[i] === COMMA) {
            i++;
            continue;
          }
          if (buf[i] === CLOSE_ARR) break;
          return undefined;
        }
      }
      i++;
      lists[key] = docs; // a repeated key: the last one counts, as in JSON.parse
    } else {
      if (key === 'bots' || key === 'bot_schedules') return undefined; // null, or not a list: the whole-file parse says so
      const end = endOfValue(i);
      if (end < 0) return undefined;
      i = end;
    }
    ws();
    if (buf[i] === COMMA) {
      i++;
      continue;
    }
    if (buf[i] === CLOSE_OBJ) break;
    return undefined;
  }
  i++;
  ws();
  if (i !== n) return undefined;
  if (lists.bots === undefined && lists.bot_schedules === undefined) return undefined;
  skeleton.push(buf.toString('utf8', copied, n));
  let parsed: unknown;
  try {
    parsed = JSON.parse(skeleton.join(''));
  } catch {
    return undefined;
  }
  const p = parsed as { bots?: unknown; bot_schedules?: unknown };
  const bots = lists.bots ?? [];
  const schedules = lists.bot_schedules ?? [];
  const zeros = (v: unknown, len: number) => (v === undefined ? len === 0 : Array.isArray(v) && v.length === len && v.every((x) => x === 0));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !zeros(p.bots, bots.length) || !zeros(p.bot_schedules, schedules.length)) return undefined;
  return { bots, bot_schedules: schedules };
}
