// Issue 17: Git work proportional to what changed. The workspace stages only what the render
// reports, keeps its index between runs, guards its push with the commit it built on, and falls
// back to a full reset whenever it cannot vouch for the working copy. Real git, bare remotes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readTreeFromGit } from '../src/gitops/diff';
import { PublishMeter, formatCapped } from '../src/gitops/print';
import { PublishOptions, publish } from '../src/gitops/publish';
import { GitWorkspace } from '../src/gitops/workspace';
import { SoloLeader } from '../src/service/leader';
import { fencedPublisher } from '../src/service/serve';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { generateFleet } from '../src/testing/fleet-gen';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-incremental-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const uniq = (p: string) => path.join(tmp, `${p}-${++n}`);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
function bare(): string {
  const dir = uniq('remote') + '.git';
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
  return dir;
}
const ws = (repo: string, workDir: string) => new GitWorkspace({ repo, branch: 'main', workDir, path: 'dist' });
const write = (dir: string, rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
};
const tree = (repo: string) => git(repo, 'ls-tree', '-r', '--name-only', 'main').split('\n').filter(Boolean);
const show = (repo: string, rel: string) => git(repo, 'show', `main:${rel}`);
const stateFile = (workDir: string) => path.join(workDir, '.git', 'fleetsynth-state.json');

