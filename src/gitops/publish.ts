import { createHash, createHmac } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { FleetsynthError, assertNoProblems } from '../errors';
import type { Collection, FleetDocuments } from '../model/document';
import { Fleet, FleetReuse, KnownBot, allBotIds, buildFleet, mayRemove } from '../model/fleet';
import { modelOptions } from '../config/model-options';
import { RenderSettings, checkSettings } from '../settings';
import type { Source } from '../source';
import { botFilePath } from '../synth/shard';
import { SynthResult, changedPaths, synthesizeFleet } from '../synth/synth';
import { DiffEntry, FleetDiff, diffTrees, readTreeFromDir } from './diff';
import { diffWritten } from './diff-written';
import { RolloutOptions, RolloutPlan, planRollout, planRolloutFrom, readRolloutState, rolloutCommitSubject, writeRolloutState } from './rollout/plan';
import { ROLLOUT_FILE } from './rollout/state';
import { CACHE_MIN_BATCH, CacheOptions, OutputCache, docPart, settingsId } from '../synth/cache';
import { ExistingBotFile, isManagedFile, listBotFiles } from '../synth/writer';
import { previewRollout } from './rollout/preview';
import { keyedGroups, synthesizeGroups } from '../synth/groups';
import { GitWorkspace, PublishOutcome, RenderChanges, redactUrl } from './workspace';
import { Installed, installStage, readStage, stageFits, stageOrClear, stagedEntries, withInstalled } from './rollout/stage';

/** How to publish a fleet to the Git repository Argo CD watches. */
export interface PublishOptions {
  /** Where the bot documents come from. */
  readonly source: Source;
  /** Render settings. */
  readonly settings: RenderSettings;
  /** Repository URL or local path. */
  readonly repo: string;
  /** Branch; default `main`. */
  readonly branch?: string;
  /** Output root inside the repository; default `dist`. */
  readonly path?: string;
  /** Subject line of the commit; default `fleetsynth: +A ~C -R bots`. */
  readonly message?: string;
  /** Render and report against the remote branch; commit and push nothing. */
  readonly dryRun?: boolean;
  /** Allow removing more than max(10, 20 %) of the bot files in one publish. */
  readonly allowMassDelete?: boolean;
  /** Accept a source with no documents (then every bot file is removed; needs allowMassDelete too past the limit). */
  readonly allowEmpty?: boolean;
  /** Argo CD webhook URL (`https://argocd.example.com/api/webhook`) told about each push. */
  readonly argocdWebhook?: string;
  /** Shared secret of the Argo CD GitHub webhook (`X-Hub-Signature-256`), if configured. */
  readonly argocdWebhookSecret?: string;
  /** Local working copy; default a cache directory per repository and branch under the temp dir. */
  readonly workDir?: string;
  /** Commit author; default `fleetsynth <fleetsynth@localhost>`. */
  readonly author?: { readonly name: string; readonly email: string };
  /** Only these bot ids are rendered and pruned (a live resync of a few bots). */
  readonly onlyIds?: ReadonlySet<string>;
  /** Re-render attempts after rejected pushes; default 5. */
  readonly retries?: number;
  /** Render threads. */
  readonly workers?: number;
  /** Webhook timeout; default 5 s. */
  readonly webhookTimeoutMs?: number;
  /**
   * Take part in rollouts (`rollout.json` in the output root): a fleet-wide change is committed one
   * wave at a time, each after the previous one was healthy. @default none (every change at once)
   */
  readonly rollout?: RolloutOptions;
  /** The output cache of the working copy (`{ off: true }`: every bot is validated and rendered). @default see CacheOptions */
  readonly cache?: CacheOptions;
  /**
   * Added and removed files described with their key facts in `diff` (past it they are listed
   * without; changed files are always compared). @default every one
   */
  readonly details?: number;
  /** Told what the publish is doing (for progress output). */
  readonly onProgress?: (p: PublishProgress) => void;
}

/** A step of a publish: sync, prepare (validate the documents the cache does not vouch for, plan the rollout), render (of `bots`), compare (of `files` written), commit, push. */
export type PublishProgress =
  | { readonly phase: 'sync' | 'prepare' | 'commit' | 'push' }
  | { readonly phase: 'render'; readonly bots: number; readonly done?: number }
  | { readonly phase: 'compare'; readonly files: number };

