// The streamed diff (render threads compare each chunk with its base file, unchanged blobs are not
// read) against the reference: diffTrees of the whole base tree and the whole collected render.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobReader, DiffBase, FleetDiff, diffRender, diffTrees, formatDiff, readTreeFromDir, readTreeFromGit } from '../src/gitops/diff';
import type { FleetDocuments } from '../src/model/document';
import { mayRemove } from '../src/model/fleet';
import { DEFAULT_SETTINGS, RenderSettings } from '../src/settings';
import { synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-stream-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Doc = { id: string; config: Record<string, any>; custom: Record<string, any> };
const clone = (d: FleetDocuments) => JSON.parse(JSON.stringify(d)) as { bots: Doc[]; bot_schedules: Doc[] };
const settings: RenderSettings = { ...DEFAULT_SETTINGS, shards: 4 };
const ROTATED = 'SK-stream-rotated-0123456789';
const MARK = 'app.kubernetes.io/managed-by: fleetsynth';

const git = (repo: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });

/** The reference: both whole trees in memory, compared by diffTrees. */
async function reference(docs: FleetDocuments, s: RenderSettings, base: DiffBase): Promise<FleetDiff> {
  const files = 'dir' in base ? readTreeFromDir(base.dir) : await readTreeFromGit(base.repo, base.ref, base.path);
  const scratch = fs.mkdtempSync(path.join(tmp, 'ref-'));
  const synth = await synthesize(docs, { outDir: 'dir' in base ? base.dir : scratch, settings: s, write: false, collect: true, workers: 0 });
  const label = 'dir' in base ? base.dir : `${base.ref}:${base.path}`;
  return diffTrees(files, synth.files!, { base: label, failedIds: synth.keptIds, keepAll: !mayRemove(synth.fleet) });
}

/** A base tree with every case: base files the render does not produce, foreign files, a duplicate, a changed platform file. */
async function makeBase(dir: string, docs: FleetDocuments) {
  await synthesize(docs, { outDir: dir, settings });
  const bots = readTreeFromDir(dir);
  const [firstPath, firstText] = [...bots].find(([p]) => p.startsWith('bots/'))!;
  const shard = firstPath.split('/')[1];
  const other = ['shard-00', 'shard-01', 'shard-02', 'shard-03'].find((x) => x !== shard)!;
  // A managed bot file of no document: removed.
  fs.writeFileSync(path.join(dir, 'bots', shard, 'bot-extra0000000000000000001.yaml'), firstText.replace(/name: bot-/g, 'name: bot-extra-'));
  // Named like a bot file but not fleetsynth's: ignored.
  fs.writeFileSync(path.join(dir, 'bots', shard, 'bot-foreign000000000000000001.yaml'), 'kind: ConfigMap\nmetadata:\n  name: x\n');
  // The same bot file in a second shard directory (a leftover copy): the later path is the base's.
  fs.writeFileSync(path.join(dir, 'bots', other, path.basename(firstPath)), firstText.replace('replicas: 1', 'replicas: 2'));
  // The live service's manifest, edited.
  const platform = path.join(dir, 'platform', 'fleetsynth.yaml');
  fs.writeFileSync(platform, fs.readFileSync(platform, 'utf8').replace(/image: (\S+)/, 'image: $1-old'));
  return { firstPath };
}

function nextFleet(base: FleetDocuments) {
  const next = clone(base);
  // Enabled bots only (a disabled one has no file).
  const [b0, b1, b2, b3, b4] = next.bots.filter((b) => b.config.enabled !== false);
  b0.config.exchange.api_secret = ROTATED; // secret changed, nothing visible
  b1.config.symbol = 'DOGEUSDT';
  next.bots.splice(next.bots.indexOf(b2), 1);
  b3.custom.config.runtime = 'cobol'; // a failed document: its file is kept
  const added = JSON.parse(JSON.stringify(b4)) as Doc;
  added.id = 'added0stream00000000000001';
  next.bots.push(added);
  return { next: next as unknown as FleetDocuments, removed: b2.id, failed: b3.id, added: added.id, rotated: b0.id };
}

