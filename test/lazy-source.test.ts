// A JSON fleet file's documents kept as their bytes (issue 17: a one-bot publish at 50,000
// documents must not decode and parse the whole file): the byte scan agrees with JSON.parse, gives
// up on anything it does not fully understand, and a publish from it is the publish from the
// parsed file. Real git, bare remotes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFleet, mayRemove } from '../src/model/fleet';
import { RawDocument } from '../src/model/raw-document';
import { publish } from '../src/gitops/publish';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, readFleetFile, readFleetFileLazy } from '../src/source';
import { splitFleetJson } from '../src/source/json-slices';
import { generateFleet } from '../src/testing/fleet-gen';
import { modelOptions } from '../src/config/model-options';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-lazy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const uniq = (p: string) => path.join(tmp, `${p}-${++n}`);
const decoded = (docs: { bots: unknown[]; bot_schedules: unknown[] }) => ({
  bots: docs.bots.map((d) => (d instanceof RawDocument ? d.value() : d)),
  bot_schedules: docs.bot_schedules.map((d) => (d instanceof RawDocument ? d.value() : d)),
});

describe('splitFleetJson', () => {
  test('agrees with JSON.parse on generated fleets, compact and indented, with escapes and unicode', () => {
    for (const seed of [1, 2, 3]) {
      const docs = generateFleet(300, seed) as unknown as { bots: Array<Record<string, any>>; bot_schedules: unknown[] };
      docs.bots[0].config.note = 'quote " backslash \\ brace } bracket ] unicode é 日本 \u2028 tab\t';
      docs.bots[1].config.weird = '\\"}]';
      for (const text of [JSON.stringify(docs), JSON.stringify(docs, null, 2), JSON.stringify({ other: { bots: [1] }, ...docs, trailer: [{ a: '"]' }] }, null, 1)]) {
        const split = splitFleetJson(Buffer.from(text));
        expect(split).toBeDefined();
        expect(split!.bots.every((d) => d instanceof RawDocument)).toBe(true);
        const parsed = JSON.parse(text) as { bots: unknown[]; bot_schedules: unknown[] };
        expect(decoded(split!)).toEqual({ bots: parsed.bots, bot_schedules: parsed.bot_schedules });
      }
    }
  });

  test('a repeated list key counts as JSON.parse counts it (the last one)', () => {
    const text = '{"bots":[{"id":"a"}],"bot_schedules":[],"bots":[{"id":"b"},{"id":"c"}]}';
    expect(decoded(splitFleetJson(Buffer.from(text))!)).toEqual({ bots: [{ id: 'b' }, { id: 'c' }], bot_schedules: [] });
  });

  test.each([
    ['not an object', '[{"id":"a"}]'],
    ['bots is not a list', '{"bots":{"id":"a"}}'],
    ['bots is null', '{"bots":null}'],
    ['neither list', '{"other":[]}'],
    ['truncated', '{"bots":[{"id":"a"},{"id":"b"'],
    ['missing comma between documents', '{"bots":[{"id":"a"} {"id":"b"}]}'],
    ['trailing text', '{"bots":[]} x'],
    ['broken outside the lists', '{"bots":[], "x": tru}'],
    ['a BOM', '\ufeff{"bots":[]}'],
    ['YAML', 'bots:\n  - id: a\n'],
  ])('gives up on %s (the file is parsed as a whole)', (_what, text) => {
    expect(splitFleetJson(Buffer.from(text))).toBeUndefined();
  });

  test('a file the scan gives up on reads as readFleetFile reads it, errors included', () => {
    const good = uniq('fleet') + '.yaml';
    fs.writeFileSync(good, 'bots:\n  - id: a\n    config: {}\n');
    expect(readFleetFileLazy(good)).toEqual(readFleetFile(good));
    const bad = uniq('fleet') + '.json';
    fs.writeFileSync(bad, '{"bots":[{"id":"a"},');
    expect(() => readFleetFileLazy(bad)).toThrow(/not valid JSON or YAML/);
    expect(() => readFleetFile(bad)).toThrow(/not valid JSON or YAML/);
  });

  test('a document whose bytes are not JSON is its own error, quoting none of them, and stops every removal', () => {
    const docs = generateFleet(20, 5) as unknown as { bots: unknown[]; bot_schedules: unknown[] };
    const text = JSON.stringify(docs).replace(/^\{"bots":\[/, '{"bots":[{"id":"x","apiKey":s3cr3t-value},');
    const split = splitFleetJson(Buffer.from(text))!;
    const fleet = buildFleet(split, modelOptions(DEFAULT_SETTINGS));
    const errors = fleet.errors.map((e) => e.toString());
    expect(errors).toEqual([expect.stringMatching(/^bots\/#0 .*\(document\): is not valid JSON$/)]);
    expect(errors.join('\n')).not.toContain('s3cr3t');
    expect(mayRemove(fleet)).toBe(false);
    expect(fleet.specs.length).toBe(buildFleet(docs, modelOptions(DEFAULT_SETTINGS)).specs.length);
  });
});

describe('publish from a JSON fleet file', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
  const bare = () => {
    const dir = uniq('remote') + '.git';
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
    return dir;
  };

  test('commits what a publish of the parsed documents commits; known documents are not decoded again', async () => {
    const docs = generateFleet(400, 9) as unknown as { bots: Array<Record<string, any>>; bot_schedules: unknown[] };
    const file = uniq('fleet') + '.json';
    const write = () => fs.writeFileSync(file, JSON.stringify(docs));
    const cache = { dir: uniq('cache') };
    const lazyRepo = bare();
    const plainRepo = bare();
    const lazyWd = uniq('wd');
    const plainWd = uniq('wd');
    // The plain side reads through read() only (a source without readLazy).
    const plain = () => {
      const s = openSource(file);
      return { describe: s.describe, read: s.read, close: s.close };
    };
    const run = async () => {
      write();
      const a = await publish({ source: openSource(file), settings: DEFAULT_SETTINGS, repo: lazyRepo, workDir: lazyWd, cache });
      const b = await publish({ source: plain(), settings: DEFAULT_SETTINGS, repo: plainRepo, workDir: plainWd, cache: { off: true } });
      expect(a.errors).toEqual(b.errors);
      expect(a.diff.summary).toEqual(b.diff.summary);
      expect(git(lazyRepo, 'rev-parse', 'main^{tree}')).toBe(git(plainRepo, 'rev-parse', 'main^{tree}'));
      return a;
    };
    const first = await run();
    expect(first.diff.summary.added).toBeGreaterThan(300);
    const enabled = docs.bots.filter((b) => b.config?.enabled !== false);
    enabled[3].config.symbol = 'LAZY-1';
    const one = await run();
    expect(one.diff.summary.changed).toBe(1);
    expect(one.diff.entries.map((e) => e.id)).toEqual([enabled[3].id]);

    // The cache vouches for the documents by their bytes: reading the file lazily decodes only
    // the changed one (and the disabled ones, which have no file).
    enabled[4].config.symbol = 'LAZY-2';
    write();
    const lazy = readFleetFileLazy(file);
    const values = jest.spyOn(RawDocument.prototype, 'value');
    try {
      const r = await publish({ source: { ...openSource(file), readLazy: async () => lazy }, settings: DEFAULT_SETTINGS, repo: lazyRepo, workDir: lazyWd, cache });
      expect(r.diff.summary.changed).toBe(1);
      const isOff = (d: any) => d?.config?.enabled === false;
      const disabled = docs.bots.filter(isOff).length + (docs.bot_schedules as any[]).filter(isOff).length;
      const decodedDocs = new Set(values.mock.contexts);
      // The changed one, the disabled ones, and (at most) the one changed last run: its file was
      // written in the same clock tick the cache was saved, so the cache did not keep it (racy).
      expect(decodedDocs.size).toBeGreaterThanOrEqual(1 + disabled);
      expect(decodedDocs.size).toBeLessThanOrEqual(2 + disabled);
      expect(decodedDocs.size).toBeLessThan((docs.bots.length + docs.bot_schedules.length) / 5);
    } finally {
      values.mockRestore();
    }
  });
});