/** Outcome of a webhook call; a failure is a warning. */
export interface WebhookResult {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
}

/** What a publish did (or, on a dry run, would do). */
export interface PublishResult {
  readonly dryRun: boolean;
  /** Git outcome; absent on a dry run. */
  readonly outcome?: PublishOutcome;
  /** Render of the last attempt compared with the remote branch it was made on. */
  readonly diff: FleetDiff;
  /** Commit message made (or that would be made); null when nothing changed. */
  readonly message: string | null;
  /** Document and render problems (those bots kept their files). */
  readonly errors: string[];
  readonly warnings: string[];
  /** Webhook call, when configured and a commit was pushed. */
  readonly webhook?: WebhookResult;
  /** On a dry run: why a real publish would be refused. */
  readonly refusal?: PublishRefusedError;
  /** 0 when everything rendered and was published; 1 when some document failed or (dry run) it would be refused. */
  readonly exitCode: number;
  /** The rollout's part in this publish, when rollouts are on. */
  readonly rollout?: RolloutPlan;
  /** Bots of the next wave this run staged (rendered, stored, compared) during the bake. */
  readonly staged?: number;
  /** Files of this run's wave taken from its stage (moved in, not rendered). */
  readonly fromStage?: number;
}

/** Why a publish was refused: the remote is untouched and the working copy reset. */
export type RefusalReason = 'source-failed' | 'empty-source' | 'mass-delete';

/** A publish that was refused before anything reached the remote. */
export class PublishRefusedError extends FleetsynthError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** Files (under the output root) that would have been removed. */
    readonly wouldRemove: readonly string[] = [],
  ) {
    super(message, { hint: REFUSAL_HINT[reason] });
  }
}

const REFUSAL_HINT: Record<RefusalReason, string> = {
  'source-failed': 'fix the source and publish again; the remote is unchanged',
  'empty-source': 'check the source; use --allow-empty if the fleet really is empty',
  'mass-delete': 'check the source; use --allow-mass-delete if these bots really are gone',
};

const MAX_LISTED_REMOVALS = 50;
const MAX_LISTED_IDS = 100;

/** The most bot files one publish may remove without `allowMassDelete`. */
export function massDeleteLimit(existing: number): number {
  return Math.max(10, Math.floor(existing * 0.2));
}

/** Default working copy: one per repository and branch, reused between runs. */
export function defaultWorkDir(repo: string, branch: string): string {
  const key = createHash('sha256').update(`${repo}\0${branch}`).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), 'fleetsynth-gitops', key);
}

/**
 * Renders the fleet into the repository Argo CD watches and pushes it, guarded: an unreadable or
 * empty source and a mass removal are refused before anything is committed; bad documents keep
 * their previous files while the good ones are published.
 */