describe('streamed diff against a git base', () => {
  let repo: string;
  let base: ReturnType<typeof generateFleet>;
  let firstPath: string;
  beforeAll(async () => {
    repo = path.join(tmp, 'repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q');
    base = generateFleet(40, 3);
    ({ firstPath } = await makeBase(path.join(repo, 'dist'), base));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'base');
  });
  const gitBase = (): DiffBase => ({ repo, ref: 'HEAD', path: 'dist' });

  test('every kind of entry, as the whole-tree comparison gives it', async () => {
    const f = nextFleet(base);
    const { diff, synth } = await diffRender({ docs: f.next, settings, base: gitBase(), workers: 1 });
    expect(diff).toEqual(await reference(f.next, settings, gitBase()));
    const byPath = new Map(diff.entries.map((e) => [e.path, e]));
    const rotated = diff.entries.find((e) => e.id === f.rotated)!;
    expect(rotated.changes).toEqual([{ field: 'secret', note: 'secret changed' }]);
    expect(diff.entries.find((e) => e.id === f.added)!.status).toBe('added');
    expect(diff.entries.find((e) => e.id === f.removed)!.status).toBe('removed');
    expect(diff.kept).toHaveLength(1);
    expect(diff.kept[0]).toContain(f.failed);
    expect(synth.errors.join('\n')).toContain(f.failed);
    expect(byPath.get('bots/' + firstPath.split('/')[1] + '/bot-extra0000000000000000001.yaml')!.status).toBe('removed');
    expect([...byPath.keys()].some((p) => p.includes('foreign'))).toBe(false);
    expect(byPath.get('platform/fleetsynth.yaml')!.changes[0]).toMatchObject({ field: 'image' });
    // The duplicate in another shard directory sorts after the first path: it is the base, so the bot moved.
    const dup = diff.entries.find((e) => e.basePath !== undefined && path.basename(e.path) === path.basename(firstPath));
    expect(dup?.path).toBe(firstPath);
    expect(dup?.changes[0]).toMatchObject({ field: 'path', to: firstPath });
    for (const text of [formatDiff(diff, 'json'), formatDiff(diff, 'markdown'), formatDiff(diff, 'text')]) {
      expect(text).not.toContain(ROTATED);
      for (const d of [...base.bots, ...base.bot_schedules] as Doc[]) expect(text).not.toContain(d.config.exchange.api_secret);
    }
  });

  test('a bot whose render leaks a secret keeps its file, as publish keeps it: kept, not removed', async () => {
    const f = clone(base);
    const bot = f.bots.find((b) => b.config.enabled !== false)!;
    // A secret config value equal to public manifest text: the file is not written.
    bot.config.api_token = bot.config.symbol;
    const { diff, synth } = await diffRender({ docs: f as unknown as FleetDocuments, settings, base: gitBase(), workers: 1 });
    expect(synth.errors.join('\n')).toContain(`bots/${bot.id}: the value of secret config key(s) api_token`);
    expect(diff.entries.filter((e) => e.id === bot.id)).toEqual([]);
    expect(diff.kept.some((p) => p.includes(bot.id))).toBe(true);
    expect(diff).toEqual(await reference(f as unknown as FleetDocuments, settings, gitBase()));
  });

  test('renamed (moved) files: a shard count change is a path change, contents compared only when they differ', async () => {
    const six = { ...settings, shards: 6 };
    const { diff } = await diffRender({ docs: base, settings: six, base: gitBase(), workers: 1 });
    expect(diff).toEqual(await reference(base, six, gitBase()));
    const moved = diff.entries.filter((e) => e.basePath !== undefined);
    expect(moved.length).toBeGreaterThan(5);
    // Same text, new path: the path is the only change.
    expect(moved.filter((e) => e.changes.length === 1 && e.changes[0].field === 'path').length).toBeGreaterThan(0);
  });

  test('unchanged files are not read back: only the blobs that differ are', async () => {
    const read: string[] = [];
    const orig = BlobReader.prototype.read;
    const spy = jest.spyOn(BlobReader.prototype, 'read').mockImplementation(function (this: BlobReader, shas: readonly string[]) {
      read.push(...shas);
      return orig.call(this, shas);
    });
    try {
      const f = clone(base);
      f.bots[1].config.symbol = 'ADAUSDT';
      const { diff } = await diffRender({ docs: f as unknown as FleetDocuments, settings, base: gitBase(), workers: 1 });
      spy.mockRestore();
      expect(diff).toEqual(await reference(f as unknown as FleetDocuments, settings, gitBase()));
      // Read: bot 1's base, the duplicate pair (settled up front) and the first bot's file again
      // (it differs from the later copy), the extra and foreign files (no document renders them)
      // and the platform file.
      expect(diff.summary.unchanged).toBeGreaterThan(30);
      expect(read.length).toBeLessThanOrEqual(7);
      expect(read.length).toBeGreaterThanOrEqual(diff.summary.changed);
    } finally {
      spy.mockRestore();
    }
  });
});

