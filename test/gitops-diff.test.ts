import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DiffBaseError,
  FleetDiff,
  diffRender,
  diffTrees,
  formatDiff,
  readTreeFromDir,
  readTreeFromGit,
} from '../src/gitops/diff';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const settings = { ...DEFAULT_SETTINGS, shards: 4 };
type Doc = { id: string; config: Record<string, any>; custom: Record<string, any> };
const clone = (d: FleetDocuments) => JSON.parse(JSON.stringify(d)) as { bots: Doc[]; bot_schedules: Doc[] };

const ROTATED = 'SK-rotated-0123456789-very-secret';
const PASSWORD = 'hunter2-is-a-bad-password';
const NEW_KEY = 'AK-new-bot-key-0123456789';

/** Base fleet and a changed copy: one of each kind of change. */
function fleets() {
  const base = generateFleet(10, 7);
  const next = clone(base);
  next.bots[0].config.exchange.api_secret = ROTATED; // secret changed, nothing visible
  const b1 = next.bots[1];
  b1.config.symbol = 'DOGEUSDT';
  b1.config.memory_limit = '1Gi';
  b1.config.version = '9.9.9';
  b1.custom.version = '9.9.9';
  b1.custom.config.runtime = 'nodejs20';
  b1.custom.config.entrypoints = { bot: 'main.js', query: 'query.js' };
  const removed = next.bots.splice(2, 1)[0];
  const added = JSON.parse(JSON.stringify(next.bots[2])) as Doc;
  added.id = 'added0bot000000000000001';
  added.config.exchange.api_key = NEW_KEY;
  next.bots.push(added);
  next.bot_schedules[0].config.schedule = '@daily';
  next.bot_schedules[1].config.password = PASSWORD; // secret key added
  return { base, next: next as unknown as FleetDocuments, removed: removed.id, added: added.id };
}

/** Every secret value of both fleets (what must never appear in a report). */
function secretValues(...fs: FleetDocuments[]): string[] {
  const out = new Set<string>();
  for (const d of fs) {
    for (const doc of [...d.bots, ...d.bot_schedules] as Doc[]) {
      out.add(doc.config.exchange.api_key);
      out.add(doc.config.exchange.api_secret);
      if (doc.config.password) out.add(doc.config.password);
    }
  }
  return [...out];
}

async function render(docs: FleetDocuments, dir: string) {
  await synthesize(docs, { outDir: dir, settings });
  return readTreeFromDir(dir);
}

let diff: FleetDiff;
let outputs: Record<string, string>;
let f: ReturnType<typeof fleets>;

beforeAll(async () => {
  f = fleets();
  const baseDir = path.join(tmp, 'base');
  await render(f.base, baseDir);
  const r = await diffRender({ docs: f.next, settings, base: { dir: baseDir } });
  diff = { ...r.diff, base: 'main:dist' };
  outputs = { text: formatDiff(diff, 'text'), markdown: formatDiff(diff, 'markdown'), json: formatDiff(diff, 'json') };
});

test('per bot: added, removed, changed with the fields that changed', () => {
  const byId = new Map(diff.entries.map((e) => [e.id, e]));
  expect(diff.summary).toEqual({ added: 1, changed: 4, removed: 1, unchanged: 6, kept: 0 });
  expect(byId.get(f.added)!.status).toBe('added');
  expect(byId.get(f.removed)!.status).toBe('removed');
  const b1 = byId.get((f.next.bots[1] as Doc).id)!;
  expect([...new Set(b1.changes.map((c) => c.field))]).toEqual(['runtime', 'version', 'resources', 'entrypoints', 'config', 'other']);
  const old = f.base.bots[1] as Doc;
  expect(b1.changes).toEqual(expect.arrayContaining([
    { field: 'runtime', from: old.custom.config.runtime, to: 'nodejs20' },
    { field: 'version', from: old.custom.version, to: '9.9.9' },
    { field: 'resources', key: 'bot.limits.memory', from: '768Mi', to: '1Gi' },
    { field: 'entrypoints', key: 'query', note: 'added', to: 'query.js' },
    { field: 'config', key: 'symbol', from: JSON.stringify(old.config.symbol), to: '"DOGEUSDT"' },
    { field: 'other', key: `Service/bot-${old.id}`, note: 'added' },
  ]));
  expect(byId.get((f.next.bot_schedules[0] as Doc).id)!.changes[0]).toMatchObject({ field: 'schedule', to: '@daily' });
  // Deterministic order: by path.
  const paths = diff.entries.map((e) => e.path);
  expect(paths).toEqual([...paths].sort());
});

