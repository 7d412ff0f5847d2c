import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { readTreeFromDir, readTreeFromGit } from '../src/gitops/diff';
import { PublishOptions, PublishRefusedError, publish, pushEvent } from '../src/gitops/publish';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-publish-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const settings = { ...DEFAULT_SETTINGS, shards: 4 };
type Doc = { id: string; config: Record<string, any>; custom: Record<string, any> };
type Docs = { bots: Doc[]; bot_schedules: Doc[] };
const clone = (d: FleetDocuments | Docs) => JSON.parse(JSON.stringify(d)) as Docs;

let n = 0;
const uniq = (p: string) => path.join(tmp, `${p}-${++n}`);
function bare(): string {
  const dir = uniq('remote') + '.git';
  execFileSync('git', ['init', '-q', '--bare', dir]);
  return dir;
}
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
const head = (repo: string) => {
  try {
    return git(repo, 'rev-parse', '-q', '--verify', 'refs/heads/main');
  } catch {
    return undefined;
  }
};

function fleetFile(docs: FleetDocuments | Docs): string {
  const file = uniq('fleet') + '.json';
  writeFleetFile(file, docs as FleetDocuments);
  return file;
}

function run(repo: string, docs: FleetDocuments | Docs, extra: Partial<PublishOptions> = {}) {
  return publish({ source: openSource(fleetFile(docs)), settings, repo, workDir: uniq('wd'), ...extra });
}

/** What a plain synth of the fleet renders (managed files only). */
async function expected(docs: FleetDocuments | Docs): Promise<Map<string, string>> {
  const dir = uniq('expected');
  await synthesize(docs as FleetDocuments, { outDir: dir, settings });
  return readTreeFromDir(dir);
}
const remoteTree = (repo: string) => readTreeFromGit(repo, 'main', 'dist');

const base = generateFleet(30, 5);
/** Indexes of the enabled realtime bots of the base fleet (changes to disabled ones render nothing). */
const E = (base.bots as Doc[]).flatMap((b, i) => (b.config.enabled === false ? [] : [i]));

test('publishes a fleet; an unchanged fleet makes no commit; one changed bot is one commit touching one file', async () => {
  const repo = bare();
  const wd = uniq('wd');
  const first = await run(repo, base, { workDir: wd });
  expect(first.outcome).toMatchObject({ pushed: true, attempts: 1 });
  expect(first.exitCode).toBe(0);
  const count = [...(await expected(base)).keys()].filter((k) => k.startsWith('bots/')).length;
  expect(first.message!.split('\n')[0]).toBe(`fleetsynth: +${count} ~0 -0 bots`);
  expect(first.message).toContain('\nplatform:\n  added platform/fleetsynth.yaml\n');
  expect(await remoteTree(repo)).toEqual(await expected(base));
  expect(git(repo, 'ls-tree', '-r', '--name-only', 'main')).toContain('dist/bots/shard-00/.fleetsynth-shard');

  const tip = head(repo);
  for (const workDir of [wd, uniq('wd')]) {
    const again = await run(repo, base, { workDir });
    expect(again.outcome!.pushed).toBe(false);
    expect(again.outcome!.commit).toBeUndefined();
    expect(again.message).toBeNull();
    expect(again.diff.entries).toEqual([]);
  }
  expect(head(repo)).toBe(tip);

  const changed = clone(base);
  changed.bots[E[0]].config.symbol = 'DOGEUSDT';
  const one = await run(repo, changed, { workDir: wd });
  expect(one.outcome!.pushed).toBe(true);
  expect(git(repo, 'rev-parse', 'main~1')).toBe(tip);
  expect(git(repo, 'diff', '--name-only', 'main~1', 'main').split('\n')).toEqual([`dist/${one.diff.entries[0].path}`]);
  expect(one.diff.entries[0].path).toContain(`bot-${changed.bots[E[0]].id}.yaml`);
  expect(git(repo, 'log', '-1', '--format=%B', 'main')).toBe(`fleetsynth: +0 ~1 -0 bots\n\nchanged:\n  bot ${changed.bots[E[0]].id} (config)`);
});

test('an empty or unreadable source is refused and the remote is untouched', async () => {
  const repo = bare();
  await run(repo, base);
  const tip = head(repo);
  const empty = await run(repo, { bots: [], bot_schedules: [] }).then(() => undefined, (e) => e);
  expect(empty).toBeInstanceOf(PublishRefusedError);
  expect(empty.reason).toBe('empty-source');
  const missing = await publish({ source: openSource(path.join(tmp, 'nope.yaml')), settings, repo, workDir: uniq('wd') }).then(() => undefined, (e) => e);
  expect(missing).toBeInstanceOf(PublishRefusedError);
  expect(missing.reason).toBe('source-failed');
  expect(head(repo)).toBe(tip);
});

