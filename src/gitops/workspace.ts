import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, FleetsynthError } from '../errors';

/** Where and how to publish. */
export interface WorkspaceOptions {
  /** Remote repository: URL, scp-style address or local path (a relative path is taken from the cwd). */
  readonly repo: string;
  /** Branch Argo CD watches. */
  readonly branch: string;
  /** Local working copy, created if missing; owned by fleetsynth (it is reset hard on every sync). */
  readonly workDir: string;
  /** Output root inside the repository, e.g. `dist` or `.`. */
  readonly path: string;
  /** Commit author and committer; default `fleetsynth <fleetsynth@localhost>`. */
  readonly author?: { readonly name: string; readonly email: string };
}

/** What a publish did. */
export interface PublishOutcome {
  /** Sha pushed; undefined when nothing changed. */
  commit?: string;
  /** True when a commit reached the remote. */
  pushed: boolean;
  /** Render + push attempts made (more than one after rejected pushes). */
  attempts: number;
  /** The commit message render returned (also when the tree turned out unchanged). */
  message?: string;
}

/** A git command failed; the message names it, with credentials in URLs redacted. */
export class GitError extends FleetsynthError {
  constructor(
    /** Arguments of the failed command, redacted. */
    readonly args: readonly string[],
    /** Git's exit status, or null when git could not be started or was killed. */
    readonly gitStatus: number | null,
    /** Standard error, redacted. */
    readonly stderr: string,
  ) {
    const detail = stderr.trim().split('\n').filter((l) => !l.startsWith('hint:')).slice(0, 6).join('\n');
    super(`git ${args.join(' ')} failed (${gitStatus === null ? 'did not run to completion' : `exit ${gitStatus}`})${detail ? `: ${detail}` : ''}`);
  }
}

/** Every push was rejected because others kept moving the branch. */
export class PushRejectedError extends FleetsynthError {
  constructor(readonly branch: string, readonly attempts: number) {
    super(`push to ${branch} was rejected ${attempts} times (others keep pushing to it); nothing was published`, { hint: 'try again' });
  }
}

/** Another process is using the working copy. */
export class WorkspaceBusyError extends FleetsynthError {
  constructor(readonly workDir: string, readonly pid: number) {
    super(`working copy ${workDir} is in use by process ${pid}`, { hint: 'use another --work-dir or wait for it to finish' });
  }
}

/** The working copy path is not one fleetsynth may reset. */
export class WorkspaceError extends FleetsynthError {
  constructor(message: string, opts: { readonly hint?: string } = {}) {
    super(message, opts);
  }
}

/** Hides credentials embedded in URLs (`https://user:token@host` → `https://***@host`). */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/)[^/@\s]+@/g, '$1***@');
}

const DEFAULT_AUTHOR = { name: 'fleetsynth', email: 'fleetsynth@localhost' };
const MARK_KEY = 'fleetsynth.workspace';
const LOCK_FILE = 'fleetsynth.lock';
/** Lock files a killed git leaves behind; stale once we hold the workspace lock. */
const GIT_LOCKS = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', 'shallow.lock'];
const GIT_TIMEOUT_MS = 10 * 60 * 1000;
/** Variables that would point our git commands at another repository (set when running inside a git hook). */
const GIT_REPO_ENV = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_NAMESPACE', 'GIT_PREFIX', 'GIT_COMMON_DIR'];

/** Environment for git: never prompts, English messages, no inherited repository redirection. */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', LANGUAGE: 'C' };
  for (const k of GIT_REPO_ENV) delete env[k];
  return env;
}

