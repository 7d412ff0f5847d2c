// Rendering the fleet in memory and comparing it with a base.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FleetDocuments } from '../../model/document';
import type { RenderSettings } from '../../settings';
import type { SynthResult } from '../../synth/synth';
import { diffTrees } from './compare';
import { BaseListing, listTreeInDir, listTreeInGit, readTreeFromDir, readTreeFromGit } from './tree';
import { streamDiff } from './stream';
import { DiffBaseError, FleetDiff } from './types';
import { allBotIds, buildFleet, mayRemove } from '../../model/fleet';
import { EmptySourceError } from '../../synth/synth';
import { keyedGroups, synthesizeGroups } from '../../synth/groups';
import { modelOptions } from '../../config/model-options';
import { runGit } from '../workspace';
import { RolloutBusyError, planRolloutFrom, readRolloutState } from '../rollout/plan';
import { previewRollout } from '../rollout/preview';
import { ROLLOUT_FILE, RolloutSettings, RolloutState, parseRolloutState } from '../rollout/state';

/** What to compare a render with: a directory, or a path inside a commit of a local repository. */
export type DiffBase = { readonly dir: string } | { readonly repo: string; readonly ref: string; readonly path: string };

/** Reads a base tree and names it. */
export async function readBase(base: DiffBase): Promise<{ label: string; files: Map<string, string> }> {
  if ('dir' in base) {
    if (!fs.existsSync(base.dir)) throw new DiffBaseError(`base directory ${base.dir} does not exist`);
    return { label: base.dir, files: readTreeFromDir(base.dir) };
  }
  return { label: `${base.ref}:${base.path}`, files: await readTreeFromGit(base.repo, base.ref, base.path) };
}

/** Options of `diffRender`. */
export interface DiffRenderOptions {
  readonly docs: FleetDocuments;
  readonly settings: RenderSettings;
  readonly base: DiffBase;
  readonly allowEmpty?: boolean;
  readonly workers?: number;
  /**
   * Rollouts on and a base written by publish (with `rollout.json`): the render is what publish would commit (a fleet-wide change reaches the first
   * wave only) and the diff carries the rollout's plan. Health is not read: a running rollout is
   * shown where the base's `rollout.json` has it.
   */
  readonly rollout?: { readonly settings: RolloutSettings; readonly version: string };
}

/** Lists a base tree (reading no file) and names it. */
export async function listBase(base: DiffBase): Promise<{ label: string; listing: BaseListing }> {
  if ('dir' in base) {
    if (!fs.existsSync(base.dir)) throw new DiffBaseError(`base directory ${base.dir} does not exist`);
    return { label: base.dir, listing: listTreeInDir(base.dir) };
  }
  return { label: `${base.ref}:${base.path}`, listing: await listTreeInGit(base.repo, base.ref, base.path) };
}

/**
 * Renders the fleet (nothing is written) and compares it with the base. Without a rollout the
 * render threads compare as they render (stream.ts): unchanged files (same blob id) are not read
 * back, and neither tree's text is held in memory at once.
 */
export async function diffRender(opts: DiffRenderOptions): Promise<{ diff: FleetDiff; synth: SynthResult }> {
  const prior = opts.rollout ? await readBaseRolloutState(opts.base) : undefined;
  if (!(opts.rollout && prior)) {
    const total = opts.docs.bots.length + opts.docs.bot_schedules.length;
    if (total === 0 && !opts.allowEmpty) throw new EmptySourceError();
    const { label, listing } = await listBase(opts.base);
    const fleet = buildFleet(opts.docs, modelOptions(opts.settings));
    const scratch = 'dir' in opts.base ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-'));
    try {
      return await streamDiff(fleet, opts.settings, listing, { base: label, workers: opts.workers, outDir: scratch ?? (opts.base as { dir: string }).dir });
    } finally {
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  const { label, files } = await readBase(opts.base);
  // Rendering without writing still lists an output root; give it an empty one for a git base.
  const scratch = 'dir' in opts.base ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-'));
  try {
    const outDir = scratch ?? (opts.base as { dir: string }).dir;
    const render = { outDir, workers: opts.workers, write: false, collect: true } as const;
    // Only a base that publish manages (it holds `rollout.json`) has generations to compare with;
    // a tree written by `synth` is compared with a plain render (above).
    const total = opts.docs.bots.length + opts.docs.bot_schedules.length;
    if (total === 0 && !opts.allowEmpty) throw new EmptySourceError();
    const fleet = buildFleet(opts.docs, modelOptions(opts.settings));
    // A second fleet-wide change during a rollout: shown as what `publish --supersede` would
    // commit, with publish's refusal in the report.
    let blocked: string | undefined;
    const ro = { ...opts.rollout!, health: null };
    const plan = await planRolloutFrom(prior, fleet, opts.settings, ro).catch((e) => {
      if (!(e instanceof RolloutBusyError)) throw e;
      blocked = e.message.replace(/; nothing was published$/, '');
      return planRolloutFrom(prior, fleet, opts.settings, { ...ro, supersede: true });
    });
    const synth = await synthesizeGroups(fleet, keyedGroups(opts.docs, opts.settings.configHashKey, plan.groups), render);
    const p = previewRollout(plan, allBotIds(fleet));
    const preview = p && blocked ? { ...p, blocked } : p;
    // A bot whose render failed or leaked keeps its file in publish: kept here too, never "removed".
    const compared = diffTrees(files, synth.files ?? new Map(), { base: label, failedIds: synth.keptIds ?? synth.fleet.failedIds, keepAll: !mayRemove(synth.fleet) });
    const diff: FleetDiff = preview ? { ...compared, rollout: preview } : compared;
    return { diff, synth };
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The base's `rollout.json`, if it has one. */
export async function readBaseRolloutState(base: DiffBase): Promise<RolloutState | undefined> {
  if ('dir' in base) return readRolloutState(base.dir);
  // `ref:./path` is relative to the current directory, as --out is.
  const rel = `./${path.posix.normalize(path.posix.join(base.path.replace(/\\/g, '/'), ROLLOUT_FILE))}`;
  const r = await runGit(base.repo, ['show', `${base.ref}:${rel}`], { allowFail: true });
  return r.code === 0 ? parseRolloutState(r.stdout, `${base.ref}:${rel}`) : undefined;
}