test('mass removal is refused (remote untouched, working copy reset) unless allowed', async () => {
  const repo = bare();
  const wd = uniq('wd');
  await run(repo, base, { workDir: wd });
  const tip = head(repo);
  const fewer = clone(base);
  fewer.bots.splice(0, 18);
  const err = await run(repo, fewer, { workDir: wd }).then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(PublishRefusedError);
  expect(err.reason).toBe('mass-delete');
  expect(err.wouldRemove.length).toBeGreaterThan(10);
  expect(err.message).toContain(err.wouldRemove[0]);
  expect(head(repo)).toBe(tip);
  expect(git(wd, 'status', '--porcelain')).toBe('');
  expect(readTreeFromDir(path.join(wd, 'dist'))).toEqual(await expected(base));

  // A dry run reports the refusal instead of throwing.
  const dry = await run(repo, fewer, { dryRun: true });
  expect(dry.refusal?.reason).toBe('mass-delete');
  expect(dry.exitCode).toBe(1);

  const allowed = await run(repo, fewer, { workDir: wd, allowMassDelete: true });
  expect(allowed.outcome!.pushed).toBe(true);
  expect(allowed.diff.summary.removed).toBe(err.wouldRemove.length);
  expect(await remoteTree(repo)).toEqual(await expected(fewer));

  // A few removals need no permission.
  const three = clone(fewer);
  three.bots.splice(0, 3);
  expect((await run(repo, three, { workDir: wd })).outcome!.pushed).toBe(true);
});

test('bad documents keep their files while the good bots are published; exit status 1', async () => {
  const repo = bare();
  await run(repo, base);
  const before = await remoteTree(repo);
  const docs = clone(base);
  docs.bots[E[1]].custom.config.runtime = 'cobol';
  docs.bots[E[1]].config.symbol = 'NEVER';
  docs.bots[E[2]].config.symbol = 'DOGEUSDT';
  const r = await run(repo, docs);
  expect(r.outcome!.pushed).toBe(true);
  expect(r.exitCode).toBe(1);
  expect(r.errors.join('\n')).toContain(docs.bots[E[1]].id);
  const after = await remoteTree(repo);
  const file1 = [...before.keys()].find((k) => k.endsWith(`bot-${docs.bots[E[1]].id}.yaml`))!;
  const file2 = [...before.keys()].find((k) => k.endsWith(`bot-${docs.bots[E[2]].id}.yaml`))!;
  expect(after.get(file1)).toBe(before.get(file1));
  expect(after.get(file2)).toContain('DOGEUSDT');
  expect(r.diff.entries.map((e) => e.path)).toEqual([file2]);
});

test('a dry run prints the diff and message and changes nothing', async () => {
  const repo = bare();
  await run(repo, base);
  const tip = head(repo);
  const docs = clone(base);
  docs.bot_schedules[0].config.schedule = '@daily';
  const r = await run(repo, docs, { dryRun: true, message: 'rotate schedules' });
  expect(r.dryRun).toBe(true);
  expect(r.outcome).toBeUndefined();
  expect(r.message).toBe(`rotate schedules\n\nfleetsynth: +0 ~1 -0 bots\n\nchanged:\n  schedule ${docs.bot_schedules[0].id} (schedule, config)\n`);
  expect(r.diff.entries).toHaveLength(1);
  expect(head(repo)).toBe(tip);
});

