// Rollouts end to end: publish into a real bare repository; a fake Kubernetes API (through
// client-node's real code) serves Deployments, CronJobs and pods made from what the bare remote
// holds, as Argo CD would apply it (test/support/fake-cluster.ts): a pod whose image contains "bad" never pulls.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { diffRender, formatDiff, readTreeFromGit } from '../src/gitops/diff';
import { PublishOptions, publish } from '../src/gitops/publish';
import { waveOfBot } from '../src/gitops/rollout/controller';
import { RolloutBusyError, RolloutOptions } from '../src/gitops/rollout/plan';
import { DEFAULT_ROLLOUT, ROLLOUT_FILE, parseRolloutState } from '../src/gitops/rollout/state';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS, RenderSettings } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { generateFleet } from '../src/testing/fleet-gen';
import { fakeCluster } from './support/fake-cluster';
import { BotRenderer } from '../src/synth/render';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-rollout-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const uniq = (p: string) => path.join(tmp, `${p}-${++n}`);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 }).trim();
function bare(): string {
  const dir = uniq('remote') + '.git';
  execFileSync('git', ['init', '-q', '--bare', dir]);
  return dir;
}
const commits = (repo: string) => git(repo, 'rev-list', '--count', 'main');
const stateIn = (repo: string) => parseRolloutState(git(repo, 'show', `main:dist/${ROLLOUT_FILE}`));
type Json = Record<string, any>;

const docs = generateFleet(150, 11);
jest.setTimeout(300_000);
const settingsWith = (image: string): RenderSettings => ({ ...DEFAULT_SETTINGS, shards: 4, runtimeImage: image });