describe('GitWorkspace with reported changes', () => {
  test('only reported paths are staged; the index and a state file carry over to the next run', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const w = ws(repo, wd);
    const first = await w.publish(async (out, changes) => {
      write(out, 'a.yaml', 'a\n');
      write(out, 'b.yaml', 'b\n');
      write(out, 'stray.yaml', 'never reported\n');
      changes.changed(['a.yaml', 'b.yaml']);
      return 'first';
    });
    expect(first).toMatchObject({ pushed: true, attempts: 1 });
    expect(tree(repo)).toEqual(['dist/a.yaml', 'dist/b.yaml']);
    expect(JSON.parse(fs.readFileSync(stateFile(wd), 'utf8'))).toEqual({ base: first.commit, path: 'dist' });

    // A second instance (a restart) trusts the state file: no reset, the unreported file stays on
    // disk and is still never committed; a removal is staged from the report.
    const second = await ws(repo, wd).publish(async (out, changes) => {
      expect(fs.readFileSync(path.join(out, 'stray.yaml'), 'utf8')).toBe('never reported\n');
      write(out, 'a.yaml', 'a2\n');
      fs.rmSync(path.join(out, 'b.yaml'));
      changes.changed(['a.yaml', 'b.yaml']);
      return 'second';
    });
    expect(second.pushed).toBe(true);
    expect(tree(repo)).toEqual(['dist/a.yaml']);
    expect(show(repo, 'dist/a.yaml')).toBe('a2');
    expect(git(repo, 'rev-parse', `${second.commit}^`)).toBe(first.commit);
    expect(git(repo, 'log', '-1', '--format=%an <%ae>|%s', 'main')).toBe('fleetsynth <fleetsynth@localhost>|second');

    // Rewriting a file with the bytes it has is no commit.
    const same = await w.publish(async (out, changes) => {
      write(out, 'a.yaml', 'a2\n');
      changes.changed(['a.yaml']);
      return 'same';
    });
    expect(same).toEqual({ pushed: false, attempts: 1, message: 'same' });
  });

  test('a render declared without `changes` gets the whole-tree reset: junk left in the output root is never committed', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const w = ws(repo, wd);
    await w.publish(async (out, c) => (write(out, 'a.yaml', 'a\n'), c.changed(['a.yaml']), 'base'));
    write(w.outDir, 'junk.yaml', 'left by hand\n');
    const r = await w.publish(async (out) => {
      expect(fs.existsSync(path.join(out, 'junk.yaml'))).toBe(false);
      write(out, 'b.yaml', 'b\n');
      return 'plain';
    });
    expect(r.pushed).toBe(true);
    expect(tree(repo)).toEqual(['dist/a.yaml', 'dist/b.yaml']);
  });

  test("serve's fenced publisher hands the render its `changes`: no whole-tree reset, only reported paths staged; not leading, nothing is written", async () => {
    const repo = bare();
    const w = ws(repo, uniq('wd'));
    const gate = new SoloLeader('me');
    gate.start();
    const p = fencedPublisher(w, gate);
    await p.publish(async (out, c) => (write(out, 'a.yaml', 'a\n'), c!.changed(['a.yaml']), 'base'), { fetch: 'on-reject' });
    write(w.outDir, 'junk.yaml', 'left by hand\n');
    const r = await p.publish(
      async (out, c) => {
        expect(c).toBeDefined();
        // The working copy was not reset (a reset would have removed the untracked file).
        expect(fs.existsSync(path.join(out, 'junk.yaml'))).toBe(true);
        write(out, 'b.yaml', 'b\n');
        c!.changed(['b.yaml']);
        return 'event';
      },
      { fetch: 'on-reject' },
    );
    expect(r.pushed).toBe(true);
    expect(tree(repo)).toEqual(['dist/a.yaml', 'dist/b.yaml']);
    await gate.stop();
    const tip = git(repo, 'rev-parse', 'main');
    let rendered = false;
    await expect(p.publish(async () => ((rendered = true), 'x'))).rejects.toThrow(/render into the GitOps working copy/);
    expect(rendered).toBe(false);
    expect(git(repo, 'rev-parse', 'main')).toBe(tip);
  });

  test('a reported path outside the output root is refused and nothing is pushed', async () => {
    const repo = bare();
    const w = ws(repo, uniq('wd'));
    await w.publish(async (out, c) => (write(out, 'a.yaml', 'a\n'), c.changed(['a.yaml']), 'base'));
    const tip = git(repo, 'rev-parse', 'main');
    await expect(w.publish(async (out, c) => (c.changed(['../outside.txt']), 'bad'))).rejects.toThrow(/not inside the output root/);
    await expect(w.publish(async (out, c) => (c.changed(['x/../../.git/config']), 'bad'))).rejects.toThrow(/not inside the output root/);
    expect(git(repo, 'rev-parse', 'main')).toBe(tip);
  });

  test('a render that reports and then publishes nothing puts back exactly what it wrote', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const w = ws(repo, wd);
    await w.publish(async (out, c) => (write(out, 'keep.yaml', 'keep\n'), c.changed(['keep.yaml']), 'base'));
    const r = await w.publish(async (out, c) => {
      write(out, 'keep.yaml', 'changed\n');
      write(out, 'new.yaml', 'new\n');
      c.changed(['keep.yaml', 'new.yaml']);
      return null;
    });
    expect(r).toEqual({ pushed: false, attempts: 1 });
    expect(fs.readFileSync(path.join(w.outDir, 'keep.yaml'), 'utf8')).toBe('keep\n');
    expect(fs.existsSync(path.join(w.outDir, 'new.yaml'))).toBe(false);
    expect(fs.existsSync(stateFile(wd))).toBe(true);
  });

  test('fetch on-reject: a branch that moved rejects the push, the render runs again on the new remote', async () => {
    const repo = bare();
    const a = ws(repo, uniq('wd'));
    const b = ws(repo, uniq('wd'));
    await a.publish(async (out, c) => (write(out, 'base.yaml', 'base\n'), c.changed(['base.yaml']), 'base'));
    await b.publish(async (out, c) => (write(out, 'b1.yaml', 'b1\n'), c.changed(['b1.yaml']), 'b1'));
    // a has not fetched since its push: it renders on its own last commit, the push is refused.
    let renders = 0;
    const r = await a.publish(
      async (out, c) => {
        renders++;
        if (renders === 2) expect(fs.readFileSync(path.join(out, 'b1.yaml'), 'utf8')).toBe('b1\n');
        write(out, 'a2.yaml', 'a2\n');
        c.changed(['a2.yaml']);
        return 'a2';
      },
      { fetch: 'on-reject' },
    );
    expect(r).toMatchObject({ pushed: true, attempts: 2 });
    expect(renders).toBe(2);
    expect(tree(repo)).toEqual(['dist/a2.yaml', 'dist/b1.yaml', 'dist/base.yaml']);
    expect(git(repo, 'log', '--format=%s', 'main').split('\n')).toEqual(['a2', 'b1', 'base']);
  });

  test('a branch rewound to an older commit is never fast-forwarded back by a stale publisher', async () => {
    const repo = bare();
    const w = ws(repo, uniq('wd'));
    const c1 = await w.publish(async (out, c) => (write(out, 'one.yaml', '1\n'), c.changed(['one.yaml']), 'one'));
    await w.publish(async (out, c) => (write(out, 'bad.yaml', 'bad\n'), c.changed(['bad.yaml']), 'bad'));
    // Someone resets the branch to the first commit (a revert by force push).
    git(repo, 'update-ref', 'refs/heads/main', c1.commit!);
    const r = await w.publish(async (out, c) => (write(out, 'three.yaml', '3\n'), c.changed(['three.yaml']), 'three'), { fetch: 'on-reject' });
    expect(r).toMatchObject({ pushed: true, attempts: 2 });
    expect(tree(repo)).toEqual(['dist/one.yaml', 'dist/three.yaml']);
    expect(git(repo, 'rev-parse', 'main^')).toBe(c1.commit);
  });

  test('a working copy without its state file (a killed run) is reset fully, junk and local commits included', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const w = ws(repo, wd);
    const c1 = await w.publish(async (out, c) => (write(out, 'keep.yaml', 'keep\n'), c.changed(['keep.yaml']), 'base'));
    write(w.outDir, 'junk.yaml', 'junk\n');
    fs.writeFileSync(path.join(w.outDir, 'keep.yaml'), 'half-written');
    fs.rmSync(stateFile(wd));
    const r = await w.publish(async (out, c) => {
      expect(fs.existsSync(path.join(out, 'junk.yaml'))).toBe(false);
      expect(fs.readFileSync(path.join(out, 'keep.yaml'), 'utf8')).toBe('keep\n');
      write(out, 'next.yaml', 'n\n');
      c.changed(['next.yaml']);
      return 'next';
    });
    expect(r.pushed).toBe(true);
    expect(tree(repo)).toEqual(['dist/keep.yaml', 'dist/next.yaml']);
    // A state file that names a commit HEAD is not at is not trusted either.
    git(wd, '-c', 'user.name=x', '-c', 'user.email=x@y', 'commit', '-q', '--allow-empty', '-m', 'local only');
    write(w.outDir, 'junk2.yaml', 'junk\n');
    await w.sync();
    expect(git(wd, 'rev-parse', 'HEAD')).toBe(r.commit);
    expect(fs.existsSync(path.join(w.outDir, 'junk2.yaml'))).toBe(false);
    expect(c1.commit).toBeDefined();
  });
});

