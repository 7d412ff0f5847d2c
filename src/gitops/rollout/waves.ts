// Rollout waves: which bots a fleet-wide change reaches first. A bot's position is a pure function
// of its id (like its shard, but from an independent hash so a wave is spread over every shard).
// Its natural wave follows from the position alone; a rollout records bounds at its start that
// cap each wave at its share of the fleet (see waveBounds), and within the rollout a bot's wave
// is a pure function of its id and those bounds: adding bots never moves another bot.
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
  let b = buckets.get(id);
  if (b === undefined) {
    b = createHash('sha256').update('fleetsynth-rollout\0').update(id).digest().readUInt32BE(0) % BUCKETS;
    // A step asks for every bot's wave several times (plan, health targets, groups, preview): hash each id once.
    if (buckets.size >= MAX_MEMO) buckets.clear();
    buckets.set(id, b);
  }
  return b;
}

const MAX_MEMO = 200_000;
const buckets = new Map<string, number>();

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

/** The natural upper bound (exclusive) of each wave's positions: its share in 1/100 %. */
export function naturalBounds(waves: readonly number[]): number[] {
  return waves.map((w, i) => (i === waves.length - 1 ? BUCKETS : Math.round(w * 100)));
}

/**
 * Upper bounds (exclusive) of each wave's positions for one rollout, so that no wave reaches more
 * than its share of these bots, rounded up (a hash is only 1 % on average: 9,008 bots put 99 in
 * the natural 1 % canary). A bound is the natural one unless the bots crowd below it; then it is
 * lowered to the position of the first bot over the cap. A cap only ever moves a bot to a later
 * wave, never an earlier one. Recorded in `rollout.json` when the rollout starts, so bots added
 * later get their wave from the same bounds.
 */
export function waveBounds(ids: Iterable<string>, waves: readonly number[] = DEFAULT_WAVES): number[] {
  const buckets = [...ids].map(rolloutBucket).sort((a, b) => a - b);
  const n = buckets.length;
  return naturalBounds(waves).map((natural, i) => {
    if (i === waves.length - 1) return natural;
    const cap = Math.ceil((waves[i] / 100) * n);
    if (cap >= n || buckets[cap] >= natural) return natural; // at most `cap` bots below the natural bound
    return buckets[cap];
  });
}

/** The wave (index into `waves`) of a bot: its natural wave, or its wave under a rollout's recorded bounds. */
export function waveOf(id: string, waves: readonly number[] = DEFAULT_WAVES, bounds: readonly number[] = naturalBounds(waves)): number {
  const b = rolloutBucket(id);
  for (let i = 0; i < waves.length; i++) if (b < bounds[i]) return i;
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
export function planWaves(ids: Iterable<string>, waves: readonly number[] = DEFAULT_WAVES, bounds?: readonly number[]): WavePlan[] {
  const list = [...ids];
  const lim = bounds ?? waveBounds(list, waves);
  const byWave: string[][] = waves.map(() => []);
  let first: { id: string; bucket: number; wave: number } | undefined;
  for (const id of list) {
    const w = waveOf(id, waves, lim);
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
