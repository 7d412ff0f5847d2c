// Reading managed files: from an output root on disk, or from a commit of a git repository.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLEETSYNTH_LABEL } from '../../model/labels';
import { BOTS_DIR, BOT_FILE_PATTERN } from '../../synth/shard';
import { listBotFiles } from '../../synth/writer';
import { GitError, gitEnv, redactUrl, runGit } from '../workspace';
import { DiffBaseError, EntryKind, PLATFORM_DIR } from './types';

const MANAGED_MARK = `${Object.keys(FLEETSYNTH_LABEL)[0]}: ${Object.values(FLEETSYNTH_LABEL)[0]}`;

export interface Classified {
  readonly key: string;
  readonly kind: EntryKind;
  readonly id?: string;
}

/** Which managed file a path under the output root is, if any. Bot files match by name, so a shard move is a change. */
export function classifyPath(relPath: string): Classified | undefined {
  const parts = relPath.split('/');
  if (parts.length === 3 && parts[0] === BOTS_DIR) {
    const m = BOT_FILE_PATTERN.exec(parts[2]);
    if (m) return { key: `${BOTS_DIR}:${parts[2]}`, kind: m[1] === 'bot' ? 'bot' : 'schedule', id: m[2] };
    return undefined;
  }
  if (parts.length >= 2 && parts[0] === PLATFORM_DIR && relPath.endsWith('.yaml')) return { key: relPath, kind: 'platform' };
  return undefined;
}

const isManagedText = (text: string) => text.includes(MANAGED_MARK);

/** Managed files (bot files and platform manifests) under an output root on disk. */
export function readTreeFromDir(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const add = (rel: string) => {
    const text = fs.readFileSync(path.join(root, rel), 'utf8');
    if (isManagedText(text)) out.set(rel, text);
  };
  for (const f of listBotFiles(root)) add(f.relPath);
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && e.name.endsWith('.yaml')) add(child);
    }
  };
  walk(PLATFORM_DIR);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Managed files under `subPath` of a commit, read from the object database (`ls-tree` + `cat-file
 * --batch`) without touching any working tree. A ref without that path gives an empty tree.
 */
export async function readTreeFromGit(repoDir: string, ref: string, subPath: string): Promise<Map<string, string>> {
  let top: string;
  let prefix: string;
  try {
    const bare = (await runGit(repoDir, ['rev-parse', '--is-bare-repository'])).stdout.trim() === 'true';
    top = bare ? repoDir : (await runGit(repoDir, ['rev-parse', '--show-toplevel'])).stdout.trim();
    prefix = bare ? '' : (await runGit(repoDir, ['rev-parse', '--show-prefix'])).stdout.trim();
  } catch (e) {
    throw new DiffBaseError(`${repoDir} is not inside a git repository (${(e as Error).message})`, { hint: 'pass --base <dir> to compare with a directory' });
  }
  const inRepo = path.posix.normalize(path.posix.join(prefix, subPath.replace(/\\/g, '/'))).replace(/\/+$/, '');
  if (inRepo === '..' || inRepo.startsWith('../')) throw new DiffBaseError(`${subPath} is outside the repository ${top}`);
  const tree = await runGit(top, ['rev-parse', '-q', '--verify', `${ref}^{tree}`], { allowFail: true });
  if (tree.code !== 0) throw new DiffBaseError(`git ref "${ref}" not found in ${top}`);
  const root = inRepo === '.' || inRepo === '' ? '' : `${inRepo}/`;
  const ls = await runGit(top, ['ls-tree', '-r', '-z', '--full-tree', tree.stdout.trim(), '--', ...(root ? [inRepo] : [])]);
  const wanted: { rel: string; sha: string }[] = [];
  for (const rec of ls.stdout.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, sha] = rec.slice(0, tab).split(' ');
    const full = rec.slice(tab + 1);
    if (type !== 'blob' || mode === '120000' || !full.startsWith(root)) continue;
    const rel = full.slice(root.length);
    if (classifyPath(rel)) wanted.push({ rel, sha });
  }
  const texts = await catBlobs(top, wanted.map((w) => w.sha));
  const out = new Map<string, string>();
  wanted.forEach((w, i) => {
    if (isManagedText(texts[i])) out.set(w.rel, texts[i]);
  });
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Reads blobs in one `git cat-file --batch` process. */
function catBlobs(cwd: string, shas: readonly string[]): Promise<string[]> {
  if (shas.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => reject(new GitError(['cat-file', '--batch'], null, e.message)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitError(['cat-file', '--batch'], code, redactUrl(stderr)));
      const buf = Buffer.concat(chunks);
      const out: string[] = [];
      let pos = 0;
      for (let i = 0; i < shas.length; i++) {
        const nl = buf.indexOf(10, pos);
        const header = buf.toString('utf8', pos, nl).split(' ');
        if (header[1] !== 'blob') return reject(new GitError(['cat-file', '--batch'], code, `unexpected object ${header.join(' ')}`));
        const size = Number(header[2]);
        out.push(buf.toString('utf8', nl + 1, nl + 1 + size));
        pos = nl + 1 + size + 1;
      }
      resolve(out);
    });
    child.stdin.end(shas.join('\n') + '\n');
  });
}
