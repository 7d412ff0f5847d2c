import type pino from 'pino';
import { massDeleteLimit } from '../gitops/publish';
import { BotSpec, ModelOptions } from '../model/bot';
import { modelOptions } from '../config/model-options';
import type { FleetDocuments } from '../model/document';
import { Fleet, allBotIds, buildFleet, mayRemove } from '../model/fleet';
import type { RenderSettings } from '../settings';
import { BotRenderer } from '../synth/render';
import { botFilePath } from '../synth/shard';
import { SynthResult, changedPaths, synthesizeFleet } from '../synth/synth';
import { keyedGroups, synthesizeGroups } from '../synth/groups';
import { advanceRollout, groupsFromState, readRolloutState, rolloutCommitSubject, writeRolloutState } from '../gitops/rollout/plan';
import { RolloutAction, rolloutPollMs } from '../gitops/rollout/controller';
import type { RolloutState } from '../gitops/rollout/state';
import type { HealthReader } from '../gitops/rollout/targets';
import { listBotFiles } from '../synth/writer';
import { ROLLOUT_FILE } from '../gitops/rollout/state';
import { Installed, documentKeys, installStage, readStage, stageFits, withInstalled, withStagedFiles } from '../gitops/rollout/stage';
import type { FetchPolicy, RenderChanges } from '../gitops/workspace';
import type { BotStore } from './apply-event';
import type { ServeMetrics } from './metrics';
import type { SecretsSync } from './secrets-sync';

/** Default coalescing window: events within it become one render and one commit. */
export const DEFAULT_COALESCE_MS = 200;
/** Default period of the full reconcile (SPEC §5.4: heals anything missed). */
export const DEFAULT_RECONCILE_MS = 5 * 60 * 1000;

/**
 * Parses an interval: plain seconds (`300`) or a number with a unit (`300s`, `5m`, `1h`,
 * `1500ms`, `1m30s`). Returns milliseconds; throws on anything else or on zero.
 */
export function parseInterval(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return check(Number(t) * 1000, text);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * units[m[2]];
    end = re.lastIndex;
  }
  if (end !== t.length || end === 0) throw new Error(`invalid interval "${text}" (use e.g. 300, 300s, 5m)`);
  return check(total, text);
}

function check(ms: number, text: string): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`interval "${text}" must be positive`);
  return Math.round(ms);
}

/** The part of GitWorkspace the queue needs (tests and benchmarks may wrap it). */
export interface Publisher {
  /**
   * `changes` (GitWorkspace gives it) takes the paths the render wrote, so only those are staged;
   * `fetch: 'on-reject'` renders on the branch as last pushed and fetches only after a rejected push.
   * Publishers that take neither still work (they scan the output root and fetch every time).
   */
  publish(
    render: (outDir: string, changes?: RenderChanges) => Promise<string | null>,
    opts?: { retries?: number; fetch?: FetchPolicy },
  ): Promise<{ commit?: string; pushed: boolean; attempts: number }>;
  /** Packs the loose objects commits leave behind (GitWorkspace: `git gc --auto`); called after each full reconcile. */
  housekeep?(): Promise<void>;
  /**
   * Rollout staging (GitWorkspace, see gitops/rollout/stage.ts): where a staged wave waits, and
   * staging the next wave of a rolling rollout (or dropping the stage of one that is over).
   */
  readonly stageDir?: string;
  stage?(p: { docs: FleetDocuments; state: RolloutState; settings: RenderSettings }): Promise<number | undefined>;
}

/** Options of {@link ResyncQueue}. */
export interface ResyncOptions {
  /** Where documents are read from. */
  readonly store: BotStore;
  /** Where rendered files are committed and pushed. */
  readonly publisher: Publisher;
  /** Render settings. */
  readonly settings: RenderSettings;
  /** Logger (ids, paths, counts; never config values). */
  readonly logger: pino.Logger;
  /** Metrics. */
  readonly metrics?: ServeMetrics;
  /** Per-bot Secrets; null when there is no API server access. */
  readonly secrets?: SecretsSync | null;
  /** Coalescing window in ms (default 200): ids are taken once none arrived for this long. */
  readonly coalesceMs?: number;
  /** Longest an id waits for the window to close while more keep arriving (default max(2 s, 10 × coalesceMs)). */
  readonly coalesceMaxMs?: number;
  /** Full reconcile period in ms (default 5 min; 0 = never). */
  readonly reconcileMs?: number;
  /** First retry delay after a failed publish (default 1 s, doubling up to `retryMaxMs`). */
  readonly retryBaseMs?: number;
  /** Let a full reconcile remove more than max(10, 20 %) of the bot files (`--allow-mass-delete`). */
  readonly allowMassDelete?: boolean;
  /** Longest retry delay (default 60 s). */
  readonly retryMaxMs?: number;
  /**
   * Carrying on a rollout that publish started (recorded in `rollout.json`): the health of the
   * current wave, read every `checkMs` (default: a quarter of the bake time, 5 to 30 s) and at
   * every full reconcile; the next wave is committed once it is due. Without a health reader
   * (no credentials) the rollout is only followed, never advanced.
   */
  readonly rollout?: { readonly health: HealthReader | null; readonly checkMs?: number; readonly now?: () => Date };
}

