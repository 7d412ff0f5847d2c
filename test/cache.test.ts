import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { cacheOptionsFromEnv } from '../src/synth/cache';
import { SynthOptions, synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';
import { readTree, tmpDir } from './support/tmp';

// The output cache of these tests lives in its own directory (read once per process).
const cacheDir = tmpDir('fleetsynth-cache-');
const cache = { dir: cacheDir };

const settings = DEFAULT_SETTINGS;
const clone = (d: FleetDocuments): FleetDocuments => JSON.parse(JSON.stringify(d)) as FleetDocuments;
type Doc = { id: string; config: Record<string, unknown>; custom: Record<string, unknown>; enabled?: boolean };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Synthesizes twice, waiting between, so every file's stamp is settled (older than the cache's
 * racy window) when the cache is saved: the state after any earlier run on a quiet machine.
 */
async function settledTree(docs: FleetDocuments, extra: Partial<SynthOptions> = {}): Promise<string> {
  const out = tmpDir();
  await synthesize(clone(docs), { outDir: out, settings, cache, ...extra });
  await sleep(40);
  await synthesize(clone(docs), { outDir: out, settings, cache, ...extra });
  return out;
}

function mtimes(dir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const rel of readTree(dir).keys()) m.set(rel, fs.statSync(path.join(dir, rel)).mtimeMs);
  return m;
}

function enabledBot(docs: FleetDocuments, n = 0): Doc {
  return (docs.bots as Doc[]).filter((d) => d.enabled !== false && (d.config as { enabled?: unknown }).enabled !== false)[n];
}