describe('rollouts through publish', () => {
  let repo: string;
  let cluster: Awaited<ReturnType<typeof fakeCluster>>;
  let clock: number;
  beforeEach(async () => {
    repo = bare();
    cluster = await fakeCluster(repo, tmp);
    clock = Date.parse('2026-12-03T10:00:00Z');
  });
  afterEach(() => cluster.server.close());

  const rollout = (extra: Partial<RolloutOptions> = {}): RolloutOptions => ({
    settings: { ...DEFAULT_ROLLOUT, bakeSeconds: 60, timeoutSeconds: 600 },
    version: '1.0.0',
    health: cluster.health,
    now: () => new Date(clock),
    ...extra,
  });
  // Every run is a fresh runner (new working copy): the rollout lives in Git only.
  const run = (fleet: FleetDocuments, image: string, extra: Partial<PublishOptions> = {}, ro: Partial<RolloutOptions> = {}) => {
    const file = uniq('fleet') + '.json';
    writeFleetFile(file, fleet);
    return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: uniq('wd'), rollout: rollout(ro), ...extra });
  };
  const images = async () => {
    const out = new Map<string, string>();
    for (const [p, text] of await readTreeFromGit(repo, 'main', 'dist')) {
      const m = /^bots\/[^/]+\/(?:bot|schedule)-(.+)\.yaml$/.exec(p);
      if (m) out.set(m[1], /image: (\S+)/.exec(text)![1]);
    }
    return out;
  };
  const state = () => parseRolloutState(git(repo, 'show', `main:dist/${ROLLOUT_FILE}`));

  test('healthy waves advance to 100 %, one wave per commit, each after its bake time', async () => {
    expect((await run(docs, 'rt:1')).exitCode).toBe(0);
    expect(state().status).toBe('done');
    const all = [...(await images()).keys()];
    expect(all.length).toBeGreaterThan(120);

    const started = await run(docs, 'rt:2');
    expect(started.rollout?.notes.join('\n')).toMatch(/rollout started: runtimeImage "rt:1" → "rt:2"/);
    const canary = [...(await images())].filter(([, img]) => img === 'rt:2').map(([id]) => id);
    expect(canary.length).toBeGreaterThanOrEqual(1);
    expect(canary.length).toBeLessThanOrEqual(Math.ceil(all.length * 0.01) + 2); // ≤ 1 % plus rounding
    expect(canary.sort()).toEqual([...(started.rollout?.waveIds ?? [])].sort());

    const seen: number[] = [];
    for (let step = 0; step < 12 && state().status === 'rolling'; step++) {
      clock += 1000;
      await run(docs, 'rt:2'); // healthy: the bake starts
      clock += 61_000;
      const r = await run(docs, 'rt:2');
      const onNew = [...(await images()).values()].filter((i) => i === 'rt:2').length;
      seen.push(onNew);
      expect(r.exitCode).toBe(0);
    }
    expect(state().status).toBe('done');
    expect([...(await images()).values()].every((i) => i === 'rt:2')).toBe(true);
    // Three more waves after the canary, each larger than the last; the last one bakes too before done.
    expect(seen.length).toBe(4);
    expect(seen[0]).toBeLessThan(seen[1]);
    expect(seen[1]).toBeLessThan(seen[2]);
    expect(seen[2]).toBe(all.length);
    expect(seen[3]).toBe(all.length);
    expect(state().history.map((h) => h.bots)).toEqual([canary.length, seen[0] - canary.length, seen[1] - seen[0], seen[2] - seen[1]]);
    const log = git(repo, 'log', '--format=%s', 'main');
    expect(log).toMatch(/fleetsynth rollout: wave 2 of 4 \(10 %\)/);
    expect(log).toMatch(/fleetsynth rollout: done/);
  });

  test('a bad image halts after the canary; later waves stay on the old image; abort restores the canary in one commit', async () => {
    await run(docs, 'rt:1');
    await run(docs, 'rt:bad');
    const canary = [...(await images())].filter(([, img]) => img === 'rt:bad').map(([id]) => id);
    expect(canary.length).toBeGreaterThanOrEqual(1);
    clock += 30_000;
    const halted = await run(docs, 'rt:bad');
    expect(halted.exitCode).toBe(1);
    expect(halted.rollout?.notes.join('\n')).toMatch(/rollout HALTED: wave 1 of 4/);
    const st = state();
    expect(st.status).toBe('halted');
    const realtimeCanary = canary.filter((id) => st.failures?.some((f) => f.id === id));
    expect(realtimeCanary.length).toBeGreaterThan(0);
    expect(st.failures?.every((f) => /ImagePullBackOff/.test(f.reason))).toBe(true);
    // Halted: time passes, nothing more rolls out.
    clock += 3_600_000;
    await run(docs, 'rt:bad');
    expect([...(await images()).values()].filter((i) => i === 'rt:bad').length).toBe(canary.length);

    const before = Number(commits(repo));
    const aborted = await run(docs, 'rt:bad', {}, { command: 'abort' });
    expect(aborted.exitCode).toBe(0);
    expect(Number(commits(repo))).toBe(before + 1);
    expect([...(await images())].filter(([, i]) => i !== 'rt:1')).toEqual([]);
    expect(state().status).toBe('aborted');
  });

  test('mid-rollout: a bot\'s own change lands at once on its wave\'s generation, an added bot gets its wave\'s generation, a second fleet-wide change is refused', async () => {
    await run(docs, 'rt:1');
    await run(docs, 'rt:2');
    const st = state();
    const rolled = new Set([...(await images())].filter(([, i]) => i === 'rt:2').map(([id]) => id));
    const changed = JSON.parse(JSON.stringify(docs)) as { bots: Json[]; bot_schedules: Json[] };
    const victim = changed.bots.find((b) => b.config.enabled !== false && !rolled.has(b.id))!;
    victim.config.symbol = 'CHANGED-NOW';
    const newcomers = Array.from({ length: 40 }, (_, i) => ({ ...JSON.parse(JSON.stringify(victim)), id: `newbot${i.toString().padStart(4, '0')}` }));
    changed.bots.push(...newcomers);
    const r = await run(changed as unknown as FleetDocuments, 'rt:2');
    expect(r.exitCode).toBe(0);
    const tree = await readTreeFromGit(repo, 'main', 'dist');
    const victimFile = [...tree].find(([p]) => p.endsWith(`/bot-${victim.id}.yaml`))![1];
    expect(victimFile).toContain('CHANGED-NOW');
    expect(/image: (\S+)/.exec(victimFile)![1]).toBe('rt:1'); // its wave is not rolled yet
    const img = (await images());
    for (const b of newcomers) expect(img.get(b.id)).toBe(waveOfBot(st, b.id) === 0 ? 'rt:2' : 'rt:1');

    await expect(run(changed as unknown as FleetDocuments, 'rt:3')).rejects.toBeInstanceOf(RolloutBusyError);
    const superseded = await run(changed as unknown as FleetDocuments, 'rt:3', {}, { supersede: true });
    expect(superseded.rollout?.notes.join('\n')).toMatch(/rollout superseded/);
    expect(state().to.inputs.runtimeImage).toBe('rt:3');
    expect(state().from.inputs.runtimeImage).toBe('rt:1');
  });

  test('diff and the PR comment show a fleet-wide change as its rollout plan: the change, bots per wave, the first wave, and exactly what publish then commits', async () => {
    await run(docs, 'rt:1');
    const clone = uniq('clone');
    git(tmp, 'clone', '-q', '-b', 'main', repo, clone);
    const base = { repo: clone, ref: 'HEAD', path: 'dist' };
    const ro = { settings: { ...DEFAULT_ROLLOUT, bakeSeconds: 60, timeoutSeconds: 600 }, version: '1.0.0' };
    const plain = await diffRender({ docs, settings: settingsWith('rt:1'), base, rollout: ro });
    expect(plain.diff.entries).toEqual([]);
    expect(plain.diff.rollout).toBeUndefined(); // no fleet-wide change: no rollout section
    // A bot whose render leaks a secret keeps its file in publish: the diff says kept, not removed.
    const leaky = JSON.parse(JSON.stringify(docs)) as { bots: Array<{ id: string; config: Record<string, unknown> }> };
    const victim = leaky.bots.find((b) => b.config.enabled !== false)!;
    victim.config.api_token = victim.config.symbol;
    const leak = await diffRender({ docs: leaky as unknown as FleetDocuments, settings: settingsWith('rt:1'), base, rollout: ro });
    expect(leak.synth.errors.join('\n')).toContain(`bots/${victim.id}: the value of secret config key(s) api_token`);
    expect(leak.diff.entries.filter((e) => e.id === victim.id)).toEqual([]);
    expect(leak.diff.kept.some((k) => k.includes(victim.id))).toBe(true);

    const { diff } = await diffRender({ docs, settings: settingsWith('rt:2'), base, rollout: ro });
    const p = diff.rollout!;
    expect(p.step).toBe('starts');
    expect(p.change).toEqual(['runtimeImage "rt:1" → "rt:2"']);
    expect(p.waves.map((w) => w.share)).toEqual([1, 10, 50, 100]);
    expect(p.waves.map((w) => w.state)).toEqual(['this commit', 'later', 'later', 'later']);
    expect(p.waves.reduce((n, w) => n + w.bots, 0)).toBe(p.fleet);
    expect(p.waveBotsTotal).toBe(p.waves[0].bots);
    // Only the canary's files change in the diff, as in the commit publish makes next.
    const changedIds = diff.entries.filter((e) => e.kind !== 'platform').map((e) => e.id).sort();
    expect(changedIds).toEqual([...p.waveBots].sort());
    const published = await run(docs, 'rt:2');
    expect([...(published.rollout?.waveIds ?? [])].sort()).toEqual(changedIds);
    expect(published.diff.rollout?.step).toBe('starts');

    const md = formatDiff(diff, 'markdown');
    expect(md).toContain('#### Rollout starts (rolling)');
    expect(md).toContain('| 1 | 1 % | ' + p.waves[0].bots + ' | moves to the new generation in this commit |');
    expect(md).toContain(`This commit moves ${p.waveBotsTotal} of ${p.fleet} bots:`);
    const text = formatDiff(diff, 'text');
    expect(text).toMatch(/rollout starts \(rolling\): runtimeImage "rt:1" → "rt:2"/);
    expect(text).toMatch(/wave 2 \(10 %\): \d+ bot\(s\), later, once the wave before it is healthy for 60s/);

    // Mid-rollout, a diff of the same settings shows the rollout holding at wave 1 and no file change.
    git(clone, 'pull', '-q');
    const held = await diffRender({ docs, settings: settingsWith('rt:2'), base, rollout: ro });
    expect(held.diff.entries).toEqual([]);
    expect(held.diff.rollout?.step).toBe('holds');
    expect(held.diff.rollout?.waves.map((w) => w.state)).toEqual(['current', 'later', 'later', 'later']);

    // A second fleet-wide change mid-rollout: the diff still renders, and says publish would refuse it.
    const again = await diffRender({ docs, settings: settingsWith('rt:3'), base, rollout: ro });
    expect(again.diff.rollout?.blocked).toMatch(/a rollout \(runtimeImage "rt:1" → "rt:2"\) is rolling at wave 1 of 4/);
    expect(again.diff.rollout?.step).toBe('starts');
    expect(formatDiff(again.diff, 'markdown')).toContain('**publish refuses this without `--supersede`**');
    expect(formatDiff(again.diff, 'text')).toMatch(/^rollout: publish refuses this without --supersede: /m);
  });

  test('a config-hash key rotation rolls out in waves while the previous key is given; without it the note says old bots restart', async () => {
    const keyA = 'a'.repeat(32);
    const keyB = 'b'.repeat(32);
    const hashes = async () => {
      const out = new Map<string, string>();
      for (const [p, text] of await readTreeFromGit(repo, 'main', 'dist')) {
        const m = /^bots\/[^/]+\/(?:bot|schedule)-(.+)\.yaml$/.exec(p);
        if (m) out.set(m[1], /the0\.app\/config-hash: (\S+)/.exec(text)?.[1] ?? "");
      }
      return out;
    };
    const keyed = (key: string, previous?: string): Partial<PublishOptions> => ({ settings: { ...settingsWith('rt:1'), configHashKey: key, ...(previous ? { previousConfigHashKey: previous } : {}) } });
    await run(docs, 'rt:1', keyed(keyA));
    const before = await hashes();
    const rotated = await run(docs, 'rt:1', keyed(keyB, keyA));
    expect(rotated.rollout?.notes.join('\n')).toMatch(/rollout started: configHashKeyId changed|rollout started: configHashKeyId/);
    expect(rotated.rollout?.notes.join('\n')).not.toMatch(/WARNING/);
    const after = await hashes();
    const moved = [...after].filter(([id, h]) => before.get(id) !== h).map(([id]) => id).sort();
    // Only the canary restarts (files with a config hash: CronJobs carry none).
    expect(moved).toEqual([...rotated.rollout!.waveIds].filter((id) => before.get(id) !== '').sort());
    expect(moved.length).toBeGreaterThan(0);
    for (const t of [keyA, keyB]) for (const [, text] of await readTreeFromGit(repo, 'main', 'dist')) expect(text).not.toContain(t);
    expect(git(repo, 'show', `main:dist/${ROLLOUT_FILE}`)).not.toContain(keyA);

    // The previous key forgotten mid-rollout: said clearly, and the old bots hash with the current key.
    const forgot = await run(docs, 'rt:1', keyed(keyB));
    expect(forgot.rollout?.notes.join('\n')).toMatch(/WARNING: generation [0-9a-f]{16} was hashed with a config-hash key that is neither the current nor the previous key/);
    const changed = [...(await hashes())].filter(([id, h]) => after.get(id) !== h).length;
    expect(changed).toBeGreaterThan(moved.length);
  });

  test('without Kubernetes credentials the canary is committed and the rollout stays pending, said clearly', async () => {
    await run(docs, 'rt:1', {}, { health: null });
    await run(docs, 'rt:2', {}, { health: null });
    clock += 3_600_000;
    const r = await run(docs, 'rt:2', {}, { health: null });
    expect(r.rollout?.notes.join('\n')).toMatch(/rollout pending: wave 1 of 4 is committed; its health cannot be read without Kubernetes credentials/);
    expect(state().status).toBe('rolling');
    expect(state().current).toBe(0);
  });

  describe('the next wave staged during the bake', () => {
    const ro = (stage: boolean): RolloutOptions => rollout({ stage });
    const runner = (stage: boolean) => {
      const wd = uniq('wd');
      const cache = { dir: uniq('cache') };
      return (fleet: FleetDocuments, image: string) => {
        const file = uniq('fleet') + '.json';
        writeFleetFile(file, fleet);
        return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: wd, cache, rollout: ro(stage) });
      };
    };
    const stageDir = (wd: string) => path.join(wd, '.git', 'fleetsynth-stage');

    test('a staged wave commits the same tree, message and diff as one rendered at its turn, even after a bot\'s own change and a commit in between', async () => {
      // Two runners take turns on one remote: A stages, B never does. Each step, both compute the
      // same wave commit from the same Git state (B as a dry run), so what A commits must be what B would.
      const fleet: FleetDocuments = JSON.parse(JSON.stringify(docs));
      const a = runner(true);
      const b = (f: FleetDocuments, image: string) => {
        const file = uniq('fleet') + '.json';
        writeFleetFile(file, f);
        return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: uniq('wd'), cache: { off: true }, rollout: ro(false), dryRun: true });
      };
      await a(fleet, 'rt:1');
      await a(fleet, 'rt:2'); // the canary
      let commitsChecked = 0;
      for (let step = 0; step < 12 && state().status === 'rolling'; step++) {
        clock += 1000;
        const poll = await a(fleet, 'rt:2');
        expect(poll.rollout?.action?.type).toBe('wait');
        if (state().current < 3) expect(poll.staged).toBeGreaterThan(0);
        if (step === 1) {
          // Between the staging and the wave's commit: a bot of the next wave changes its own
          // document (its staged file must not be used), and that change is committed first, so the
          // next wave's base moved for that bot (its staged diff entry must not be used either).
          const st = state();
          const next = (fleet.bots as Json[]).find((d) => d.config?.enabled !== false && waveOfBot(st, d.id) === st.current + 1)!;
          next.config.symbol = 'STAGED-AND-CHANGED';
          const own = await a(fleet, 'rt:2');
          expect(own.outcome?.pushed).toBe(true);
          // And someone edits another next-wave bot's file by hand in Git: its staged file is
          // still what the render gives, but its staged diff entry compared with the old file.
          const clone = uniq('clone');
          git(tmp, 'clone', '-q', '-b', 'main', repo, clone);
          const files = git(clone, 'ls-files', 'dist/bots').split('\n');
          const fileOf = (id: string) => files.find((f) => path.posix.basename(f) === `bot-${id}.yaml`);
          const other = (fleet.bots as Json[]).find((d) => d !== next && fileOf(d.id) && waveOfBot(st, d.id) === st.current + 1)!;
          const rel = fileOf(other.id)!;
          const file = path.join(clone, rel);
          fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/image: rt:1/g, 'image: rt:by-hand'));
          git(clone, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-am', 'by hand');
          git(clone, 'push', '-q', 'origin', 'HEAD:main');
        }
        clock += 61_000;
        const want = await b(fleet, 'rt:2');
        const r = await a(fleet, 'rt:2');
        if (r.rollout?.action?.type !== 'commit-wave') continue;
        expect(want.rollout?.action?.type).toBe('commit-wave');
        expect(r.diff.entries).toEqual(want.diff.entries);
        expect(r.message).toEqual(want.message);
        // B, run again now, finds Git already holds exactly what it renders.
        expect((await b(fleet, 'rt:2')).diff.entries).toEqual([]);
        commitsChecked++;
      }
      expect(state().status).toBe('done');
      expect(commitsChecked).toBe(3);
      const tree = await readTreeFromGit(repo, 'main', 'dist');
      const changed = [...tree].find(([p, t]) => p.startsWith('bots/') && t.includes('STAGED-AND-CHANGED'));
      expect(changed?.[1]).toContain('image: rt:2');
      expect([...tree].some(([, t]) => t.includes('rt:by-hand'))).toBe(false);
    });

    test('a stage is used only for its own generation and wave, and is gone with its ref once the rollout ends', async () => {
      const wd = uniq('wd');
      const cache = { dir: uniq('cache') };
      const go = (image: string, extra: Partial<RolloutOptions> = {}) => {
        const file = uniq('fleet') + '.json';
        writeFleetFile(file, docs);
        return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: wd, cache, rollout: { ...ro(true), ...extra } });
      };
      await go('rt:1');
      await go('rt:2');
      clock += 1000;
      const poll = await go('rt:2');
      expect(poll.staged).toBeGreaterThan(0);
      const manifest = JSON.parse(fs.readFileSync(path.join(stageDir(wd), 'stage.json'), 'utf8'));
      expect(manifest).toMatchObject({ wave: 1, generation: state().to.generation });
      expect(git(wd, 'rev-parse', '--verify', '-q', 'refs/fleetsynth/stage')).toMatch(/^[0-9a-f]{40}$/);
      // The staged objects are not in the remote: the stage ref stays local.
      expect(() => git(repo, 'rev-parse', '--verify', '-q', 'refs/fleetsynth/stage')).toThrow();

      // Superseded by another image: the staged rt:2 files must not reach the new rollout's waves.
      const sup = await go('rt:3', { supersede: true });
      expect(sup.rollout?.action?.type).toBe('commit-wave');
      for (let step = 0; step < 12 && state().status === 'rolling'; step++) {
        clock += 1000;
        await go('rt:3');
        clock += 61_000;
        await go('rt:3');
      }
      expect(state().status).toBe('done');
      const imgs = new Set([...(await readTreeFromGit(repo, 'main', 'dist'))].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml')).map(([, t]) => /image: (\S+)/.exec(t)![1]));
      expect(imgs).toEqual(new Set(['rt:3']));
      clock += 1000;
      await go('rt:3'); // done: the stage goes
      expect(fs.existsSync(stageDir(wd))).toBe(false);
      expect(() => git(wd, 'rev-parse', '--verify', '-q', 'refs/fleetsynth/stage')).toThrow();
    });

    test('rollout.stage: false in the platform config stages nothing', async () => {
      const wd = uniq('wd');
      const go = (image: string) => {
        const file = uniq('fleet') + '.json';
        writeFleetFile(file, docs);
        const r = ro(true);
        return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: wd, cache: { dir: uniq('cache') }, rollout: { ...r, settings: { ...r.settings!, stage: false } } });
      };
      await go('rt:1');
      await go('rt:2');
      clock += 1000;
      const poll = await go('rt:2');
      expect(poll.rollout?.action?.type).toBe('wait');
      expect(poll.staged).toBeUndefined();
      expect(fs.existsSync(stageDir(wd))).toBe(false);
    });

    test('without credentials nothing is staged (that runner never commits the next wave)', async () => {
      const wd = uniq('wd');
      const go = (image: string) => {
        const file = uniq('fleet') + '.json';
        writeFleetFile(file, docs);
        return publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: wd, cache: { dir: uniq('cache') }, rollout: { ...ro(true), health: null } });
      };
      await go('rt:1');
      await go('rt:2');
      clock += 1000;
      const poll = await go('rt:2');
      expect(poll.staged).toBeUndefined();
      expect(fs.existsSync(stageDir(wd))).toBe(false);
    });

  });
});