/** What happened to an enqueued id. */
export interface ResyncOutcome {
  /** True when the change is in a pushed commit (or needed none). */
  readonly published: boolean;
  /** Set when the publish failed: the id stays pending and is retried with backoff. */
  readonly error?: string;
  /** Commit that carried it, if one was needed. */
  readonly commit?: string;
}

/** For /readyz and logs. */
export interface ResyncStatus {
  /** Undefined until the first publish attempt finished. */
  readonly lastPublishOk?: boolean;
  /** Last publish failure, one line. */
  readonly lastError?: string;
  /** When the last publish succeeded. */
  readonly lastPublishAt?: Date;
  /** Last commit pushed. */
  readonly lastCommit?: string;
  /** True once a full reconcile succeeded. */
  readonly reconciled: boolean;
  /** Ids waiting for render and publish. */
  readonly pending: number;
  /** Consecutive failed cycles. */
  readonly failures: number;
  /** Why the last full reconcile was refused (mass removal), until one succeeds. */
  readonly reconcileRefused?: string;
  /** The rollout recorded in Git, as of the last cycle (absent when there is none). */
  readonly rollout?: RolloutSummary;
}

/** A rollout as /readyz, metrics and logs report it. */
export interface RolloutSummary {
  readonly status: RolloutState['status'];
  readonly change: string;
  /** 1-based current wave, and how many there are. */
  readonly wave: number;
  readonly waves: number;
  readonly generation: string;
  /** Failing bots when halted (at most 50 listed, see MAX_LISTED_FAILURES). */
  readonly failures: NonNullable<RolloutState['failures']>;
  /** Why the last step waited or could not read health. */
  readonly note?: string;
}

/** An event being written to the source (see {@link ResyncQueue.arrive}). */
export interface Arrival {
  /** When it arrived (ms since epoch). */
  readonly at: number;
  /** The event needs no render (rejected or failed). */
  cancel(): void;
  /** Called by enqueue. */
  consume(): void;
}

interface Waiter {
  resolve(o: ResyncOutcome): void;
}

/** What one cycle took, rendered and spent (see ResyncQueue.cycle). */
interface CycleState {
  /** A full reconcile (else the pending ids only). */
  readonly full: boolean;
  /** Takes a step of a rolling rollout (reads every document; renders the pending ids and a wave that becomes due). */
  readonly step: boolean;
  /** The rollout step's lines for the commit message. */
  notes: string[];
  /** What the rollout step decided (subject of the commit). */
  rollout?: { state: RolloutState; action: RolloutAction; waveIds: string[] };
  readonly start: number;
  /** Coalescing window: quiet time wanted, earliest take, latest take. */
  readonly quiet: number;
  readonly takeAt: number;
  readonly cap: number;
  /** Pending ids (with arrival times) once taken. */
  taken?: Map<string, number>;
  ids: Set<string>;
  waiters: Waiter[];
  fullWaiters: Waiter[];
  /** Arrival of the oldest change taken. */
  since: number;
  result?: SynthResult;
  /** The render wrote `rollout.json`. */
  stateChanged?: boolean;
  /** Staged files this cycle's wave commit moved in (their blobs go to the index as they are). */
  installed?: Installed;
  /** The documents read (a rollout step stages the next wave from them after the cycle). */
  docs?: FleetDocuments;
  skippedEmpty: boolean;
  refused?: string;
  /** Where the cycle's time went (last attempt): window, git sync (overlapping it), read, render, commit + push. */
  readonly timing: { waitMs: number; syncMs: number; readMs: number; renderMs: number; gitMs: number };
  renderedAt: number;
}

