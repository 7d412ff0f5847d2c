import * as net from 'net';
import { deserialize, serialize } from 'bson';
import {
  Binary,
  Db,
  Decimal128,
  Double,
  Int32,
  Long,
  MongoClient,
  MongoServerError,
  ObjectId,
  type CommandStartedEvent,
} from 'mongodb';
import { MongoWireServer, idNarrowing } from './support/mongo-wire-server';

describe('MongoWireServer + official mongodb driver', () => {
  let server: MongoWireServer;
  let client: MongoClient;
  let db: Db;
  const started: CommandStartedEvent[] = [];

  beforeAll(async () => {
    server = await MongoWireServer.start();
    client = new MongoClient(server.uri, { monitorCommands: true, serverSelectionTimeoutMS: 3000 });
    client.on('commandStarted', (e) => started.push(e));
    await client.connect();
    db = client.db('fleet');
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  beforeEach(() => {
    server.reset();
    started.length = 0;
  });

  it('exposes a directConnection URI and answers hello/ping/buildInfo', async () => {
    expect(server.uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/\?directConnection=true$/);
    const hello = await db.admin().command({ hello: 1 });
    expect(hello).toMatchObject({
      isWritablePrimary: true,
      maxWireVersion: 21,
      minWireVersion: 0,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxWriteBatchSize: 100000,
      logicalSessionTimeoutMinutes: 30,
      ok: 1,
    });
    expect(await db.admin().ping()).toEqual({ ok: 1 });
    expect((await db.admin().buildInfo()).versionArray).toEqual([7, 0, 0, 0]);
  });

  it('round-trips BSON types (ObjectId, Date, int32 vs double, Long, Decimal128, nested, unicode)', async () => {
    const coll = db.collection('types');
    const id = new ObjectId();
    const when = new Date('2024-05-06T07:08:09.123Z');
    const big = Long.fromString('1152921504606846976'); // 2^60: not representable as a JS number
    await coll.insertOne({
      _id: id,
      int: 42,
      dbl: 1.5,
      dblIntegral: new Double(3),
      explicitInt: new Int32(7),
      long: Long.fromNumber(5),
      big,
      dec: Decimal128.fromString('1.10'),
      when,
      bin: new Binary(Buffer.from([1, 2, 3])),
      nested: { arr: [1, [2, { deep: 'x' }], { y: null }], flag: true },
      text: 'Grüße, 漢字, 🚀',
      nothing: null,
    });

    const promoted = await coll.findOne({ _id: id });
    expect(promoted).toEqual({
      _id: id,
      int: 42,
      dbl: 1.5,
      dblIntegral: 3,
      explicitInt: 7,
      long: 5,
      big,
      dec: Decimal128.fromString('1.10'),
      when,
      bin: new Binary(Buffer.from([1, 2, 3])),
      nested: { arr: [1, [2, { deep: 'x' }], { y: null }], flag: true },
      text: 'Grüße, 漢字, 🚀',
      nothing: null,
    });
    expect(promoted!._id).toBeInstanceOf(ObjectId);
    expect(promoted!.when).toBeInstanceOf(Date);

    // Raw BSON types survive the round trip.
    const raw = await coll.findOne({ _id: id }, { promoteValues: false, promoteLongs: false });
    expect(raw!.int).toBeInstanceOf(Int32);
    expect(raw!.dbl).toBeInstanceOf(Double);
    expect(raw!.dblIntegral).toBeInstanceOf(Double);
    expect(raw!.explicitInt).toBeInstanceOf(Int32);
    expect(raw!.long).toBeInstanceOf(Long);
    expect(raw!.big.toString()).toBe('1152921504606846976');

    // Stored form is plain JS for tests that inspect the server directly.
    const stored = server.collection('fleet', 'types')[0];
    expect(stored.int).toBe(42);
    expect(stored.dblIntegral).toBe(3);
    expect(String(stored._id)).toBe(id.toHexString());

    // Queries compare numbers across BSON numeric types like MongoDB does.
    expect(await coll.countDocuments({ dblIntegral: 3, long: new Int32(5), int: new Double(42) })).toBe(1);
    expect(await coll.countDocuments({ when: { $gte: new Date('2024-01-01') } })).toBe(1);

    // $inc keeps the stored type (double stays double).
    await coll.updateOne({ _id: id }, { $inc: { dblIntegral: 1, long: 1 } });
    const after = await coll.findOne({ _id: id }, { promoteValues: false, promoteLongs: false });
    expect(after!.dblIntegral).toEqual(new Double(4));
    expect(after!.long).toEqual(Long.fromNumber(6));
  });

  it('insertMany + find with $or filter, projection, sort, skip and limit', async () => {
    const bots = db.collection('bots');
    const res = await bots.insertMany([
      { name: 'alpha', rank: 3, config: { enabled: true, pair: 'BTC' } },
      { name: 'bravo', rank: 1, config: { enabled: false, pair: 'ETH' } },
      { name: 'charlie', rank: 2, config: { pair: 'SOL' } },
      { name: 'delta', rank: 5 },
      { name: 'echo', rank: 4, config: { enabled: true, pair: 'ADA' } },
    ]);
    expect(res.insertedCount).toBe(5);
    expect(Object.values(res.insertedIds).every((v) => v instanceof ObjectId)).toBe(true);

    const enabled = await bots
      .find({ $or: [{ 'config.enabled': { $ne: false } }, { 'config.enabled': { $exists: false } }] })
      .sort({ rank: 1 })
      .project({ _id: 0, name: 1, rank: 1 })
      .toArray();
    expect(enabled).toEqual([
      { name: 'charlie', rank: 2 },
      { name: 'alpha', rank: 3 },
      { name: 'echo', rank: 4 },
      { name: 'delta', rank: 5 },
    ]);

    const page = await bots.find({}, { sort: { rank: -1 }, skip: 1, limit: 2, projection: { name: 1 } }).toArray();
    expect(page.map((d) => d.name)).toEqual(['echo', 'alpha']);
    expect(Object.keys(page[0])).toEqual(['_id', 'name']);

    const excluded = await bots.findOne({ name: 'alpha' }, { projection: { config: 0 } });
    expect(excluded).toEqual({ _id: expect.any(ObjectId), name: 'alpha', rank: 3 });
    // Exclusion projections must not mutate stored documents.
    expect(await bots.findOne({ name: 'alpha' }, { projection: { _id: 0, 'config.pair': 1 } })).toEqual({
      config: { pair: 'BTC' },
    });
    expect(await bots.countDocuments({ 'config.pair': 'BTC' })).toBe(1);

    expect(await bots.find({ rank: { $in: [1, 5] } }).map((d) => d.name).toArray()).toEqual(['bravo', 'delta']);
    expect(await bots.distinct('config.pair', { rank: { $gt: 1 } })).toEqual(['BTC', 'SOL', 'ADA']);
  });

  it('answers filters that pin `id` from the documents whose id can match, with the same result as a full scan', async () => {
    const bots = db.collection('bots');
    await bots.insertMany([
      { id: 'a-1', config: { enabled: true } },
      { id: 'a-2', config: { enabled: false } },
      { id: 'b-1' },
      { id: ['a-1', 'z'], note: 'array id matches by element' },
      { id: 7, note: 'numeric id' },
      { note: 'no id' },
      { id: 'a-3', config: {} },
    ]);
    const names = async (filter: Record<string, unknown>) => (await bots.find(filter, { projection: { _id: 0 } }).toArray()).map((d) => JSON.stringify(d.id ?? null));
    const enabled = { $or: [{ 'config.enabled': { $ne: false } }, { 'config.enabled': { $exists: false } }] };
    expect(await names({ id: 'a-1' })).toEqual(['"a-1"', '["a-1","z"]']);
    expect(await names({ id: { $in: ['a-2', 'b-1'] }, ...enabled })).toEqual(['"b-1"']);
    expect(await names({ $and: [enabled, { $or: [{ id: { $in: ['b-1'] } }, { id: { $regex: '^a-' } }] }] })).toEqual(['"a-1"', '"b-1"', '["a-1","z"]', '"a-3"']);
    // A clause that does not pin id leaves the $or unnarrowed: every document is tested.
    expect(await names({ $or: [{ id: 'a-1' }, { note: 'numeric id' }] })).toEqual(['"a-1"', '["a-1","z"]', '7']);
    expect(await bots.countDocuments({ id: { $regex: '^b' } })).toBe(1);
    const upd = await bots.updateMany({ id: 'a-3' }, { $set: { touched: true } });
    expect(upd.modifiedCount).toBe(1);
    expect(await bots.findOne({ id: 'a-3' }, { projection: { _id: 0 } })).toEqual({ id: 'a-3', config: {}, touched: true });
    expect(idNarrowing({ id: { $in: ['x', 1] } })).toBeUndefined();
    expect(idNarrowing({ id: { $regex: '^x', $options: 'i' } })).toBeUndefined();
    expect(idNarrowing({ name: 'x' })).toBeUndefined();
  });

  it('iterates 2,500 documents with batchSize 100 using real getMore batches', async () => {
    const coll = db.collection('many');
    await coll.insertMany(Array.from({ length: 2500 }, (_, i) => ({ i, label: `doc-${i}` })));
    started.length = 0;

    const seen: number[] = [];
    for await (const d of coll.find({}, { batchSize: 100 }).sort({ i: 1 })) seen.push(d.i);

    expect(seen).toHaveLength(2500);
    expect(seen[0]).toBe(0);
    expect(seen[2499]).toBe(2499);
    expect(seen.every((v, idx) => v === idx)).toBe(true);
    const getMores = started.filter((e) => e.commandName === 'getMore');
    expect(getMores).toHaveLength(24);
    expect(getMores.every((e) => e.command.batchSize === 100)).toBe(true);

    // Without batchSize the server's first batch is 101 docs (toArray() then asks for 1000 per getMore).
    started.length = 0;
    const firstBatchSizes: number[] = [];
    const onSucceeded = (e: { commandName: string; reply: { cursor?: { firstBatch?: unknown[] } } }) => {
      if (e.commandName === 'find') firstBatchSizes.push(e.reply.cursor?.firstBatch?.length ?? -1);
    };
    client.on('commandSucceeded', onSucceeded);
    expect(await coll.find().toArray()).toHaveLength(2500);
    client.off('commandSucceeded', onSucceeded);
    expect(firstBatchSizes).toEqual([101]);
    expect(started.filter((e) => e.commandName === 'getMore')).toHaveLength(3); // 1000 + 1000 + 399

    // Closing a cursor early sends killCursors.
    const cursor = coll.find({}, { batchSize: 10 });
    await cursor.next();
    await cursor.close();
    expect(started.some((e) => e.commandName === 'killCursors')).toBe(true);
  });

  it('createIndex/listIndexes and findOne by the indexed field', async () => {
    const bots = db.collection('bots');
    await bots.insertMany(Array.from({ length: 50 }, (_, i) => ({ botId: `bot-${i}`, n: i })));
    expect(await bots.createIndex({ botId: 1 }, { unique: true })).toBe('botId_1');
    const indexes = await bots.listIndexes().toArray();
    expect(indexes.map((ix) => ix.name)).toEqual(['_id_', 'botId_1']);
    expect(indexes[1]).toMatchObject({ key: { botId: 1 }, unique: true });

    const bot = await bots.findOne({ botId: 'bot-37' });
    expect(bot).toMatchObject({ botId: 'bot-37', n: 37 });
    expect(await bots.findOne({ botId: 'missing' })).toBeNull();

    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).toEqual(['bots']);
  });

  it('updateOne with upsert, $set/$inc/$setOnInsert/$unset, updateMany and replaceOne', async () => {
    const coll = db.collection('state');
    const first = await coll.updateOne(
      { botId: 'b1' },
      { $set: { status: 'running' }, $inc: { restarts: 1 }, $setOnInsert: { createdBy: 'test' } },
      { upsert: true },
    );
    expect(first).toMatchObject({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1 });
    expect(first.upsertedId).toBeInstanceOf(ObjectId);

    const second = await coll.updateOne(
      { botId: 'b1' },
      { $set: { status: 'stopped' }, $inc: { restarts: 2 }, $setOnInsert: { createdBy: 'ignored' } },
      { upsert: true },
    );
    expect(second).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
    expect(await coll.findOne({ botId: 'b1' }, { projection: { _id: 0 } })).toEqual({
      botId: 'b1',
      status: 'stopped',
      restarts: 3,
      createdBy: 'test',
    });

    // No-op $set reports matched but not modified.
    const noop = await coll.updateOne({ botId: 'b1' }, { $set: { status: 'stopped' } });
    expect(noop).toMatchObject({ matchedCount: 1, modifiedCount: 0 });

    await coll.insertMany([{ botId: 'b2', tier: 'x' }, { botId: 'b3', tier: 'x' }]);
    const many = await coll.updateMany({ tier: 'x' }, { $set: { 'meta.touched': true }, $unset: { tier: '' } });
    expect(many).toMatchObject({ matchedCount: 2, modifiedCount: 2 });
    expect(await coll.countDocuments({ 'meta.touched': true, tier: { $exists: false } })).toBe(2);

    const replaced = await coll.replaceOne({ botId: 'b2' }, { botId: 'b2', replaced: true });
    expect(replaced.modifiedCount).toBe(1);
    const b2 = await coll.findOne({ botId: 'b2' });
    expect(Object.keys(b2!)).toEqual(['_id', 'botId', 'replaced']);

    await coll.insertOne({ botId: 'b4', legs: [{ id: 1, qty: 1 }, { id: 2, qty: 1 }] });
    await coll.updateOne({ botId: 'b4', 'legs.id': 2 }, { $inc: { 'legs.$.qty': 5 } });
    expect((await coll.findOne({ botId: 'b4' }))!.legs).toEqual([{ id: 1, qty: 1 }, { id: 2, qty: 6 }]);

    await expect(coll.updateOne({ botId: 'b4' }, { $set: { _id: new ObjectId() } })).rejects.toMatchObject({
      code: 66,
    });
    await expect(coll.updateOne({ botId: 'b4' }, { $bogus: { a: 1 } } as never)).rejects.toBeInstanceOf(
      MongoServerError,
    );
  });

  it('findOneAndUpdate with upsert works as an atomic counter', async () => {
    const counters = db.collection<{ _id: string; seq: number }>('counters');
    const next = async () =>
      (await counters.findOneAndUpdate({ _id: 'deploy' }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after' }))!
        .seq;
    expect(await next()).toBe(1);
    expect(await next()).toBe(2);
    const burst = await Promise.all(Array.from({ length: 25 }, () => next()));
    expect([...burst].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 3));
    expect(await counters.findOne({ _id: 'deploy' })).toEqual({ _id: 'deploy', seq: 27 });

    const before = await counters.findOneAndUpdate({ _id: 'deploy' }, { $set: { seq: 100 } }, { returnDocument: 'before' });
    expect(before!.seq).toBe(27);
    expect(await counters.findOneAndUpdate({ _id: 'nope' }, { $inc: { seq: 1 } })).toBeNull();

    const meta = await counters.findOneAndUpdate(
      { _id: 'fresh' },
      { $inc: { seq: 1 } },
      { upsert: true, returnDocument: 'after', includeResultMetadata: true },
    );
    expect(meta.lastErrorObject).toMatchObject({ n: 1, updatedExisting: false, upserted: 'fresh' });

    expect(await counters.findOneAndDelete({ _id: 'fresh' })).toEqual({ _id: 'fresh', seq: 1 });
    expect(await counters.countDocuments()).toBe(1);
  });

  it('deleteOne, deleteMany, countDocuments and estimatedDocumentCount', async () => {
    const coll = db.collection('jobs');
    await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ i, even: i % 2 === 0 })));
    expect(await coll.countDocuments()).toBe(10);
    expect(await coll.countDocuments({ even: true })).toBe(5);
    expect(await coll.countDocuments({}, { skip: 2, limit: 3 })).toBe(3);

    expect((await coll.deleteOne({ even: true })).deletedCount).toBe(1);
    expect(await coll.countDocuments({ even: true })).toBe(4);
    expect((await coll.deleteMany({ i: { $gte: 7 } })).deletedCount).toBe(3);
    expect(await coll.estimatedDocumentCount()).toBe(6);
    expect((await coll.find().toArray()).map((d) => d.i)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(server.collection('fleet', 'jobs')).toHaveLength(6);
  });

  it('aggregate runs pipelines via mingo and returns a cursor', async () => {
    const fills = db.collection('fills');
    await fills.insertMany([
      { bot: 'a', qty: 2, px: 10 },
      { bot: 'b', qty: 1, px: 20 },
      { bot: 'a', qty: 3, px: 30 },
      { bot: 'c', qty: 9, px: 1, void: true },
    ]);
    const out = await fills
      .aggregate([
        { $match: { void: { $ne: true } } },
        { $group: { _id: '$bot', qty: { $sum: '$qty' }, notional: { $sum: { $multiply: ['$qty', '$px'] } } } },
        { $sort: { _id: 1 } },
        { $addFields: { 'stats.avg': { $divide: ['$notional', '$qty'] } } },
      ])
      .toArray();
    expect(out).toEqual([
      { _id: 'a', qty: 5, notional: 110, stats: { avg: 22 } },
      { _id: 'b', qty: 1, notional: 20, stats: { avg: 20 } },
    ]);
    // $set on nested paths inside aggregate must not leak into storage.
    await fills.aggregate([{ $set: { 'x.y': 1 } }]).toArray();
    expect(await fills.countDocuments({ x: { $exists: true } })).toBe(0);

    const batched: number[] = [];
    await fills.insertMany(Array.from({ length: 300 }, (_, i) => ({ bot: 'z', qty: i })));
    for await (const d of fills.aggregate([{ $match: { bot: 'z' } }, { $sort: { qty: -1 } }], { batchSize: 50 })) {
      batched.push(d.qty);
    }
    expect(batched).toHaveLength(300);
    expect(batched[0]).toBe(299);
  });

  it('failNext makes the next N commands of that name fail, then recovers', async () => {
    const coll = db.collection('flaky');
    await coll.insertOne({ a: 1 });

    server.failNext('find');
    const err = await coll.findOne({ a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(1);
    expect((err as MongoServerError).message).toContain('injected failure');
    expect(await coll.findOne({ a: 1 }, { projection: { _id: 0 } })).toEqual({ a: 1 });

    server.failNext('insert', 2);
    await expect(coll.insertOne({ a: 2 })).rejects.toBeInstanceOf(MongoServerError);
    await expect(coll.insertOne({ a: 3 })).rejects.toBeInstanceOf(MongoServerError);
    await coll.insertOne({ a: 4 });
    expect((await coll.find({}, { sort: { a: 1 } }).toArray()).map((d) => d.a)).toEqual([1, 4]);

    server.failNext('findAndModify', 1, { code: 11000, errmsg: 'E11000 simulated' });
    await expect(coll.findOneAndUpdate({ a: 1 }, { $set: { b: 1 } })).rejects.toMatchObject({ code: 11000 });
    server.failNext('aggregate');
    await expect(coll.countDocuments()).rejects.toBeInstanceOf(MongoServerError);
    expect(await coll.countDocuments()).toBe(2);
  });

  it('reports unknown commands, duplicate keys and supports collection() seeding', async () => {
    await expect(db.command({ definitelyNotACommand: 1 })).rejects.toMatchObject({
      code: 59,
      codeName: 'CommandNotFound',
    });

    const coll = db.collection('dupes');
    await coll.insertOne({ _id: 'x' as never, v: 1 });
    await expect(coll.insertOne({ _id: 'x' as never, v: 2 })).rejects.toMatchObject({ code: 11000 });
    const bulk = await coll
      .insertMany([{ _id: 'y' }, { _id: 'x' }, { _id: 'z' }] as never[], { ordered: false })
      .catch((e: { insertedCount?: number; code?: number }) => e);
    expect(bulk).toMatchObject({ code: 11000, insertedCount: 2 });

    const seeded = server.collection('fleet', 'seeded');
    seeded.push({ _id: 1, name: 'from-test' });
    expect(await db.collection('seeded').findOne({ _id: 1 as never })).toEqual({ _id: 1, name: 'from-test' });
    expect((await db.listCollections().toArray()).map((c) => c.name).sort()).toEqual(['dupes', 'seeded']);

    await db.collection('seeded').drop();
    expect(seeded).toHaveLength(0);
    await db.collection('dupes').insertOne({ v: 9 });
    await db.dropDatabase();
    expect(await db.listCollections().toArray()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Raw wire-level behaviour (framing, flag bits, legacy OP_QUERY)
// ---------------------------------------------------------------------------------------------

function opMsg(requestId: number, doc: Record<string, unknown>, flags = 0): Buffer {
  const body = Buffer.from(serialize(doc));
  const checksum = flags & 1 ? Buffer.alloc(4, 0xab) : Buffer.alloc(0);
  const len = 16 + 4 + 1 + body.length + checksum.length;
  const head = Buffer.alloc(21);
  head.writeInt32LE(len, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(0, 8);
  head.writeInt32LE(2013, 12);
  head.writeUInt32LE(flags, 16);
  head.writeUInt8(0, 20);
  return Buffer.concat([head, body, checksum]);
}

function opMsgWithSequence(requestId: number, doc: Record<string, unknown>, id: string, docs: object[]): Buffer {
  const body = Buffer.from(serialize(doc));
  const seqDocs = Buffer.concat(docs.map((d) => Buffer.from(serialize(d))));
  const ident = Buffer.from(`${id}\0`, 'utf8');
  const seqHead = Buffer.alloc(5);
  seqHead.writeUInt8(1, 0);
  seqHead.writeInt32LE(4 + ident.length + seqDocs.length, 1);
  const head = Buffer.alloc(21);
  const len = 21 + body.length + 5 + ident.length + seqDocs.length;
  head.writeInt32LE(len, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(2013, 12);
  return Buffer.concat([head, body, seqHead, ident, seqDocs]);
}

function opQuery(requestId: number, ns: string, doc: Record<string, unknown>): Buffer {
  const body = Buffer.from(serialize(doc));
  const nsBuf = Buffer.from(`${ns}\0`, 'utf8');
  const head = Buffer.alloc(20);
  const tail = Buffer.alloc(8);
  tail.writeInt32LE(0, 0);
  tail.writeInt32LE(-1, 4);
  head.writeInt32LE(20 + nsBuf.length + 8 + body.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(2004, 12);
  return Buffer.concat([head, nsBuf, tail, body]);
}

interface Reply {
  responseTo: number;
  opCode: number;
  doc: Record<string, unknown>;
}

class RawClient {
  private buf = Buffer.alloc(0);
  private readonly replies: Reply[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 4 && this.buf.length >= this.buf.readInt32LE(0)) {
        const len = this.buf.readInt32LE(0);
        const msg = this.buf.subarray(0, len);
        this.buf = this.buf.subarray(len);
        const opCode = msg.readInt32LE(12);
        const docStart = opCode === 1 ? 36 : 21;
        this.replies.push({ responseTo: msg.readInt32LE(8), opCode, doc: deserialize(msg.subarray(docStart)) });
      }
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  async take(n: number): Promise<Reply[]> {
    while (this.replies.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.replies.splice(0, n);
  }
}

describe('MongoWireServer wire protocol', () => {
  let server: MongoWireServer;
  let raw: RawClient;

  beforeAll(async () => {
    server = await MongoWireServer.start({ port: 0 });
    raw = await RawClient.connect(Number(new URL(server.uri).port));
  });

  afterAll(async () => {
    raw?.socket.destroy();
    await server?.stop();
  });

  it('answers legacy OP_QUERY isMaster with OP_REPLY', async () => {
    raw.socket.write(opQuery(7, 'admin.$cmd', { isMaster: 1, helloOk: true }));
    const [r] = await raw.take(1);
    expect(r.opCode).toBe(1);
    expect(r.responseTo).toBe(7);
    expect(r.doc).toMatchObject({ ismaster: true, helloOk: true, maxWireVersion: 21, ok: 1 });
  });

  it('reassembles messages split into single bytes and splits coalesced messages', async () => {
    const a = opMsg(11, { ping: 1, $db: 'admin' });
    for (const byte of a) raw.socket.write(Buffer.from([byte]));
    const [r1] = await raw.take(1);
    expect(r1).toMatchObject({ opCode: 2013, responseTo: 11, doc: { ok: 1 } });

    const b = opMsg(12, { hello: 1, $db: 'admin' });
    const c = opMsg(13, { buildInfo: 1, $db: 'admin' });
    const both = Buffer.concat([b, c]);
    raw.socket.write(both.subarray(0, b.length + 3)); // first message + start of the second
    await new Promise((r) => setTimeout(r, 10));
    raw.socket.write(both.subarray(b.length + 3));
    const [r2, r3] = await raw.take(2);
    expect(r2.responseTo).toBe(12);
    expect(r2.doc.isWritablePrimary).toBe(true);
    expect(r3.responseTo).toBe(13);
    expect(r3.doc.version).toBe('7.0.0');
  });

  it('honours checksumPresent, moreToCome and kind-1 document sequences', async () => {
    raw.socket.write(opMsg(21, { ping: 1, $db: 'admin' }, 1 /* checksumPresent */));
    const [r1] = await raw.take(1);
    expect(r1.responseTo).toBe(21);
    expect(r1.doc.ok).toBe(1);

    // moreToCome: unacknowledged insert, no reply; the following find sees its effect.
    raw.socket.write(opMsg(22, { insert: 'w0', documents: [{ _id: 1, v: 'fire-and-forget' }], $db: 'raw' }, 2));
    raw.socket.write(
      opMsgWithSequence(23, { insert: 'w0', $db: 'raw' }, 'documents', [{ _id: 2 }, { _id: 3 }]),
    );
    raw.socket.write(opMsg(24, { find: 'w0', filter: {}, sort: { _id: 1 }, $db: 'raw' }));
    const [ins, found] = await raw.take(2);
    expect(ins.responseTo).toBe(23);
    expect(ins.doc).toMatchObject({ n: 2, ok: 1 });
    expect(found.responseTo).toBe(24);
    const cursor = found.doc.cursor as { firstBatch: unknown[]; id: unknown; ns: string };
    expect(cursor.firstBatch).toEqual([{ _id: 1, v: 'fire-and-forget' }, { _id: 2 }, { _id: 3 }]);
    expect(cursor.ns).toBe('raw.w0');
    expect(server.collection('raw', 'w0')).toHaveLength(3);
  });

  it('getMore on an unknown cursor fails with CursorNotFound', async () => {
    raw.socket.write(opMsg(31, { getMore: Long.fromNumber(424242), collection: 'w0', $db: 'raw' }));
    const [r] = await raw.take(1);
    expect(r.doc).toMatchObject({ ok: 0, code: 43, codeName: 'CursorNotFound' });
  });

  it('stop() closes open sockets promptly', async () => {
    const other = await MongoWireServer.start();
    const c = await RawClient.connect(Number(new URL(other.uri).port));
    const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
    const t0 = Date.now();
    await other.stop();
    await closed;
    expect(Date.now() - t0).toBeLessThan(1000);
    await other.stop(); // idempotent
  });
});