describe('Argo CD webhook', () => {
  let server: http.Server;
  let url: string;
  let status = 200;
  const calls: { headers: http.IncomingHttpHeaders; body: any }[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls.push({ headers: req.headers, body: JSON.parse(body) });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhook`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('is told about each push with a GitHub push event', async () => {
    const repo = bare();
    await run(repo, base);
    const docs = clone(base);
    docs.bots[E[3]].config.symbol = 'DOGEUSDT';
    calls.length = 0;
    const r = await run(repo, docs, { argocdWebhook: url, argocdWebhookSecret: 's3cret' });
    expect(r.webhook).toEqual({ ok: true, status: 200 });
    expect(calls).toHaveLength(1);
    const { headers, body } = calls[0];
    expect(headers['x-github-event']).toBe('push');
    expect(headers['x-hub-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(body).toMatchObject({ ref: 'refs/heads/main', after: r.outcome!.commit, repository: { clone_url: repo } });
    expect(body.commits).toEqual([expect.objectContaining({ id: r.outcome!.commit, added: [], removed: [], modified: [`dist/${r.diff.entries[0].path}`] })]);
    // No push, no call.
    await run(repo, docs, { argocdWebhook: url });
    expect(calls).toHaveLength(1);
  });

  test('a failing webhook is a warning, not a failure', async () => {
    const repo = bare();
    status = 500;
    const r = await run(repo, base, { argocdWebhook: url });
    status = 200;
    expect(r.outcome!.pushed).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.webhook).toEqual({ ok: false, status: 500 });
    expect(r.warnings.join('\n')).toMatch(/Argo CD webhook http:\/\/127\.0\.0\.1:\d+\/api\/webhook failed: HTTP 500/);
    const closed = await run(bare(), base, { argocdWebhook: 'http://127.0.0.1:9/hook', webhookTimeoutMs: 2000 });
    expect(closed.outcome!.pushed).toBe(true);
    expect(closed.webhook!.ok).toBe(false);
  });

  test('the event never carries repository credentials', () => {
    const e = pushEvent({ repo: 'https://bot:tok3n@git.example.com/fleet.git', branch: 'main', repoPath: '.', commit: 'abc', message: 'm', diff: { base: '', entries: [], kept: [], summary: { added: 0, changed: 0, removed: 0, unchanged: 0, kept: 0 } } });
    expect(JSON.stringify(e)).not.toContain('tok3n');
    expect(e.repository).toEqual({ html_url: 'https://git.example.com/fleet', clone_url: 'https://git.example.com/fleet.git', default_branch: 'main' });
  });
});

describe('concurrent publishers', () => {
  test('whole-fleet publishers racing: both pushed, no force, the remote is exactly the last one\'s fleet', async () => {
    const repo = bare();
    await run(repo, base);
    const tip = head(repo)!;
    const a = clone(base);
    a.bots[E[0]].config.symbol = 'AAA';
    const b = clone(base);
    b.bots[E[1]].config.symbol = 'BBB';
    b.bots.push({ ...clone(base).bots[E[2]], id: 'added0by0b00000000000001' });
    const [ra, rb] = await Promise.all([run(repo, a), run(repo, b)]);
    expect(ra.outcome!.pushed && rb.outcome!.pushed).toBe(true);
    const log = git(repo, 'log', '--format=%H', 'main').split('\n');
    expect(log).toEqual(expect.arrayContaining([ra.outcome!.commit, rb.outcome!.commit, tip]));
    const last = log[0] === ra.outcome!.commit ? a : b;
    expect(await remoteTree(repo)).toEqual(await expected(last));
  });

  test('partial publishers (one bot each) racing: every change survives', async () => {
    const repo = bare();
    await run(repo, base);
    const ids = E.slice(0, 4).map((i) => (base.bots[i] as Doc).id);
    const results = await Promise.all(
      ids.map((id, i) => {
        const docs = clone(base);
        docs.bots[E[i]].config.symbol = `SYM${i}`;
        return run(repo, docs, { onlyIds: new Set([id]), retries: 10 });
      }),
    );
    expect(results.every((r) => r.outcome!.pushed && r.diff.entries.length === 1)).toBe(true);
    const final = clone(base);
    ids.forEach((_, i) => (final.bots[E[i]].config.symbol = `SYM${i}`));
    expect(await remoteTree(repo)).toEqual(await expected(final));
    expect(git(repo, 'rev-list', '--count', 'main')).toBe('5');
  });
});

test('a publisher killed mid-render leaves the remote and the working copy consistent for the next run', async () => {
  const repo = bare();
  const wd = uniq('wd');
  const small = generateFleet(20, 9);
  await run(repo, small, { workDir: wd });
  const tip = head(repo);
  const big = generateFleet(800, 9);
  const file = fleetFile(big);
  const script = uniq('child') + '.ts';
  fs.writeFileSync(
    script,
    `import { publish } from ${JSON.stringify(path.resolve(__dirname, '../src/gitops/publish'))};\n` +
      `import { openSource } from ${JSON.stringify(path.resolve(__dirname, '../src/source'))};\n` +
      `import { DEFAULT_SETTINGS } from ${JSON.stringify(path.resolve(__dirname, '../src/settings'))};\n` +
      `publish({ source: openSource(${JSON.stringify(file)}), settings: { ...DEFAULT_SETTINGS, shards: 4 }, repo: ${JSON.stringify(repo)}, workDir: ${JSON.stringify(wd)}, allowMassDelete: true, workers: 0 })` +
      `.then(() => process.exit(0), (e) => { console.error(e); process.exit(3); });\n`,
  );
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const botsDir = path.join(wd, 'dist', 'bots');
  const count = () => fs.readdirSync(botsDir).reduce((s, d) => s + (fs.statSync(path.join(botsDir, d)).isDirectory() ? fs.readdirSync(path.join(botsDir, d)).length : 0), 0);
  const initial = count();
  // Kill it once it has written part of the new tree.
  let seen = initial;
  for (let i = 0; i < 3000 && child.exitCode === null; i++) {
    seen = count();
    if (seen > initial + 50) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  const { signal } = await exited;
  expect({ signal, stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
  expect(seen).toBeGreaterThan(initial + 50);
  expect(seen).toBeLessThan(initial + 700);
  expect(head(repo)).toBe(tip);
  expect(fs.existsSync(path.join(wd, '.git', 'fleetsynth.lock'))).toBe(true);

  // The next run starts from the remote, not from the half-written tree.
  const next = await run(repo, small, { workDir: wd });
  expect(next.outcome).toMatchObject({ pushed: false });
  expect(git(wd, 'status', '--porcelain')).toBe('');
  const changed = clone(small);
  changed.bots.find((d) => d.config.enabled !== false)!.config.symbol = 'AFTER';
  const after = await run(repo, changed, { workDir: wd });
  expect(after.outcome!.pushed).toBe(true);
  expect(git(repo, 'diff', '--name-only', 'main~1', 'main').split('\n')).toHaveLength(1);
  expect(await remoteTree(repo)).toEqual(await expected(changed));
  expect(fs.existsSync(path.join(wd, '.git', 'fleetsynth.lock'))).toBe(false);
});