test('a changed secret shows as "secret changed", an added secret key by name only', () => {
  const b0 = diff.entries.find((e) => e.id === (f.next.bots[0] as Doc).id)!;
  expect(b0.changes).toEqual([{ field: 'secret', note: 'secret changed' }]);
  const s1 = diff.entries.find((e) => e.id === (f.next.bot_schedules[1] as Doc).id)!;
  expect(s1.changes).toEqual([{ field: 'config', key: 'password', note: 'secret added' }]);
  expect(outputs.text).toContain('secret changed');
  expect(outputs.markdown).toContain('**secret changed**');
});

test('no secret value appears in any output', () => {
  const secrets = secretValues(f.base, f.next);
  expect(secrets).toEqual(expect.arrayContaining([ROTATED, PASSWORD, NEW_KEY]));
  for (const [format, text] of Object.entries(outputs)) {
    for (const s of secrets) expect({ format, leaked: text.includes(s) }).toEqual({ format, leaked: false });
  }
});

test('text report', () => expect(outputs.text).toMatchSnapshot());
test('markdown report', () => expect(outputs.markdown).toMatchSnapshot());
test('json report', () => {
  expect(JSON.parse(outputs.json).summary).toEqual(diff.summary);
  expect(outputs.json).toMatchSnapshot();
});

test('no changes', async () => {
  const dir = path.join(tmp, 'same');
  const files = await render(f.base, dir);
  const d = diffTrees(files, files, { base: 'HEAD:dist' });
  expect(d.entries).toEqual([]);
  // 10 bot files and the live service's platform/ manifest.
  expect([...files.keys()].filter((k) => k.startsWith('platform/'))).toHaveLength(1);
  expect(formatDiff(d, 'text')).toBe('fleetsynth diff against HEAD:dist: no changes (11 unchanged)\n');
});

test('markdown stays under the pull-request comment limit', async () => {
  const big = generateFleet(320, 11);
  const changed = clone(big);
  for (const d of [...changed.bots, ...changed.bot_schedules]) {
    d.config.symbol = 'X'.repeat(40) + d.id;
    d.config.note = 'n'.repeat(200);
  }
  const a = await render(big, path.join(tmp, 'big'));
  const r = await diffRender({ docs: changed as unknown as FleetDocuments, settings, base: { dir: path.join(tmp, 'big') } });
  expect(a.size).toBeGreaterThan(250);
  const md = formatDiff(r.diff, 'markdown');
  expect(Buffer.byteLength(md)).toBeLessThanOrEqual(60_000);
  expect(md).toMatch(/… and \d+ more/);
  const capped = formatDiff(r.diff, 'markdown', { maxEntries: 5 });
  expect(capped.match(/<details>/g)).toHaveLength(5);
  expect(capped).toContain(`… and ${r.diff.entries.length - 5} more`);
});

test('a failed document keeps its file: reported as kept, not removed', async () => {
  const baseDir = path.join(tmp, 'failed');
  await render(f.base, baseDir);
  const bad = clone(f.base);
  bad.bots[0].custom.config.runtime = 'cobol';
  const r = await diffRender({ docs: bad as unknown as FleetDocuments, settings, base: { dir: baseDir } });
  expect(r.diff.entries).toEqual([]);
  expect(r.diff.kept).toHaveLength(1);
  expect(r.synth.errors.join('\n')).toContain(bad.bots[0].id);
});

