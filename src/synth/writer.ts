import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { FLEETSYNTH_LABEL } from '../constructs/pod';
import { BOTS_DIR, BOT_FILE_PATTERN } from './shard';

/** A bot file found in an output tree. */
export interface ExistingBotFile {
  /** Path under the output root. */
  readonly relPath: string;
  /** Bot id from the file name. */
  readonly id: string;
}

/** Lists the files in `<out>/bots/<shard>/` that are named like bot files. */
export function listBotFiles(outDir: string): ExistingBotFile[] {
  const root = path.join(outDir, BOTS_DIR);
  let shards: fs.Dirent[];
  try {
    shards = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ExistingBotFile[] = [];
  for (const shard of shards) {
    if (!shard.isDirectory()) continue;
    for (const f of fs.readdirSync(path.join(root, shard.name), { withFileTypes: true })) {
      const m = f.isFile() ? BOT_FILE_PATTERN.exec(f.name) : null;
      if (m) out.push({ relPath: `${BOTS_DIR}/${shard.name}/${f.name}`, id: m[2] });
    }
  }
  return out;
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