export async function publish(opts: PublishOptions): Promise<PublishResult> {
  const problems = checkSettings(opts.settings);
  assertNoProblems(problems);
  const branch = opts.branch ?? 'main';
  const repoPath = opts.path ?? 'dist';
  let docs: FleetDocuments;
  try {
    // A writing run may leave documents undecoded: the output cache knows most by their bytes.
    docs = !opts.dryRun && opts.source.readLazy ? await opts.source.readLazy() : await opts.source.read();
  } catch (e) {
    throw new PublishRefusedError('source-failed', `cannot read the source ${opts.source.describe()}: ${(e as Error).message}; nothing was published`);
  }
  if (docs.bots.length + docs.bot_schedules.length === 0 && !opts.allowEmpty) {
    throw new PublishRefusedError(
      'empty-source',
      `the source ${opts.source.describe()} holds no bot and no schedule; refusing to remove every manifest (use --allow-empty if the fleet really is empty); nothing was published`,
    );
  }
  const ws = new GitWorkspace({ repo: opts.repo, branch, workDir: opts.workDir ?? defaultWorkDir(opts.repo, branch), path: repoPath, author: opts.author });
  const label = `${redactUrl(opts.repo)}@${branch}:${repoPath}`;
  // Validated once for a dry run; a writing run validates on each attempt, skipping documents
  // whose files the output cache vouches for (their files are on disk as the render would write them).
  const plainFleet = opts.dryRun ? buildFleet(docs, modelOptions(opts.settings)) : undefined;

  let last: { diff: FleetDiff; synth: SynthResult; message: string | null; fromStage: number } | undefined;
  let lastPlan: RolloutPlan | undefined;
  const render = async (outDir: string, write: boolean, changes?: RenderChanges) => {
    opts.onProgress?.({ phase: 'prepare' });
    const prepared: Prepared = write ? await prepareRender(docs, outDir, opts, ws.stageDir) : { fleet: plainFleet!, plan: opts.rollout && !opts.onlyIds ? await planRollout(outDir, plainFleet!, opts.settings, opts.rollout) : undefined };
    const { fleet, plan, cache, reuse, installed } = prepared;
    const bots = allBotIds(fleet).size;
    opts.onProgress?.({ phase: 'render', bots });
    // Rendered n of N (a group of a rollout counts its own bots).
    const onProgress = opts.onProgress && ((done: number, total: number) => opts.onProgress!({ phase: 'render', bots: total, done }));
    const listing = listBotFiles(outDir);
    const wouldRemove = plannedRemovals(fleet, listing, outDir, opts);
    const existing = listing.length;
    const refusal = wouldRemove.length > massDeleteLimit(existing) && !opts.allowMassDelete ? massDeleteError(wouldRemove, existing) : undefined;
    if (refusal && write) throw refusal;
    // A rollout splits the render by generation; a partial render (live resync of a few bots)
    // gets its bots' generations from the caller's settings.
    const base = write ? undefined : readTreeFromDir(outDir);
    let synth: SynthResult;
    try {
      synth = plan
        ? await synthesizeGroups(fleet, keyedGroups(docs, opts.settings.configHashKey, plan.groups, reuse), { outDir, write, collect: !write, workers: opts.workers, outputCache: cache, onProgress })
        : await synthesizeFleet(fleet, { outDir, settings: opts.settings, write, collect: !write, workers: opts.workers, onlyIds: opts.onlyIds, outputCache: cache, onProgress });
    } finally {
      cache?.save();
    }
    if (installed) synth = withInstalled(synth, installed);
    const stateWritten = plan && write ? writeRolloutState(outDir, plan.state) : false;
    lastPlan = plan;
    const diffOpts = { base: label, failedIds: synth.keptIds ?? fleet.failedIds, onlyIds: opts.onlyIds, keepAll: !mayRemove(fleet) };
    let compared: FleetDiff;
    if (write) {
      // Only what the render wrote or removed is staged and compared: old texts from the index
      // (the commit rendered on), new ones from disk, a batch at a time.
      changes?.changed([...changedPaths(synth), ...(stateWritten ? [ROLLOUT_FILE] : [])], installed?.blobs);
      opts.onProgress?.({ phase: 'compare', files: synth.written.length + synth.removed.length });
      const precomputed = installed && stagedEntries(installed, await ws.indexBlobs([...installed.blobs.keys()]));
      compared = await diffWritten(synth, outDir, (paths) => ws.readBase(paths), { ...diffOpts, platform: !opts.onlyIds, describe: opts.details, precomputed });
    } else {
      // Full renders include the live service's platform/ manifests: they are compared too.
      compared = diffTrees(base!, synth.files ?? new Map(), diffOpts);
    }
    const preview = plan && previewRollout(plan, allBotIds(fleet));
    const diff: FleetDiff = preview ? { ...compared, rollout: preview } : compared;
    // When writing, the index decides whether there is a commit (shard markers count too).
    const message = write || diff.entries.length > 0 || plan?.action ? commitMessage(diff, opts.message ?? rolloutCommitSubject(plan), plan?.notes) : null;
    last = { diff, synth, message, fromStage: installed?.blobs.size ?? 0 };
    return { message, refusal };
  };

  if (opts.dryRun) {
    await ws.sync();
    ws.assertPlainOutputRoot();
    const { refusal } = await render(ws.outDir, false);
    const r = last!;
    return {
      dryRun: true,
      diff: r.diff,
      message: r.message,
      errors: r.synth.errors,
      warnings: r.synth.warnings,
      refusal,
      exitCode: refusal || r.synth.errors.length > 0 ? 1 : 0,
      ...(lastPlan ? { rollout: lastPlan } : {}),
    };
  }

  const outcome = await ws.publish(async (outDir, changes) => (await render(outDir, true, changes)).message, {
    retries: opts.retries,
    onPhase: (phase) => (phase === 'commit' || phase === 'push' || phase === 'sync' ? opts.onProgress?.({ phase }) : undefined),
  });
  const r = last!;
  let webhook: WebhookResult | undefined;
  const warnings = [...r.synth.warnings];
  const staging = await stageWhileBaking(ws, docs, lastPlan, opts, label);
  if (staging.warning) warnings.push(staging.warning);
  if (outcome.pushed && outcome.commit && opts.argocdWebhook) {
    webhook = await notifyArgoCd(opts.argocdWebhook, pushEvent({ repo: opts.repo, branch, repoPath, commit: outcome.commit, message: outcome.message ?? '', diff: r.diff }), {
      timeoutMs: opts.webhookTimeoutMs,
      secret: opts.argocdWebhookSecret,
    });
    if (!webhook.ok) warnings.push(`Argo CD webhook ${safeUrl(opts.argocdWebhook)} failed: ${webhook.error ?? `HTTP ${webhook.status}`} (Argo CD will still see the commit when it next polls)`);
  }
  return {
    dryRun: false,
    outcome,
    diff: r.diff,
    message: outcome.commit ? (outcome.message ?? null) : null,
    errors: r.synth.errors,
    warnings,
    webhook,
    // A halted rollout fails the run, so the CI job that carries it shows red.
    exitCode: r.synth.errors.length > 0 || lastPlan?.state.status === 'halted' ? 1 : 0,
    ...(lastPlan ? { rollout: lastPlan } : {}),
    ...(staging.staged !== undefined ? { staged: staging.staged } : {}),
    ...(r.fromStage ? { fromStage: r.fromStage } : {}),
  };
}

