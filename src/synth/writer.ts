import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { FleetsynthError } from '../errors';
import { FLEETSYNTH_LABEL } from '../model/labels';
import { BOTS_DIR, BOT_FILE_PATTERN } from './shard';

/** The output tree holds something fleetsynth must not write through (a symbolic link). */
export class OutputTreeError extends FleetsynthError {
  constructor(message: string) {
    super(message, { hint: 'nothing was written through the link; replace it in the repository (or the output directory) and run again' });
  }
}

function linkError(outDir: string, rel: string): OutputTreeError {
  return new OutputTreeError(
    `${path.join(outDir, rel)} is a symbolic link; fleetsynth never writes through links in its output tree (the files would land outside it, and never in Git): replace it by a plain ${rel.includes('/') ? 'file or directory' : 'directory'}`,
  );
}

/**
 * Refuses an output tree in which a path fleetsynth writes is a symbolic link: `bots/`, a shard
 * directory, `platform/` or a file in it. (Links inside shard directories are refused by
 * listBotFiles, which reads them anyway.) Costs two directory reads.
 */
export function assertPlainOutputTree(outDir: string, dirs: readonly string[]): void {
  for (const dir of dirs) {
    let entries: fs.Dirent[];
    try {
      if (fs.lstatSync(path.join(outDir, dir)).isSymbolicLink()) throw linkError(outDir, dir);
      entries = fs.readdirSync(path.join(outDir, dir), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw e;
    }
    for (const e of entries) if (e.isSymbolicLink()) throw linkError(outDir, `${dir}/${e.name}`);
  }
}

/** A bot file found in an output tree. */
export interface ExistingBotFile {
  /** Path under the output root. */
  readonly relPath: string;
  /** Bot id from the file name. */
  readonly id: string;
}

/**
 * Lists the files in `<out>/bots/<shard>/` that are named like bot files.
 *
 * A shard directory's listing is remembered in this process and reused while the directory's
 * mtime, ctime and inode stay the same (creating, removing or renaming an entry changes them),
 * so re-rendering one bot of a large fleet does not read every shard again. As with the output
 * cache, a listing taken within the timestamp granularity of the directory's last change is not
 * reused (a later change in the same clock tick would keep the mtime). `remember: false`
 * (FLEETSYNTH_CACHE=off in the CLI) reads every directory every time.
 */
export function listBotFiles(outDir: string, opts: { readonly remember?: boolean } = {}): ExistingBotFile[] {
  const root = path.join(outDir, BOTS_DIR);
  let shards: fs.Dirent[];
  try {
    shards = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const memo = opts.remember === false ? undefined : listingMemo(path.resolve(root));
  const out: ExistingBotFile[] = [];
  const present = new Set<string>();
  for (const shard of shards) {
    if (!shard.isDirectory()) continue;
    present.add(shard.name);
    for (const f of shardFiles(path.join(root, shard.name), `${BOTS_DIR}/${shard.name}/`, shard.name, memo)) out.push(f);
  }
  if (memo) for (const name of memo.keys()) if (!present.has(name)) memo.delete(name);
  return out;
}

/**
 * The bot files of these ids only, wherever they are (any shard directory, either kind): what
 * listBotFiles would list for them, found with a few `lstat`s per shard instead of reading every
 * shard (a live resync of one bot in a 50,000-bot tree). A link named like one is refused.
 */
export function findBotFiles(outDir: string, ids: Iterable<string>): ExistingBotFile[] {
  let shards: fs.Dirent[];
  try {
    shards = fs.readdirSync(path.join(outDir, BOTS_DIR), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const names: Array<{ n: string; id: string }> = [];
  for (const id of ids) {
    for (const kind of BOT_FILE_KINDS) {
      const n = `${kind}-${id}.yaml`;
      if (BOT_FILE_PATTERN.test(n)) names.push({ n, id });
    }
  }
  const out: ExistingBotFile[] = [];
  for (const shard of shards) {
    if (!shard.isDirectory()) continue;
    for (const { n, id } of names) {
      const relPath = `${BOTS_DIR}/${shard.name}/${n}`;
      const st = fs.lstatSync(path.join(outDir, relPath), { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) throw linkError(outDir, relPath);
      if (st?.isFile()) out.push({ relPath, id });
    }
  }
  return out;
}
const BOT_FILE_KINDS = ['bot', 'schedule'] as const;

interface ShardListing {
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly files: readonly ExistingBotFile[];
}

/** Remembered listings: output roots (most recent last) → shard name → listing. */
const listings = new Map<string, Map<string, ShardListing>>();
const MAX_REMEMBERED_ROOTS = 8;

function listingMemo(root: string): Map<string, ShardListing> {
  let memo = listings.get(root);
  if (memo) listings.delete(root);
  else memo = new Map();
  listings.set(root, memo);
  if (listings.size > MAX_REMEMBERED_ROOTS) listings.delete(listings.keys().next().value!);
  return memo;
}

function sameDir(a: { mtimeMs: number; ctimeMs: number; ino: number }, b: fs.Stats): boolean {
  return a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/** Whether a timestamp is old enough that a later change would carry another one. */
export function settled(timeMs: number, now: number): boolean {
  // Linux stamps files from its coarse clock (one tick: 1-10 ms), so a later change carries a
  // later time once 20 ms have passed. Whole-second timestamps mean a coarse filesystem (FAT,
  // some network mounts): wider margin.
  return timeMs + (timeMs % 1000 === 0 ? 3000 : 20) < now;
}

function shardFiles(dir: string, prefix: string, name: string, memo: Map<string, ShardListing> | undefined): readonly ExistingBotFile[] {
  const before = memo ? fs.statSync(dir) : undefined;
  const known = memo?.get(name);
  if (known && before && sameDir(known, before)) return known.files;
  const files: ExistingBotFile[] = [];
  for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
    const n = f.name;
    if (f.isSymbolicLink() && (BOT_FILE_PATTERN.test(n) || n.startsWith('.fleetsynth'))) throw linkError(path.dirname(path.dirname(dir)), `${prefix}${n}`);
    // `(bot|schedule)-<id>.yaml`: the id is between the first '-' and the extension.
    if (n.endsWith('.yaml') && BOT_FILE_PATTERN.test(n) && f.isFile()) files.push({ relPath: prefix + n, id: n.slice(n.indexOf('-') + 1, -5) });
  }
  if (memo && before) {
    const after = fs.statSync(dir);
    const now = Date.now();
    if (sameDir(before, after) && settled(after.mtimeMs, now) && settled(after.ctimeMs, now)) {
      memo.set(name, { mtimeMs: after.mtimeMs, ctimeMs: after.ctimeMs, ino: after.ino, files });
    } else {
      memo.delete(name);
    }
  }
  return files;
}

const MANAGED_MARK = `${Object.keys(FLEETSYNTH_LABEL)[0]}: ${Object.values(FLEETSYNTH_LABEL)[0]}`;

/** True when the file carries fleetsynth's managed-by label: only such files are ever removed. */
export function isManagedFile(absPath: string): boolean {
  try {
    return fs.readFileSync(absPath, 'utf8').includes(MANAGED_MARK);
  } catch {
    return false;
  }
}

/** Outcome of writing one file. */
export type WriteStatus = 'written' | 'unchanged';

/** Where a file is on disk: enough to tell later that nobody touched it (see cache.ts). */
export interface FileStamp {
  /** Size in bytes. */
  readonly size: number;
  /** Modification time in milliseconds, with the filesystem's sub-millisecond part. */
  readonly mtimeMs: number;
  /** Inode number. */
  readonly ino: number;
}

/** The stamp of an open file or of a path's stat. */
export function stampOf(st: fs.Stats): FileStamp {
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

/**
 * Writes a file only when its bytes differ. A replaced file is written to a temporary name and
 * renamed, so a reader (git, Argo CD, a crash) never sees half of it.
 */
export function writeIfChanged(absPath: string, text: string, exists: boolean): WriteStatus {
  return writeStamped(absPath, text, exists, false).status;
}

/**
 * `writeIfChanged`, also returning the file's stamp after the write (or after the comparison)
 * when `stamp` is set. A file known to be missing (`exists` false) is created without a read;
 * an existing file whose size differs from the new text is replaced without reading it.
 */
export function writeStamped(absPath: string, text: string, exists: boolean, stamp: boolean): { status: WriteStatus; stamp?: FileStamp } {
  if (exists) {
    const data = Buffer.from(text, 'utf8');
    let fd: number | undefined;
    try {
      fd = fs.openSync(absPath, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (fd !== undefined) {
      let same = false;
      let st: fs.Stats;
      try {
        st = fs.fstatSync(fd);
        same = st.size === data.length && fs.readFileSync(fd).equals(data);
      } finally {
        fs.closeSync(fd);
      }
      if (same) return { status: 'unchanged', stamp: stamp ? stampOf(st) : undefined };
      const tmp = `${absPath}.${process.pid}.${threadId}.tmp`;
      const written = writeNew(tmp, data, stamp, 'w');
      fs.renameSync(tmp, absPath);
      return { status: 'written', stamp: written };
    }
  }
  try {
    return { status: 'written', stamp: writeNew(absPath, text, stamp) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(path.dirname(absPath), { recursive: true });
      return { status: 'written', stamp: writeNew(absPath, text, stamp) };
    }
    if (code === 'EEXIST') return writeStamped(absPath, text, true, stamp);
    throw e;
  }
}

// Writes a whole file (by default one that must not exist yet) and returns its stamp when asked.
function writeNew(absPath: string, data: string | Buffer, stamp: boolean, flag = 'wx'): FileStamp | undefined {
  const fd = fs.openSync(absPath, flag);
  try {
    fs.writeFileSync(fd, data);
    return stamp ? stampOf(fs.fstatSync(fd)) : undefined;
  } finally {
    fs.closeSync(fd);
  }
}
