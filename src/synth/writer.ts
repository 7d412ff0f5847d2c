import * as fs from 'node:fs';
import * as path from 'node:path';
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

/**
 * Writes a file only when its bytes differ. A replaced file is written to a temporary name and
 * renamed, so a reader (git, Argo CD, a crash) never sees half of it.
 */
export function writeIfChanged(absPath: string, text: string, exists: boolean): WriteStatus {
  if (exists) {
    let current: string | undefined;
    try {
      current = fs.readFileSync(absPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (current === text) return 'unchanged';
    if (current !== undefined) {
      const tmp = `${absPath}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, absPath);
      return 'written';
    }
  }
  try {
    fs.writeFileSync(absPath, text, { flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(path.dirname(absPath), { recursive: true });
      fs.writeFileSync(absPath, text, { flag: 'wx' });
    } else if (code === 'EEXIST') {
      return writeIfChanged(absPath, text, true);
    } else {
      throw e;
    }
  }
  return 'written';
}
