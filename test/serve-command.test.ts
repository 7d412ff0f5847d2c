// `fleetsynth serve` as a process: flags, SIGTERM finishes the pending commit and push, exit 0.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFleetFile, readFleetFile } from '../src/source';
import { botFilePath } from '../src/synth/shard';
import { tmpDir } from './support/tmp';
import { NATS_URL, TestStream, bareRepo, botDoc, commits, get, show, testStream, waitFor } from './serve-support';

jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '..');
const fileOf = (id: string) => `dist/${botFilePath(id, `bot-${id}.yaml`, 16)}`;

function run(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: string[]; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', `require('./src/cli').main(process.argv).then((c) => { process.exitCode = c; })`, 'fleetsynth', ...args], {
    cwd: ROOT,
    env: { ...process.env, MONGO_URI: '', FLEET_SOURCE: '', KUBECONFIG: path.join(ROOT, 'no-such-kubeconfig'), HOME: '/nonexistent', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  child.stdout!.on('data', (d) => out.push(...String(d).split('\n').filter(Boolean)));
  child.stderr!.on('data', (d) => out.push(...String(d).split('\n').filter(Boolean)));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out, exit };
}

describe('fleetsynth serve (process)', () => {
  let dir: string;
  let stream: TestStream | undefined;
  let proc: ReturnType<typeof run> | undefined;
  beforeEach(() => {
    dir = tmpDir('fleetsynth-serve-cmd-');
  });
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exit;
    }
    proc = undefined;
    await stream?.destroy();
    stream = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('bad flags and a missing --repo are usage errors', async () => {
    proc = run(['serve', '--reconcile-interval', 'soon', '--repo', 'x']);
    expect(await proc.exit).not.toBe(0);
    expect(proc.out.join('\n')).toContain('invalid interval "soon"');
    proc = run(['serve', '--source', path.join(dir, 'f.yaml')], { GITOPS_REPO: '' });
    expect(await proc.exit).toBe(3);
    expect(proc.out.join('\n')).toContain('--repo (or GITOPS_REPO) is required');
  });

  test('SIGTERM: no new events, the pending change is committed and pushed, exit 0', async () => {
    const fleet = path.join(dir, 'fleet.yaml');
    writeFleetFile(fleet, { bots: [botDoc('alpha'), botDoc('beta')], bot_schedules: [] });
    const repo = bareRepo(dir);
    stream = await testStream();
    proc = run([
      'serve',
      '--source', fleet,
      '--repo', repo,
      '--work-dir', path.join(dir, 'work'),
      '--port', '0',
      '--health-port', '0',
      '--nats-url', NATS_URL,
      '--nats-stream', stream.name,
      '--nats-subject-prefix', stream.prefix,
      '--coalesce-ms', '20000',
      '--reconcile-interval', '10m',
    ]);
    const p = proc;
    await waitFor(() => commits(repo).length === 1, 60000, 'initial commit');
    const listening = await waitFor(() => p.out.map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((o) => o.msg?.startsWith('health server listening')), 10000, 'health port');
    await waitFor(async () => JSON.parse((await get(`http://127.0.0.1:${listening.port}/readyz`)).body).checks.nats.ok, 10000, 'subscribed');

    // The event is written to the fleet file, then waits in the (long) coalescing window.
    await stream.publish('the0.bot.updated', botDoc('alpha', { symbol: 'AT-SHUTDOWN' }));
    await waitFor(() => (readFleetFile(fleet).bots[0] as { config: { symbol: string } }).config.symbol === 'AT-SHUTDOWN', 10000, 'file written');
    expect(commits(repo)).toHaveLength(1);

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15000);
    expect(commits(repo)).toHaveLength(2);
    expect(show(repo, fileOf('alpha'))).toContain('"symbol":"AT-SHUTDOWN"');
    const logs = p.out.join('\n');
    expect(logs).toContain('"signal":"SIGTERM"');
    expect(logs).toContain('"msg":"stopped"');
    expect(logs).not.toMatch(/AK-[a-z]+-secretvalue/);
    // The event was acked once its change was pushed.
    await waitFor(async () => (await stream!.consumerInfo()).num_ack_pending === 0, 5000, 'acked');
  });
});