/**
 * Turns bot ids into commits: ids queued within the coalescing window are rendered together
 * (`synthesizeFleet` with `onlyIds`, so one bot's change costs one bot's work) and published as
 * ONE commit. The window is trailing (it closes once no id arrived for `coalesceMs`, at most
 * `coalesceMaxMs` after the oldest), so a burst that trickles in while its events are written
 * to the source still becomes one or a few commits; a lone event waits `coalesceMs`. A failed cycle puts its ids back and retries with exponential backoff; pending ids
 * are never dropped. A periodic full reconcile re-renders everything.
 *
 * Waiters resolve once their ids are pushed, or once the first attempt failed: the change is then
 * durable in the source (MongoDB or the fleet file) and queued here, and a restart heals it with
 * the startup reconcile, so a NATS message may be acked.
 */
export class ResyncQueue {
  private readonly pending = new Map<string, number>();
  private waiters: Waiter[] = [];
  private fullWanted = false;
  private fullSince = 0;
  private fullWaiters: Waiter[] = [];
  /** A rollout step is due (see ResyncOptions.rollout). */
  private rolloutWanted = false;
  private rolloutTimer?: NodeJS.Timeout;
  private rollout?: RolloutSummary;
  private timer?: NodeJS.Timeout;
  private timerAt = 0;
  private running?: Promise<void>;
  private reconcileTimer?: NodeJS.Timeout;
  private failures = 0;
  private closed = false;
  /** Secret work, one sync after another. */
  private secretsChain: Promise<void> = Promise.resolve();
  /** close() is publishing what is pending. */
  private closing = false;
  private readonly renderer: BotRenderer;
  private readonly model: ModelOptions;
  private state: { lastPublishOk?: boolean; lastError?: string; lastPublishAt?: Date; lastCommit?: string; reconciled: boolean; reconcileRefused?: string } = { reconciled: false };

  constructor(private readonly opts: ResyncOptions) {
    this.renderer = new BotRenderer(opts.settings);
    this.model = modelOptions(opts.settings);
  }

