import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import { modelOptions } from '../src/config/model-options';
import { publish } from '../src/gitops/publish';
import { buildFleet, mayRemove } from '../src/model/fleet';
import { RawDocument } from '../src/model/raw-document';
import { generateFleet } from '../src/testing/fleet-gen';
import { DEFAULT_SETTINGS } from '../src/settings';
import { MongoSource, SourceError, openSource, readFleetFile, EXAMPLE_FLEET } from '../src/source';
import { synthesize } from '../src/synth/synth';
import { MongoWireServer } from './support/mongo-wire-server';
import { readTree, tmpDir } from './support/tmp';

// Runs against the in-process wire server, and also against a real MongoDB when MONGO_URI is set.
const targets: Array<[string, () => Promise<{ uri: string; stop: () => Promise<void> }>]> = [
  ['in-process wire server', async () => MongoWireServer.start()],
];
if (process.env.MONGO_URI) targets.push(['MONGO_URI', async () => ({ uri: process.env.MONGO_URI!, stop: async () => undefined })]);

describe.each(targets)('MongoDB source (%s)', (_, start) => {
  let server: { uri: string; stop: () => Promise<void> };
  let client: MongoClient;
  const dbs = { botsDb: `fs_test_runner_${process.pid}`, botsCollection: 'bots', schedulesDb: `fs_test_sched_${process.pid}`, schedulesCollection: 'bot_schedules' };

  beforeAll(async () => {
    server = await start();
    client = new MongoClient(server.uri);
    await client.connect();
  });
  afterAll(async () => {
    await client.db(dbs.botsDb).dropDatabase();
    await client.db(dbs.schedulesDb).dropDatabase();
    await client.close();
    await server.stop();
  });
  beforeEach(async () => {
    await client.db(dbs.botsDb).collection('bots').deleteMany({});
    await client.db(dbs.schedulesDb).collection('bot_schedules').deleteMany({});
  });

  it('reads enabled documents with the0\'s filter and renders the same files as the fleet file', async () => {
    const fleet = readFleetFile(EXAMPLE_FLEET);
    await client.db(dbs.botsDb).collection('bots').insertMany(fleet.bots.map((d) => ({ ...(d as object) })));
    await client.db(dbs.schedulesDb).collection('bot_schedules').insertMany(fleet.bot_schedules.map((d) => ({ ...(d as object) })));

    const source = new MongoSource(server.uri, dbs);
    const docs = await source.read();
    await source.close();
    const disabled = [...fleet.bots, ...fleet.bot_schedules].filter((d) => (d as { config: { enabled?: unknown } }).config.enabled === false);
    expect(disabled.length).toBeGreaterThan(0);
    expect(docs.bots.length + docs.bot_schedules.length).toBe(fleet.bots.length + fleet.bot_schedules.length - disabled.length);

    const fromMongo = tmpDir();
    const fromFile = tmpDir();
    const a = await synthesize(docs, { outDir: fromMongo, settings: DEFAULT_SETTINGS });
    const b = await synthesize(fleet, { outDir: fromFile, settings: DEFAULT_SETTINGS });
    expect(a.errors).toEqual(b.errors);
    expect(readTree(fromMongo)).toEqual(readTree(fromFile));
  });

  it('readLazy keeps documents as BSON that decodes to what read gives; a publish from it commits the same tree', async () => {
    const docs = generateFleet(200, 3) as unknown as { bots: Array<Record<string, unknown>>; bot_schedules: Array<Record<string, unknown>> };
    await client.db(dbs.botsDb).collection('bots').insertMany(docs.bots.map((d) => ({ ...d })));
    await client.db(dbs.schedulesDb).collection('bot_schedules').insertMany(docs.bot_schedules.map((d) => ({ ...d })));
    const source = new MongoSource(server.uri, dbs);
    try {
      const eager = await source.read();
      const lazy = await source.readLazy();
      expect(lazy.bots.length).toBe(eager.bots.length);
      expect(lazy.bots.every((d) => d instanceof RawDocument)).toBe(true);
      const values = (l: unknown[]) => l.map((d) => (d as RawDocument).value());
      expect({ bots: values(lazy.bots), bot_schedules: values(lazy.bot_schedules) }).toEqual(eager);

      const repo = path.join(tmpDir(), 'remote.git');
      execFileSync('git', ['init', '-q', '--bare', '-b', 'main', repo]);
      const eagerRepo = path.join(tmpDir(), 'remote.git');
      execFileSync('git', ['init', '-q', '--bare', '-b', 'main', eagerRepo]);
      const cache = { dir: tmpDir() };
      const a = await publish({ source, settings: DEFAULT_SETTINGS, repo, workDir: tmpDir(), cache });
      const b = await publish({ source: { describe: () => 'eager', read: async () => eager, close: async () => undefined }, settings: DEFAULT_SETTINGS, repo: eagerRepo, workDir: tmpDir(), cache: { off: true } });
      expect(a.errors).toEqual(b.errors);
      const treeOf = (r: string) => execFileSync('git', ['rev-parse', 'main^{tree}'], { cwd: r, encoding: 'utf8' }).trim();
      expect(treeOf(repo)).toBe(treeOf(eagerRepo));
      // A BSON document that does not decode is that document's error, quoting nothing of it.
      const broken = new RawDocument(Buffer.from([5, 0, 0, 0, 9]), { format: 'BSON', fn: (x) => require('mongodb').BSON.deserialize(x) });
      const fleet = buildFleet({ bots: [broken, ...lazy.bots], bot_schedules: lazy.bot_schedules }, modelOptions(DEFAULT_SETTINGS));
      expect(fleet.errors.map((e) => e.toString())).toEqual(['bots/#0 (no usable id): (document): is not valid BSON']);
      expect(mayRemove(fleet)).toBe(false);
    } finally {
      await source.close();
    }
  });

  it('counts string "false", null and 0 as enabled, only boolean false as disabled', async () => {
    const base = { custom: { filePath: 'a/b.zip', config: { runtime: 'python3.11', entrypoints: { bot: 'm.py' } } } };
    await client.db(dbs.botsDb).collection('bots').insertMany([
      { ...base, id: 'off', config: { enabled: false } },
      { ...base, id: 'str', config: { enabled: 'false' } },
      { ...base, id: 'nul', config: { enabled: null } },
      { ...base, id: 'zero', config: { enabled: 0 } },
      { ...base, id: 'none', config: {} },
      { ...base, id: 'top', enabled: false, config: {} },
    ]);
    const source = new MongoSource(server.uri, dbs);
    const docs = await source.read();
    expect((docs.bots as { id: string }[]).map((d) => d.id).sort()).toEqual(['none', 'nul', 'str', 'top', 'zero']);
    expect(await source.findEnabled('bots', 'str')).toMatchObject({ id: 'str' });
    expect(await source.findEnabled('bots', 'off')).toBeNull();
    await source.close();
  });

  it('reads fleets larger than one cursor batch', async () => {
    const base = { custom: { filePath: 'a/b.zip', config: { runtime: 'nodejs20', entrypoints: { bot: 'i.js' } } }, config: { s: 1 } };
    await client.db(dbs.botsDb).collection('bots').insertMany(Array.from({ length: 4500 }, (_, i) => ({ ...base, id: `bot-${i}` })));
    const source = new MongoSource(server.uri, dbs);
    const docs = await source.read();
    await source.close();
    expect(docs.bots).toHaveLength(4500);
  });

  it('one bad document does not stop the others', async () => {
    const base = { custom: { filePath: 'a/b.zip', config: { runtime: 'nodejs20', entrypoints: { bot: 'i.js' } } } };
    await client.db(dbs.botsDb).collection('bots').insertMany([
      { ...base, id: 'good', config: {} },
      { ...base, id: 'bad-config', config: 'a string' },
      { ...base, id: 'bad-enabled', enabled: 'yes', config: {} },
    ]);
    const source = new MongoSource(server.uri, dbs);
    const r = await synthesize(await source.read(), { outDir: tmpDir(), settings: DEFAULT_SETTINGS });
    await source.close();
    expect(r.fleet.specs.map((s) => s.id).sort()).toEqual(['bad-enabled', 'good']);
    expect(r.errors).toEqual(['bots/bad-config: config: must be an object, got string']);
  });
});

