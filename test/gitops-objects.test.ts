// In-process git objects (src/gitops/objects.ts) against git itself: the same trees and commits
// `update-index` + `write-tree` + `commit-tree` make, objects git accepts (fsck), and a workspace
// whose direct commits leave index and working copy consistent.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileState, LooseObjectWriter, applyToTree, identity, writeCommit } from '../src/gitops/objects';
import { GitWorkspace, catRawObjects } from '../src/gitops/workspace';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-objects-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const git = (cwd: string, args: string[], input?: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', input, env: { ...process.env, ...env } }).trim();

function repoWith(files: Record<string, string>): { dir: string; tree: string } {
  const dir = fs.mkdtempSync(path.join(tmp, 'r-'));
  git(dir, ['init', '-q']);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  git(dir, ['add', '-A']);
  return { dir, tree: git(dir, ['write-tree']) };
}

/** The tree git writes after the same changes go through the index. */
function gitTree(dir: string, changes: Map<string, FileState>): string {
  for (const [rel, st] of changes) {
    const abs = path.join(dir, rel);
    if (st === null) fs.rmSync(abs, { force: true });
    else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, st.data);
      fs.chmodSync(abs, st.mode === '100755' ? 0o755 : 0o644);
    }
  }
  git(dir, ['update-index', '--add', '--remove', '-z', '--stdin'], [...changes.keys()].join('\0') + '\0');
  return git(dir, ['write-tree']);
}

/** `git status` must not refresh the index's stat data (which would hide entries written without it). */
const NO_INDEX_WRITE = { GIT_OPTIONAL_LOCKS: '0' };
/** Writes a file under an output root, making its directory. */
function put(out: string, rel: string, body: string): void {
  fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
  fs.writeFileSync(path.join(out, rel), body);
}

const text = (s: string): FileState => ({ data: Buffer.from(s), mode: '100644' });

test('changed, added, removed and emptied paths give the tree git writes, in git order', async () => {
  const { dir, tree } = repoWith({
    'dist/bots/shard-00/a.yaml': 'a\n',
    'dist/bots/shard-00/b.yaml': 'b\n',
    'dist/bots/shard-01/c.yaml': 'c\n',
    'dist/platform/x.yaml': 'x\n',
    'dist/a-b': 'name sorts before the directory "a/"\n',
    'dist/a/inner.yaml': 'in\n',
    'README.md': 'outside the output root\n',
  });
  const changes = new Map<string, FileState>([
    ['dist/bots/shard-00/a.yaml', text('a2\n')], // changed
    ['dist/bots/shard-00/a0.yaml', text('new\n')], // added beside
    ['dist/bots/shard-01/c.yaml', null], // removed: its directory empties and goes
    ['dist/bots/shard-02/d.yaml', text('d\n')], // added in a new directory
    ['dist/a.yaml', text('"a.yaml" sorts before the directory "a/"\n')],
    ['dist/a/inner.yaml', { data: Buffer.from('#!/bin/sh\n'), mode: '100755' }],
    ['dist/gone.yaml', null], // not there at all
  ]);
  const mine = await applyToTree(tree, changes, (names) => catRawObjects(dir, names), new LooseObjectWriter(path.join(dir, '.git', 'objects')));
  expect(mine).toBe(gitTree(dir, changes));
  expect(git(dir, ['ls-tree', '-r', '--name-only', mine]).split('\n')).not.toContain('dist/bots/shard-01/c.yaml');
  git(dir, ['fsck', '--strict', '--no-dangling']);
});

test('a file where the base has a directory is refused (the caller falls back to the index)', async () => {
  const { dir, tree } = repoWith({ 'dist/a/inner.yaml': 'in\n' });
  await expect(applyToTree(tree, new Map([['dist/a', text('x\n')]]), (n) => catRawObjects(dir, n), new LooseObjectWriter(path.join(dir, '.git', 'objects')))).rejects.toThrow(/directory/);
  await expect(applyToTree(tree, new Map([['dist/a/inner.yaml/deeper', text('x\n')]]), (n) => catRawObjects(dir, n), new LooseObjectWriter(path.join(dir, '.git', 'objects')))).rejects.toThrow(/not a directory/);
});

