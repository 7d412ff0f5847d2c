// Rollout waves: which bots a fleet-wide change reaches first. A bot's wave is a pure function of
// its id (like its shard, but from an independent hash so a wave is spread over every shard), and
// does not depend on the fleet's size: adding bots never moves another bot to another wave.
import { createHash } from 'node:crypto';

/** Default waves, as cumulative shares of the fleet in percent: canary, then 10 %, 50 %, all. */
export const DEFAULT_WAVES: readonly number[] = [1, 10, 50, 100];

/** Resolution of a bot's position in the fleet: 1/100 of a percent. */
const BUCKETS = 10_000;

/**
 * The bot's position in [0, 10000): sha256 of a salted id, so the order is unrelated to the
 * shard (sha1 of the bare id) and to the id's spelling.
 */
export function rolloutBucket(id: string): number {
  return createHash('sha256').update('fleetsynth-rollout\0').update(id).digest().readUInt32BE(0) % BUCKETS;
}

/** Problems with a wave list (cumulative percentages, strictly increasing, ending at 100). */
export function checkWaves(waves: readonly number[]): string[] {
  const problems: string[] = [];
  if (waves.length === 0) problems.push('waves must list at least one share (e.g. [1, 10, 50, 100])');
  waves.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0 || w > 100) problems.push(`waves[${i}]: ${w} is not a share in (0, 100]`);
    else if (i > 0 && w <= waves[i - 1]) problems.push(`waves[${i}]: ${w} must be larger than waves[${i - 1}] (${waves[i - 1]}): shares are cumulative`);
    else if (Math.round(w * 100) !== w * 100) problems.push(`waves[${i}]: ${w} has more than two decimals`);
  });
  if (waves.length > 0 && waves[waves.length - 1] !== 100) problems.push(`the last wave must be 100 (every bot), got ${waves[waves.length - 1]}`);
  return problems;
}

/** The wave (index into `waves`) of a bot. */
export function waveOf(id: string, waves: readonly number[] = DEFAULT_WAVES): number {
  const b = rolloutBucket(id);
  for (let i = 0; i < waves.length; i++) if (b < Math.round(waves[i] * 100)) return i;
  return waves.length - 1;
}

/** The bots of one wave. */
export interface WavePlan {
  /** Index of the wave. */
  readonly wave: number;
  /** Cumulative share of the fleet this wave reaches, in percent. */
  readonly share: number;
  /** The bot ids in this wave, sorted. */
  readonly ids: readonly string[];
}

/**
 * Splits the bots a change touches into waves. A canary that would be empty (a small fleet, or a
 * change that touches few bots) takes the one bot with the lowest position: a rollout never
 * starts without a first bot to watch. That bot is a function of the changed set, so it is the
 * same in every run over the same set.
 */
export function planWaves(ids: Iterable<string>, waves: readonly number[] = DEFAULT_WAVES): WavePlan[] {
  const byWave: string[][] = waves.map(() => []);
  let first: { id: string; bucket: number; wave: number } | undefined;
  for (const id of ids) {
    const w = waveOf(id, waves);
    byWave[w].push(id);
    const bucket = rolloutBucket(id);
    if (!first || bucket < first.bucket || (bucket === first.bucket && id < first.id)) first = { id, bucket, wave: w };
  }
  if (first && byWave[0].length === 0) {
    byWave[first.wave] = byWave[first.wave].filter((id) => id !== first!.id);
    byWave[0].push(first.id);
  }
  return byWave.map((list, wave) => ({ wave, share: waves[wave], ids: list.sort() }));
}

/** The wave of each id under a plan (ids not in the plan are absent). */
export function waveIndex(plan: readonly WavePlan[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of plan) for (const id of p.ids) m.set(id, p.wave);
  return m;
}