describe('publish of a fleet, proportional to the change', () => {
  const settings = { ...DEFAULT_SETTINGS, shards: 4 };
  const run = (repo: string, docs: FleetDocuments, extra: Partial<PublishOptions> = {}) => {
    const file = uniq('fleet') + '.json';
    writeFleetFile(file, docs);
    return publish({ source: openSource(file), settings, repo, ...extra });
  };

  test('one bot changed: one file in the commit, the diff names it, every other file unchanged (cache on and off alike)', async () => {
    for (const cache of [{ dir: uniq('cache') }, { off: true }]) {
      const repo = bare();
      const wd = uniq('wd');
      const docs = generateFleet(120, 9) as { bots: Array<{ id: string; config: Record<string, unknown> }>; bot_schedules: unknown[] };
      const first = await run(repo, docs as FleetDocuments, { workDir: wd, cache });
      expect(first.outcome!.pushed).toBe(true);
      const files = [...(await readTreeFromGit(repo, 'main', 'dist')).keys()];
      const bot = docs.bots.find((b) => b.config.enabled !== false)!;
      bot.config.symbol = 'ONE-CHANGE';
      const r = await run(repo, docs as FleetDocuments, { workDir: wd, cache });
      expect(r.outcome!.pushed).toBe(true);
      const changed = git(repo, 'diff-tree', '--no-commit-id', '--name-only', '-r', 'main').split('\n');
      expect(changed).toEqual([expect.stringMatching(new RegExp(`^dist/bots/shard-0\\d/bot-${bot.id}\\.yaml$`))]);
      expect(r.diff.entries.map((e) => [e.id, e.status])).toEqual([[bot.id, 'changed']]);
      expect(r.diff.entries[0].changes.some((c) => c.key === 'symbol')).toBe(true);
      expect(r.diff.summary.unchanged).toBe(files.filter((f) => f.endsWith('.yaml')).length - 1);
      expect(r.message!.split('\n')[0]).toBe('fleetsynth: +0 ~1 -0 bots');
      // And again: nothing to publish, nothing listed.
      const again = await run(repo, docs as FleetDocuments, { workDir: wd, cache });
      expect(again.outcome!.pushed).toBe(false);
      expect(again.diff.entries).toEqual([]);
    }
  });

  test('a file changed by hand in the remote is put back by the next publish (its old text from Git, the new from the render)', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const docs = generateFleet(80, 3);
    const cache = { dir: uniq('cache') };
    await run(repo, docs, { workDir: wd, cache });
    const file = [...(await readTreeFromGit(repo, 'main', 'dist')).keys()].find((k) => k.startsWith('bots/') && k.endsWith('.yaml'))!;
    const clone = uniq('clone');
    execFileSync('git', ['clone', '-q', repo, clone]);
    fs.appendFileSync(path.join(clone, 'dist', file), '# edited by hand\n');
    git(clone, '-c', 'user.name=x', '-c', 'user.email=x@y', 'commit', '-q', '-am', 'hand edit');
    git(clone, 'push', '-q', 'origin', 'HEAD:main');
    const r = await run(repo, docs, { workDir: wd, cache });
    expect(r.outcome!.pushed).toBe(true);
    expect(r.diff.entries.map((e) => e.path)).toEqual([file]);
    expect(show(repo, `dist/${file}`)).not.toContain('edited by hand');
  });
});

