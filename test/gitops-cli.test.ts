import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../src/cli';
import type { FleetDocuments } from '../src/model/document';
import { writeFleetFile } from '../src/source';
import { generateFleet } from '../src/testing/fleet-gen';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-gitops-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Doc = { id: string; config: Record<string, any> };
const clone = (d: FleetDocuments) => JSON.parse(JSON.stringify(d)) as { bots: Doc[]; bot_schedules: Doc[] };
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

let n = 0;
function fleetFile(docs: unknown): string {
  const file = path.join(tmp, `fleet-${++n}.yaml`);
  writeFleetFile(file, docs as FleetDocuments);
  return file;
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'fleetsynth', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const base = generateFleet(12, 7);
const SECRET = 'SK-rotated-by-the-cli-test-0123456789';
const rotated = clone(base);
rotated.bots[0].config.exchange.api_secret = SECRET;
const common = ['--shards', '4'];

test('diff against a directory: exit 0 without changes, 2 with changes, formats', async () => {
  const dir = path.join(tmp, 'out');
  const baseFile = fleetFile(base);
  expect((await cli('synth', '--source', baseFile, '--out', dir, ...common)).code).toBe(0);
  const same = await cli('diff', '--source', baseFile, '--base', dir, ...common);
  expect(same).toMatchObject({ code: 0 });
  expect(same.out).toMatch(/no changes \(13 unchanged\)/);

  const file = fleetFile(rotated);
  const text = await cli('diff', '--source', file, '--base', dir, ...common);
  expect(text.code).toBe(2);
  expect(text.out).toContain(`~ bots/`);
  expect(text.out).toContain('secret changed');
  const md = await cli('diff', '--source', file, '--base', dir, '--format', 'markdown', ...common);
  expect(md.out).toContain('<details><summary>changed <code>bot ');
  const json = await cli('diff', '--source', file, '--base', dir, '--format', 'json', ...common);
  expect(JSON.parse(json.out).summary).toMatchObject({ changed: 1, unchanged: 12 });
  for (const r of [text, md, json]) expect(r.out + r.err).not.toContain(SECRET);

  // A bad flag value is a configuration error (3), not "changes" (2) nor a failure (1).
  expect((await cli('diff', '--source', file, '--base', dir, '--format', 'html')).code).toBe(3);
  const badNs = await cli('diff', '--source', file, '--base', dir, '--namespace', 'Bad_NS');
  expect(badNs.code).toBe(3);
  expect(badNs.err).toMatch(/--namespace.*Bad_NS.*not a valid Kubernetes namespace name/);
});

test('diff defaults to the committed dist/ of the repository in the current directory', async () => {
  const repo = path.join(tmp, 'repo');
  fs.mkdirSync(repo);
  git(repo, 'init', '-q');
  const baseFile = fleetFile(base);
  const cwd = process.cwd();
  process.chdir(repo);
  try {
    expect((await cli('synth', '--source', baseFile, ...common)).code).toBe(0);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'dist');
    expect(await cli('diff', '--source', baseFile, ...common)).toMatchObject({ code: 0 });
    const changed = await cli('diff', '--source', fleetFile(rotated), ...common);
    expect(changed.code).toBe(2);
    expect(changed.out).toMatch(/^fleetsynth diff against HEAD:dist: 0 added, 1 changed/);
    const bad = await cli('diff', '--source', baseFile, '--base', 'no-such-ref', ...common);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('git ref "no-such-ref" not found');
    expect(bad.err).toContain('hint: pass --base');

    // --current: an output root rendered by something else (a GitOps repo's `cdk8s synth`).
    const rendered = path.join(tmp, 'rendered');
    expect((await cli('synth', '--source', fleetFile(rotated), '--out', rendered, ...common)).code).toBe(0);
    const cur = await cli('diff', '--base', 'HEAD', '--current', rendered, '--source', '/nonexistent.yaml', ...common);
    expect(cur.code).toBe(2);
    expect(cur.out).toMatch(/^fleetsynth diff against HEAD:dist: 0 added, 1 changed/);
    expect(cur.out).toContain('secret changed');
    expect(cur.out).not.toContain(SECRET);
    expect((await cli('diff', '--current', 'dist', ...common)).code).toBe(0);
    expect((await cli('diff', '--current', path.join(tmp, 'nope'), ...common)).code).toBe(3);
  } finally {
    process.chdir(cwd);
  }
});

test('publish, publish again, dry run, refusal', async () => {
  const repo = path.join(tmp, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', repo]);
  const wd = path.join(tmp, 'wd');
  const args = ['--repo', repo, '--work-dir', wd, ...common];
  const first = await cli('publish', '--source', fleetFile(base), ...args);
  // Not a terminal: no progress, one line saying where the time went (issue 17).
  expect(first.err).toMatch(/^fleetsynth: published in \d+\.\d s \(read [\d.]+ s, sync [\d.]+ s, prepare [\d.]+ s, render [\d.]+ s, compare [\d.]+ s, commit [\d.]+ s, push [\d.]+ s\); \d+ files written$/);
  expect(first.code).toBe(0);
  expect(first.out).toMatch(/fleetsynth: pushed [0-9a-f]{40} to .*remote\.git@main:dist/);
  const tip = git(repo, 'rev-parse', 'main');

  const again = await cli('publish', '--source', fleetFile(base), ...args);
  expect(again).toMatchObject({ code: 0 });
  expect(again.out).toContain('nothing to publish');
  expect(again.err).toMatch(/^fleetsynth: nothing to publish in \d+\.\d s \(.*\); 0 files written$/);

  const dry = await cli('publish', '--source', fleetFile(rotated), '--dry-run', ...args);
  expect(dry.code).toBe(0);
  expect(dry.out).toContain('dry run: would commit and push:\n    fleetsynth: +0 ~1 -0 bots');
  expect(dry.out).not.toContain(SECRET);
  expect(git(repo, 'rev-parse', 'main')).toBe(tip);

  const empty = await cli('publish', '--source', fleetFile({ bots: [], bot_schedules: [] }), ...args);
  expect(empty.code).toBe(1);
  expect(empty.err).toMatch(/^fleetsynth: the source .* holds no bot and no schedule/);
  expect(git(repo, 'rev-parse', 'main')).toBe(tip);

  const pushed = await cli('publish', '--source', fleetFile(rotated), '--message', 'rotate exchange key', ...args);
  expect(pushed.code).toBe(0);
  expect(git(repo, 'log', '-1', '--format=%s', 'main')).toBe('rotate exchange key');
  expect(git(repo, 'log', '-p', 'main')).not.toContain(SECRET);
});
