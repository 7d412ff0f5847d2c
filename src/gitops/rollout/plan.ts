// Before a publish renders: read the rollout state from the output root, decide whether this run
// starts, advances, holds or ends a rollout, and say which bots render with which generation.
// The phases are named as in a controller loop: readState, decide (start / carry on / supersede),
// checkHealth, assign. Writing the files and the state is publish's part.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ANNOTATIONS } from '../../model/labels';
import { Fleet, allBotIds } from '../../model/fleet';
import type { RenderSettings } from '../../settings';
import { FleetsynthError } from '../../errors';
import { RolloutAction, abortRollout, recordWaveCommit, generationFor, pauseRollout, resumeRollout, startRollout, stepRollout, waveOfBot } from './controller';
import { describeChange, generationOf, missingConfigHashKey, renderInputs, settingsFromInputs } from './generation';
import type { HealthReader, RolloutTarget } from './targets';
import { DEFAULT_ROLLOUT, ROLLOUT_FILE, RolloutSettings, RolloutState, parseRolloutState, serializeRolloutState } from './state';

/** How publish (or serve) takes part in rollouts. */
export interface RolloutOptions {
  /** `rollout:` of the platform config. @default DEFAULT_ROLLOUT */
  readonly settings?: RolloutSettings;
  /** fleetsynth's version: a new version is a fleet-wide change. */
  readonly version: string;
  /** Reads the current wave's health; null: no Kubernetes credentials (the rollout stays pending). */
  readonly health?: HealthReader | null;
  /** The clock. @default () => new Date() */
  readonly now?: () => Date;
  /** Start a new rollout even though one is running (abandons it). @default false */
  readonly supersede?: boolean;
  /** `rollout pause|resume|abort` instead of a plain step. @default none */
  readonly command?: 'pause' | 'resume' | 'abort';
  /**
   * While a wave bakes, render, store and compare the next one ahead of its turn (rollout/stage.ts),
   * so its commit is about as cheap as a one-bot publish. Needs health (a runner without
   * credentials never commits the next wave). Off when this or `settings.stage` is false. @default true
   */
  readonly stage?: boolean;
}

/** Bots rendered with one generation's settings. */
export interface RenderGroup {
  readonly settings: RenderSettings;
  readonly ids: ReadonlySet<string>;
}

/** What to render and what to tell the user. */
export interface RolloutPlan {
  /** The state to write into `rollout.json`. */
  readonly state: RolloutState;
  /** The bots on the new generation, then the bots on the old one (absent when every bot is on one). */
  readonly groups: readonly RenderGroup[];
  /** One line each for the CLI, the logs and the commit message. */
  readonly notes: readonly string[];
  /** What the step decided (absent when no rollout is running). */
  readonly action?: RolloutAction;
  /** The bots the current wave moved to the new generation (for the report). */
  readonly waveIds: readonly string[];
  /** The `rollout` command this run carried out, if any. */
  readonly command?: RolloutOptions['command'];
}

/** A fleet-wide change while a rollout runs, without `--supersede`. */
export class RolloutBusyError extends FleetsynthError {
  constructor(message: string) {
    super(message, { hint: 'let the rollout finish (`fleetsynth rollout status`), abort it (`fleetsynth rollout abort`), or publish with --supersede' });
  }
}

/** The annotation that marks the generation a bot's object was rendered with (metadata only: no restart). */
export const GENERATION_ANNOTATION = ANNOTATIONS.generation;