describe('bounded output', () => {
  test('the text report lists at most 200 files unless verbose; the fleet-wide lines count them all', () => {
    const entries = Array.from({ length: 250 }, (_, i) => ({
      path: `bots/shard-00/bot-b${String(i).padStart(3, '0')}.yaml`,
      kind: 'bot' as const,
      id: `b${i}`,
      status: 'changed' as const,
      changes: [{ field: 'image' as const, key: 'bot', from: 'rt:1', to: 'rt:2' }],
    }));
    const diff = { base: 'HEAD:dist', entries, kept: ['bots/shard-00/bot-k.yaml'], summary: { added: 0, changed: 250, removed: 0, unchanged: 3, kept: 1 } };
    const capped = formatCapped(diff).trimEnd().split('\n');
    expect(capped[0]).toBe('fleetsynth diff against HEAD:dist: 0 added, 250 changed, 0 removed, 3 unchanged, 1 kept (failed, left as they are)');
    expect(capped[1]).toBe('  image bot changed on 250 bots');
    expect(capped.filter((l) => l.startsWith('~ '))).toHaveLength(200);
    expect(capped[capped.length - 1]).toBe('… and 51 more file(s) not listed (--verbose lists every one)');
    const full = formatCapped(diff, { verbose: true }).trimEnd().split('\n');
    expect(full.filter((l) => l.startsWith('~ '))).toHaveLength(250);
    expect(full[full.length - 1]).toBe('= bots/shard-00/bot-k.yaml (kept: its document failed)');
    expect(formatCapped({ ...diff, entries: entries.slice(0, 3) })).toBe(formatCapped({ ...diff, entries: entries.slice(0, 3) }, { verbose: true }));
  });

  test('progress: a terminal sees rendered n of N, commit and push on one line; elsewhere one timing line at the end', async () => {
    const repo = bare();
    const docs = generateFleet(300, 4);
    const file = uniq('fleet') + '.json';
    writeFleetFile(file, docs);
    const shown: string[] = [];
    const tty = new PublishMeter(() => undefined, true, (s) => shown.push(s));
    const lines: string[] = [];
    const plain = new PublishMeter((s) => lines.push(s), false, (s) => shown.push(`NOT A TERMINAL: ${s}`));
    const r = await publish({
      source: openSource(file),
      settings: { ...DEFAULT_SETTINGS, shards: 4 },
      repo,
      workDir: uniq('wd'),
      cache: { off: true },
      workers: 2,
      onProgress: (p) => (tty.onProgress(p), plain.onProgress(p)),
    });
    tty.done('published');
    plain.done('published');
    expect(r.outcome!.pushed).toBe(true);
    const bots = r.diff.entries.filter((e) => e.kind !== 'platform').length;
    const files = r.diff.summary.added;
    const rendered = shown.map((s) => /rendered (\d+) of (\d+) bots/.exec(s)).filter((m) => m !== null);
    expect(rendered.length).toBeGreaterThan(1);
    expect(rendered[rendered.length - 1]!.slice(1, 3)).toEqual([String(bots), String(bots)]);
    for (const step of ['syncing with the remote', 'staging and committing', 'pushing']) expect(shown.some((s) => s.includes(step))).toBe(true);
    expect(shown[shown.length - 1]).toBe('\r\x1b[2K');
    expect(shown.some((s) => s.startsWith('NOT A TERMINAL'))).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^fleetsynth: published in [\\d.]+ s \\(read [\\d.]+ s, sync [\\d.]+ s, prepare [\\d.]+ s, render [\\d.]+ s, compare [\\d.]+ s, commit [\\d.]+ s, push [\\d.]+ s\\); ${files} files written$`));
  });
});
