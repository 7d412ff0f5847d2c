// Rollout cost and reach in a 10,000-document fleet (issue 14's targets):
//
//   npm run bench:rollout [-- --docs 10000] [-- --reps 3]
//
// - A wave commit costs at most 2× a one-bot publish. Both are `publish()` runs (the library
//   entry the CLI calls) into a local bare repository, each from a fresh runner's point of view
//   but with the same working copy (what a CI runner with a cache, or `publish --wait`, has): the
//   one-bot publish changes one bot's document; a wave commit is the publish that moves the next
//   wave to the new generation (the fleet-wide change itself, then each later wave once the
//   health reader says the previous one is healthy and baked). The bake is simulated with the
//   rollout's clock: a poll 1 s after a wave's commit finds it baking (and stages the next wave,
//   rollout/stage.ts), the poll after bakeSeconds commits it. The same rollout runs twice, with
//   staging off (another image) and on; both are printed, with the poll that staged each wave.
// - A bad runtime image reaches at most the canary (≤ 1 % of the fleet, plus rounding) before
//   the rollout halts: the health reader reports the canary's bots as ImagePullBackOff.
// The health reader is in-process (the HTTP path is covered by test/rollout-*.test.ts): this
// measures what fleetsynth does, not a fake API server. Baseline: the one-bot publish, same run.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { publish } from '../src/gitops/publish';
import type { BotHealth } from '../src/gitops/rollout/controller';
import type { HealthReader, RolloutTarget } from '../src/gitops/rollout/targets';
import { DEFAULT_ROLLOUT } from '../src/gitops/rollout/state';
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { openSource, writeFleetFile } from '../src/source';
import { generateFleet } from '../src/testing/fleet-gen';

const TARGET_RATIO = 2;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const n = arg('docs', 10_000);
  const reps = arg('reps', 3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-bench-rollout-'));
  try {
    const repo = path.join(tmp, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', repo]);
    const workDir = path.join(tmp, 'work');
    const fleetFile = path.join(tmp, 'fleet.json');
    const docs = generateFleet(n, 42) as unknown as { bots: Array<Record<string, any>>; bot_schedules: unknown[] };
    let verdict: 'healthy' | 'bad' = 'healthy';
    const health: HealthReader = {
      async check(targets: readonly RolloutTarget[]): Promise<BotHealth[]> {
        return targets.map((t) => (verdict === 'healthy' ? { id: t.id, state: 'healthy' } : { id: t.id, state: 'unhealthy', reason: 'ImagePullBackOff: image rt:bad not found' }));
      },
    };
    // The bake is simulated with the rollout's clock: a poll 1 s after a wave's commit finds it
    // healthy and baking (and stages the next wave), the next poll after bakeSeconds commits it.
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const bake = 300;
    let stage = true;
    const run = async (image: string) => {
      writeFleetFile(fleetFile, docs as unknown as FleetDocuments);
      const rollout = { settings: { ...DEFAULT_ROLLOUT, bakeSeconds: bake }, version: 'bench', health, now: () => new Date(clock), stage };
      const t0 = performance.now();
      const r = await publish({ source: openSource(fleetFile), settings: { ...DEFAULT_SETTINGS, runtimeImage: image }, repo, workDir, rollout });
      return { ms: performance.now() - t0, r };
    };

    const first = await run('rt:1');
    console.log(`fleet: ${n} documents, first publish ${Math.round(first.ms)} ms (${first.r.diff.summary.added} files)`);
    const enabled = docs.bots.filter((b) => b.config?.enabled !== false);
    const oneBot: number[] = [];
    for (let i = 0; i < reps; i++) {
      enabled[i].config.symbol = `BENCH-${i}`;
      const { ms, r } = await run('rt:1');
      if (r.diff.summary.changed !== 1) throw new Error(`one-bot publish changed ${r.diff.summary.changed} files`);
      oneBot.push(ms);
    }
    const base = median(oneBot);

    // One rollout (rt:1 → image) with or without staging: each wave's commit, and the bake poll before it.
    type Wave = { wave: number; bots: number; ms: number; pollMs: number; staged: number };
    const rollOut = async (image: string, staging: boolean): Promise<Wave[]> => {
      stage = staging;
      const waves: Wave[] = [];
      let step = await run(image); // the fleet-wide change: wave 1 (canary)
      waves.push({ wave: 1, bots: step.r.rollout!.waveIds.length, ms: step.ms, pollMs: 0, staged: 0 });
      for (let guard = 0; guard < 20 && step.r.rollout!.state.status === 'rolling'; guard++) {
        clock += 1000;
        const poll = await run(image);
        if (poll.r.rollout?.action?.type !== 'wait') throw new Error(`bake poll: ${JSON.stringify(poll.r.rollout?.action)}`);
        clock += bake * 1000;
        step = await run(image);
        if (step.r.rollout?.action?.type === 'commit-wave') {
          waves.push({ wave: step.r.rollout.state.current + 1, bots: step.r.rollout.waveIds.length, ms: step.ms, pollMs: poll.ms, staged: poll.r.staged ?? 0 });
        }
      }
      if (step.r.rollout!.state.status !== 'done') throw new Error(`rollout ended ${step.r.rollout!.state.status}`);
      return waves;
    };
    const unstaged = await rollOut('rt:2', false);
    const waves = await rollOut('rt:3', true);

    // A bad image: the canary's bots fail; the rollout halts before wave 2.
    verdict = 'bad';
    const bad = await run('rt:bad');
    const canary = bad.r.rollout!.waveIds.length;
    const halted = await run('rt:bad');
    const status = halted.r.rollout!.state.status;
    const after = await run('rt:bad'); // nothing more rolls out
    const reached = after.r.rollout!.state.current + 1;
    const bots = waves.reduce((t, w) => t + w.bots, 0); // every bot moved once in the healthy rollout

    console.log('');
    console.log('| publish | bots moved | ms | × one-bot publish | target | bake poll before it: ms (bots staged) | unstaged: ms (×) |');
    console.log('|---|--:|--:|--:|:--|--:|--:|');
    console.log(`| one bot's document changed (baseline, median of ${reps}) | 1 | ${Math.round(base)} | 1.00 | | | |`);
    let worst = 0;
    for (const [i, w] of waves.entries()) {
      const ratio = w.ms / base;
      worst = Math.max(worst, ratio);
      const u = unstaged[i];
      const poll = w.wave === 1 ? '— (the change itself)' : `${Math.round(w.pollMs)} (${w.staged})`;
      console.log(`| wave ${w.wave} commit | ${w.bots} | ${Math.round(w.ms)} | ${ratio.toFixed(2)} | ≤ ${TARGET_RATIO} ${ratio <= TARGET_RATIO ? 'PASS' : 'FAIL'} | ${poll} | ${u ? `${Math.round(u.ms)} (${(u.ms / base).toFixed(2)})` : '—'} |`);
    }
    const limit = Math.ceil(bots * 0.01) + 1;
    console.log('');
    console.log(`bad image: canary ${canary} of ${bots} bots (${((100 * canary) / bots).toFixed(2)} %), rollout ${status}, waves reached ${reached} — target ≤ 1 % plus rounding (${limit}): ${canary <= limit && status === 'halted' && reached === 1 ? 'PASS' : 'FAIL'}`);
    console.log(`worst wave commit ${worst.toFixed(2)}× a one-bot publish — target ≤ ${TARGET_RATIO}×: ${worst <= TARGET_RATIO ? 'PASS' : 'FAIL'}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