describe('rollouts with the output cache (one working copy, as a CI runner that keeps it)', () => {
  let repo: string;
  let cluster: Awaited<ReturnType<typeof fakeCluster>>;
  beforeEach(async () => {
    repo = bare();
    cluster = await fakeCluster(repo, tmp);
  });
  afterEach(() => cluster.server.close());

  test('the bake poll renders only the next wave (staged), its commit renders none of it again (at most the last step\'s, re-checked), and commits what a runner without a cache would, through abort', async () => {
    let clock = Date.parse('2026-12-03T10:00:00Z');
    const wd = uniq('wd');
    const cache = { dir: uniq('cache') };
    const file = uniq('fleet') + '.json';
    writeFleetFile(file, docs);
    const ro = (extra: Partial<RolloutOptions> = {}): RolloutOptions => ({
      settings: { ...DEFAULT_ROLLOUT, bakeSeconds: 60, timeoutSeconds: 600 },
      version: '1.0.0',
      health: cluster.health,
      now: () => new Date(clock),
      ...extra,
    });
    const kept = (image: string, extra: Partial<RolloutOptions> = {}) => publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: wd, cache, rollout: ro(extra) });
    // What Git holds is what a fresh runner without a cache renders at this moment: its dry run finds nothing to change.
    const expectUncachedAgrees = async (image: string) => {
      const r = await publish({ source: openSource(file), settings: settingsWith(image), repo, workDir: uniq('wd'), cache: { off: true }, rollout: ro(), dryRun: true });
      expect(r.diff.entries.map((e) => e.path)).toEqual([]);
    };
    const renders = jest.spyOn(BotRenderer.prototype, 'render');
    const rendered = () => new Set(renders.mock.calls.map(([spec]) => spec.id));
    try {
      await kept('rt:1');
      await kept('rt:1');
      renders.mockClear();
      await kept('rt:1');
      expect(rendered().size).toBe(0); // nothing changed, every file settled: nothing rendered

      const started = await kept('rt:2');
      let previous = new Set(started.rollout!.waveIds);
      expect(previous.size).toBeGreaterThan(0);
      expect(rendered()).toEqual(previous);
      await expectUncachedAgrees('rt:2');

      const waves: number[] = [];
      for (let step = 0; step < 12 && waves.length < 2; step++) {
        clock += 1000;
        renders.mockClear();
        const poll = await kept('rt:2'); // healthy: the bake starts, the next wave is staged
        const staged = rendered();
        clock += 61_000;
        renders.mockClear();
        const r = await kept('rt:2');
        if (r.rollout?.action?.type !== 'commit-wave') continue;
        const moved = new Set(r.rollout.waveIds);
        expect(poll.staged).toBe(moved.size);
        for (const id of moved) expect(staged.has(id)).toBe(true);
        for (const id of staged) expect(moved.has(id) || previous.has(id)).toBe(true);
        // The commit renders none of the staged bots again: at most the files of the step before, whose stamps were too fresh to vouch for.
        for (const id of rendered()) expect(previous.has(id) && !moved.has(id)).toBe(true);
        waves.push(moved.size);
        previous = moved;
        await expectUncachedAgrees('rt:2');
      }
      expect(waves.length).toBe(2);

      renders.mockClear();
      const aborted = await kept('rt:2', { command: 'abort' });
      expect(aborted.exitCode).toBe(0);
      expect(stateIn(repo).status).toBe('aborted');
      // Every bot that was on the new generation renders again, on the old one.
      const onNew = stateIn(repo).history.reduce((n, h) => n + h.bots, 0);
      expect(rendered().size).toBeGreaterThanOrEqual(onNew);
      const tree = await readTreeFromGit(repo, 'main', 'dist');
      const imgs = [...tree].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml')).map(([, t]) => /image: (\S+)/.exec(t)![1]);
      expect(new Set(imgs)).toEqual(new Set(['rt:1']));
      await expectUncachedAgrees('rt:2');
    } finally {
      renders.mockRestore();
    }
  });
});

