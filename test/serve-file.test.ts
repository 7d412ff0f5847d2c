// Fleet-file source: an event rewrites the file atomically (temp file + rename) and the bot's
// manifest is published.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS } from '../src/settings';
import { readFleetFile, writeFleetFile } from '../src/source';
import { ServeHandle, startServe } from '../src/service/serve';
import { botFilePath } from '../src/synth/shard';
import { tmpDir } from './support/tmp';
import { TestStream, bareRepo, botDoc, commits, memoryLogger, scheduleDoc, show, testStream, touched, waitFor, testServeOptions } from './serve-support';

const fileOf = (id: string, kind: 'bot' | 'schedule' = 'bot') => `dist/${botFilePath(id, `${kind}-${id}.yaml`, DEFAULT_SETTINGS.shards)}`;

jest.setTimeout(60_000);

describe('serve with a fleet file', () => {
  let dir: string;
  let stream: TestStream;
  let serve: ServeHandle | undefined;
  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await stream.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an event rewrites the file atomically and the bot manifest is published', async () => {
    dir = tmpDir('fleetsynth-serve-file-');
    const fleet = path.join(dir, 'fleet.yaml');
    writeFleetFile(fleet, { bots: [botDoc('one')], bot_schedules: [scheduleDoc('two')] });
    const repo = bareRepo(dir);
    stream = await testStream();
    const { logger } = memoryLogger('warn');
    serve = await startServe(
      testServeOptions({ source: { file: fleet }, repo, dir: dir, stream: stream }, {
        port: 0,
        logger,
      }),
    );
    const s = serve;
    await waitFor(() => commits(repo).length === 1 && s.eventMode() === 'jetstream', 20000, 'ready');
    expect(show(repo, fileOf('two', 'schedule'))).toBeDefined();

    // Watch the directory: the fleet file must only ever appear by rename (never half-written).
    const seen: string[] = [];
    const watcher = fs.watch(dir, (type, name) => seen.push(`${type}:${name}`));
    const ino = fs.statSync(fleet).ino;
    await stream.publish('the0.bot.created', botDoc('three', { symbol: 'NEW' }));
    await waitFor(() => commits(repo).length === 2, 15000, 'event commit');
    watcher.close();

    expect(touched(repo, commits(repo)[0])).toEqual([fileOf('three')]);
    expect(show(repo, fileOf('three'))).toContain('"symbol":"NEW"');
    const docs = readFleetFile(fleet);
    expect(docs.bots.map((d) => (d as { id: string }).id)).toEqual(['one', 'three']);
    expect(docs.bot_schedules).toHaveLength(1);
    expect(fs.statSync(fleet).ino).not.toBe(ino);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(seen.some((e) => /\.tmp$/.test(e))).toBe(true); // written beside, then renamed over

    // Deleted: the file loses the document and the manifest goes.
    await stream.publish('the0.bot.deleted', { id: 'one', config: {} });
    await waitFor(() => show(repo, fileOf('one')) === undefined, 15000, 'delete published');
    expect(readFleetFile(fleet).bots.map((d) => (d as { id: string }).id)).toEqual(['three']);
  });
});