test('the commit object is the one commit-tree writes for the same tree, parent, identity and time', async () => {
  const { dir, tree } = repoWith({ 'a.yaml': 'a\n' });
  const when = new Date(1_700_000_000_000);
  const who = { name: 'fleetsynth', email: 'fleetsynth@localhost' };
  const stamp = identity(who, when).split(' ').slice(-2).join(' ');
  const env = { GIT_AUTHOR_NAME: who.name, GIT_AUTHOR_EMAIL: who.email, GIT_COMMITTER_NAME: who.name, GIT_COMMITTER_EMAIL: who.email, GIT_AUTHOR_DATE: stamp, GIT_COMMITTER_DATE: stamp };
  const root = git(dir, ['commit-tree', tree, '-F', '-'], 'first\n\nbody line\n', env);
  const out = new LooseObjectWriter(path.join(dir, '.git', 'objects'));
  expect(writeCommit(out, { tree, author: who, message: 'first\n\nbody line', when })).toBe(root);
  const child = git(dir, ['commit-tree', tree, '-p', root, '-F', '-'], 'second\n', env);
  expect(writeCommit(out, { tree, parent: root, author: who, message: 'second\n', when })).toBe(child);
  expect(() => identity({ name: 'a <b>', email: 'x' }, when)).toThrow(/</);
});

test('a workspace commits a few reported files without the index, and the index catches up', async () => {
  const remote = path.join(tmp, 'remote.git');
  git(tmp, ['init', '-q', '--bare', remote]);
  const w = new GitWorkspace({ repo: remote, branch: 'main', workDir: path.join(tmp, 'work'), path: 'dist' });
  // First publish: many files, through the index.
  await w.publish(async (out, changes) => {
    const rels = Array.from({ length: 150 }, (_, i) => `bots/shard-0${i % 4}/bot-${i}.yaml`);
    for (const r of rels) put(out, r, `id: ${r}\n`);
    changes.changed(rels);
    return 'all';
  });
  const work = path.join(tmp, 'work');
  // One changed, one removed, one added: in-process objects.
  const trace = path.join(tmp, 'trace.txt');
  process.env.GIT_TRACE = trace;
  const r = await w.publish(async (out, changes) => {
    put(out, 'bots/shard-01/bot-1.yaml', 'id: changed\n');
    fs.rmSync(path.join(out, 'bots/shard-02/bot-2.yaml'));
    put(out, 'bots/shard-09/bot-new.yaml', 'id: new\n');
    changes.changed(['bots/shard-01/bot-1.yaml', 'bots/shard-02/bot-2.yaml', 'bots/shard-09/bot-new.yaml']);
    return 'three files';
  }).finally(() => delete process.env.GIT_TRACE);
  expect(r.pushed).toBe(true);
  expect(git(remote, ['rev-parse', 'main'])).toBe(r.commit);
  expect(git(remote, ['show', 'main:dist/bots/shard-01/bot-1.yaml'])).toBe('id: changed');
  expect(git(remote, ['show', 'main:dist/bots/shard-09/bot-new.yaml'])).toBe('id: new');
  expect(git(remote, ['ls-tree', '-r', '--name-only', 'main'])).not.toContain('bot-2.yaml');
  expect(git(remote, ['log', '-1', '--format=%an <%ae>|%cn|%s|%P', 'main'])).toMatch(/^fleetsynth <fleetsynth@localhost>\|fleetsynth\|three files\|[0-9a-f]{40}$/);
  // Tree and commit were written in-process: no git process wrote them.
  const commands = fs.readFileSync(trace, 'utf8');
  expect(commands).toMatch(/git push/);
  expect(commands).not.toMatch(/write-tree|commit-tree/);
  expect(commands.indexOf('update-index')).toBeGreaterThan(commands.indexOf('git push'));
  // The index and the files are the commit's: nothing staged, nothing modified, nothing untracked.
  expect(git(work, ['status', '--porcelain', '--untracked-files=all'])).toBe('');
  expect(git(work, ['write-tree'])).toBe(git(work, ['rev-parse', `${r.commit}^{tree}`]));
  git(work, ['fsck', '--strict', '--no-dangling']);
  git(remote, ['fsck', '--strict', '--no-dangling']);
  // The same bytes again: no commit.
  const same = await w.publish(async (out, changes) => {
    put(out, 'bots/shard-01/bot-1.yaml', 'id: changed\n');
    changes.changed(['bots/shard-01/bot-1.yaml']);
    return 'same';
  });
  expect(same.pushed).toBe(false);
  expect(git(remote, ['rev-parse', 'main'])).toBe(r.commit);
});