/**
 * A run that finds the current wave waiting (healthy and baking, or not healthy yet) stages the
 * next wave (rollout/stage.ts), so the run that commits it has little left to do; a rollout that
 * is over drops its stage. Staging is an optimisation: when it fails, the wave renders in full
 * when its turn comes (the warning says why).
 */
async function stageWhileBaking(ws: GitWorkspace, docs: FleetDocuments, plan: RolloutPlan | undefined, opts: PublishOptions, label: string): Promise<{ staged?: number; warning?: string }> {
  if (!plan || !opts.rollout || opts.onlyIds || !stagingOn(opts.rollout)) return {};
  const state = plan.state;
  if (state.status === 'rolling' && (plan.action?.type !== 'wait' || !opts.rollout.health)) return {};
  try {
    const staged = await stageOrClear({ ws, docs, state, settings: plan.groups[0].settings, cache: opts.cache, workers: opts.workers, base: label });
    return staged ? { staged } : {};
  } catch (e) {
    return { warning: `rollout: staging wave ${plan.state.current + 2} failed (${redactUrl((e as Error).message)}); it renders in full when its turn comes` };
  }
}

/** Staging is on unless the platform config (`rollout.stage`) or the caller turns it off. */
function stagingOn(ro: RolloutOptions): boolean {
  return ro.stage !== false && ro.settings?.stage !== false;
}

/**
 * Managed bot files the render would remove: in the output root, not rendered, not of a failed
 * document (only these candidates are read, to check they carry fleetsynth's label).
 */
function plannedRemovals(fleet: Fleet, listing: readonly ExistingBotFile[], outDir: string, opts: PublishOptions): string[] {
  if (!mayRemove(fleet)) return [];
  const only = opts.onlyIds;
  const desired = new Set(fleet.specs.filter((s) => !only || only.has(s.id)).map((s) => botFilePath(s.id, s.fileName, opts.settings.shards)));
  for (const k of fleet.known) if (!only || only.has(k.id)) desired.add(k.relPath);
  const out: string[] = [];
  for (const f of listing) {
    if (desired.has(f.relPath) || fleet.failedIds.has(f.id) || (only && !only.has(f.id))) continue;
    if (isManagedFile(path.join(outDir, f.relPath))) out.push(f.relPath);
  }
  return out.sort();
}

/** What a render starts from: the fleet, the rollout plan, the output cache and what it vouches for per settings. */
interface Prepared {
  readonly fleet: Fleet;
  readonly plan?: RolloutPlan;
  readonly cache?: OutputCache;
  readonly reuse?: (settings: RenderSettings) => FleetReuse;
  /** A staged wave moved into the output root for this wave commit. */
  readonly installed?: Installed;
}

