// The rollout's state, kept as one small file in the output root (`rollout.json`) so that any
// runner (a CI publish, another CI job, serve in the cluster) resumes where another stopped, a
// crash mid-rollout loses nothing, and a reviewer sees the rollout in the pull request.
import { z } from 'zod';
import { sortKeys } from './generation';
import { DEFAULT_WAVES, checkWaves } from './waves';

/** File name of the rollout state under the output root (never applied: Argo CD reads bots/ and platform/). */
export const ROLLOUT_FILE = 'rollout.json';

/** Settings of rollouts (platform config `rollout:`). */
export interface RolloutSettings {
  /** Off: a fleet-wide change reaches every bot in one commit, as before. @default true */
  readonly enabled: boolean;
  /** Cumulative shares of the fleet in percent. @default [1, 10, 50, 100] */
  readonly waves: readonly number[];
  /** How long a wave must stay healthy before the next is committed. @default 300 */
  readonly bakeSeconds: number;
  /** How long a wave may take to become healthy before the rollout halts. @default 900 */
  readonly timeoutSeconds: number;
  /** Bots of a wave allowed to be unhealthy without halting. @default 0 */
  readonly maxUnhealthy: number;
  /** While a wave bakes, render, store and compare the next one ahead of its turn (rollout/stage.ts). @default true */
  readonly stage?: boolean;
}

/** Defaults of `rollout:`. */
export const DEFAULT_ROLLOUT: RolloutSettings = { enabled: true, waves: DEFAULT_WAVES, bakeSeconds: 300, timeoutSeconds: 900, maxUnhealthy: 0 };

const Generation = z
  .object({
    /** Hash of the render inputs that are not a bot's own document (settings, platform config, code). */
    generation: z.string().regex(/^[0-9a-f]{16}$/),
    /** Those inputs, without secret values, so old-generation bots render exactly as before. */
    inputs: z.record(z.unknown()),
  })
  .strict();

const WaveRecord = z
  .object({
    wave: z.number().int().nonnegative(),
    bots: z.number().int().nonnegative(),
    committedAt: z.string().datetime(),
    healthySince: z.string().datetime().optional(),
    doneAt: z.string().datetime().optional(),
  })
  .strict();

const Failure = z.object({ id: z.string(), reason: z.string() }).strict();

const RolloutStateSchema = z
  .object({
    apiVersion: z.literal('fleetsynth.io/v1'),
    kind: z.literal('Rollout'),
    status: z.enum(['rolling', 'paused', 'halted', 'done', 'aborted']),
    /** One line saying what changed, e.g. `runtime image a → b`. */
    change: z.string(),
    from: Generation,
    to: Generation,
    waves: z.array(z.number()).min(1),
    bakeSeconds: z.number().int().nonnegative(),
    timeoutSeconds: z.number().int().positive(),
    maxUnhealthy: z.number().int().nonnegative(),
    /** Position bounds of the waves, recorded at the start (see waveBounds); absent: the natural ones. */
    bounds: z.array(z.number().int().nonnegative()).optional(),
    /** A bot moved into an otherwise empty canary wave (see planWaves). */
    canary: z.string().optional(),
    /** Index of the last wave committed. */
    current: z.number().int().nonnegative(),
    history: z.array(WaveRecord),
    /** Why the rollout halted: the failing bots and their pod reasons (at most 50 listed). */
    failures: z.array(Failure).optional(),
    startedAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
  })
  .strict();

/** A rollout as stored in `rollout.json`. */
export type RolloutState = z.infer<typeof RolloutStateSchema>;

/** A rollout file that cannot be used, naming the file and the field. */
export class RolloutStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutStateError';
  }
}

/** Parses `rollout.json`; a damaged file is an error, never a silently restarted rollout. */
export function parseRolloutState(text: string, file = ROLLOUT_FILE): RolloutState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RolloutStateError(`${file}: not JSON (${(e as Error).message}); restore it from Git history or remove it to give up the rollout`);
  }
  const r = RolloutStateSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new RolloutStateError(`${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const problems = checkWaves(r.data.waves);
  if (problems.length > 0) throw new RolloutStateError(`${file}: waves: ${problems[0]}`);
  if (r.data.current >= r.data.waves.length) throw new RolloutStateError(`${file}: current: ${r.data.current} is past the last wave`);
  return r.data;
}

/** The file's bytes: keys in a fixed order, two-space indent, final newline (stable diffs in review). */
export function serializeRolloutState(state: RolloutState): string {
  return JSON.stringify(sortKeys(RolloutStateSchema.parse(state)), null, 2) + '\n';
}
