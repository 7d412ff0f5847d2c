// The platform config through the real binaries: `fleetsynth synth` and `cdk8s synth` agree with
// a config, a fleetsynth.config.mjs (with a customize hook) is found in the working directory,
// and a bad config exits 3 naming the file and key path, writing and deleting nothing.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readTree, tmpDir } from './support/tmp';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'fleetsynth');
const CLEAN_ENV = { ...process.env, MONGO_URI: '', FLEET_SOURCE: '', FLEETSYNTH_CONFIG: '' };

async function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  try {
    const r = await run('node', [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...CLEAN_ENV, ...opts.env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const CONFIG = [
  'namespace: trading',
  'pod:',
  '  nodeSelector: {node-pool: bots}',
  '  tolerations: [{key: dedicated, operator: Equal, value: bots, effect: NoSchedule}]',
  'rules:',
  '  - match: {kind: scheduled}',
  '    pod: {priorityClassName: batch-low}',
  'networkPolicy: {enabled: true}',
  '',
].join('\n');

test('fleetsynth synth --config and cdk8s synth with FLEETSYNTH_CONFIG give the same files', async () => {
  const file = path.join(tmpDir(), 'platform.yaml');
  fs.writeFileSync(file, CONFIG);
  const a = tmpDir();
  const r = await cli(['synth', '--config', file, '--out', a]);
  expect(r.stderr).not.toMatch(/^error/m);
  expect(r.code).toBe(0);
  const b = tmpDir();
  await run(path.join(ROOT, 'node_modules/.bin/cdk8s'), ['synth', '--output', b], { cwd: ROOT, env: { ...CLEAN_ENV, FLEETSYNTH_CONFIG: file } });
  const tree = readTree(a);
  expect(readTree(b)).toEqual(tree);
  const bots = [...tree].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml'));
  expect(bots.length).toBeGreaterThan(10);
  for (const [p, text] of bots) {
    expect(text).toContain('namespace: trading');
    expect(text).toContain('node-pool: bots');
    expect(text).toContain('kind: NetworkPolicy');
    expect(text.includes('priorityClassName: batch-low')).toBe(path.basename(p).startsWith('schedule-'));
  }
}, 120_000);

test('fleetsynth.config.mjs in the working directory, its customize hook included', async () => {
  const dir = tmpDir();
  fs.writeFileSync(
    path.join(dir, 'fleetsynth.config.mjs'),
    [
      'export default {',
      "  pod: { labels: { team: 'quant' } },",
      '  customize(bot, objects) {',
      "    objects[0].metadata.addAnnotation('example.com/reviewed-by', 'platform-' + bot.kind);",
      '  },',
      '};',
      '',
    ].join('\n'),
  );
  const r = await cli(['synth', '--out', 'out'], { cwd: dir });
  expect(r.code).toBe(0);
  const tree = readTree(path.join(dir, 'out'));
  const bot = [...tree].find(([p]) => /bots\/.*\/bot-.*\.yaml$/.test(p))![1];
  expect(bot).toContain('team: quant');
  expect(bot).toContain('example.com/reviewed-by: platform-realtime');
}, 120_000);

test('a bad config exits 3, names the file and key paths, and writes and deletes nothing', async () => {
  const out = tmpDir();
  expect((await cli(['synth', '--out', out])).code).toBe(0);
  const before = readTree(out);
  const file = path.join(tmpDir(), 'fleetsynth.config.yaml');
  fs.writeFileSync(file, 'shards: 2\npod:\n  tolerations: [{key: a, operator: Maybe}]\n  securityContext: {runAsUser: 0}\n  nodeSelectr: {a: b}\n');
  const r = await cli(['synth', '--out', out], { env: { FLEETSYNTH_CONFIG: file } });
  expect(r.code).toBe(3);
  expect(r.stderr).toContain(file);
  expect(r.stderr).toContain('pod.tolerations[0].operator: Invalid option: expected one of "Exists"|"Equal"');
  expect(r.stderr).toContain('pod.securityContext: is protected');
  expect(r.stderr).toContain('pod.nodeSelectr: unknown key; did you mean "nodeSelector"?');
  expect(readTree(out)).toEqual(before);
}, 120_000);
