import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { shardOf } from '../src/synth/shard';
import { WORKER_THRESHOLD } from '../src/synth/pool';
import { EmptySourceError, synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';
import { changedPaths, readTree, tmpDir } from './support/tmp';

const settings = DEFAULT_SETTINGS;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
type Doc = { id: string; config: Record<string, unknown>; custom: { config: Record<string, unknown> } };

function fleet(n = 60, seed = 3): FleetDocuments {
  return generateFleet(n, seed);
}

describe('synthesize', () => {
  it('is deterministic: same input, byte-identical tree, in any thread layout', async () => {
    const a = tmpDir();
    const b = tmpDir();
    // Above WORKER_THRESHOLD, so the second run really renders on a worker thread (from the
    // templates this thread seeds it with).
    const docs = fleet(2000);
    const r1 = await synthesize(docs, { outDir: a, settings, workers: 0 });
    const r2 = await synthesize(clone(docs), { outDir: b, settings, workers: 2 });
    expect(r1.errors).toEqual([]);
    expect(r1.written.length).toBeGreaterThan(WORKER_THRESHOLD);
    expect(readTree(a)).toEqual(readTree(b));
    expect(r2.written).toEqual(r1.written);
  });

  it('puts each bot in exactly one file whose path holds its id and is a pure function of it', async () => {
    const out = tmpDir();
    const docs = fleet(80);
    const r = await synthesize(docs, { outDir: out, settings });
    const tree = readTree(out);
    for (const spec of r.fleet.specs) {
      const file = `bots/${shardOf(spec.id, 16)}/${spec.kind === 'realtime' ? 'bot' : 'schedule'}-${spec.id}.yaml`;
      expect(tree.get(file)).toContain(`the0.app/${spec.kind === 'realtime' ? 'bot' : 'schedule'}-id: ${spec.id}`);
      const holding = [...tree.entries()].filter(([, text]) => text.includes(`name: ${spec.objectName}\n`));
      expect(holding.map(([p]) => p)).toEqual([file]);
    }
    expect([...tree.keys()].filter((p) => p.startsWith('bots/') && p.endsWith('.yaml'))).toHaveLength(r.fleet.specs.length);
    // every shard directory exists even when empty, so its Argo CD Application prunes instead of vanishing
    expect([...tree.keys()].filter((p) => p.endsWith('/.fleetsynth-shard'))).toHaveLength(16);
  });

  it('changes exactly one file when one bot is added, changed or removed', async () => {
    const out = tmpDir();
    const docs = fleet(60);
    await synthesize(docs, { outDir: out, settings });
    const before = readTree(out);

    const changed = clone(docs);
    const bot = changed.bots.find((b) => (b as Doc).config.enabled !== false) as Doc;
    bot.config.symbol = 'DOGEUSDT';
    let r = await synthesize(changed, { outDir: out, settings });
    expect(r.written).toHaveLength(1);
    expect(r.written[0]).toContain(bot.id);
    expect(changedPaths(before, readTree(out))).toEqual(r.written);

    const added = clone(changed);
    const extra = clone(bot);
    extra.id = 'new-bot-1';
    added.bots.push(extra);
    const mid = readTree(out);
    r = await synthesize(added, { outDir: out, settings });
    expect(changedPaths(mid, readTree(out))).toEqual([`bots/${shardOf('new-bot-1', 16)}/bot-new-bot-1.yaml`]);

    const removed = clone(added);
    removed.bots = removed.bots.filter((b) => (b as Doc).id !== 'new-bot-1');
    const mid2 = readTree(out);
    r = await synthesize(removed, { outDir: out, settings });
    expect(r.removed).toEqual([`bots/${shardOf('new-bot-1', 16)}/bot-new-bot-1.yaml`]);
    expect(changedPaths(mid2, readTree(out))).toEqual(r.removed);
  });

  it('removes the file of a bot that is disabled; never touches files it did not write', async () => {
    const out = tmpDir();
    const docs = fleet(30);
    await synthesize(docs, { outDir: out, settings });
    const shard = path.join(out, 'bots', 'shard-00');
    fs.mkdirSync(shard, { recursive: true });
    fs.writeFileSync(path.join(shard, 'bot-handwritten.yaml'), 'apiVersion: v1\nkind: ConfigMap\n');
    fs.writeFileSync(path.join(shard, 'README.md'), 'notes');
    fs.writeFileSync(path.join(out, 'kustomization.yaml'), 'resources: []\n');

    const disabled = clone(docs);
    const victim = disabled.bots.find((b) => (b as Doc).config.enabled !== false) as Doc;
    victim.config.enabled = false;
    const r = await synthesize(disabled, { outDir: out, settings });
    expect(r.removed).toEqual([`bots/${shardOf(victim.id, 16)}/bot-${victim.id}.yaml`]);
    expect(r.foreign).toEqual(['bots/shard-00/bot-handwritten.yaml']);
    expect(fs.readFileSync(path.join(shard, 'bot-handwritten.yaml'), 'utf8')).toContain('ConfigMap');
    expect(fs.existsSync(path.join(shard, 'README.md'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'kustomization.yaml'))).toBe(true);
  });

  it('keeps a bad bot\'s previous file exactly, renders the others, and reports the bot and field', async () => {
    const out = tmpDir();
    const docs = fleet(40);
    await synthesize(docs, { outDir: out, settings });
    const before = readTree(out);
    const broken = clone(docs);
    const bad = broken.bots.find((b) => (b as Doc).config.enabled !== false) as Doc;
    bad.custom.config.runtime = 'cobol';
    const other = broken.bot_schedules.find((b) => (b as Doc).config.enabled !== false) as Doc;
    other.config.symbol = 'CHANGED';
    const r = await synthesize(broken, { outDir: out, settings });
    expect(r.errors).toEqual([expect.stringMatching(new RegExp(`^bots/${bad.id}: custom.config.runtime: must be one of`))]);
    expect(r.kept).toEqual([`bots/${shardOf(bad.id, 16)}/bot-${bad.id}.yaml`]);
    const after = readTree(out);
    expect(after.get(r.kept[0])).toBe(before.get(r.kept[0]));
    expect(changedPaths(before, after)).toEqual([`bots/${shardOf(other.id, 16)}/schedule-${other.id}.yaml`]);
  });

  it('refuses an empty source and changes nothing; --allow-empty removes managed files only', async () => {
    const out = tmpDir();
    await synthesize(fleet(10), { outDir: out, settings });
    const before = readTree(out);
    await expect(synthesize({ bots: [], bot_schedules: [] }, { outDir: out, settings })).rejects.toThrow(EmptySourceError);
    expect(readTree(out)).toEqual(before);
    const r = await synthesize({ bots: [], bot_schedules: [] }, { outDir: out, settings, allowEmpty: true });
    const botFiles = [...before.keys()].filter((p) => p.startsWith('bots/') && p.endsWith('.yaml'));
    expect(r.removed).toEqual(botFiles.sort());
    expect([...readTree(out).keys()].filter((p) => p.endsWith('.yaml'))).toEqual(['platform/fleetsynth.yaml']);
  });

  it('does not rewrite unchanged files (no-op resynth)', async () => {
    const out = tmpDir();
    const docs = fleet(50);
    await synthesize(docs, { outDir: out, settings });
    const mtimes = [...readTree(out).keys()].map((p) => fs.statSync(path.join(out, p)).mtimeMs);
    await new Promise((r) => setTimeout(r, 20));
    const r = await synthesize(clone(docs), { outDir: out, settings });
    expect(r.written).toEqual([]);
    expect(r.unchanged).toBe(mtimes.length - 16);
    expect([...readTree(out).keys()].map((p) => fs.statSync(path.join(out, p)).mtimeMs)).toEqual(mtimes);
  });

  it('scans its output for every secret value and never writes a leaking file', async () => {
    const out = tmpDir();
    const docs = fleet(5);
    const bot = docs.bots.find((b) => (b as Doc).config.enabled !== false) as Doc;
    // The same value under a secret key and under an ordinary key: the ordinary copy is rendered.
    bot.config.api_token = 'leaky-value-123';
    bot.config.label = 'leaky-value-123';
    const r = await synthesize(docs, { outDir: out, settings });
    expect(r.errors).toEqual([
      `bots/${bot.id}: the value of secret config key(s) api_token in field "fleetsynth.io/config" also appears in the rendered manifest, so the file is not written (its previous file is kept): ` +
        'if that value is not secret, rename the config key; if it is, it equals public manifest text (guessable): change it',
    ]);
    const tree = readTree(out);
    expect([...tree.values()].some((t) => t.includes('leaky-value-123'))).toBe(false);
    expect([...tree.keys()].some((p) => p.includes(bot.id))).toBe(false);
  });

  it('never writes any secret value of the generated fleet', async () => {
    const out = tmpDir();
    const docs = fleet(200);
    const r = await synthesize(docs, { outDir: out, settings });
    expect(r.errors).toEqual([]);
    const all = [...readTree(out).values()].join('\n');
    for (const d of [...docs.bots, ...docs.bot_schedules] as Doc[]) {
      const ex = d.config.exchange as { api_key: string; api_secret: string };
      expect(all.includes(ex.api_key)).toBe(false);
      expect(all.includes(ex.api_secret)).toBe(false);
    }
    expect(all).toContain('"api_key":"<secret>"');
  });

  it('re-renders only the requested bots', async () => {
    const out = tmpDir();
    const docs = fleet(40);
    await synthesize(docs, { outDir: out, settings });
    const changed = clone(docs);
    const [a, b] = changed.bots.filter((x) => (x as Doc).config.enabled !== false) as Doc[];
    a.config.symbol = 'A';
    b.config.symbol = 'B';
    const r = await synthesize(changed, { outDir: out, settings, onlyIds: new Set([a.id]) });
    expect(r.written).toEqual([`bots/${shardOf(a.id, 16)}/bot-${a.id}.yaml`]);
    expect(r.unchanged + r.written.length).toBe(1);
  });

  it('honours settings: namespace, shards, image, NATS and bucket overrides', async () => {
    const out = tmpDir();
    const docs = fleet(20);
    const r = await synthesize(docs, {
      outDir: out,
      settings: { ...settings, namespace: 'bots', shards: 4, runtimeImage: 'reg/rt@sha256:abc', natsUrl: 'nats://n:4222', minioLogsBucket: 'logs2' },
    });
    const tree = readTree(out);
    expect(new Set([...tree.keys()].filter((p) => p.startsWith('bots/')).map((p) => p.split('/')[1]))).toEqual(new Set(['shard-00', 'shard-01', 'shard-02', 'shard-03']));
    const text = [...tree.values()].join('\n');
    expect(text).toContain('namespace: bots');
    expect(text).toContain('image: reg/rt@sha256:abc');
    expect(text).toContain('value: nats://n:4222');
    expect(text).toContain('name: MINIO_LOGS_BUCKET');
    expect(r.errors).toEqual([]);
  });
});

describe('findBotFiles', () => {
  const { findBotFiles, listBotFiles } = require('../src/synth/writer') as typeof import('../src/synth/writer');
  test('finds what listBotFiles lists for the ids, in any shard and of either kind; refuses a link', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-find-'));
    try {
      const put = (rel: string) => {
        fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
        fs.writeFileSync(path.join(out, rel), 'x\n');
      };
      for (const rel of ['bots/shard-00/bot-a.yaml', 'bots/shard-01/bot-a.yaml', 'bots/shard-01/schedule-b-2.yaml', 'bots/shard-02/bot-c.yaml', 'bots/shard-02/notes.txt']) put(rel);
      const ids = new Set(['a', 'b-2', 'missing', 'Not Valid']);
      const byPath = (xs: Array<{ relPath: string }>) => [...xs].sort((x, y) => (x.relPath < y.relPath ? -1 : 1));
      const expected = byPath(listBotFiles(out, { remember: false }).filter((f) => ids.has(f.id)));
      expect(expected).toHaveLength(3);
      expect(byPath(findBotFiles(out, ids))).toEqual(expected);
      expect(findBotFiles(path.join(out, 'nowhere'), ids)).toEqual([]);
      fs.symlinkSync('/etc/hostname', path.join(out, 'bots/shard-02/bot-d.yaml'));
      expect(() => findBotFiles(out, ['d'])).toThrow(/symbolic link/);
      expect(findBotFiles(out, ['c'])).toEqual([{ relPath: 'bots/shard-02/bot-c.yaml', id: 'c' }]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
