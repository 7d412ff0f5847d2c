import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readTree, tmpDir } from './support/tmp';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'fleetsynth');

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await run('node', [BIN, ...args], { cwd: ROOT, env: { ...process.env, MONGO_URI: '', FLEET_SOURCE: '', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('fleetsynth synth (CLI)', () => {
  it('renders the embedded example fleet exactly as committed in dist/', async () => {
    const out = tmpDir();
    const r = await cli(['synth', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fleetsynth: \d+ bots rendered/);
    expect(readTree(out)).toEqual(readTree(path.join(ROOT, 'dist')));
  });

  it('exits non-zero on a bad document, names the bot and field, writes the others', async () => {
    const out = tmpDir();
    const file = path.join(tmpDir(), 'fleet.yaml');
    fs.writeFileSync(
      file,
      [
        'bots:',
        '  - id: good-bot',
        '    config: {symbol: BTC}',
        '    custom: {filePath: a/b.zip, config: {runtime: nodejs20, entrypoints: {bot: i.js}}}',
        '  - id: Bad_Bot',
        '    config: {symbol: BTC}',
        '    custom: {filePath: a/b.zip, config: {runtime: nodejs20, entrypoints: {bot: i.js}}}',
        'bot_schedules:',
        '  - id: sched',
        '    config: {schedule: "99 * * * *", api_key: "do-not-print-me"}',
        '    custom: {filePath: a/b.zip, config: {runtime: nodejs20, entrypoints: {bot: i.js}}}',
      ].join('\n'),
    );
    const r = await cli(['synth', '--source', file, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: bots/Bad_Bot: id: must be a Kubernetes name');
    expect(r.stderr).toContain('error: bot_schedules/sched: config.schedule: invalid cron expression: minute "99"');
    expect(r.stderr + r.stdout).not.toContain('do-not-print-me');
    expect([...readTree(out).keys()].filter((p) => p.startsWith('bots/') && p.endsWith('.yaml'))).toEqual([
      expect.stringMatching(/^bots\/shard-\d\d\/bot-good-bot\.yaml$/),
    ]);
  });

  it('refuses an empty or unreadable source and changes nothing', async () => {
    const out = tmpDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    const empty = path.join(tmpDir(), 'empty.yaml');
    fs.writeFileSync(empty, 'bots: []\nbot_schedules: []\n');
    let r = await cli(['synth', '--source', empty, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to remove every manifest/);
    expect(r.stderr).toMatch(/^hint: .*--allow-empty/m);
    r = await cli(['synth', '--source', '/nonexistent/fleet.yaml', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read fleet file \/nonexistent\/fleet.yaml: ENOENT/);
    r = await cli(['synth', '--out', out], { MONGO_URI: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&directConnection=true' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach MongoDB at mongodb:\/\/127.0.0.1:1/);
    expect([...readTree(out).keys()]).toEqual(['keep.txt']);
  });

  it('validate checks documents and writes nothing', async () => {
    let r = await cli(['validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fleetsynth: 35 valid, 0 invalid, 5 disabled \(of 20 bots \+ 20 schedules\)/);
    const file = path.join(tmpDir(), 'fleet.json');
    fs.writeFileSync(file, JSON.stringify({ bots: [{ id: 'x', config: {}, custom: { filePath: 'a.zip', config: { runtime: 'java', entrypoints: { bot: 'a' } } } }] }));
    r = await cli(['validate', '--source', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: bots/x: custom.config.runtime: must be one of');
  });

  it('rejects bad settings with a clear message, a hint and the configuration exit code 3', async () => {
    const r = await cli(['synth', '--out', tmpDir(), '--namespace', 'Bad_NS']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/--namespace.*Bad_NS.*not a valid Kubernetes namespace name/);
    const unknown = await cli(['synth', '--no-such-flag']);
    expect(unknown.code).toBe(3);
    expect((await cli(['--help'])).code).toBe(0);
  });

  it('`cdk8s synth` renders the same output from the same source (env selects it)', async () => {
    const out = tmpDir();
    const r = await run(path.join(ROOT, 'node_modules/.bin/cdk8s'), ['synth', '--output', out], {
      cwd: ROOT,
      env: { ...process.env, MONGO_URI: '', FLEET_SOURCE: '' },
    });
    expect(r.stdout).toMatch(/Synthesizing application/);
    expect(readTree(out)).toEqual(readTree(path.join(ROOT, 'dist')));
  }, 120_000);
});