describe('output cache: unchanged documents are neither validated nor rendered', () => {
  const docs = generateFleet(300, 11);

  it('shape templates are kept: a changed bot of a known shape is filled in without cdk8s, byte for byte what a run without cache writes', async () => {
    const { BotRenderer } = require('../src/synth/render') as typeof import('../src/synth/render');
    const out = await settledTree(docs);
    const changed = clone(docs);
    const bot = enabledBot(changed);
    bot.config.threshold = 123456;
    const direct = jest.spyOn(BotRenderer.prototype, 'toJson');
    try {
      const r = await synthesize(changed, { outDir: out, settings, cache });
      expect(r.written).toHaveLength(1);
      expect(direct).not.toHaveBeenCalled();
    } finally {
      direct.mockRestore();
    }
    const plain = tmpDir();
    await synthesize(clone(changed), { outDir: plain, settings, cache: { off: true } });
    expect(readTree(out)).toEqual(readTree(plain));
  });

  it("the live service's files are vouched for too: a no-op run does not render them; a touched one, or other settings, render them again", async () => {
    const platform = require('../src/constructs/platform') as typeof import('../src/constructs/platform');
    const spy = jest.spyOn(platform, 'renderPlatform');
    try {
      const out = await settledTree(docs);
      const before = readTree(out);
      spy.mockClear();
      const r = await synthesize(clone(docs), { outDir: out, settings, cache });
      expect(spy).not.toHaveBeenCalled();
      expect(r.written).toEqual([]);
      expect(readTree(out)).toEqual(before);
      const file = [...before.keys()].find((k) => k.startsWith('platform/'))!;
      fs.appendFileSync(path.join(out, file), '# edited\n');
      const again = await synthesize(clone(docs), { outDir: out, settings, cache });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(again.written).toEqual([file]);
      expect(readTree(out)).toEqual(before);
      await sleep(40);
      spy.mockClear();
      const other = { ...settings, namespace: 'elsewhere' };
      const moved = await synthesize(clone(docs), { outDir: out, settings: other, cache });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(moved.written.some((w) => w.startsWith('platform/'))).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('a no-op run knows every bot from its document, writes nothing and reports the same', async () => {
    const out = await settledTree(docs);
    const before = readTree(out);
    const times = mtimes(out);
    // The same run without the fast path, on another copy of the tree.
    const full = await synthesize(clone(docs), { outDir: await settledTree(docs), settings, cache, reuseValidated: false });
    const r = await synthesize(clone(docs), { outDir: out, settings, cache });
    expect(r.fleet.specs).toEqual([]);
    expect(r.fleet.known.length).toBe(full.fleet.specs.length);
    expect(r.written).toEqual([]);
    expect(r.removed).toEqual([]);
    expect(r.errors).toEqual([]);
    expect(r.objects).toBe(full.objects);
    expect(r.unchanged).toBe(full.unchanged);
    expect(r.warnings).toEqual(full.warnings);
    expect(readTree(out)).toEqual(before);
    expect(mtimes(out)).toEqual(times);
  });

  it('a changed document is validated and rendered again; the others stay known', async () => {
    const out = await settledTree(docs);
    const changed = clone(docs);
    const bot = enabledBot(changed, 3);
    bot.config = { ...bot.config, symbol: 'NEW/PAIR' };
    const r = await synthesize(changed, { outDir: out, settings, cache });
    expect(r.fleet.specs.map((s) => s.id)).toEqual([bot.id]);
    expect(r.written).toEqual([expect.stringMatching(new RegExp(`/bot-${bot.id}\\.yaml$`))]);
    expect(fs.readFileSync(path.join(out, r.written[0]), 'utf8')).toContain('NEW/PAIR');
  });

  it('a run that changed a few entries appends them to a journal; the next run replays it; a torn or foreign line is ignored', async () => {
    const out = await settledTree(docs);
    const real = fs.realpathSync(out);
    const file = fs.readdirSync(cacheDir).map((f) => path.join(cacheDir, f)).find((f) => f.endsWith('.json') && JSON.parse(fs.readFileSync(f, 'utf8')).outDir === real)!;
    const base = fs.readFileSync(file, 'utf8');
    const log = () => (fs.existsSync(`${file}.log`) ? fs.readFileSync(`${file}.log`, 'utf8').trim().split('\n').filter(Boolean) : []);
    const before = log().length;
    const changed = clone(docs);
    const bot = enabledBot(changed, 5);
    bot.config = { ...bot.config, symbol: 'JOURNAL/PAIR' };
    await synthesize(changed, { outDir: out, settings, cache });
    // The file is untouched; one line names the changed bot's entry.
    expect(fs.readFileSync(file, 'utf8')).toBe(base);
    const lines = log();
    expect(lines).toHaveLength(before + 1);
    const line = JSON.parse(lines[before]);
    expect(line.epoch).toBe(JSON.parse(base).epoch);
    expect(Object.keys(line.entries)).toEqual([expect.stringMatching(new RegExp(`/bot-${bot.id}\\.yaml$`))]);
    await sleep(40);
    // Replayed: the changed bot is known from its new document (nothing rendered); its entry was
    // racy when written (just rendered), so it is verified once more and then kept.
    await synthesize(clone(changed), { outDir: out, settings, cache });
    await sleep(40);
    const again = await synthesize(clone(changed), { outDir: out, settings, cache });
    expect(again.fleet.specs).toEqual([]);
    expect(again.written).toEqual([]);
    // A torn last line and a line of another epoch change nothing.
    fs.appendFileSync(`${file}.log`, JSON.stringify({ epoch: 'not-this-file', generation: 999, entries: Object.fromEntries([...readTree(out).keys()].map((k) => [k, null])) }) + '\n{"epoch":');
    const torn = await synthesize(clone(changed), { outDir: out, settings, cache });
    expect(torn.fleet.specs).toEqual([]);
    expect(torn.written).toEqual([]);
  });

  it('a file edited by hand is rendered again and restored', async () => {
    const out = await settledTree(docs);
    const before = readTree(out);
    const rel = [...before.keys()].find((k) => k.endsWith('.yaml') && k.startsWith('bots/'))!;
    fs.appendFileSync(path.join(out, rel), '# edited\n');
    const r = await synthesize(clone(docs), { outDir: out, settings, cache });
    expect(r.written).toEqual([rel]);
    expect(r.fleet.specs.length).toBe(1);
    expect(readTree(out)).toEqual(before);
  });

  it('a document that became invalid reports its error and keeps its file', async () => {
    const out = await settledTree(docs);
    const before = readTree(out);
    const broken = clone(docs);
    const bot = enabledBot(broken, 5);
    (bot.custom as { config?: unknown }).config = 'not an object';
    const r = await synthesize(broken, { outDir: out, settings, cache });
    expect(r.errors).toEqual([expect.stringContaining(`bots/${bot.id}`)]);
    expect(r.kept).toEqual([expect.stringMatching(new RegExp(`/bot-${bot.id}\\.yaml$`))]);
    expect(r.removed).toEqual([]);
    expect(readTree(out)).toEqual(before);
  });

  it('a new document colliding with a known one fails both; both keep their files', async () => {
    const out = await settledTree(docs);
    const before = readTree(out);
    const dup = clone(docs);
    const bot = enabledBot(dup, 7);
    dup.bots.push({ ...bot, config: { ...bot.config, other: 1 } });
    const r = await synthesize(dup, { outDir: out, settings, cache });
    expect(r.errors.filter((e) => e.includes(bot.id) && e.includes('duplicate id'))).toHaveLength(2);
    expect(r.kept).toEqual([expect.stringMatching(new RegExp(`/bot-${bot.id}\\.yaml$`))]);
    expect(readTree(out)).toEqual(before);
  });

  it('still reports the warnings of known documents', async () => {
    const warned = clone(docs);
    const bot = enabledBot(warned, 2);
    bot.config = { ...bot.config, memory_limit: 'lots' };
    const out = await settledTree(warned);
    const r = await synthesize(clone(warned), { outDir: out, settings, cache });
    expect(r.fleet.specs).toEqual([]);
    expect(r.warnings).toEqual([expect.stringMatching(new RegExp(`^bots/${bot.id}: config.memory_limit "lots" is not a positive`))]);
  });

  it('other settings or cache off (FLEETSYNTH_CACHE=off in the CLI): every document is validated', async () => {
    const out = await settledTree(docs);
    const other = await synthesize(clone(docs), { outDir: out, settings: { ...settings, runtimeImage: 'example.com/runtime:2' }, cache });
    expect(other.fleet.known).toEqual([]);
    expect(other.written.length).toBeGreaterThan(200);
    const out2 = await settledTree(docs);
    const r = await synthesize(clone(docs), { outDir: out2, settings, cache: cacheOptionsFromEnv({ FLEETSYNTH_CACHE: 'off', FLEETSYNTH_CACHE_DIR: cacheDir }) });
    expect(r.fleet.known).toEqual([]);
    expect(r.written).toEqual([]);
  });

  it('the environment is read by the CLI only: FLEETSYNTH_CACHE_DIR in process.env does not move the cache', async () => {
    const elsewhere = tmpDir('fleetsynth-cache-env-');
    const saved = process.env.FLEETSYNTH_CACHE_DIR;
    process.env.FLEETSYNTH_CACHE_DIR = elsewhere;
    try {
      await settledTree(docs);
      expect(fs.readdirSync(elsewhere)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.FLEETSYNTH_CACHE_DIR;
      else process.env.FLEETSYNTH_CACHE_DIR = saved;
    }
    expect(cacheOptionsFromEnv({ FLEETSYNTH_CACHE_DIR: elsewhere, XDG_CACHE_HOME: '/x' })).toEqual({ dir: elsewhere, userCacheHome: '/x' });
  });

  it('holds no secret value of any document', async () => {
    await settledTree(docs);
    const cacheText = fs.readdirSync(cacheDir).map((f) => fs.readFileSync(path.join(cacheDir, f), 'utf8')).join('\n');
    expect(cacheText.length).toBeGreaterThan(1000);
    const secrets = (docs.bots as Doc[]).flatMap((d) => {
      const ex = (d.config as { exchange?: { api_key?: string; api_secret?: string } }).exchange;
      return ex ? [ex.api_key!, ex.api_secret!] : [];
    });
    expect(secrets.length).toBeGreaterThan(50);
    for (const s of secrets) expect(cacheText).not.toContain(s);
  });
});
