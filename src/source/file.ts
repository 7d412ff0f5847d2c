import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jsyaml from 'js-yaml';
import { FleetsynthError } from '../errors';
import type { FleetDocuments } from '../model/document';
import { measure } from '../model/limits';
import { printable } from '../model/printable';
import { splitFleetJson } from './json-slices';

/** Raised when a source cannot be read or is not a fleet; nothing is changed then. */
export class SourceError extends FleetsynthError {
  constructor(message: string, opts: { readonly hint?: string } = {}) {
    super(message, { hint: opts.hint ?? 'check the source: --source, else FLEET_SOURCE, else MONGO_URI' });
  }
}

/** Parses a fleet file's text: `{ bots: [...], bot_schedules: [...] }` as YAML or JSON. */
export function parseFleetText(text: string, origin: string): FleetDocuments {
  let data: unknown;
  // JSON has no aliases: only what js-yaml parsed is checked for alias expansion below.
  let yaml = false;
  try {
    // JSON is YAML, but JSON.parse is much faster for large exported fleets.
    yaml = !/^\s*[{[]/.test(text);
    data = yaml ? jsyaml.load(text, { filename: origin }) : JSON.parse(text);
  } catch (e) {
    if (/^\s*[{[]/.test(text)) {
      try {
        yaml = true;
        data = jsyaml.load(text, { filename: origin });
      } catch {
        throw new SourceError(printable(`${origin}: not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`));
      }
    } else {
      throw new SourceError(printable(`${origin}: not valid YAML: ${(e as Error).message.split('\n')[0]}`));
    }
  }
  if (data === null || data === undefined) return { bots: [], bot_schedules: [] };
  if (yaml && MAY_HOLD_ALIAS.test(text)) {
    // js-yaml shares one object per anchor, so a 1 KB file of nested aliases parses fast into
    // billions of values that every later step (hash, render) would walk: bound the expansion.
    const limit = maxExpandedValues(text);
    if (measure(data, Infinity, limit)?.tooLarge) {
      throw new SourceError(`${origin}: YAML aliases expand to more than ${limit} values (an alias bomb?); write the repeated parts out or use fewer nested aliases`);
    }
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new SourceError(`${origin}: a fleet file is a map with "bots" and "bot_schedules" lists`);
  }
  const { bots, bot_schedules: schedules } = data as { bots?: unknown; bot_schedules?: unknown };
  for (const [name, v] of [['bots', bots], ['bot_schedules', schedules]] as const) {
    if (v !== undefined && v !== null && !Array.isArray(v)) throw new SourceError(`${origin}: "${name}" must be a list`);
  }
  if (bots === undefined && schedules === undefined) {
    throw new SourceError(`${origin}: neither "bots" nor "bot_schedules" found; is this a fleet file?`);
  }
  return { bots: (bots as unknown[] | null) ?? [], bot_schedules: (schedules as unknown[] | null) ?? [] };
}

/** A YAML alias (`*name` after a space, `[`, `{`, `,`, `:` or `-`), or something that looks like one. */
const MAY_HOLD_ALIAS = /(?:^|[\s[{,:-])\*[^\s,[\]{}]/;

/**
 * Most values a fleet file may expand to through aliases: generous for real files (a shared
 * `custom` block for thousands of bots), linear in the file's size, so never a bomb.
 */
export function maxExpandedValues(text: string): number {
  return Math.max(1_000_000, 4 * text.length);
}

/** Reads a fleet file from disk. */
export function readFleetFile(file: string): FleetDocuments {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SourceError(`cannot read fleet file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseFleetText(text, path.basename(file));
}

/**
 * Reads a fleet file, keeping a JSON file's documents as their bytes (RawDocument, decoded when
 * needed: the output cache knows most of them by those bytes). A YAML file, or a JSON file the
 * byte scan does not take apart, is read as readFleetFile reads it. A document whose bytes turn
 * out not to be JSON is that document's error when it is decoded, not the file's.
 */
export function readFleetFileLazy(file: string): FleetDocuments {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new SourceError(`cannot read fleet file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return splitFleetJson(buf) ?? parseFleetText(buf.toString('utf8'), path.basename(file));
}

/** Writes a fleet file atomically (temp file + rename), as YAML or JSON by extension. */
export function writeFleetFile(file: string, docs: FleetDocuments): void {
  const text = /\.json$/i.test(file)
    ? JSON.stringify(docs, null, 2) + '\n'
    : jsyaml.dump(docs, { lineWidth: -1, noRefs: true, sortKeys: false });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
