// SPEC §5.4: the MongoDB writes fleetsynth takes over from the0's controller (partitions,
// counters, next_execution_time, idempotent under redelivery), and the fleet-file equivalent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Long, MongoClient } from 'mongodb';
import { FileBotStore, MongoBotStore, PARTITION_SIZE } from '../src/service/apply-event';
import { BotEvent, parseEvent } from '../src/service/events';
import { MongoSource, readFleetFile, writeFleetFile } from '../src/source';
import { MongoWireServer } from './support/mongo-wire-server';
import { tmpDir } from './support/tmp';
import { botDoc, scheduleDoc } from './serve-support';

const NOW = new Date('2026-03-14T10:17:30Z');
const ev = (subject: string, payload: unknown): BotEvent => parseEvent(subject, JSON.stringify(payload));

const targets: Array<[string, () => Promise<{ uri: string; stop: () => Promise<void> }>]> = [['in-process wire server', async () => MongoWireServer.start()]];
if (process.env.MONGO_URI) targets.push(['MONGO_URI', async () => ({ uri: process.env.MONGO_URI!, stop: async () => undefined })]);

describe.each(targets)('MongoBotStore (%s)', (_n, start) => {
  let server: { uri: string; stop: () => Promise<void> };
  let client: MongoClient;
  let source: MongoSource;
  let store: MongoBotStore;
  const names = { botsDb: `fs_apply_runner_${process.pid}`, botsCollection: 'bots', schedulesDb: `fs_apply_sched_${process.pid}`, schedulesCollection: 'bot_schedules' };
  const bots = () => client.db(names.botsDb).collection('bots');
  const schedules = () => client.db(names.schedulesDb).collection('bot_schedules');
  const partitions = (db = names.botsDb) => client.db(db).collection<{ _id: number; bot_count: number }>('partitions');
  const counters = (db = names.botsDb) => client.db(db).collection<{ _id: string; seq: number }>('counters');

  beforeAll(async () => {
    server = await start();
    client = new MongoClient(server.uri);
    await client.connect();
    source = new MongoSource(server.uri, names);
    store = new MongoBotStore(source, { now: () => NOW });
  });
  afterAll(async () => {
    await client.db(names.botsDb).dropDatabase();
    await client.db(names.schedulesDb).dropDatabase();
    await store.close();
    await client.close();
    await server.stop();
  });
  beforeEach(async () => {
    for (const db of [names.botsDb, names.schedulesDb]) {
      for (const c of ['bots', 'bot_schedules', 'partitions', 'counters']) await client.db(db).collection(c).deleteMany({});
    }
  });

  test('created: new partition from counters, upsert {id, segment_id, config, custom}; redelivery is a no-op', async () => {
    const doc = botDoc('b1');
    expect(await store.apply(ev('the0.bot.created', doc))).toEqual({ outcome: 'created' });
    expect(await store.apply(ev('the0.bot.created', doc))).toEqual({ outcome: 'noop' });
    const stored = await bots().find({}, { projection: { _id: 0 } }).toArray();
    expect(stored).toEqual([{ id: 'b1', segment_id: 1, config: doc.config, custom: doc.custom }]);
    expect(await counters().find().toArray()).toEqual([{ _id: 'partition_id', seq: 1 }]);
    expect(await partitions().find().toArray()).toEqual([{ _id: 1, bot_count: 1 }]);
  });

  test('created: a partition with room is used ($inc bot_count); a full one is not', async () => {
    await partitions().insertMany([{ _id: 1, bot_count: PARTITION_SIZE }, { _id: 2, bot_count: 7 }]);
    await counters().insertOne({ _id: 'partition_id', seq: 2 });
    await store.apply(ev('the0.bot.created', botDoc('b2')));
    expect((await bots().findOne({ id: 'b2' }))?.segment_id).toBe(2);
    expect(await partitions().find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 1, bot_count: PARTITION_SIZE }, { _id: 2, bot_count: 8 }]);
  });

  test('created: counter behind the data (partition exists) takes the next number instead of dropping the event', async () => {
    await partitions().insertOne({ _id: 1, bot_count: PARTITION_SIZE });
    await store.apply(ev('the0.bot.created', botDoc('b3')));
    expect((await bots().findOne({ id: 'b3' }))?.segment_id).toBe(2);
    expect(await counters().findOne({ _id: 'partition_id' })).toEqual({ _id: 'partition_id', seq: 2 });
  });

  test('updated: $set config and custom; missing → created; identical redelivery → no-op', async () => {
    await store.apply(ev('the0.bot.created', botDoc('u1')));
    const changed = botDoc('u1', { symbol: 'ETHUSDT' });
    expect(await store.apply(ev('the0.bot.updated', changed))).toEqual({ outcome: 'updated' });
    expect(await store.apply(ev('the0.bot.updated', changed))).toEqual({ outcome: 'noop' });
    const d = await bots().findOne({ id: 'u1' }, { projection: { _id: 0 } });
    expect(d).toEqual({ id: 'u1', segment_id: 1, config: changed.config, custom: changed.custom });
    expect(await store.apply(ev('the0.bot.updated', botDoc('u2')))).toEqual({ outcome: 'created' });
    expect(await bots().countDocuments({ id: 'u2' })).toBe(1);
    expect((await partitions().findOne({ _id: 1 }))?.bot_count).toBe(2);
  });

  test('deleted: removes the document and gives the partition slot back; redelivery is a no-op', async () => {
    await store.apply(ev('the0.bot.created', botDoc('d1')));
    await store.apply(ev('the0.bot.created', botDoc('d2')));
    expect(await store.apply(ev('the0.bot.deleted', { id: 'd1', config: {} }))).toEqual({ outcome: 'deleted' });
    expect(await store.apply(ev('the0.bot.deleted', { id: 'd1', config: {} }))).toEqual({ outcome: 'noop' });
    expect(await bots().countDocuments()).toBe(1);
    expect((await partitions().findOne({ _id: 1 }))?.bot_count).toBe(1);
  });

  test('schedules: own database partitions, next_execution_time as int64, refreshed only when the schedule changes', async () => {
    const s = scheduleDoc('s1', '0 9 * * *');
    expect(await store.apply(ev('the0.bot-schedule.created', s))).toEqual({ outcome: 'created' });
    const raw = await schedules().findOne({ id: 's1' }, { promoteLongs: false });
    expect(raw?.next_execution_time).toBeInstanceOf(Long);
    expect(Number(raw?.next_execution_time)).toBe(Date.parse('2026-03-15T09:00:00Z') / 1000);
    expect(raw?.segment_id).toBe(1);
    expect(await partitions(names.schedulesDb).find().toArray()).toEqual([{ _id: 1, bot_count: 1 }]);
    expect(await partitions(names.botsDb).countDocuments()).toBe(0);

    // Same schedule, other param: next_execution_time unchanged.
    await schedules().updateOne({ id: 's1' }, { $set: { next_execution_time: Long.fromNumber(42) } });
    await store.apply(ev('the0.bot-schedule.updated', scheduleDoc('s1', '0 9 * * *', { symbol: 'X' })));
    expect(Number((await schedules().findOne({ id: 's1' }))?.next_execution_time)).toBe(42);
    // New schedule (6 fields, seconds dropped): fresh next_execution_time.
    await store.apply(ev('the0.bot-schedule.updated', scheduleDoc('s1', '0 */15 * * * *')));
    expect(Number((await schedules().findOne({ id: 's1' }))?.next_execution_time)).toBe(Date.parse('2026-03-14T10:30:00Z') / 1000);
  });

  test('a schedule without a string config.schedule is rejected and nothing is written', async () => {
    const bad = scheduleDoc('s2');
    delete (bad.config as Record<string, unknown>).schedule;
    expect((await store.apply(ev('the0.bot-schedule.created', bad))).outcome).toBe('rejected');
    expect((await store.apply(ev('the0.bot-schedule.updated', scheduleDoc('s2', 5 as never)))).outcome).toBe('rejected');
    expect(await schedules().countDocuments()).toBe(0);
    expect(await counters(names.schedulesDb).countDocuments()).toBe(0);
  });

  test('readIds returns enabled documents of those ids, plus schedules whose CronJob names could collide', async () => {
    const long = 'a'.repeat(43);
    await bots().insertMany([botDoc('r1'), botDoc('r2', { enabled: false }), botDoc('r3')]);
    await schedules().insertMany([scheduleDoc(`${long}-one`), scheduleDoc(`${long}-two`), scheduleDoc('other')]);
    const docs = await store.readIds(new Set(['r1', 'r2', `${long}-one`]));
    expect(docs.bots.map((d) => (d as { id: string }).id)).toEqual(['r1']);
    expect(docs.bot_schedules.map((d) => (d as { id: string }).id).sort()).toEqual([`${long}-one`, `${long}-two`]);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('a failing write rejects (so the message is redelivered) and changes nothing', async () => {
    if (!(server instanceof MongoWireServer)) return;
    server.failNext('update', 1);
    await expect(store.apply(ev('the0.bot.created', botDoc('f1')))).rejects.toThrow();
    // The redelivery succeeds.
    expect((await store.apply(ev('the0.bot.created', botDoc('f1')))).outcome).toBe('created');
    expect(await partitions().find().toArray()).toEqual([{ _id: 1, bot_count: 1 }]);
  });
});

