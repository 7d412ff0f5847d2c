// Hostile GitOps repositories and flags (issue 13 items 1, 7, 8): nothing removed by accident,
// nothing written outside the output root, never "pushed" for files that did not reach Git.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readTreeFromGit } from '../src/gitops/diff';
import { PublishOptions, publish } from '../src/gitops/publish';
import { GitWorkspace, WorkspaceBusyError, WorkspaceError, processStart } from '../src/gitops/workspace';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { shardOf } from '../src/synth/shard';
import { synthesize } from '../src/synth/synth';
import { OutputTreeError } from '../src/synth/writer';
import { generateFleet } from '../src/testing/fleet-gen';
import { botDoc } from './serve-support';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-harden-gitops-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const settings = { ...DEFAULT_SETTINGS, shards: 4 };
type Doc = Record<string, any>;
let n = 0;
const uniq = (p: string) => path.join(tmp, `${p}-${++n}`);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
function bare(): string {
  const dir = uniq('remote') + '.git';
  execFileSync('git', ['init', '-q', '--bare', dir]);
  return dir;
}
function run(repo: string, docs: FleetDocuments, extra: Partial<PublishOptions> = {}) {
  const file = uniq('fleet') + '.json';
  writeFleetFile(file, docs);
  return publish({ source: openSource(file), settings, repo, workDir: uniq('wd'), ...extra });
}
const botPaths = async (repo: string, p = 'dist') => [...(await readTreeFromGit(repo, 'main', p)).keys()].filter((k) => k.endsWith('.yaml') && k.startsWith('bots/')).sort();

/** Pushes a commit made by someone else (a hostile or careless repository change). */
function pushForeign(repo: string, change: (dir: string) => void): void {
  const dir = uniq('clone');
  execFileSync('git', ['clone', '-q', '-b', 'main', repo, dir]);
  change(dir);
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '-m', 'foreign');
  git(dir, 'push', '-q', 'origin', 'HEAD:main');
}

describe('publish with documents of unknown owner (item 1)', () => {
  it.each([123, null, 'BAD ID'])('id %p on 30 documents: nothing is removed, the rest is published, exit 1', async (badId) => {
    const repo = bare();
    const docs = generateFleet(80, 7);
    expect((await run(repo, docs)).exitCode).toBe(0);
    const before = await botPaths(repo);
    const next = JSON.parse(JSON.stringify(docs)) as { bots: Doc[]; bot_schedules: Doc[] };
    for (const d of [...next.bots, ...next.bot_schedules].slice(0, 30)) d.id = badId;
    const target = next.bots.slice(40).find((b) => b.config?.enabled !== false)!;
    target.config.symbol = 'STILL-PUBLISHED';
    const r = await run(repo, next as FleetDocuments);
    expect(r.exitCode).toBe(1);
    expect(r.errors.some((e) => e.includes('nothing is removed'))).toBe(true);
    expect(r.diff.entries.filter((e) => e.status === 'removed')).toEqual([]);
    expect(r.message!.split('\n')[0]).toMatch(/^fleetsynth: \+0 ~1 -0 bots$/);
    expect(await botPaths(repo)).toEqual(before);
    // dry runs say the same
    const dry = await run(repo, next as FleetDocuments, { dryRun: true });
    expect(dry.diff.entries.filter((e) => e.status === 'removed')).toEqual([]);
  });
});