/** Result of one git command. */
export interface GitRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs git without a shell; a non-zero exit is returned when `allowFail`, thrown otherwise. */
export function runGit(cwd: string, args: readonly string[], opts: { input?: string; allowFail?: boolean; config?: readonly string[] } = {}): Promise<GitRun> {
  const env = gitEnv();
  const full = [...(opts.config ?? []).flatMap((c) => ['-c', c]), ...args];
  return new Promise((resolve, reject) => {
    const child = execFile('git', full, { cwd, env, maxBuffer: 1024 * 1024 * 1024, timeout: GIT_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      if (code === 0 || (opts.allowFail && code !== null)) {
        resolve({ code: code ?? 0, stdout: String(stdout), stderr: String(stderr) });
        return;
      }
      const why = String(stderr) || (err as Error).message;
      reject(new GitError(args.map(redactUrl), code, redactUrl(why)));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

// One publisher per working copy at a time, within this process (queue) and across processes (lock file).
const queues = new Map<string, Promise<unknown>>();

/**
 * A local working copy of the repository Argo CD watches. Every operation starts from the remote
 * branch (fetch + hard reset), so a crash or a failed push never leaves anything behind that the
 * next run would publish by accident.
 */
export class GitWorkspace {
  private readonly opts: WorkspaceOptions;
  private readonly workDir: string;
  private readonly repoPath: string;
  private readonly remote: string;
  private readonly config: string[];
  private checkedOut = false;

  constructor(opts: WorkspaceOptions) {
    if (!opts.branch || opts.branch.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{/.test(opts.branch)) {
      throw new ConfigError([`--branch: invalid branch name "${opts.branch}"`]);
    }
    const rel = path.posix.normalize((opts.path || '.').replace(/\\/g, '/')).replace(/\/+$/, '') || '.';
    if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) {
      throw new ConfigError([`--path: "${opts.path}" must be a directory inside the repository`]);
    }
    // Not git's own directory (hooks, config: code that runs), in any case spelling.
    if (rel.split('/').some((seg) => seg.toLowerCase() === '.git')) {
      throw new WorkspaceError(`path "${opts.path}" is inside .git; the output root must be a plain directory of the work tree`);
    }
    this.opts = opts;
    this.workDir = path.resolve(opts.workDir);
    this.repoPath = rel;
    this.remote = isRemoteAddress(opts.repo) ? opts.repo : path.resolve(opts.repo);
    const author = opts.author ?? DEFAULT_AUTHOR;
    this.config = [
      `user.name=${author.name}`,
      `user.email=${author.email}`,
      'commit.gpgsign=false',
      'core.autocrlf=false',
      'core.quotepath=false',
      'core.hooksPath=/dev/null',
      'gc.auto=0',
    ];
  }

  /** Absolute path of the output root inside the working copy. */
  get outDir(): string {
    return path.join(this.workDir, this.repoPath);
  }

  /**
   * Makes the working copy equal to the remote branch: clone if missing, else fetch, hard reset and
   * remove untracked files under the output root (a half-written tree from a crash). An empty remote
   * (no branch yet) gives an empty working copy.
   */
  async sync(): Promise<void> {
    await this.exclusive(() => this.syncLocked());
  }

  /**
   * Renders on top of the remote branch and pushes the result. `render` writes into `outDir` and
   * returns the commit message, or null for "nothing to publish". Only paths under the output root
   * are staged; a commit is made only when they changed; the push is never forced. A rejected push
   * (someone else pushed first) means: sync, render again on the new remote, push again.
   */
  async publish(render: (outDir: string) => Promise<string | null>, opts: { retries?: number } = {}): Promise<PublishOutcome> {
    const retries = opts.retries ?? 5;
    return this.exclusive(async () => {
      for (let attempt = 1; ; attempt++) {
        await this.syncLocked();
        let message: string | null;
        try {
          this.assertPlainOutputRoot();
          message = await render(this.outDir);
        } catch (e) {
          await this.discard();
          throw e;
        }
        if (message === null) {
          await this.discard();
          return { pushed: false, attempts: attempt };
        }
        await this.git(['add', '-A', '--', this.repoPath]);
        const staged = await this.git(['diff', '--cached', '--quiet', '--', this.repoPath], { allowFail: true });
        if (staged.code === 0) {
          await this.discard();
          return { pushed: false, attempts: attempt, message };
        }
        if (staged.code !== 1) throw new GitError(['diff', '--cached', '--quiet'], staged.code, staged.stderr);
        await this.git(['commit', '-q', '--no-verify', '-F', '-'], { input: message.endsWith('\n') ? message : message + '\n' });
        const commit = (await this.git(['rev-parse', 'HEAD'])).stdout.trim();
        const push = await this.git(['push', '--no-verify', 'origin', `HEAD:refs/heads/${this.opts.branch}`], { allowFail: true });
        if (push.code === 0) return { commit, pushed: true, attempts: attempt, message };
        if (!isStalePush(push.stderr + push.stdout)) {
          await this.discard();
          throw new GitError(['push', 'origin', `HEAD:refs/heads/${this.opts.branch}`], push.code, redactUrl(push.stderr));
        }
        if (attempt > retries) {
          await this.discard();
          throw new PushRejectedError(this.opts.branch, attempt);
        }
        await sleep(backoffMs(attempt));
      }
    });
  }

  /**
   * The output root and every directory above it inside the work tree are plain directories (or
   * do not exist yet): a symbolic link committed there would send the render outside the work
   * tree, and the files would never reach Git.
   */
  assertPlainOutputRoot(): void {
    let rel = '';
    for (const seg of this.repoPath === '.' ? [] : this.repoPath.split('/')) {
      rel = rel ? `${rel}/${seg}` : seg;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(this.workDir, rel));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      if (st.isSymbolicLink()) throw new WorkspaceError(`${rel} in the repository is a symbolic link; the output root must be a plain directory of the work tree (replace the link by a directory)`);
      if (!st.isDirectory()) throw new WorkspaceError(`${rel} in the repository is not a directory; the output root must be a plain directory of the work tree`);
    }
  }

  private git(args: readonly string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<GitRun> {
    return runGit(this.workDir, args, { ...opts, config: this.config });
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const key = this.workDir;
    const prev = queues.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(async () => {
      await this.prepare();
      const release = this.lock();
      try {
        return await fn();
      } finally {
        release();
      }
    });
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return run;
  }

  /** Creates the working copy (an empty repository marked as ours) or checks that it is ours. */
  private async prepare(): Promise<void> {
    const gitDir = path.join(this.workDir, '.git');
    if (!fs.existsSync(gitDir)) {
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(this.workDir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fs.mkdirSync(this.workDir, { recursive: true });
      }
      if (entries.length > 0) {
        throw new WorkspaceError(`work dir ${this.workDir} exists, is not empty and is not a fleetsynth working copy; refusing to reset it`);
      }
      await runGit(this.workDir, ['init', '-q']);
      await runGit(this.workDir, ['config', MARK_KEY, 'true']);
      await runGit(this.workDir, ['remote', 'add', 'origin', this.remote]);
      return;
    }
    const mark = await runGit(this.workDir, ['config', '--local', '--get', MARK_KEY], { allowFail: true });
    if (mark.stdout.trim() !== 'true') {
      throw new WorkspaceError(`work dir ${this.workDir} is a git working copy fleetsynth did not create; refusing to reset it (use an empty or new --work-dir)`);
    }
  }

  /** Takes the cross-process lock; stale git lock files of a killed run are removed once it is ours. */
  private lock(): () => void {
    const gitDir = path.join(this.workDir, '.git');
    const file = path.join(gitDir, LOCK_FILE);
    // pid, host and the process's start time: a pid reused by another process after a crash
    // does not hold the lock (the lock dies with its holder).
    const me = `${process.pid}\n${os.hostname()}\n${processStart(process.pid) ?? ''}\n`;
    for (let i = 0; ; i++) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 3) throw e;
        const [pidText, host, started] = readText(file).split('\n');
        const pid = Number(pidText);
        const reused = started !== undefined && started !== '' && isAlive(pid) && (processStart(pid) ?? started) !== started;
        if (host === os.hostname() && pid !== process.pid && isAlive(pid) && !reused) throw new WorkspaceBusyError(this.workDir, pid);
        fs.rmSync(file, { force: true });
      }
    }
    for (const l of GIT_LOCKS) fs.rmSync(path.join(gitDir, l), { force: true });
    for (const ref of [`refs/heads/${this.opts.branch}`, `refs/remotes/origin/${this.opts.branch}`]) {
      fs.rmSync(path.join(gitDir, `${ref}.lock`), { force: true });
    }
    return () => {
      if (readText(file) === me) fs.rmSync(file, { force: true });
    };
  }

  private async syncLocked(): Promise<void> {
    if (!this.checkedOut) {
      // Once per instance (and so after every restart): the remote and HEAD are what we expect.
      await this.git(['remote', 'set-url', 'origin', this.remote]);
      await this.git(['symbolic-ref', 'HEAD', `refs/heads/${this.opts.branch}`]);
      this.checkedOut = true;
    }
    const branch = this.opts.branch;
    const tracking = `refs/remotes/origin/${branch}`;
    const fetch = await this.git(['fetch', '-q', '--no-tags', 'origin', `+refs/heads/${branch}:${tracking}`], { allowFail: true });
    if (fetch.code !== 0) {
      if (!/couldn't find remote ref/i.test(fetch.stderr)) {
        throw new GitError(['fetch', 'origin', `refs/heads/${branch}`], fetch.code, redactUrl(fetch.stderr));
      }
      // The branch does not exist yet: forget what we knew of it.
      await this.git(['update-ref', '-d', tracking], { allowFail: true });
    }
    await this.discard(fetch.code === 0);
  }

  /** Resets the working copy to the last fetched remote branch, without talking to the remote. */
  private async discard(remoteExists?: boolean): Promise<void> {
    const branch = this.opts.branch;
    const tracking = `refs/remotes/origin/${branch}`;
    const exists = remoteExists ?? (await this.git(['rev-parse', '-q', '--verify', `${tracking}^{commit}`], { allowFail: true })).code === 0;
    if (exists) {
      await this.git(['reset', '-q', '--hard', tracking]);
      await this.git(['clean', '-f', '-d', '-q', '--', this.repoPath]);
    } else {
      // Empty remote: an unborn branch and an empty tree; nothing in the working copy is tracked.
      await this.git(['update-ref', '-d', `refs/heads/${branch}`], { allowFail: true });
      await this.git(['read-tree', '--empty']);
      await this.git(['clean', '-f', '-d', '-q']);
    }
  }
}

/** True for URLs and scp-style addresses; anything else is a local path. */
function isRemoteAddress(repo: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\\:]+@[^/\\:]+:/.test(repo) || /^file:/i.test(repo);
}

/** A push rejected because the branch moved meanwhile (retry on top of it), not for policy. */
function isStalePush(output: string): boolean {
  return /\[rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to update ref|stale info|incorrect old value/i.test(output) &&
    !/hook declined|protected branch/i.test(output);
}

function backoffMs(attempt: number): number {
  return Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random());
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * When a process started (clock ticks since boot, /proc/<pid>/stat field 22), or undefined where
 * there is no /proc: with the pid it names one process, never a later one that reuses the pid.
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