describe('FileBotStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('fleetsynth-filestore-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(['fleet.yaml', 'fleet.json'])('events rewrite %s atomically with the document added, updated, removed', async (name) => {
    const file = path.join(dir, name);
    writeFleetFile(file, { bots: [botDoc('keep')], bot_schedules: [] });
    const store = new FileBotStore(file, { now: () => NOW });
    const inoBefore = fs.statSync(file).ino;
    expect((await store.apply(ev('the0.bot.created', botDoc('n1')))).outcome).toBe('created');
    expect(fs.statSync(file).ino).not.toBe(inoBefore); // replaced by rename, never written in place
    expect((await store.apply(ev('the0.bot.created', botDoc('n1')))).outcome).toBe('noop');
    expect((await store.apply(ev('the0.bot.updated', botDoc('n1', { symbol: 'SOL' })))).outcome).toBe('updated');
    expect((await store.apply(ev('the0.bot-schedule.created', scheduleDoc('s1', '@daily')))).outcome).toBe('created');
    let docs = readFleetFile(file);
    expect(docs.bots.map((d) => (d as { id: string }).id)).toEqual(['keep', 'n1']);
    expect((docs.bots[1] as { config: { symbol: string } }).config.symbol).toBe('SOL');
    expect((docs.bot_schedules[0] as { next_execution_time: number }).next_execution_time).toBe(Date.parse('2026-03-15T00:00:00Z') / 1000);
    expect((await store.apply(ev('the0.bot.deleted', { id: 'keep', config: {} }))).outcome).toBe('deleted');
    docs = readFleetFile(file);
    expect(docs.bots.map((d) => (d as { id: string }).id)).toEqual(['n1']);
    expect(fs.readdirSync(dir)).toEqual([name]); // no temp files left
  });

  test('a burst of events is written once per turn, in order', async () => {
    const file = path.join(dir, 'fleet.json');
    writeFleetFile(file, { bots: [], bot_schedules: [] });
    let writes = 0;
    const store = new FileBotStore(file, { write: (f, d) => (writes++, writeFleetFile(f, d)) });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.apply(ev('the0.bot.created', botDoc(`b${i}`)))));
    expect(results.every((r) => r.outcome === 'created')).toBe(true);
    expect(writes).toBe(1);
    expect(readFleetFile(file).bots.map((d) => (d as { id: string }).id)).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
  });

  test('outside edits are picked up; a read-only store writes nothing', async () => {
    const file = path.join(dir, 'fleet.yaml');
    writeFleetFile(file, { bots: [botDoc('a')], bot_schedules: [] });
    const store = new FileBotStore(file);
    expect((await store.readIds(new Set(['a']))).bots).toHaveLength(1);
    writeFleetFile(file, { bots: [botDoc('a'), botDoc('b')], bot_schedules: [] });
    expect((await store.readIds(new Set(['b']))).bots).toHaveLength(1);
    const ro = new FileBotStore(file, { readOnly: true });
    const before = fs.readFileSync(file, 'utf8');
    expect((await ro.apply(ev('the0.bot.created', botDoc('c')))).outcome).toBe('noop');
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });
});