test('publish --wait killed (kill -9) mid-rollout: the next runner, in the same working copy, resumes from Git; no wave is committed twice', async () => {
  const repo = bare();
  const cluster = await fakeCluster(repo, tmp);
  try {
    const file = uniq('fleet') + '.json';
    writeFleetFile(file, docs);
    const config = uniq('config') + '.yaml';
    fs.writeFileSync(config, 'rollout:\n  bakeSeconds: 1\n  timeoutSeconds: 600\n');
    const wd = uniq('wd');
    const args = (image: string) => ['publish', '--wait', '--repo', repo, '--source', file, '--work-dir', wd, '--config', config, '--kubeconfig', cluster.kubeconfig, '--runtime-image', image];
    const ROOT = path.resolve(__dirname, '..');
    const cli = (argv: string[]) => {
      const child = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', `require('./src/cli').main(process.argv).then((c) => { process.exitCode = c; })`, 'fleetsynth', ...argv], {
        cwd: ROOT,
        env: { ...process.env, MONGO_URI: '', FLEET_SOURCE: '', KUBECONFIG: '/nonexistent', HOME: '/nonexistent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: string[] = [];
      child.stdout!.on('data', (d) => out.push(String(d)));
      child.stderr!.on('data', (d) => out.push(String(d)));
      return { child, out, exit: new Promise<number | null>((r) => child.on('exit', (code) => r(code))) };
    };
    const first = cli(args('rt:1'));
    expect(await first.exit).toBe(0);
    const st = () => parseRolloutState(git(repo, 'show', `main:dist/${ROLLOUT_FILE}`));
    expect(st().status).toBe('done');

    const doomed = cli(args('rt:2'));
    for (const end = Date.now() + 120_000; Date.now() < end && doomed.child.exitCode === null; ) {
      await new Promise((r) => setTimeout(r, 100));
      if (st().to.inputs.runtimeImage === 'rt:2' && st().current >= 1) break; // wave 2 is in Git
    }
    expect(doomed.child.exitCode).toBeNull(); // still rolling when killed
    doomed.child.kill('SIGKILL');
    await doomed.exit;
    expect(st().status).toBe('rolling');

    const resumed = cli(args('rt:2'));
    const code = await resumed.exit;
    expect({ code, out: resumed.out.join('') }).toEqual({ code: 0, out: expect.stringMatching(/rollout done/) });
    const final = st();
    expect(final.status).toBe('done');
    expect(final.history.map((h) => h.wave)).toEqual([0, 1, 2, 3]);
    const subjects = git(repo, 'log', '--format=%s', 'main').split('\n');
    for (const w of [2, 3, 4]) expect(subjects.filter((l) => l.startsWith(`fleetsynth rollout: wave ${w} of 4 (`)).length).toBe(1);
    const tree = await readTreeFromGit(repo, 'main', 'dist');
    const imgs = [...tree].filter(([p]) => p.startsWith('bots/')).map(([, t]) => /image: (\S+)/.exec(t)![1]);
    expect(imgs.length).toBeGreaterThan(120);
    expect(new Set(imgs)).toEqual(new Set(['rt:2']));
    expect(final.history.reduce((n, h) => n + h.bots, 0)).toBe(imgs.length);
  } finally {
    await cluster.server.close();
  }
});

test('fleetsynth rollout status prints the rollout recorded in the repository', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runCli } = require('../src/cli') as typeof import('../src/cli');
  const repo = bare();
  const file = uniq('fleet') + '.json';
  writeFleetFile(file, docs);
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
  const cli = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(['node', 'fleetsynth', ...argv], io, { ...env, KUBECONFIG: '/nonexistent' });
  expect(await cli(['rollout', 'status', '--repo', repo])).toBe(0); // an empty repository: nothing recorded
  expect(lines).toEqual([expect.stringMatching(/^rollout: none recorded yet/)]);
  lines.length = 0;
  expect(await cli(['publish', '--repo', repo, '--source', file, '--work-dir', uniq('wd')])).toBe(0);
  expect(await cli(['publish', '--repo', repo, '--source', file, '--work-dir', uniq('wd'), '--runtime-image', 'rt:9'])).toBe(0);
  expect(lines.join('\n')).toMatch(/rollout pending: wave 1 of 4 is committed; its health cannot be read without Kubernetes credentials|rollout: wave 1 of 4 \(1 %\)/);
  lines.length = 0;
  expect(await cli(['rollout', 'status', '--repo', repo])).toBe(0);
  expect(lines[0]).toMatch(/^rollout: rolling — runtimeImage ".*" → "rt:9"$/);
  expect(lines.join('\n')).toMatch(/wave 1: \d+ bots committed/);
});
