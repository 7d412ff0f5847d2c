// Reading managed files: from an output root on disk, or from a commit of a git repository.
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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

/** A file of a base tree, not read yet: its path under the output root and, in git, its blob id. */
export interface BaseFile {
  readonly rel: string;
  readonly sha?: string;
}

/** Where a base tree's files are read from: a commit's objects (in `cwd`) or a directory. */
export type BaseSource = { readonly git: string } | { readonly dir: string };

/** A base tree listed without reading its files: the paths that may be managed files, sorted. */
export interface BaseListing {
  readonly source: BaseSource;
  readonly files: BaseFile[];
}

const byRel = (a: BaseFile, b: BaseFile) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);

/** Lists the files of an output root on disk that `readTreeFromDir` would read. */
export function listTreeInDir(root: string): BaseListing {
  const files: BaseFile[] = listBotFiles(root).map((f) => ({ rel: f.relPath }));
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
      else if (e.isFile() && e.name.endsWith('.yaml')) files.push({ rel: child });
    }
  };
  walk(PLATFORM_DIR);
  return { source: { dir: root }, files: files.sort(byRel) };
}

/**
 * Lists the blobs under `subPath` of a commit that may be managed files (`ls-tree`), with their
 * ids, reading none. A ref without that path gives an empty listing.
 */
export async function listTreeInGit(repoDir: string, ref: string, subPath: string): Promise<BaseListing> {
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
  const files: BaseFile[] = [];
  for (const rec of ls.stdout.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, sha] = rec.slice(0, tab).split(' ');
    const full = rec.slice(tab + 1);
    if (type !== 'blob' || mode === '120000' || !full.startsWith(root)) continue;
    const rel = full.slice(root.length);
    if (classifyPath(rel)) files.push({ rel, sha });
  }
  return { source: { git: top }, files: files.sort(byRel) };
}

/** Reads the texts of listed base files; undefined for a file that is not managed (or, on disk, gone). */
export async function readBaseFiles(source: BaseSource, files: readonly BaseFile[], reader?: BlobReader): Promise<Array<string | undefined>> {
  let texts: Array<string | undefined>;
  if ('dir' in source) {
    texts = files.map((f) => {
      try {
        return fs.readFileSync(path.join(source.dir, f.rel), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    });
  } else {
    const own = reader ?? new BlobReader(source.git);
    try {
      texts = await own.read(files.map((f) => f.sha!));
    } finally {
      if (!reader) own.close();
    }
  }
  return texts.map((t) => (t !== undefined && isManagedText(t) ? t : undefined));
}

/** True when a file's text marks it as fleetsynth's. */
export { isManagedText };

/** The blob id git gives this text (sha1, or sha256 when `like` is a 64-digit id). */
export function blobId(text: string, like?: string): string {
  const h = createHash(like !== undefined && like.length === 64 ? 'sha256' : 'sha1');
  h.update(`blob ${Buffer.byteLength(text)}\0`);
  h.update(text);
  return h.digest('hex');
}

/**
 * Managed files under `subPath` of a commit, read from the object database (`ls-tree` + `cat-file
 * --batch`) without touching any working tree. A ref without that path gives an empty tree.
 */
export async function readTreeFromGit(repoDir: string, ref: string, subPath: string): Promise<Map<string, string>> {
  const { source, files } = await listTreeInGit(repoDir, ref, subPath);
  const texts = await readBaseFiles(source, files);
  const out = new Map<string, string>();
  files.forEach((f, i) => {
    const t = texts[i];
    if (t !== undefined) out.set(f.rel, t);
  });
  return out;
}

/**
 * One `git cat-file --batch` process that reads blobs on request, a batch at a time (requests
 * queue). It ends with `close()`, or when its thread ends (its stdin closes).
 */
export class BlobReader {
  private readonly child: ChildProcessWithoutNullStreams;
  private pending: Buffer = Buffer.alloc(0);
  private waiting: { want: number; out: string[]; resolve: (t: string[]) => void; reject: (e: Error) => void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private failed: Error | undefined;
  private stderr = '';

  constructor(cwd: string) {
    this.child = spawn('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (c: Buffer) => this.onData(c));
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.child.on('error', (e) => this.fail(new GitError(['cat-file', '--batch'], null, e.message)));
    this.child.on('close', (code) => this.fail(new GitError(['cat-file', '--batch'], code, redactUrl(this.stderr) || 'ended early')));
    // Never what keeps a thread alive.
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  }

  /** The texts of these blobs, in order. */
  read(shas: readonly string[]): Promise<string[]> {
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        if (this.failed) return reject(this.failed);
        if (shas.length === 0) return resolve([]);
        this.waiting = { want: shas.length, out: [], resolve, reject };
        // Keep the thread alive while waiting.
        (this.child.stdout as unknown as { ref?: () => void }).ref?.();
        this.child.stdin.write(shas.join('\n') + '\n');
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.waiting = undefined;
    this.failed ??= new Error('blob reader closed');
    this.child.stdin.end();
  }

  private fail(e: Error): void {
    if (!this.failed) this.failed = e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failed);
  }

  private onData(c: Buffer): void {
    this.pending = this.pending.length === 0 ? c : Buffer.concat([this.pending, c]);
    const w = this.waiting;
    if (!w) return;
    let pos = 0;
    while (w.out.length < w.want) {
      const nl = this.pending.indexOf(10, pos);
      if (nl < 0) break;
      const header = this.pending.toString('utf8', pos, nl).split(' ');
      if (header[1] !== 'blob') {
        this.pending = Buffer.alloc(0);
        return this.fail(new GitError(['cat-file', '--batch'], null, `unexpected object ${header.join(' ')}`));
      }
      const size = Number(header[2]);
      if (this.pending.length < nl + 1 + size + 1) break;
      w.out.push(this.pending.toString('utf8', nl + 1, nl + 1 + size));
      pos = nl + 1 + size + 1;
    }
    this.pending = pos >= this.pending.length ? Buffer.alloc(0) : this.pending.subarray(pos);
    if (w.out.length === w.want) {
      this.waiting = undefined;
      (this.child.stdout as unknown as { unref?: () => void }).unref?.();
      w.resolve(w.out);
    }
  }
}
