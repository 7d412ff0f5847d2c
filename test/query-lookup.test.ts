// Bot lookup for queries: realtime first, then schedules; one indexed lookup each; never a scan.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Collection } from '../src/model/document';
import { lookupFromFile, lookupFromMongo } from '../src/service/query/lookup';

const bot = (id: string, extra: object = {}) => ({ id, config: { name: id, ...extra }, custom: { filePath: 'x.zip', config: { runtime: 'python3.11' } } });

describe('lookupFromMongo', () => {
  test('asks bots first, then schedules, one findEnabled each, stops at the first hit', async () => {
    const calls: [Collection, string][] = [];
    const data: Record<Collection, Record<string, unknown>> = { bots: { a: bot('a') }, bot_schedules: { a: bot('a-sched'), s: bot('s') } };
    const lookup = lookupFromMongo({
      findEnabled: async (which: Collection, id: string) => {
        calls.push([which, id]);
        return (data[which][id] as Record<string, unknown>) ?? null;
      },
    });
    expect(await lookup.find('a')).toEqual({ collection: 'bots', doc: data.bots.a });
    expect(calls).toEqual([['bots', 'a']]);
    calls.length = 0;
    expect(await lookup.find('s')).toEqual({ collection: 'bot_schedules', doc: data.bot_schedules.s });
    expect(calls).toEqual([['bots', 's'], ['bot_schedules', 's']]);
    calls.length = 0;
    expect(await lookup.find('zzz')).toBeNull();
    expect(calls).toHaveLength(2);
  });
});

describe('lookupFromFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-lookup-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('indexes by id with the enabled rule, realtime before schedules', async () => {
    const file = path.join(dir, 'fleet.json');
    fs.writeFileSync(file, JSON.stringify({ bots: [bot('a'), bot('off', { enabled: false }), bot('str', { enabled: 'false' })], bot_schedules: [bot('a'), bot('s')] }));
    const lookup = lookupFromFile(file);
    expect((await lookup.find('a'))?.collection).toBe('bots');
    expect((await lookup.find('s'))?.collection).toBe('bot_schedules');
    expect(await lookup.find('off')).toBeNull();
    // Only a boolean false disables (SPEC §1.2).
    expect((await lookup.find('str'))?.collection).toBe('bots');
  });

  test('re-reads only when the file changed (mtime, size or inode)', async () => {
    const file = path.join(dir, 'fleet.yaml');
    const yaml = (id: string) => `bots:\n  - id: ${id}\n    config: {}\n    custom: {filePath: x.zip, config: {runtime: python3.11}}\n`;
    fs.writeFileSync(file, yaml('one'));
    const past = new Date('2026-01-01T00:00:00Z');
    fs.utimesSync(file, past, past);
    const lookup = lookupFromFile(file);
    expect((await lookup.find('one'))?.collection).toBe('bots');

    // Same inode, same size, mtime put back: the cached index is used (the file is not read).
    fs.writeFileSync(file, yaml('two'));
    fs.utimesSync(file, past, past);
    expect(await lookup.find('one')).not.toBeNull();
    expect(await lookup.find('two')).toBeNull();

    // Replaced atomically (new inode), as writers do: read again.
    fs.writeFileSync(`${file}.tmp`, yaml('six'));
    fs.renameSync(`${file}.tmp`, file);
    expect(await lookup.find('one')).toBeNull();
    expect((await lookup.find('six'))?.collection).toBe('bots');

    // Edited in place (new mtime): read again.
    fs.writeFileSync(file, yaml('ten'));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect((await lookup.find('ten'))?.collection).toBe('bots');
  });

  test('a missing file is an error (a 500 for the query), not "not found"', async () => {
    await expect(lookupFromFile(path.join(dir, 'missing.yaml')).find('a')).rejects.toThrow();
  });
});