test('reads the base from a git ref without touching the working tree', async () => {
  const repo = path.join(tmp, 'repo');
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });
  git('init', '-q');
  const files = await render(f.base, path.join(repo, 'dist'));
  fs.writeFileSync(path.join(repo, 'dist', 'bots', 'README.md'), 'not a bot\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  // The working tree moves on; the ref does not.
  await render(f.next, path.join(repo, 'dist'));
  const atHead = await readTreeFromGit(repo, 'HEAD', 'dist');
  expect(atHead).toEqual(files);
  fs.mkdirSync(path.join(repo, 'sub'));
  expect(await readTreeFromGit(path.join(repo, 'sub'), 'HEAD', '../dist')).toEqual(files);
  expect((await readTreeFromGit(repo, 'HEAD', 'missing')).size).toBe(0);
  await expect(readTreeFromGit(repo, 'no-such-ref', 'dist')).rejects.toBeInstanceOf(DiffBaseError);
  const r = await diffRender({ docs: f.next, settings, base: { repo, ref: 'HEAD', path: 'dist' } });
  expect(r.diff.base).toBe('HEAD:dist');
  expect(r.diff.summary).toEqual(diff.summary);
});

test('platform manifests are compared when the render has them; partial renders compare only their bots', () => {
  const mark = 'app.kubernetes.io/managed-by: fleetsynth';
  const dep = (image: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    ${mark}\n  name: fleetsynth\nspec:\n  template:\n    spec:\n      containers:\n        - image: ${image}\n          name: serve\n`;
  const a = new Map([['platform/serve.yaml', dep('fleetsynth:1')], ['bots/shard-00/bot-a.yaml', `kind: Deployment\nmetadata:\n  labels:\n    ${mark}\n  name: bot-a\n`]]);
  const b = new Map([['platform/serve.yaml', dep('fleetsynth:2')]]);
  const d = diffTrees(a, b);
  expect(d.entries.map((e) => [e.kind, e.status, e.changes[0]])).toEqual([
    ['bot', 'removed', undefined],
    ['platform', 'changed', { field: 'image', from: 'fleetsynth:1', to: 'fleetsynth:2' }],
  ]);
  expect(diffTrees(a, new Map()).entries.map((e) => e.kind)).toEqual(['bot']);
  expect(diffTrees(a, new Map(), { onlyIds: new Set(['zzz']) }).entries).toEqual([]);
});

test('markdown caps the changes shown per bot', async () => {
  const baseDir = path.join(tmp, 'wide');
  await render(f.base, baseDir);
  const wide = clone(f.base);
  for (let i = 0; i < 100; i++) wide.bots[0].config[`param${String(i).padStart(3, '0')}`] = i;
  const r = await diffRender({ docs: wide as unknown as FleetDocuments, settings, base: { dir: baseDir } });
  const md = formatDiff(r.diff, 'markdown');
  expect(md.match(/^- \*\*config\*\*/gm)).toHaveLength(40);
  expect(md).toContain('- … and 60 more changes');
  expect(formatDiff(r.diff, 'text').match(/config param/g)).toHaveLength(100);
});

test('a schedule whose custom bot version alone changed is not called a secret change', async () => {
  const base = generateFleet(10, 7);
  const next = clone(base);
  const s0 = next.bot_schedules[0];
  s0.custom.version = '7.7.7'; // not visible in a schedule's manifest; its hash changes
  const a = path.join(tmp, 'sv-a');
  const b = path.join(tmp, 'sv-b');
  await synthesize(base, { outDir: a, settings, collect: true });
  await synthesize(next as unknown as FleetDocuments, { outDir: b, settings, collect: true });
  const d = diffTrees(readTreeFromDir(a), readTreeFromDir(b), { base: 'a' });
  const e = d.entries.find((x) => x.id === s0.id)!;
  expect(e.changes.some((c) => c.note === 'secret changed')).toBe(false);
  expect(e.changes).toContainEqual({ field: 'secret', note: 'secret or custom bot version changed' });
});