/** Reads `rollout.json` from an output root; undefined when there is none. */
export function readRolloutState(outDir: string): RolloutState | undefined {
  const file = path.join(outDir, ROLLOUT_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseRolloutState(text, ROLLOUT_FILE);
}

/**
 * Writes `rollout.json` when the rollout changed; returns whether it did. A step that only moves
 * `updatedAt` (a wave still waiting) writes nothing, so polling a rollout makes no commits.
 */
export function writeRolloutState(outDir: string, state: RolloutState): boolean {
  const file = path.join(outDir, ROLLOUT_FILE);
  const text = serializeRolloutState(state);
  let old: string | undefined;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch {
    // not there yet
  }
  if (old === text) return false;
  if (old !== undefined && sameRollout(old, state)) return false;
  fs.writeFileSync(file, text);
  return true;
}

/** True when the stored rollout equals `state` but for `updatedAt`. */
function sameRollout(stored: string, state: RolloutState): boolean {
  try {
    const prev = parseRolloutState(stored);
    return serializeRolloutState({ ...prev, updatedAt: state.updatedAt }) === serializeRolloutState(state);
  } catch {
    return false;
  }
}

/** Decides this run's part of the rollout, from the `rollout.json` of an output root. */
export function planRollout(outDir: string, fleet: Fleet, settings: RenderSettings, opts: RolloutOptions): Promise<RolloutPlan> {
  return planRolloutFrom(readRolloutState(outDir), fleet, settings, opts);
}

/** Decides this run's part of the rollout, from a recorded state (undefined: none yet). */
export async function planRolloutFrom(prior: RolloutState | undefined, fleet: Fleet, settings: RenderSettings, opts: RolloutOptions): Promise<RolloutPlan> {
  const rs = opts.settings ?? DEFAULT_ROLLOUT;
  const now = (opts.now ?? (() => new Date()))();
  const toInputs = renderInputs(settings);
  const to = { generation: generationOf(toInputs, opts.version), inputs: toInputs };
  const toSettings: RenderSettings = { ...settings, generation: to.generation };
  const ids = allBotIds(fleet);

  // No state yet, or rollouts off: every bot on the current generation, recorded as done.
  if (!prior || !rs.enabled) {
    const state: RolloutState =
      prior && prior.to.generation === to.generation && prior.status === 'done'
        ? prior
        : { ...startRollout({ change: 'every bot on this generation', from: to, to, changedIds: [], settings: rs, now }).state, status: 'done', current: rs.waves.length - 1 };
    const notes = !prior
      ? [`rollout: generation ${to.generation} recorded; later fleet-wide changes roll out in waves ${rs.waves.join('/')} %`]
      : !rs.enabled && prior.status !== 'done'
        ? [`rollout: rollouts are off (rollout.enabled: false): the ${prior.status} rollout ends, every bot on generation ${to.generation}`]
        : [];
    return { state, groups: [{ settings: toSettings, ids }], notes, waveIds: [] };
  }

  let state = prior;
  const notes: string[] = [];
  if (opts.command) state = applyCommand(state, opts.command, now, notes);
  const current = state.status === 'aborted' ? state.from : state.to;

  const running = state.status === 'rolling' || state.status === 'paused' || state.status === 'halted';
  let action: RolloutAction | undefined;
  let waveIds: string[] = [];
  if (!running) {
    const aborted = state.status === 'aborted';
    if (aborted && state.to.generation === to.generation) {
      // The aborted change is still what the settings say: it stays aborted (every bot on the old
      // generation) until the settings change, never restarts by itself.
      if (!opts.command) notes.push(`rollout aborted (${state.change}): every bot stays on generation ${state.from.generation}; change the settings to start a new rollout`);
    } else if (aborted && current.generation === to.generation) {
      // The settings went back to the old generation: nothing to roll out any more.
      state = { ...state, status: 'done', to: state.from, change: `reverted: ${state.change}`, updatedAt: now.toISOString() };
    } else if (current.generation !== to.generation) {
      // A fleet-wide change: start with the canary.
      const change = describeChange(current.inputs, to.inputs).join('; ') || `fleetsynth ${opts.version}`;
      const started = startRollout({ change, from: current, to, changedIds: ids, settings: rs, now });
      state = started.state;
      waveIds = [...started.plan[0].ids];
      action = { type: 'commit-wave', wave: 0 };
      notes.push(`rollout started: ${change}`, waveLine(state, waveIds.length, ids.size));
    }
  } else if (state.to.generation !== to.generation) {
    if (!opts.supersede) {
      throw new RolloutBusyError(
        `a rollout (${state.change}) is ${state.status} at wave ${state.current + 1} of ${state.waves.length}, and this publish changes the generation again ` +
          `(${describeChange(state.to.inputs, to.inputs).join('; ') || 'fleetsynth version'}); nothing was published`,
      );
    }
    const change = describeChange(state.from.inputs, to.inputs).join('; ') || `fleetsynth ${opts.version}`;
    const started = startRollout({ change, from: state.from, to, changedIds: ids, settings: rs, now });
    notes.push(`rollout superseded: the ${state.status} rollout (${state.change}) is abandoned; its bots outside the new canary return to the old generation`);
    state = started.state;
    waveIds = [...started.plan[0].ids];
    action = { type: 'commit-wave', wave: 0 };
    notes.push(`rollout started: ${change}`, waveLine(state, waveIds.length, ids.size));
  } else if (state.status === 'rolling') {
    const step = await advanceRollout(state, fleet, opts.health, now, ids);
    state = step.state;
    action = step.action;
    waveIds = step.waveIds;
    notes.push(...step.notes);
  } else {
    notes.push(`rollout ${state.status} at wave ${state.current + 1} of ${state.waves.length} (${state.change})`);
  }

  const old = state.status === 'done' ? undefined : state.from;
  if (old && old.generation !== to.generation && missingConfigHashKey(old.inputs, settings)) notes.push(missingKeyNote(old.generation));

  if (state.status === 'aborted' || state.status === 'done') {
    const gen = state.status === 'aborted' ? state.from : state.to;
    const s = gen.generation === to.generation ? toSettings : { ...settingsFromInputs(gen.inputs, settings), generation: gen.generation };
    return { state, groups: [{ settings: s, ids }], notes, action, waveIds, ...(opts.command ? { command: opts.command } : {}) };
  }
  return { state, groups: assign(state, ids, toSettings, settings), notes, action, waveIds, ...(opts.command ? { command: opts.command } : {}) };
}

/** The new generation's bots (with this run's own settings) and the old generation's, by the state's current wave. */
function assign(state: RolloutState, ids: ReadonlySet<string>, toSettings: RenderSettings, current: RenderSettings): RenderGroup[] {
  const [onNew, onOld] = groupsFromState(state, ids, current);
  return [{ settings: toSettings, ids: onNew.ids }, onOld];
}

/**
 * One step of a rolling rollout as recorded: reads the current wave's health and decides to wait,
 * commit the next wave (its bots are returned), halt or end. Publish and serve's reconcile both
 * take their steps here; neither starts a rollout in it.
 */
export async function advanceRollout(
  state: RolloutState,
  fleet: Fleet,
  health: HealthReader | null | undefined,
  now: Date,
  ids: ReadonlySet<string> = allBotIds(fleet),
): Promise<{ state: RolloutState; action: RolloutAction; notes: string[]; waveIds: string[] }> {
  const step = await checkHealth(state, fleet, health, now);
  if (step.action.type !== 'commit-wave') return { ...step, waveIds: [] };
  const next = step.state;
  const waveIds = [...ids].filter((id) => waveOfBot(next, id) === next.current).sort();
  const recorded = recordWaveCommit(next, waveIds.length);
  return { state: recorded, action: step.action, notes: [...step.notes, waveLine(recorded, waveIds.length, ids.size)], waveIds };
}

/** Reads the current wave's health and takes one step. */
async function checkHealth(
  state: RolloutState,
  fleet: Fleet,
  health: HealthReader | null | undefined,
  now: Date,
): Promise<{ state: RolloutState; action: RolloutAction; notes: string[] }> {
  const wave = state.current;
  // Bots the output cache vouched for (fleet.known) are in the wave as much as validated ones.
  const targets: RolloutTarget[] = [...fleet.specs, ...fleet.known]
    .filter((s) => waveOfBot(state, s.id) === wave)
    .map((s) => ({ id: s.id, kind: s.kind, name: s.objectName, markerKey: GENERATION_ANNOTATION, markerValue: state.to.generation }));
  if (!health) {
    return {
      state,
      action: { type: 'wait', why: 'no Kubernetes credentials' },
      notes: [
        `rollout pending: wave ${wave + 1} of ${state.waves.length} is committed; its health cannot be read without Kubernetes credentials ` +
          '(kubeconfig or in-cluster); `fleetsynth serve` in the cluster carries the rollout on',
      ],
    };
  }
  const since = new Date(state.history[state.history.length - 1].committedAt);
  const result = await health.check(targets, since);
  const step = stepRollout(state, result, now);
  const notes: string[] = [];
  if (step.action.type === 'halt') {
    notes.push(`rollout HALTED: ${step.action.why}`);
    for (const f of step.state.failures ?? []) notes.push(`  ${f.id}: ${f.reason}`);
  } else if (step.action.type === 'wait') notes.push(`rollout waiting: wave ${wave + 1} of ${state.waves.length}: ${step.action.why}`);
  else if (step.action.type === 'done') notes.push(`rollout done: every bot on generation ${state.to.generation} (${state.change})`);
  return { state: step.state, action: step.action, notes };
}

function applyCommand(state: RolloutState, command: NonNullable<RolloutOptions['command']>, now: Date, notes: string[]): RolloutState {
  try {
    if (command === 'pause') {
      notes.push(`rollout paused at wave ${state.current + 1} of ${state.waves.length}`);
      return pauseRollout(state, now);
    }
    if (command === 'resume') {
      notes.push(`rollout resumed at wave ${state.current + 1} of ${state.waves.length}`);
      return resumeRollout(state, now);
    }
    notes.push(`rollout aborted: every bot returns to generation ${state.from.generation} in this commit`);
    return abortRollout(state, now);
  } catch (e) {
    throw new FleetsynthError(`rollout ${command}: ${(e as Error).message}`, { hint: 'see `fleetsynth rollout status`' });
  }
}

function waveLine(state: RolloutState, bots: number, fleet: number): string {
  return `rollout: wave ${state.current + 1} of ${state.waves.length} (${state.waves[state.current]} %): ${bots} of ${fleet} bots on generation ${state.to.generation}`;
}

/**
 * The generation groups the recorded state assigns, without starting or advancing anything: what
 * a live resync renders with, so it never undoes or bypasses a rollout. Every bot follows the
 * generation `rollout.json` gives its wave (with that generation's stored inputs); a new
 * generation only ever comes from publish.
 */
export function groupsFromState(state: RolloutState, ids: Iterable<string>, current: RenderSettings): RenderGroup[] {
  const to: RenderSettings = { ...settingsFromInputs(state.to.inputs, current), generation: state.to.generation };
  const from: RenderSettings = { ...settingsFromInputs(state.from.inputs, current), generation: state.from.generation };
  const onNew = new Set<string>();
  const onOld = new Set<string>();
  for (const id of ids) (generationFor(state, id) === 'to' ? onNew : onOld).add(id);
  return [
    { settings: to, ids: onNew },
    { settings: from, ids: onOld },
  ];
}

/** The subject of a rollout's commit: which wave, or what the rollout did. */
export function rolloutCommitSubject(plan: Pick<RolloutPlan, 'state' | 'action' | 'waveIds'> | undefined): string | undefined {
  if (!plan?.action) return undefined;
  const st = plan.state;
  if (plan.action.type === 'commit-wave') return `fleetsynth rollout: wave ${st.current + 1} of ${st.waves.length} (${st.waves[st.current]} %): ${plan.waveIds.length} bots`;
  if (plan.action.type === 'halt') return `fleetsynth rollout: halted at wave ${st.current + 1} of ${st.waves.length}`;
  if (plan.action.type === 'done') return `fleetsynth rollout: done (${st.change})`;
  return `fleetsynth rollout: wave ${st.current + 1} of ${st.waves.length}: ${plan.action.why}`;
}

/** Why bots of the old generation restart although their wave has not come: their hash key is gone. */
export function missingKeyNote(generation: string): string {
  return (
    `rollout: WARNING: generation ${generation} was hashed with a config-hash key that is neither the current nor the previous key; ` +
    'its bots hash with the current key and restart when rendered. Set --previous-config-hash-key (PREVIOUS_CONFIG_HASH_KEY) to the old key while the rotation rolls out'
  );
}