/**
 * The fleet and the rollout plan of a writing render. Documents the output cache vouches for skip
 * validation and rendering: a bot's file must have been written from the same document with the
 * settings of the generation this run renders it with (a rollout renders two). Without a cache
 * (off, a customization hook, a partial render, a small fleet) every document is validated.
 */
async function prepareRender(docs: FleetDocuments, outDir: string, opts: PublishOptions, stageDir: string): Promise<Prepared> {
  const wantPlan = opts.rollout && !opts.onlyIds;
  const total = docs.bots.length + docs.bot_schedules.length;
  const cache = opts.onlyIds || opts.settings.customize || total < CACHE_MIN_BATCH ? undefined : OutputCache.open(outDir, opts.cache);
  if (!cache) {
    const fleet = buildFleet(docs, modelOptions(opts.settings));
    return { fleet, plan: wantPlan ? await planRollout(outDir, fleet, opts.settings, opts.rollout!) : undefined };
  }
  // Which generation renders a bot is known only once every document is read: first take every
  // file the cache vouches for under any settings, plan, then keep those rendered with the
  // settings of their bot's group (a second pass validates the others; hashes are remembered).
  const keys = new WeakMap<object, string>();
  const runKeys = new Set<string>();
  const docKey = (raw: unknown, collection: Collection) => {
    if (typeof raw !== 'object' || raw === null) return cache.docKey(raw, collection);
    let k = keys.get(raw);
    if (k === undefined) keys.set(raw, (k = cache.docKey(raw, collection)));
    runKeys.add(k);
    return k;
  };
  const seen = new Map<string, KnownBot | undefined>();
  const anyKnown = (key: string) => {
    if (!seen.has(key)) seen.set(key, cache.known(outDir, key, 'any'));
    return seen.get(key);
  };
  const model = modelOptions(opts.settings);
  const first = buildFleet(docs, { ...model, reuse: { key: docKey, known: anyKnown } });
  const plan = wantPlan ? await planRolloutFrom(readRolloutState(outDir), first, opts.settings, opts.rollout!) : undefined;
  // The wave this run commits, staged during the bake: its files move in as rendered with its settings.
  let installed: Installed | undefined;
  const stage = plan?.action?.type === 'commit-wave' && opts.rollout && stagingOn(opts.rollout) ? readStage(stageDir) : undefined;
  if (plan && stageFits(stage, plan.state, plan.state.current, plan.groups[0].settings)) {
    installed = installStage(stage!, stageDir, outDir, cache, runKeys);
    for (const b of stage!.bots) if (installed.blobs.has(b.relPath)) seen.delete(docPart(b.key));
    if (installed.blobs.size === 0) installed = undefined;
  }
  const groups = plan?.groups ?? [{ settings: opts.settings, ids: allBotIds(first) }];
  const groupOf = new Map<string, string>();
  for (const g of groups) for (const id of g.ids) groupOf.set(id, settingsId(g.settings));
  const fits = (k: KnownBot) => k.renderedWith !== undefined && k.renderedWith === groupOf.get(k.id);
  // A group validated under another config-hash key (keyedGroups) takes the files written with its settings.
  const reuse = (settings: RenderSettings): FleetReuse => ({ key: docKey, known: (key) => { const k = anyKnown(key); return k && k.renderedWith === settingsId(settings) ? k : undefined; } });
  // The moved-in files are known as the cache now records them: no second pass for them.
  const moved = installed?.known;
  const firstFleet: Fleet = moved ? { ...first, known: first.known.map((k) => { const m = moved.get(k.id); return m && m.relPath === k.relPath ? { ...k, ...m } : k; }) } : first;
  if (firstFleet.known.every(fits)) return { fleet: firstFleet, plan, cache, reuse, installed };
  const fleet = buildFleet(docs, { ...model, reuse: { key: docKey, known: (key) => { const k = anyKnown(key); return k && fits(k) ? k : undefined; } } });
  return { fleet, plan, cache, reuse, installed };
}

