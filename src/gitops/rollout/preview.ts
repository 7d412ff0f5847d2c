// What a reviewer sees of a rollout in `diff`, `publish --dry-run` and the pull-request comment:
// a fleet-wide change shown as its plan (which change, how many bots per wave, the first wave's
// bots), not as thousands of changed files.
import { waveOfBot } from './controller';
import { describeChange } from './generation';
import type { RolloutPlan } from './plan';
import type { RolloutState } from './state';

/** Bots of the committed wave listed by name in a report (the count is always exact). */
export const MAX_PREVIEW_BOTS = 20;

/** One wave of the plan. */
export interface PreviewWave {
  /** 1-based, as reports and `rollout status` number waves. */
  readonly wave: number;
  /** Cumulative share of the fleet in percent. */
  readonly share: number;
  /** Bots in this wave (not cumulative). */
  readonly bots: number;
  /** `done`: on the new generation before this render; `this commit`: this render moves it; `later`: still on the old generation. */
  readonly state: 'done' | 'this commit' | 'current' | 'later';
}

/** A rollout as a report shows it. */
export interface RolloutPreview {
  /** What this render does: starts a rollout, commits the next wave, holds, aborts, ends it. */
  readonly step: 'starts' | 'advances' | 'holds' | 'aborts' | 'ends';
  readonly status: RolloutState['status'];
  /** What changed, one `key a → b` line each. */
  readonly change: readonly string[];
  readonly from: string;
  readonly to: string;
  readonly waves: readonly PreviewWave[];
  /** Bots this render moves to the new generation (at most MAX_PREVIEW_BOTS, sorted). */
  readonly waveBots: readonly string[];
  /** How many bots this render moves. */
  readonly waveBotsTotal: number;
  readonly fleet: number;
  readonly bakeSeconds: number;
  /** Set when publish would refuse this change (a rollout is running): what it says; the plan shown is `--supersede`'s. */
  readonly blocked?: string;
  /** Why the rollout is halted (bots and pod reasons), when it is. */
  readonly failures?: RolloutState['failures'];
}

/**
 * The preview of a plan; undefined when no rollout is under way (every bot on one generation,
 * nothing started by this render).
 */
export function previewRollout(plan: RolloutPlan, ids: ReadonlySet<string>): RolloutPreview | undefined {
  const st = plan.state;
  const action = plan.action;
  const started = action?.type === 'commit-wave' && st.current === 0 && st.history.length === 1;
  const running = st.status === 'rolling' || st.status === 'paused' || st.status === 'halted';
  const abortedNow = st.status === 'aborted' && plan.command === 'abort';
  if (!running && !started && !abortedNow && action?.type !== 'done') return undefined;
  const counts = st.waves.map(() => 0);
  for (const id of ids) counts[waveOfBot(st, id)]++;
  const committing = action?.type === 'commit-wave';
  const waveState = (i: number): PreviewWave['state'] => {
    if (st.status === 'done' || i < st.current) return 'done';
    if (i > st.current) return 'later';
    if (committing) return 'this commit';
    return st.status === 'aborted' ? 'later' : 'current';
  };
  const waves: PreviewWave[] = st.waves.map((share, i) => ({ wave: i + 1, share, bots: counts[i], state: waveState(i) }));
  const step: RolloutPreview['step'] =
    st.status === 'aborted' ? 'aborts' : action?.type === 'done' || st.status === 'done' ? 'ends' : started ? 'starts' : committing ? 'advances' : 'holds';
  return {
    step,
    status: st.status,
    change: st.from.generation === st.to.generation ? [st.change] : describeChange(st.from.inputs, st.to.inputs),
    from: st.from.generation,
    to: st.to.generation,
    waves,
    waveBots: plan.waveIds.slice(0, MAX_PREVIEW_BOTS),
    waveBotsTotal: plan.waveIds.length,
    fleet: ids.size,
    bakeSeconds: st.bakeSeconds,
    ...(st.failures?.length ? { failures: st.failures } : {}),
  };
}

/** The rollout lines of the text report. */
export function rolloutPreviewLines(p: RolloutPreview): string[] {
  const lines = [
    ...(p.blocked ? [`rollout: publish refuses this without --supersede: ${p.blocked}; shown as --supersede would commit it`] : []),
    `rollout ${p.step} (${p.status}): ${p.change.join('; ') || 'fleetsynth version'} — generation ${p.from} → ${p.to}`,
  ];
  for (const w of p.waves) lines.push(`  wave ${w.wave} (${w.share} %): ${w.bots} bot(s), ${waveStateText(w, p)}`);
  if (p.waveBotsTotal > 0) {
    const more = p.waveBotsTotal > p.waveBots.length ? `, … and ${p.waveBotsTotal - p.waveBots.length} more` : '';
    lines.push(`  this commit moves ${p.waveBotsTotal} of ${p.fleet} bot(s) to the new generation: ${p.waveBots.join(', ')}${more}`);
  }
  for (const f of p.failures ?? []) lines.push(`  failing: ${f.id}: ${f.reason}`);
  return lines;
}

/** What the state of a wave means, in words. */
export function waveStateText(w: PreviewWave, p: Pick<RolloutPreview, 'bakeSeconds'>): string {
  if (w.state === 'done') return 'on the new generation';
  if (w.state === 'current') return 'on the new generation, being watched';
  if (w.state === 'this commit') return 'moves to the new generation in this commit';
  return `later, once the wave before it is healthy for ${p.bakeSeconds}s`;
}
