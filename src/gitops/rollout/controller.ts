// The rollout's decisions, as pure functions of its state, the health of the current wave and the
// clock: what a runner (publish, publish --wait, serve's reconcile) does next. I/O is elsewhere.
import { DEFAULT_ROLLOUT, RolloutSettings, RolloutState } from './state';
import { WavePlan, planWaves, waveBounds, waveOf } from './waves';

/** What the health check says of one bot of the current wave. */
export interface BotHealth {
  readonly id: string;
  /** healthy: on the new generation and available; pending: not yet; unhealthy: failing. */
  readonly state: 'healthy' | 'pending' | 'unhealthy';
  /** Pod reason when unhealthy or pending (`ImagePullBackOff`, `CrashLoopBackOff`, `OOMKilled`, `restarted 3 times` …). */
  readonly reason?: string;
}

/** What the runner must do after a step. */
export type RolloutAction =
  | { readonly type: 'wait'; readonly why: string }
  | { readonly type: 'commit-wave'; readonly wave: number }
  | { readonly type: 'halt'; readonly why: string }
  | { readonly type: 'done' };

/** At most this many failing bots are kept in the state file (the count is always exact). */
export const MAX_LISTED_FAILURES = 50;

/** Starts a rollout: the canary wave is committed first. */
export function startRollout(opts: {
  readonly change: string;
  readonly from: RolloutState['from'];
  readonly to: RolloutState['to'];
  readonly changedIds: Iterable<string>;
  readonly settings?: RolloutSettings;
  readonly now: Date;
}): { state: RolloutState; plan: WavePlan[] } {
  const s = opts.settings ?? DEFAULT_ROLLOUT;
  const changed = [...opts.changedIds];
  const bounds = waveBounds(changed, s.waves);
  const plan = planWaves(changed, s.waves, bounds);
  const first = plan[0].ids;
  const canary = first.find((id) => waveOf(id, s.waves, bounds) !== 0);
  const at = opts.now.toISOString();
  const state: RolloutState = {
    apiVersion: 'fleetsynth.io/v1',
    kind: 'Rollout',
    status: 'rolling',
    change: opts.change,
    from: opts.from,
    to: opts.to,
    waves: [...s.waves],
    bakeSeconds: s.bakeSeconds,
    timeoutSeconds: s.timeoutSeconds,
    maxUnhealthy: s.maxUnhealthy,
    bounds,
    ...(canary ? { canary } : {}),
    current: 0,
    history: [{ wave: 0, bots: first.length, committedAt: at }],
    startedAt: at,
    updatedAt: at,
  };
  return { state, plan };
}

/** The wave a bot belongs to in this rollout. */
export function waveOfBot(state: RolloutState, id: string): number {
  return state.canary === id ? 0 : waveOf(id, state.waves, state.bounds);
}

/**
 * Which generation a bot renders with: the new one once its wave is committed, else the old one.
 * This holds for a bot's own change and for a bot added mid-rollout alike: neither waits, each
 * renders with the generation its wave is on. After an abort every bot is on the old generation;
 * after done, on the new.
 */
export function generationFor(state: RolloutState, id: string): 'from' | 'to' {
  if (state.status === 'aborted') return 'from';
  if (state.status === 'done') return 'to';
  return waveOfBot(state, id) <= state.current ? 'to' : 'from';
}

/**
 * One step of a rolling rollout, given the health of the bots of its current wave. Returns the
 * new state (never mutates) and what to do. A wave advances once every bot in it has been healthy
 * for bakeSeconds (at most maxUnhealthy may fail); more failures, or a wave not healthy within
 * timeoutSeconds, halt the rollout and name the bots.
 */