  /** Starts the periodic full reconcile (the first one runs at once). */
  start(): void {
    void this.reconcile();
    const every = this.opts.reconcileMs ?? DEFAULT_RECONCILE_MS;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcile(), every);
      this.reconcileTimer.unref();
    }
  }

  /**
   * Announces an event that is being written to the source: the coalescing window counts from
   * its arrival, and stays open while announced events are still being written (a burst).
   * Pass the result to {@link enqueue}, or call `cancel()` when the event leads to no render.
   */
  arrive(): Arrival {
    const at = Date.now();
    this.lastArrivalAt = Math.max(this.lastArrivalAt, at);
    this.arriving++;
    let open = true;
    const close = () => {
      if (open) {
        open = false;
        this.arriving--;
      }
    };
    return { at, cancel: close, consume: close };
  }

  /** Queues bots for render + publish; resolves when published or durably queued for retry. */
  enqueue(ids: Iterable<string>, arrival?: Arrival): Promise<ResyncOutcome> {
    const now = Date.now();
    const at = arrival?.at ?? now;
    for (const id of ids) if (!this.pending.has(id) || this.pending.get(id)! > at) this.pending.set(id, at);
    if (!arrival) this.lastArrivalAt = Math.max(this.lastArrivalAt, now);
    arrival?.consume();
    this.opts.metrics?.pending.set(this.pending.size);
    if (this.closed && !this.closing) {
      // After shutdown: the change is in the source; the next start's full reconcile renders it.
      return Promise.resolve({ published: false, error: 'shut down before publish' });
    }
    const p = new Promise<ResyncOutcome>((resolve) => this.waiters.push({ resolve }));
    this.schedule();
    return p;
  }

  /** Queues a full reconcile (coalesced with anything pending). */
  reconcile(): Promise<ResyncOutcome> {
    if (!this.fullWanted) this.fullSince = Date.now();
    this.fullWanted = true;
    const p = new Promise<ResyncOutcome>((resolve) => this.fullWaiters.push({ resolve }));
    this.schedule();
    return p;
  }

  /** Current state for readiness. */
  status(): ResyncStatus {
    return { ...this.state, pending: this.pending.size, failures: this.failures, ...(this.rollout ? { rollout: this.rollout } : {}) };
  }

  /** Asks for a rollout step now (tests; the timer does it otherwise). */
  stepRollout(): void {
    this.rolloutWanted = true;
    this.schedule();
  }

  /**
   * Stops timers and publishes what is pending now (for shutdown): up to `attempts` cycles, no
   * coalescing delay. Ids still pending after that are left to the startup reconcile of the next run.
   */
  async close(attempts = 3): Promise<void> {
    this.closed = true;
    if (this.rolloutTimer) clearTimeout(this.rolloutTimer);
    this.wake?.();
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.clearTimer();
    // Events being written to the source right now are part of the last commit.
    for (const end = Date.now() + 5000; this.arriving > 0 && Date.now() < end; ) await sleep(10);
    this.closing = true;
    for (let i = 0; i < attempts; i++) {
      await this.running;
      if (this.pending.size === 0 && !this.fullWanted) break;
      this.running = this.cycle({ noWindow: true });
      await this.running;
      if (this.failures === 0) continue;
      if (i + 1 < attempts) await sleep(Math.min(1000 * 2 ** i, 4000));
    }
    await this.running;
    await this.secretsChain;
    this.closing = false;
    // Whatever is still waiting is durable in the source: release it.
    this.release(this.waiters.splice(0), { published: false, error: 'shut down before publish' });
    this.release(this.fullWaiters.splice(0), { published: false, error: 'shut down before publish' });
  }

  private wake?: () => void;

  /** Sleeps `ms`, or less when close() wakes it (shutdown does not wait for the window). */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Starts the next cycle: at once normally (its git sync overlaps the coalescing window), after
   * the backoff delay when the last cycle failed.
   */
  private schedule(): void {
    if (this.closed || this.running) return;
    if (this.pending.size === 0 && !this.fullWanted && !this.rolloutWanted) return;
    const now = Date.now();
    let at = now;
    if (this.failures > 0) {
      const base = this.opts.retryBaseMs ?? 1000;
      at = this.lastFailureAt + Math.min(base * 2 ** (this.failures - 1), this.opts.retryMaxMs ?? 60_000);
    }
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.cycle().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, Math.max(0, at - now));
  }

  private lastFailureAt = 0;
  /** Latest event arrival (or enqueue without an arrival). */
  private lastArrivalAt = 0;
  /** Events announced by arrive() and not yet enqueued or cancelled. */
  private arriving = 0;

  /**
   * One render + publish of everything pending (or the whole fleet), in named phases (Flux
   * kustomize-controller style), each readable alone:
   *
   * - {@link waitForWindow}: inside the publisher's callback, after its git sync, so the sync
   *   overlaps the coalescing window; then {@link take} the pending ids;
   * - {@link getSource}: read the documents (all, or the taken ids);
   * - {@link build}: validate them (and refuse an empty source or a mass removal);
   * - {@link apply}: render into the work tree and say what the commit is;
   * - then {@link onPublished}, {@link onRefused} or {@link onFailed}, and {@link queueSecrets}.
   *
   * A rejected push calls the callback again with the same ids (already taken).
   */
  private async cycle(opts: { noWindow?: boolean } = {}): Promise<void> {
    const c = this.newCycle(opts.noWindow ?? false);
    try {
      const outcome = await this.opts.publisher.publish(async (outDir, changes) => {
        if (!c.taken) {
          c.timing.syncMs = Date.now() - c.start;
          await this.waitForWindow(c);
          this.take(c);
          c.timing.waitMs = Date.now() - c.since;
        }
        const t0 = Date.now();
        const docs = await this.getSource(c);
        c.timing.readMs = Date.now() - t0;
        const fleet = this.build(c, docs, outDir);
        if (!fleet) {
          changes?.changed([]); // nothing was written
          return null;
        }
        c.docs = docs;
        const message = await this.apply(c, docs, fleet, outDir);
        // Only what the render wrote is staged (no scan of the whole tree).
        changes?.changed([...(c.result ? changedPaths(c.result) : []), ...(c.stateChanged ? [ROLLOUT_FILE] : [])], c.installed?.blobs);
        c.renderedAt = Date.now();
        c.timing.renderMs = c.renderedAt - t0 - c.timing.readMs;
        return message;
        // A full reconcile starts from the remote as it is; an event cycle fetches only when its push is rejected.
      }, { fetch: c.full ? 'always' : 'on-reject' });
      c.timing.gitMs = Date.now() - c.renderedAt;
      this.take(c);
      if (c.refused) this.onRefused(c, c.refused);
      else this.onPublished(c, outcome);
      if (c.full) await this.housekeep();
      await this.stageAfter(c);
    } catch (e) {
      this.take(c); // a failed sync never reached the render: what is pending now is what failed
      this.onFailed(c, (e as Error).message);
    }
    this.queueSecrets(c);
  }

  /** The state of one cycle: its window, what it took, what it rendered, where its time went. */
  private newCycle(noWindow: boolean): CycleState {
    const full = this.fullWanted;
    const step = full || this.rolloutWanted;
    const start = Date.now();
    const immediate = step || noWindow;
    const oldest = Math.min(...this.pending.values(), full ? this.fullSince : Infinity);
    const quiet = immediate ? 0 : this.opts.coalesceMs ?? DEFAULT_COALESCE_MS;
    return {
      full,
      step,
      notes: [],
      start,
      quiet,
      takeAt: immediate ? start : oldest + quiet,
      cap: immediate ? start : oldest + (this.opts.coalesceMaxMs ?? Math.max(2000, 10 * quiet)),
      ids: new Set(),
      waiters: [],
      fullWaiters: [],
      since: start,
      skippedEmpty: false,
      timing: { waitMs: 0, syncMs: 0, readMs: 0, renderMs: 0, gitMs: 0 },
      renderedAt: 0,
    };
  }

  /**
   * Trailing window: waits until no event arrived for `coalesceMs` and none is still being
   * written to the source (a burst), but never longer than `coalesceMaxMs`.
   */
  private async waitForWindow(c: CycleState): Promise<void> {
    for (;;) {
      const now = Date.now();
      let due = Math.min(Math.max(c.takeAt, this.lastArrivalAt + c.quiet), c.cap);
      if (this.arriving > 0 && c.quiet > 0) due = Math.min(Math.max(due, now + 5), c.cap);
      if (due <= now || this.closed) return;
      await this.nap(due - now);
    }
  }

  /** Takes the pending ids and their waiters into the cycle (once). */
  private take(c: CycleState): void {
    if (c.taken) return;
    c.taken = new Map(this.pending);
    c.ids = new Set(c.taken.keys());
    c.waiters = this.waiters.splice(0);
    // A rollout check takes no event and is no full reconcile: its cycle counts from its own start.
    const oldest = Math.min(...c.taken.values(), c.full ? this.fullSince : Infinity);
    c.since = Number.isFinite(oldest) ? oldest : c.start;
    this.pending.clear();
    if (c.step) this.rolloutWanted = false;
    if (c.full) {
      c.fullWaiters = this.fullWaiters.splice(0);
      this.fullWanted = false;
    }
    this.opts.metrics?.pending.set(0);
  }

  /** Reads the documents the cycle renders: the whole fleet, or the taken ids. */
  private getSource(c: CycleState): Promise<FleetDocuments> {
    return c.full || this.stepsRollout(c) ? this.opts.store.readAll() : this.opts.store.readIds(c.ids);
  }

  /**
   * Validates the documents; undefined when a full reconcile must not go on: an empty source
   * (never prune by accident) or a mass removal without `allowMassDelete` (a partial or wrong
   * source; same limit as publish). Documents of unknown owner make the render remove nothing.
   */
  private build(c: CycleState, docs: FleetDocuments, outDir: string): Fleet | undefined {
    if (c.full && docs.bots.length + docs.bot_schedules.length === 0) {
      c.skippedEmpty = true;
      return undefined;
    }
    const fleet = buildFleet(docs, this.model);
    if (c.full && !this.opts.allowMassDelete) {
      c.refused = massRemoval(fleet, outDir, this.opts.settings.shards);
      if (c.refused) return undefined;
    }
    return fleet;
  }

  /** Renders into the work tree; the commit message, or null when no file changed. */
  private async apply(c: CycleState, docs: FleetDocuments, fleet: Fleet, outDir: string): Promise<string | null> {
    // A rollout recorded in Git decides each bot's generation; serve never starts or undoes one,
    // but carries a rolling one on: a wave that is due is committed here.
    let rollout = readRolloutState(outDir);
    let wave: string[] = [];
    c.stateChanged = false;
    c.result = undefined;
    c.notes = [];
    c.rollout = undefined;
    if (rollout && this.stepsRollout(c, rollout)) {
      const step = await this.takeRolloutStep(rollout, fleet);
      if (step) {
        c.rollout = step;
        c.notes = step.notes;
        wave = step.waveIds;
        c.stateChanged = writeRolloutState(outDir, step.state);
        rollout = step.state;
      }
    }
    this.noteRollout(rollout, c.notes);
    const ids = c.full ? allBotIds(fleet) : new Set([...c.ids, ...wave]);
    c.installed = undefined;
    if (rollout) {
      const groups = keyedGroups(docs, this.opts.settings.configHashKey, groupsFromState(rollout, ids, this.opts.settings));
      // A wave staged during its bake: its files move in and are not rendered again.
      const installed = c.rollout?.action.type === 'commit-wave' ? this.installStaged(docs, fleet, rollout, groups[0].settings, outDir) : undefined;
      c.installed = installed;
      const rendered = installed ? withStagedFiles(fleet, installed) : fleet;
      const result = await synthesizeGroups(rendered, groups, { outDir, partial: !c.full, ...(c.full ? {} : { workers: 0 }) });
      c.result = installed ? withInstalled(result, installed) : result;
    } else {
      c.result = await synthesizeFleet(fleet, {
        outDir,
        settings: this.opts.settings,
        onlyIds: c.full ? undefined : c.ids,
        renderer: c.full ? undefined : this.renderer,
        workers: c.full ? undefined : 0,
      });
    }
    if (c.result.written.length + c.result.removed.length === 0 && !c.stateChanged) return null;
    const message = commitMessage(c.result, c.full, c.ids);
    const subject = c.rollout && rolloutCommitSubject(c.rollout);
    if (!subject) return message;
    return [subject, '', ...c.notes, '', message].join('\n');
  }

  /** Whether this cycle takes a rollout step: a full reconcile or a due check, a rolling rollout, health to read. */
  private stepsRollout(c: CycleState, state?: RolloutState): boolean {
    if (!c.step || !this.opts.rollout?.health) return false;
    return state ? state.status === 'rolling' : this.rollout?.status === 'rolling' || c.full;
  }

  /** Reads the current wave's health and steps; undefined when health could not be read (logged, retried at the next check). */
  private async takeRolloutStep(state: RolloutState, fleet: Fleet): Promise<{ state: RolloutState; action: RolloutAction; waveIds: string[]; notes: string[] } | undefined> {
    const now = (this.opts.rollout!.now ?? (() => new Date()))();
    const log = this.opts.logger;
    try {
      const step = await advanceRollout(state, fleet, this.opts.rollout!.health, now);
      const a = step.action;
      if (a.type === 'halt') {
        log.error({ rollout: state.change, wave: state.current + 1, failing: step.state.failures?.length ?? 0, failures: step.state.failures?.slice(0, 20) }, `rollout halted: ${a.why}`);
      } else if (a.type === 'commit-wave') {
        log.info({ rollout: state.change, wave: step.state.current + 1, bots: step.waveIds.length }, 'rollout: committing the next wave');
      } else if (a.type === 'done') {
        log.info({ rollout: state.change, generation: state.to.generation }, 'rollout done');
      }
      return step;
    } catch (e) {
      const err = (e as Error).message;
      log.warn({ rollout: state.change, err }, 'rollout: wave health could not be read; the rollout waits');
      this.rolloutNote = `health unreadable: ${err}`;
      return undefined;
    }
  }

  private rolloutNote?: string;

  /** Moves in the stage of the wave this cycle commits, when it is the one (undefined: none, or none of it fits). */
  private installStaged(docs: FleetDocuments, fleet: Fleet, state: RolloutState, settings: RenderSettings, outDir: string): Installed | undefined {
    const dir = this.opts.publisher.stageDir;
    if (!dir) return undefined;
    try {
      const stage = readStage(dir);
      if (!stage || !stageFits(stage, state, state.current, settings)) return undefined;
      const keys = documentKeys(docs);
      const installed = installStage(stage, dir, outDir, undefined, keys);
      if (installed.blobs.size === 0) return undefined;
      this.opts.logger.info({ rollout: state.change, wave: state.current + 1, staged: installed.blobs.size, bots: fleet.specs.length }, 'rollout: the wave\'s staged files moved in');
      return installed;
    } catch (e) {
      this.opts.logger.warn({ err: (e as Error).message }, 'rollout: the staged wave could not be used; it is rendered');
      return undefined;
    }
  }

  /** After a cycle whose rollout step waits: the next wave staged; after one that ended the rollout, the stage dropped. */
  private async stageAfter(c: CycleState): Promise<void> {
    const stage = this.opts.publisher.stage;
    if (!stage || !c.docs || !c.rollout || c.rollout.action.type === 'commit-wave') return;
    const st = c.rollout.state;
    try {
      const [toGroup] = groupsFromState(st, [], this.opts.settings);
      const n = await stage.call(this.opts.publisher, { docs: c.docs, state: st, settings: toGroup.settings });
      if (n) this.opts.logger.info({ rollout: st.change, wave: st.current + 2, bots: n }, 'rollout: next wave staged for its turn');
    } catch (e) {
      this.opts.logger.warn({ err: (e as Error).message }, 'rollout: staging the next wave failed; it is rendered at its turn');
    }
  }

  /** After a full reconcile: the working copy's loose objects packed when they pile up (a failure is only logged). */
  private async housekeep(): Promise<void> {
    try {
      await this.opts.publisher.housekeep?.();
    } catch (e) {
      this.opts.logger.warn({ err: (e as Error).message }, 'git housekeeping failed; commits go on');
    }
  }

  /** Keeps the rollout for status and metrics, and sets the next check while it is rolling. */
  private noteRollout(state: RolloutState | undefined, notes: readonly string[]): void {
    const m = this.opts.metrics;
    if (!state) {
      this.rollout = undefined;
      m?.setRollout(undefined);
      return;
    }
    const waiting = notes.find((n) => n.startsWith('rollout waiting') || n.startsWith('rollout pending'));
    const note = waiting ?? this.rolloutNote;
    this.rolloutNote = undefined;
    this.rollout = {
      status: state.status,
      change: state.change,
      wave: state.current + 1,
      waves: state.waves.length,
      generation: state.status === 'aborted' ? state.from.generation : state.to.generation,
      failures: state.failures ?? [],
      ...(note ? { note } : {}),
    };
    m?.setRollout(this.rollout);
    if (state.status === 'rolling' && this.opts.rollout?.health && !this.closed && !this.rolloutTimer) {
      this.rolloutTimer = setTimeout(() => {
        this.rolloutTimer = undefined;
        this.stepRollout();
      }, this.opts.rollout.checkMs ?? rolloutPollMs(state));
      this.rolloutTimer.unref();
    }
  }

  /** A full reconcile refused (mass removal): not retried in a loop; events go on meanwhile. */
  private onRefused(c: CycleState, refused: string): void {
    this.state = { ...this.state, reconcileRefused: refused };
    this.opts.logger.error({ mode: 'reconcile', err: refused }, 'full reconcile refused');
    this.putBack(c);
    this.release(c.fullWaiters, { published: false, error: refused });
    // Ids taken by this cycle are rendered by the next (partial) one; their waiters move along.
    this.waiters.unshift(...c.waiters);
  }

  /** The cycle's changes are pushed (or needed no commit): state, metrics, log, waiters. */
  private onPublished(c: CycleState, outcome: { commit?: string; pushed: boolean; attempts: number }): void {
    const log = this.opts.logger;
    this.failures = 0;
    this.state = {
      ...this.state,
      lastPublishOk: true,
      lastError: undefined,
      lastPublishAt: new Date(),
      reconciled: this.state.reconciled || (c.full && !c.skippedEmpty),
      reconcileRefused: c.full && !c.skippedEmpty ? undefined : this.state.reconcileRefused,
    };
    const mode = c.full ? 'reconcile' : 'events';
    if (outcome.pushed) {
      this.state.lastCommit = outcome.commit;
      this.opts.metrics?.commits.inc({ mode });
    }
    this.opts.metrics?.resyncSeconds.observe({ mode }, (Date.now() - c.since) / 1000);
    if (c.skippedEmpty) log.warn('full reconcile skipped: the source holds no bot and no schedule (nothing is removed)');
    const r = c.result;
    if (r) {
      for (const e of r.errors) log.warn({ problem: e }, 'bot not rendered; its previous manifest is kept');
      log.info(
        { mode, bots: c.full ? r.fleet.specs.length : c.ids.size, written: r.written.length, removed: r.removed.length, commit: outcome.commit, attempts: outcome.attempts, ms: Date.now() - c.since, ...c.timing, botIds: c.full ? undefined : [...c.ids].slice(0, 20) },
        outcome.pushed ? 'published' : 'nothing to publish',
      );
    }
    this.release(c.waiters, { published: true, commit: outcome.commit });
    this.release(c.fullWaiters, { published: true, commit: outcome.commit });
  }

  /** The publish failed: everything goes back to pending and is retried with backoff. */
  private onFailed(c: CycleState, message: string): void {
    this.failures++;
    this.lastFailureAt = Date.now();
    this.state = { ...this.state, lastPublishOk: false, lastError: message };
    this.opts.metrics?.pushFailures.inc();
    this.putBack(c);
    if (c.step && !c.full) this.rolloutWanted = true;
    if (c.full) {
      this.fullWanted = true;
      this.fullSince = Math.min(this.fullSince || c.since, c.since);
    }
    this.opts.logger.error({ mode: c.full ? 'reconcile' : 'events', pending: this.pending.size, failures: this.failures, err: message }, 'publish failed; will retry');
    this.release(c.waiters, { published: false, error: message });
    this.release(c.fullWaiters, { published: false, error: message });
  }

  /** Returns the cycle's ids to pending (keeping the earliest arrival of each). */
  private putBack(c: CycleState): void {
    for (const [id, t] of c.taken!) if (!this.pending.has(id) || this.pending.get(id)! > t) this.pending.set(id, t);
    this.opts.metrics?.pending.set(this.pending.size);
  }

  /**
   * Secrets of what was rendered, in order but off the render path: thousands of Secret writes
   * after a full reconcile must not hold back the next event's commit.
   */
  private queueSecrets(c: CycleState): void {
    const r = c.result;
    if (!r || !this.opts.secrets) return;
    const published = this.failures === 0;
    this.secretsChain = this.secretsChain.then(() => this.syncSecrets(r, c.full, c.ids, published));
  }

  private async syncSecrets(r: SynthResult, full: boolean, ids: ReadonlySet<string>, published: boolean): Promise<void> {
    const secrets = this.opts.secrets!;
    const specs: BotSpec[] = full ? r.fleet.specs : r.fleet.specs.filter((s) => ids.has(s.id));
    try {
      // Deleting the Secret of a gone bot waits until its manifest is gone from Git.
      if (full && published && mayRemove(r.fleet)) {
        await secrets.syncAll(specs, r.fleet.failedIds);
      } else if (full) {
        await secrets.syncSome(specs, []);
      } else {
        const present = new Set([...specs.map((s) => s.id), ...r.fleet.failedIds]);
        const gone = published ? [...ids].filter((id) => !present.has(id)) : [];
        await secrets.syncSome(specs, gone);
      }
    } catch (e) {
      // Listing failed (full sync): still apply what we have; deletions wait for the next reconcile.
      this.opts.logger.error({ err: (e as Error).message }, 'Secret listing failed; applying without deletions');
      await secrets.syncSome(specs, []).catch(() => undefined);
    }
    if (secrets.hasRetries() && !this.closed) {
      const t = setTimeout(() => this.secretRetry(), Math.min((this.opts.retryBaseMs ?? 1000) * 5, 30_000));
      t.unref();
    }
  }

  private secretRetry(): void {
    if (this.closed || !this.opts.secrets?.hasRetries()) return;
    this.secretsChain = this.secretsChain.then(() => this.opts.secrets!.syncSome([], []).then(() => undefined, () => undefined));
  }

  private release(waiters: Waiter[], o: ResyncOutcome): void {
    for (const w of waiters) w.resolve(o);
  }
}