test('housekeep packs the loose objects commits leave, and publishing goes on', async () => {
  const remote = path.join(tmp, 'remote-hk.git');
  git(tmp, ['init', '-q', '--bare', remote]);
  const workDir = path.join(tmp, 'work-hk');
  const w = new GitWorkspace({ repo: remote, branch: 'main', workDir, path: 'dist' });
  await w.publish(async (out, changes) => {
    put(out, 'bots/shard-00/bot-a.yaml', 'a\n');
    changes.changed(['bots/shard-00/bot-a.yaml']);
    return 'first';
  });
  // 3,000 reachable loose objects (what many live-service commits leave).
  const blobs = git(workDir, ['hash-object', '-w', '--stdin-paths'], Array.from({ length: 3000 }, (_, i) => {
    const f = path.join(tmp, 'hk-blobs', `${i}.txt`);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, `blob ${i}\n`);
    return f;
  }).join('\n') + '\n').split('\n');
  const tree = git(workDir, ['mktree'], blobs.map((b, i) => `100644 blob ${b}\tf${i}`).join('\n') + '\n');
  git(workDir, ['update-ref', 'refs/keep/hk', git(workDir, ['commit-tree', tree, '-m', 'keep'], undefined, { GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@b' })]);
  const count = () => Object.fromEntries(git(workDir, ['count-objects', '-v']).split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
  expect(count().count).toBeGreaterThan(3000);
  await w.housekeep({ looseObjects: 256 });
  expect(count().count).toBeLessThan(100);
  expect(count()['in-pack']).toBeGreaterThan(3000);
  const r = await w.publish(async (out, changes) => {
    put(out, 'bots/shard-00/bot-a.yaml', 'a2\n');
    changes.changed(['bots/shard-00/bot-a.yaml']);
    return 'after gc';
  });
  expect(r.pushed).toBe(true);
  expect(git(remote, ['show', 'main:dist/bots/shard-00/bot-a.yaml'])).toBe('a2');
});

test('a direct commit whose push is rejected renders again on the new remote (serve: fetch only on reject)', async () => {
  const remote = path.join(tmp, 'remote-rej.git');
  git(tmp, ['init', '-q', '--bare', remote]);
  const a = new GitWorkspace({ repo: remote, branch: 'main', workDir: path.join(tmp, 'rej-a'), path: 'dist' });
  const b = new GitWorkspace({ repo: remote, branch: 'main', workDir: path.join(tmp, 'rej-b'), path: 'dist' });
  const one = (rel: string, body: string) => async (out: string, changes: { changed(p: readonly string[]): void }) => {
    put(out, rel, body);
    changes.changed([rel]);
    return `${rel} ${body.trim()}`;
  };
  await a.publish(one('bots/shard-00/bot-a.yaml', 'a1\n'));
  await b.publish(one('bots/shard-00/bot-b.yaml', 'b1\n'), { fetch: 'on-reject' });
  await a.publish(one('bots/shard-00/bot-a.yaml', 'a2\n'), { fetch: 'always' });
  // b's working copy is a commit behind: its direct commit is rejected, then made on top of a2.
  let renders = 0;
  const r = await b.publish(async (out, changes) => {
    renders++;
    return one('bots/shard-00/bot-b.yaml', 'b2\n')(out, changes);
  }, { fetch: 'on-reject' });
  expect(r).toMatchObject({ pushed: true, attempts: 2 });
  expect(renders).toBe(2);
  expect(git(remote, ['show', 'main:dist/bots/shard-00/bot-a.yaml'])).toBe('a2');
  expect(git(remote, ['show', 'main:dist/bots/shard-00/bot-b.yaml'])).toBe('b2');
  expect(git(remote, ['log', '--format=%s', 'main']).split('\n')).toEqual([
    'bots/shard-00/bot-b.yaml b2',
    'bots/shard-00/bot-a.yaml a2',
    'bots/shard-00/bot-b.yaml b1',
    'bots/shard-00/bot-a.yaml a1',
  ]);
  const work = path.join(tmp, 'rej-b');
  expect(git(work, ['status', '--porcelain', '--untracked-files=all'])).toBe('');
  expect(git(work, ['write-tree'])).toBe(git(remote, ['rev-parse', 'main^{tree}']));
});

test('many files: blobs packed by parallel fast-imports, the index takes their ids; later changes, removals and a clean status', async () => {
  const remote = path.join(tmp, 'remote-many.git');
  git(tmp, ['init', '-q', '--bare', remote]);
  const workDir = path.join(tmp, 'work-many');
  const w = new GitWorkspace({ repo: remote, branch: 'main', workDir, path: 'dist' });
  const rel = (i: number) => `bots/shard-0${i % 8}/bot-${i}.yaml`;
  const trace = path.join(tmp, 'trace-many.txt');
  process.env.GIT_TRACE2 = trace;
  const first = await w.publish(async (out, changes) => {
    const all = Array.from({ length: 2500 }, (_, i) => rel(i));
    all.forEach((r, i) => put(out, r, `id: ${i}\nbody: ${'x'.repeat(i % 300)}\n`));
    changes.changed(all);
    return 'first';
  }).finally(() => delete process.env.GIT_TRACE2);
  expect(first.pushed).toBe(true);
  // Packed by more than one fast-import on a machine with more than one core; not hashed again by update-index --add.
  const starts = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => / start .*fast-import/.test(l));
  expect(starts.length).toBe(Math.min(require('node:os').availableParallelism(), 2));
  expect(fs.readFileSync(trace, 'utf8')).toMatch(/update-index -z --index-info/);
  expect(git(remote, ['ls-tree', '-r', '--name-only', 'main']).split('\n')).toHaveLength(2500);
  expect(git(remote, ['show', `main:dist/${rel(1234)}`])).toBe(`id: 1234\nbody: ${'x'.repeat(1234 % 300)}`);
  expect(git(workDir, ['status', '--porcelain', '--untracked-files=all'], undefined, NO_INDEX_WRITE)).toBe('');
  // 300 changed, 50 removed, 10 added: still through fast-import (≥ 200 files).
  const second = await w.publish(async (out, changes) => {
    const touched: string[] = [];
    for (let i = 0; i < 300; i++) (put(out, rel(i), `id: ${i}\nchanged: true\n`), touched.push(rel(i)));
    for (let i = 300; i < 350; i++) (fs.rmSync(path.join(out, rel(i))), touched.push(rel(i)));
    for (let i = 5000; i < 5010; i++) (put(out, rel(i), `id: ${i}\n`), touched.push(rel(i)));
    changes.changed(touched);
    // Packing starts at changed(); a file rewritten after it was packed (same size) is hashed again.
    await new Promise((r) => setTimeout(r, 300));
    put(out, rel(8), 'id: 8\nchanged: TRUE\n');
    return 'second';
  });
  expect(second.pushed).toBe(true);
  const names = new Set(git(remote, ['ls-tree', '-r', '--name-only', 'main']).split('\n'));
  expect(names.size).toBe(2500 - 50 + 10);
  expect(names.has(`dist/${rel(320)}`)).toBe(false);
  expect(git(remote, ['show', `main:dist/${rel(7)}`])).toBe('id: 7\nchanged: true');
  expect(git(remote, ['show', `main:dist/${rel(8)}`])).toBe('id: 8\nchanged: TRUE');
  expect(git(remote, ['show', `main:dist/${rel(5003)}`])).toBe('id: 5003');
  expect(git(workDir, ['status', '--porcelain', '--untracked-files=all'], undefined, NO_INDEX_WRITE)).toBe('');
  expect(git(workDir, ['write-tree'])).toBe(git(remote, ['rev-parse', 'main^{tree}']));
  git(workDir, ['fsck', '--strict', '--no-dangling']);
  // Another writer changes files whose index entries came from fast-import (no stat data): the
  // next sync moves the working copy onto them (two-way read-tree) and leaves it clean.
  const other = new GitWorkspace({ repo: remote, branch: 'main', workDir: path.join(tmp, 'work-many-other'), path: 'dist' });
  await other.publish(async (out, changes) => {
    put(out, rel(1000), 'id: 1000\nfrom: the other writer\n');
    changes.changed([rel(1000)]);
    return 'other';
  });
  await w.sync();
  expect(fs.readFileSync(path.join(workDir, 'dist', rel(1000)), 'utf8')).toBe('id: 1000\nfrom: the other writer\n');
  expect(git(workDir, ['status', '--porcelain', '--untracked-files=all'], undefined, NO_INDEX_WRITE)).toBe('');
});
