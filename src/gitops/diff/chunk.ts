// The diff's per-chunk work, run in the thread that rendered the chunk (see ChunkHook in
// synth/pool.ts): each rendered file against its base file. A file whose blob id equals the base
// blob's is unchanged without reading the base; only differing base files are read (one `git
// cat-file --batch` per thread), and only the entry goes back, not the texts.
import type { BatchItem } from '../../synth/batch';
import { compareEntry } from './compare';
import { BaseFile, BaseSource, BlobReader, blobId, classifyPath, isManagedText, readBaseFiles } from './tree';
import type { DiffEntry } from './types';

/** What a chunk's hook gets: where the base is, and each bot's base file (null: none), in the chunk's order. */
export interface ChunkInput {
  readonly source: BaseSource;
  readonly base: ReadonlyArray<BaseFile | null>;
}

/** Per item, in order: its entry, `unchanged`, or null when nothing was rendered (a failure or a leak). */
export type ChunkOutput = Array<DiffEntry | 'unchanged' | null>;

const readers = new Map<string, BlobReader>();

function readerFor(source: BaseSource): BlobReader | undefined {
  if (!('git' in source)) return undefined;
  let r = readers.get(source.git);
  if (!r) readers.set(source.git, (r = new BlobReader(source.git)));
  return r;
}

/** Closes this thread's blob readers (the calling thread's, at the end of a diff). */
export function closeReaders(): void {
  for (const r of readers.values()) r.close();
  readers.clear();
}

export async function chunkHook(items: BatchItem[], input: unknown): Promise<ChunkOutput> {
  const { source, base } = input as ChunkInput;
  const out: ChunkOutput = new Array(items.length).fill(null);
  const need: number[] = [];
  const current = (item: BatchItem) => ({ ...classifyPath(item.relPath)!, path: item.relPath, text: item.text! });
  items.forEach((item, i) => {
    if (item.text === undefined) return;
    const b = base[i];
    if (!b) out[i] = compareEntry(undefined, current(item));
    else if (b.sha !== undefined && blobId(item.text, b.sha) === b.sha && isManagedText(item.text)) {
      out[i] = compareEntry({ path: b.rel, text: item.text }, current(item));
    } else need.push(i);
  });
  if (need.length > 0) {
    const texts = await readBaseFiles(source, need.map((i) => base[i]!), readerFor(source));
    need.forEach((i, j) => {
      const text = texts[j];
      out[i] = compareEntry(text === undefined ? undefined : { path: base[i]!.rel, text }, current(items[i]));
    });
  }
  return out;
}