/** Why a full render would remove too many bot files, or undefined when it is within the limit. */
export function massRemoval(fleet: Fleet, outDir: string, shards: number): string | undefined {
  if (!mayRemove(fleet)) return undefined; // the render removes nothing
  const existing = listBotFiles(outDir);
  const desired = new Set(fleet.specs.map((s) => botFilePath(s.id, s.fileName, shards)));
  const remove = existing.filter((f) => !desired.has(f.relPath) && !fleet.failedIds.has(f.id));
  const limit = massDeleteLimit(existing.length);
  if (remove.length <= limit) return undefined;
  return (
    `refusing to remove ${remove.length} of ${existing.length} bot files in one reconcile (limit max(10, 20 %) = ${limit}); ` +
    `is the source right? Start with --allow-mass-delete if it is. First ones: ${remove.slice(0, 5).map((f) => f.id).join(', ')}`
  );
}

/** One line that says what changed, then the paths (ids only: no config content). */
export function commitMessage(r: SynthResult, full: boolean, ids: ReadonlySet<string>): string {
  const n = r.written.length + r.removed.length;
  const idList = [...ids].sort();
  const head = full
    ? `fleetsynth: reconcile (${r.written.length} written, ${r.removed.length} removed)`
    : `fleetsynth: resync ${idList.length === 1 ? `bot ${idList[0]}` : `${idList.length} bots`} (${n} file${n === 1 ? '' : 's'})`;
  const lines = [head, ''];
  const list = (label: string, paths: string[]) => {
    for (const p of paths.slice(0, 50)) lines.push(`${label} ${p}`);
    if (paths.length > 50) lines.push(`${label} … ${paths.length - 50} more`);
  };
  list('written', r.written);
  list('removed', r.removed);
  if (r.errors.length > 0) lines.push('', `${r.errors.length} bot(s) not rendered (previous manifests kept); see the service log`);
  return lines.join('\n') + '\n';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