function massDeleteError(wouldRemove: readonly string[], existing: number): PublishRefusedError {
  const listed = wouldRemove.slice(0, MAX_LISTED_REMOVALS).map((p) => `  ${p}`);
  if (wouldRemove.length > MAX_LISTED_REMOVALS) listed.push(`  … and ${wouldRemove.length - MAX_LISTED_REMOVALS} more`);
  return new PublishRefusedError(
    'mass-delete',
    `refusing to remove ${wouldRemove.length} of ${existing} bot files (the limit is ${massDeleteLimit(existing)}: max(10, 20 %)); ` +
      `if the source is right, run again with --allow-mass-delete. Nothing was published. Would remove:\n${listed.join('\n')}`,
    wouldRemove,
  );
}

/** `fleetsynth: +A ~C -R bots`, then the ids per kind of change (capped) and changed platform files. */
export function commitMessage(diff: FleetDiff, subject?: string, notes: readonly string[] = []): string {
  const bots = diff.entries.filter((e) => e.kind !== 'platform');
  const count = (status: string) => bots.filter((e) => e.status === status).length;
  const stats = `fleetsynth: +${count('added')} ~${count('changed')} -${count('removed')} bots`;
  const lines = [subject?.trim() || stats, ''];
  if (subject?.trim()) lines.push(stats, '');
  if (notes.length > 0) lines.push(...notes, '');
  let listed = 0;
  for (const status of ['added', 'changed', 'removed'] as const) {
    const entries = bots.filter((e) => e.status === status);
    if (entries.length === 0) continue;
    lines.push(`${status}:`);
    for (const e of entries) {
      if (listed >= MAX_LISTED_IDS) break;
      lines.push(`  ${e.kind === 'schedule' ? 'schedule' : 'bot'} ${e.id}${status === 'changed' ? ` (${[...new Set(e.changes.map((c) => c.field))].join(', ')})` : ''}`);
      listed++;
    }
  }
  if (bots.length > listed) lines.push(`… and ${bots.length - listed} more`);
  const platform = diff.entries.filter((e) => e.kind === 'platform');
  if (platform.length > 0) lines.push('platform:', ...platform.map((e) => `  ${e.status} ${e.path}`));
  while (lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n') + '\n';
}

/** A GitHub-style push event, which Argo CD's webhook handler understands. */
export function pushEvent(p: { repo: string; branch: string; repoPath: string; commit: string; message: string; diff: FleetDiff }): Record<string, unknown> {
  const url = stripCredentials(p.repo);
  const inRepo = (rel: string) => (p.repoPath === '.' || p.repoPath === '' ? rel : path.posix.join(p.repoPath, rel));
  const files = (pick: (e: DiffEntry) => string[]) => p.diff.entries.flatMap(pick).map(inRepo).sort();
  const commit = {
    id: p.commit,
    message: p.message,
    added: files((e) => (e.status === 'added' || e.basePath ? [e.path] : [])),
    modified: files((e) => (e.status === 'changed' && !e.basePath ? [e.path] : [])),
    removed: files((e) => (e.status === 'removed' ? [e.path] : e.basePath ? [e.basePath] : [])),
  };
  return {
    ref: `refs/heads/${p.branch}`,
    after: p.commit,
    repository: { html_url: url.replace(/\.git$/, ''), clone_url: url, default_branch: p.branch },
    commits: [commit],
    head_commit: commit,
  };
}

/** POSTs a push event to Argo CD; never throws. */
export async function notifyArgoCd(url: string, event: Record<string, unknown>, opts: { timeoutMs?: number; secret?: string } = {}): Promise<WebhookResult> {
  const body = JSON.stringify(event);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'User-Agent': 'fleetsynth' };
  if (opts.secret) headers['X-Hub-Signature-256'] = `sha256=${createHmac('sha256', opts.secret).update(body).digest('hex')}`;
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? { ok: true, status: res.status } : { ok: false, status: res.status };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? 'timed out' : err.cause?.code ?? err.cause?.message ?? err.message;
    return { ok: false, error: redactUrl(String(why)) };
  }
}

/** A repository URL without user info, safe to send and print. */
function stripCredentials(repo: string): string {
  return repo.replace(/(\/\/)[^/@\s]+@/, '$1');
}

/** A URL for messages: no credentials, no query string. */
function safeUrl(url: string): string {
  return stripCredentials(url).replace(/[?#].*$/, '');
}