export function stepRollout(state: RolloutState, health: readonly BotHealth[], now: Date): { state: RolloutState; action: RolloutAction } {
  if (state.status !== 'rolling') return { state, action: state.status === 'done' ? { type: 'done' } : { type: 'wait', why: `rollout is ${state.status}` } };
  const at = now.toISOString();
  const rec = state.history[state.history.length - 1];
  const unhealthy = health.filter((h) => h.state === 'unhealthy');
  const pending = health.filter((h) => h.state === 'pending');
  const elapsed = (now.getTime() - Date.parse(rec.committedAt)) / 1000;

  const halt = (why: string, failing: readonly BotHealth[]) => {
    const failures = failing.slice(0, MAX_LISTED_FAILURES).map((h) => ({ id: h.id, reason: h.reason ?? 'unhealthy' }));
    const next: RolloutState = { ...state, status: 'halted', failures, updatedAt: at };
    return { state: next, action: { type: 'halt', why } as RolloutAction };
  };

  if (unhealthy.length > state.maxUnhealthy) {
    return halt(`wave ${state.current + 1} of ${state.waves.length}: ${unhealthy.length} bot(s) unhealthy (max ${state.maxUnhealthy})`, unhealthy);
  }
  if (pending.length > 0) {
    if (elapsed > state.timeoutSeconds) {
      return halt(`wave ${state.current + 1} of ${state.waves.length}: ${pending.length} bot(s) not healthy within ${state.timeoutSeconds}s`, [...unhealthy, ...pending]);
    }
    const history = replaceLast(state.history, withoutHealthy(rec));
    return { state: { ...state, history, updatedAt: at }, action: { type: 'wait', why: `${pending.length} of ${health.length} bot(s) not healthy yet` } };
  }
  const since = rec.healthySince ?? at;
  const baked = (now.getTime() - Date.parse(since)) / 1000;
  if (baked < state.bakeSeconds) {
    const history = replaceLast(state.history, { ...rec, healthySince: since });
    return {
      state: { ...state, history, updatedAt: at },
      action: { type: 'wait', why: `wave ${state.current + 1} healthy, baking ${Math.round(baked)}/${state.bakeSeconds}s` },
    };
  }
  const done = { ...rec, healthySince: since, doneAt: at };
  if (state.current === state.waves.length - 1) {
    return { state: { ...state, status: 'done', history: replaceLast(state.history, done), updatedAt: at }, action: { type: 'done' } };
  }
  return { state: advanceTo(state, state.current + 1, done, at), action: { type: 'commit-wave', wave: state.current + 1 } };
}

/** How often a runner looks at a rolling rollout: well inside the bake time, every 5 to 30 s. */
export function rolloutPollMs(state: Pick<RolloutState, 'bakeSeconds'>): number {
  return Math.min(30_000, Math.max(5_000, (state.bakeSeconds * 1000) / 4));
}

/** Records that the next wave is committed with `bots` bots (the runner counts them). */
export function recordWaveCommit(state: RolloutState, bots: number): RolloutState {
  const history = replaceLast(state.history, { ...state.history[state.history.length - 1], bots });
  return { ...state, history };
}

/** `rollout pause`: no wave is committed until resume. */
export function pauseRollout(state: RolloutState, now: Date): RolloutState {
  if (state.status !== 'rolling') throw new Error(`cannot pause a rollout that is ${state.status}`);
  return { ...state, status: 'paused', updatedAt: now.toISOString() };
}

/** `rollout resume`: a paused or halted rollout carries on; the current wave is watched again from now. */
export function resumeRollout(state: RolloutState, now: Date): RolloutState {
  if (state.status !== 'paused' && state.status !== 'halted') throw new Error(`cannot resume a rollout that is ${state.status}`);
  const at = now.toISOString();
  const rec = withoutHealthy(state.history[state.history.length - 1]);
  const { failures: _dropped, ...rest } = state;
  void _dropped;
  return { ...rest, status: 'rolling', history: replaceLast(state.history, { ...rec, committedAt: at }), updatedAt: at };
}

/** `rollout abort`: every rolled bot returns to the old generation (the runner commits that in one commit). */
export function abortRollout(state: RolloutState, now: Date): RolloutState {
  if (state.status === 'done' || state.status === 'aborted') throw new Error(`cannot abort a rollout that is ${state.status}`);
  return { ...state, status: 'aborted', updatedAt: now.toISOString() };
}

function advanceTo(state: RolloutState, wave: number, done: RolloutState['history'][number], at: string): RolloutState {
  return {
    ...state,
    current: wave,
    history: [...replaceLast(state.history, done), { wave, bots: 0, committedAt: at }],
    updatedAt: at,
  };
}

function withoutHealthy(rec: RolloutState['history'][number]): RolloutState['history'][number] {
  const { healthySince: _h, ...rest } = rec;
  void _h;
  return rest;
}

function replaceLast<T>(list: readonly T[], item: T): T[] {
  return [...list.slice(0, -1), item];
}