test('directory base: the same entries as the whole-tree comparison', async () => {
  const dir = path.join(tmp, 'dirbase');
  const base = generateFleet(30, 5);
  await makeBase(dir, base);
  const f = nextFleet(base);
  const { diff } = await diffRender({ docs: f.next, settings, base: { dir }, workers: 1 });
  expect(diff).toEqual(await reference(f.next, settings, { dir }));
  expect(diff.entries.find((e) => e.id === f.rotated)!.changes).toEqual([{ field: 'secret', note: 'secret changed' }]);
});

test('render threads: a fleet-wide change compared in the worker threads', async () => {
  const repo = path.join(tmp, 'big');
  fs.mkdirSync(repo);
  git(repo, 'init', '-q');
  const docs = generateFleet(1700, 9);
  await synthesize(docs, { outDir: path.join(repo, 'dist'), settings });
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'base');
  const next = clone(docs);
  next.bots[5].config.exchange.api_secret = ROTATED;
  const s = { ...settings, runtimeImage: 'ghcr.io/the0/runtime:stream-new' };
  const base: DiffBase = { repo, ref: 'HEAD', path: 'dist' };
  const { diff } = await diffRender({ docs: next as unknown as FleetDocuments, settings: s, base, workers: 2 });
  expect(diff).toEqual(await reference(next as unknown as FleetDocuments, s, base));
  expect(diff.summary.changed).toBeGreaterThan(1400);
  expect(diff.entries.find((e) => e.id === next.bots[5].id)!.changes).toContainEqual({ field: 'secret', note: 'secret changed' });
  expect(formatDiff(diff, 'json')).not.toContain(ROTATED);
  // No git process outlives the diff.
  await new Promise((r) => setTimeout(r, 300));
  const left = execFileSync('ps', ['-eo', 'ppid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim().startsWith(`${process.pid} `) && l.includes('cat-file'));
  expect(left).toEqual([]);
}, 60_000);

test('a base file that is not fleetsynth\'s, at a rendered bot\'s path: the bot is added', async () => {
  const dir = path.join(tmp, 'foreign-at-path');
  const docs = generateFleet(6, 2);
  await synthesize(docs, { outDir: dir, settings });
  const p = [...readTreeFromDir(dir).keys()].find((k) => k.startsWith('bots/'))!;
  fs.writeFileSync(path.join(dir, p), 'kind: ConfigMap\n');
  const { diff } = await diffRender({ docs, settings, base: { dir }, workers: 1 });
  expect(diff).toEqual(await reference(docs, settings, { dir }));
  expect(diff.entries.map((e) => [e.path, e.status])).toEqual([[p, 'added']]);
  expect(fs.readFileSync(path.join(dir, p), 'utf8')).not.toContain(MARK);
});