describe('symbolic links in the output tree (item 7)', () => {
  const docs = { bots: [botDoc('alpha'), botDoc('beta'), botDoc('gamma'), botDoc('delta')], bot_schedules: [] } as FleetDocuments;
  const shardOfAlpha = `shard-0${shardOf('alpha', 4).slice(-1)}`;

  it.each([
    ['a shard directory', (dir: string, outside: string) => fs.symlinkSync(outside, path.join(dir, 'dist/bots', shardOfAlpha))],
    ['bots/', (dir: string, outside: string) => {
      fs.rmSync(path.join(dir, 'dist/bots'), { recursive: true });
      fs.symlinkSync(outside, path.join(dir, 'dist/bots'));
    }],
    ['platform/', (dir: string, outside: string) => {
      fs.rmSync(path.join(dir, 'dist/platform'), { recursive: true });
      fs.symlinkSync(outside, path.join(dir, 'dist/platform'));
    }],
    ['a bot file', (dir: string, outside: string) => {
      const file = fs.readdirSync(path.join(dir, 'dist/bots', shardOfAlpha)).find((f) => f.endsWith('.yaml'))!;
      fs.rmSync(path.join(dir, 'dist/bots', shardOfAlpha, file));
      fs.symlinkSync(path.join(outside, 'victim.yaml'), path.join(dir, 'dist/bots', shardOfAlpha, file));
    }],
    ['the output root', (dir: string, outside: string) => {
      fs.rmSync(path.join(dir, 'dist'), { recursive: true });
      fs.symlinkSync(outside, path.join(dir, 'dist'));
    }],
  ])('committed at %s: refused, nothing written outside, nothing pushed', async (_what, plant) => {
    const repo = bare();
    expect((await run(repo, docs)).exitCode).toBe(0);
    const outside = uniq('outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'victim.yaml'), 'precious\n');
    pushForeign(repo, (dir) => {
      if (_what === 'a shard directory') fs.rmSync(path.join(dir, 'dist/bots', shardOfAlpha), { recursive: true });
      plant(dir, outside);
    });
    const tip = git(repo, 'rev-parse', 'main');
    const changed = { bots: (docs.bots as Doc[]).map((b) => ({ ...b, config: { ...b.config, symbol: 'NEW' } })), bot_schedules: [] } as FleetDocuments;
    await expect(run(repo, changed)).rejects.toThrow(/symbolic link/);
    expect(git(repo, 'rev-parse', 'main')).toBe(tip);
    expect(fs.readdirSync(outside)).toEqual(['victim.yaml']);
    expect(fs.readFileSync(path.join(outside, 'victim.yaml'), 'utf8')).toBe('precious\n');
  });

  it('synth refuses a linked shard directory under --out too', async () => {
    const out = uniq('out');
    await synthesize(docs, { outDir: out, settings });
    const outside = uniq('outside');
    fs.mkdirSync(outside);
    fs.rmSync(path.join(out, 'bots', shardOfAlpha), { recursive: true });
    fs.symlinkSync(outside, path.join(out, 'bots', shardOfAlpha));
    await expect(synthesize(docs, { outDir: out, settings })).rejects.toBeInstanceOf(OutputTreeError);
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});

describe('output root inside .git (item 8)', () => {
  it.each(['.git', 'a/../.git/hooks', './.git', '.GIT/x', 'dist/.git', 'x/.Git'])('--path %s is refused before anything is written', async (p) => {
    const repo = bare();
    const wd = uniq('wd');
    expect(() => new GitWorkspace({ repo, branch: 'main', workDir: wd, path: p })).toThrow(WorkspaceError);
    await expect(run(repo, { bots: [botDoc('alpha')], bot_schedules: [] } as FleetDocuments, { path: p, workDir: wd })).rejects.toThrow(/inside \.git/);
    expect(fs.existsSync(wd)).toBe(false);
  });

  it('an output root that is a file in the repository is refused', async () => {
    const repo = bare();
    expect((await run(repo, { bots: [botDoc('alpha')], bot_schedules: [] } as FleetDocuments, { path: 'deploy' })).exitCode).toBe(0);
    pushForeign(repo, (dir) => {
      fs.writeFileSync(path.join(dir, 'other'), 'a file\n');
    });
    await expect(run(repo, { bots: [botDoc('alpha')], bot_schedules: [] } as FleetDocuments, { path: 'other/dist' })).rejects.toThrow(/not a directory/);
  });
});

describe('publish lock of a crashed run (item 16)', () => {
  it('a lock whose pid now belongs to another live process is stale; one held by a live holder is not', async () => {
    const repo = bare();
    const wd = uniq('wd');
    const docs = { bots: [botDoc('alpha')], bot_schedules: [] } as FleetDocuments;
    expect((await run(repo, docs, { workDir: wd })).exitCode).toBe(0);
    const other = spawn('sleep', ['30']);
    try {
      const lock = path.join(wd, '.git', 'fleetsynth.lock');
      // A crashed run's lock, its pid since reused by an unrelated live process (other start time).
      fs.writeFileSync(lock, `${other.pid}\n${os.hostname()}\n1\n`);
      const changed = { bots: [botDoc('alpha', { symbol: 'AFTER-CRASH' })], bot_schedules: [] } as FleetDocuments;
      expect((await run(repo, changed, { workDir: wd })).outcome!.pushed).toBe(true);
      expect(fs.existsSync(lock)).toBe(false);
      // The same process really holding it: busy.
      fs.writeFileSync(lock, `${other.pid}\n${os.hostname()}\n${processStart(other.pid!)}\n`);
      await expect(run(repo, docs, { workDir: wd })).rejects.toBeInstanceOf(WorkspaceBusyError);
      // An old-format lock (no start time) of a live process still counts as held.
      fs.writeFileSync(lock, `${other.pid}\n${os.hostname()}\n`);
      await expect(run(repo, docs, { workDir: wd })).rejects.toBeInstanceOf(WorkspaceBusyError);
    } finally {
      other.kill();
    }
  });
});
