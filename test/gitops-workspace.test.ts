import { ConfigError } from '../src/errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { GitError, GitWorkspace, WorkspaceError, redactUrl } from '../src/gitops/workspace';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-ws-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function bare(): string {
  const dir = path.join(tmp, `remote-${++n}.git`);
  execFileSync('git', ['init', '-q', '--bare', dir]);
  return dir;
}
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
const head = (repo: string, branch = 'main') => {
  try {
    return git(repo, 'rev-parse', '-q', '--verify', `refs/heads/${branch}`);
  } catch {
    return undefined;
  }
};
const ws = (repo: string, name: string, p = 'dist') => new GitWorkspace({ repo, branch: 'main', workDir: path.join(tmp, name), path: p });
const write = (dir: string, rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
};
const tree = (repo: string) => git(repo, 'ls-tree', '-r', '--name-only', 'main').split('\n').filter(Boolean);

test('publishes to an empty remote, then makes no commit when nothing changed', async () => {
  const repo = bare();
  const w = ws(repo, 'a');
  await w.sync(); // empty remote is fine
  expect(w.outDir).toBe(path.join(tmp, 'a', 'dist'));
  const first = await w.publish(async (out) => {
    write(out, 'bots/shard-00/bot-a.yaml', 'a: 1\n');
    return 'first';
  });
  expect(first).toMatchObject({ pushed: true, attempts: 1, message: 'first' });
  expect(head(repo)).toBe(first.commit);
  expect(git(repo, 'log', '-1', '--format=%an <%ae>|%s', 'main')).toBe('fleetsynth <fleetsynth@localhost>|first');

  const again = await w.publish(async (out) => {
    write(out, 'bots/shard-00/bot-a.yaml', 'a: 1\n');
    return 'same';
  });
  expect(again).toEqual({ pushed: false, attempts: 1, message: 'same' });
  const none = await w.publish(async () => null);
  expect(none).toEqual({ pushed: false, attempts: 1 });
  expect(head(repo)).toBe(first.commit);
});

test('stages only the output root; files outside it are never committed', async () => {
  const repo = bare();
  const w = ws(repo, 'b');
  const r = await w.publish(async (out) => {
    write(out, 'x.yaml', 'x\n');
    write(path.dirname(out), 'outside.txt', 'no\n');
    return 'm';
  });
  expect(r.pushed).toBe(true);
  expect(tree(repo)).toEqual(['dist/x.yaml']);
});

test('a rejected push renders again on top of the new remote', async () => {
  const repo = bare();
  const a = ws(repo, 'c1');
  const b = ws(repo, 'c2');
  await a.publish(async (out) => (write(out, 'base.yaml', 'base\n'), 'base'));
  let renders = 0;
  const r = await b.publish(async (out) => {
    renders++;
    if (renders === 1) {
      // Someone else pushes between our sync and our push.
      await a.publish(async (o) => (write(o, 'other.yaml', 'other\n'), 'other'));
    }
    expect(fs.existsSync(path.join(out, 'base.yaml'))).toBe(true);
    write(out, 'mine.yaml', 'mine\n');
    return 'mine';
  });
  expect(r).toMatchObject({ pushed: true, attempts: 2 });
  expect(tree(repo)).toEqual(['dist/base.yaml', 'dist/mine.yaml', 'dist/other.yaml']);
  expect(git(repo, 'log', '--format=%s', 'main').split('\n')).toEqual(['mine', 'other', 'base']);
});

test('concurrent publishers on one remote both get pushed, without force', async () => {
  const repo = bare();
  const ps = Array.from({ length: 3 }, (_, i) =>
    ws(repo, `d${i}`).publish(async (out) => {
      write(out, `p${i}.yaml`, `${i}\n`);
      return `p${i}`;
    }, { retries: 10 }),
  );
  const rs = await Promise.all(ps);
  expect(rs.every((r) => r.pushed)).toBe(true);
  expect(tree(repo)).toEqual(['dist/p0.yaml', 'dist/p1.yaml', 'dist/p2.yaml']);
  expect(git(repo, 'rev-list', '--count', 'main')).toBe('3');
});

test('a render that throws halfway leaves nothing behind for the next run', async () => {
  const repo = bare();
  const w = ws(repo, 'e');
  await w.publish(async (out) => (write(out, 'keep.yaml', 'keep\n'), 'base'));
  const before = head(repo);
  await expect(
    w.publish(async (out) => {
      write(out, 'half.yaml', 'half\n');
      fs.writeFileSync(path.join(out, 'keep.yaml'), 'broken');
      throw new Error('crash');
    }),
  ).rejects.toThrow('crash');
  expect(head(repo)).toBe(before);
  // The working copy was reset: the half-written tree is gone.
  expect(fs.existsSync(path.join(w.outDir, 'half.yaml'))).toBe(false);
  expect(fs.readFileSync(path.join(w.outDir, 'keep.yaml'), 'utf8')).toBe('keep\n');
  // And a crash that left files and a local commit behind (a killed process) is undone by sync.
  write(w.outDir, 'junk.yaml', 'junk\n');
  git(path.join(tmp, 'e'), '-c', 'user.name=x', '-c', 'user.email=x@y', 'commit', '-q', '--allow-empty', '-m', 'local only');
  fs.writeFileSync(path.join(tmp, 'e', '.git', 'index.lock'), '');
  await w.sync();
  expect(git(path.join(tmp, 'e'), 'rev-parse', 'HEAD')).toBe(before);
  expect(fs.existsSync(path.join(w.outDir, 'junk.yaml'))).toBe(false);
  const r = await w.publish(async (out) => (write(out, 'next.yaml', 'n\n'), 'next'));
  expect(r.pushed).toBe(true);
  expect(tree(repo)).toEqual(['dist/keep.yaml', 'dist/next.yaml']);
});

test('publishes at the repository root with path "."', async () => {
  const repo = bare();
  const w = ws(repo, 'f', '.');
  expect(w.outDir).toBe(path.join(tmp, 'f'));
  await w.publish(async (out) => (write(out, 'bots/x.yaml', 'x\n'), 'root'));
  expect(tree(repo)).toEqual(['bots/x.yaml']);
});

test('refuses to reset a directory it did not create', async () => {
  const dir = path.join(tmp, 'foreign');
  write(dir, 'precious.txt', 'mine\n');
  const w = new GitWorkspace({ repo: bare(), branch: 'main', workDir: dir, path: 'dist' });
  await expect(w.sync()).rejects.toBeInstanceOf(WorkspaceError);
  expect(fs.readFileSync(path.join(dir, 'precious.txt'), 'utf8')).toBe('mine\n');
  expect(() => new GitWorkspace({ repo: 'x', branch: 'main', workDir: dir, path: '../up' })).toThrow(ConfigError);
});

test('git failures name the command and never show URL credentials', async () => {
  expect(redactUrl('https://user:s3cr3t@example.com/r.git')).toBe('https://***@example.com/r.git');
  const w = new GitWorkspace({ repo: 'http://user:s3cr3t@127.0.0.1:9/repo.git', branch: 'main', workDir: path.join(tmp, 'g'), path: 'dist' });
  const err = await w.sync().then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(GitError);
  expect(err.message).toMatch(/^git fetch origin refs\/heads\/main failed/);
  expect(err.message).not.toContain('s3cr3t');
});