describe('MongoDB source failures', () => {
  it('an unreachable server is a SourceError naming the host without credentials', async () => {
    const source = new MongoSource('mongodb://user:hunter2@127.0.0.1:1/?directConnection=true', undefined, { serverSelectionTimeoutMS: 300 });
    const err = await source.read().catch((e) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err.message).toContain('mongodb://***@127.0.0.1:1');
    expect(err.message).not.toContain('hunter2');
  });
  it('a failing query is a SourceError, not an empty fleet', async () => {
    const server = await MongoWireServer.start();
    try {
      server.failNext('find', 5);
      const source = new MongoSource(server.uri);
      await expect(source.read()).rejects.toBeInstanceOf(SourceError);
      await source.close();
    } finally {
      await server.stop();
    }
  });
  it('openSource picks --source, then MONGO_URI, then the example fleet', () => {
    expect(openSource(undefined, {}).describe()).toBe(EXAMPLE_FLEET);
    expect(openSource(undefined, { MONGO_URI: 'mongodb://a:b@h:27017' }).describe()).toBe('mongodb://***@h:27017');
    expect(openSource('/tmp/x.yaml', { MONGO_URI: 'mongodb://h' }).describe()).toBe('/tmp/x.yaml');
  });
});

describe('MongoSource connections', () => {
  it('concurrent first calls share one client', async () => {
    const server = await MongoWireServer.start();
    try {
      const source = new MongoSource(server.uri);
      const [a, b, c] = await Promise.all([source.connect(), source.connect(), source.connect()]);
      expect(a).toBe(b);
      expect(b).toBe(c);
      await source.close();
      await expect(source.read()).resolves.toEqual({ bots: [], bot_schedules: [] });
      await source.close();
    } finally {
      await server.stop();
    }
  });
});
