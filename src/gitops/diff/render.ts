// Rendering the fleet in memory and comparing it with a base.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FleetDocuments } from '../../model/document';
import type { RenderSettings } from '../../settings';
import { SynthResult, synthesize } from '../../synth/synth';
import { diffTrees } from './compare';
import { readTreeFromDir, readTreeFromGit } from './tree';
import { DiffBaseError, FleetDiff } from './types';
import { mayRemove } from '../../model/fleet';

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
}

/** Renders the fleet in memory (nothing is written) and compares it with the base. */
export async function diffRender(opts: DiffRenderOptions): Promise<{ diff: FleetDiff; synth: SynthResult }> {
  const { label, files } = await readBase(opts.base);
  // Rendering without writing still lists an output root; give it an empty one for a git base.
  const scratch = 'dir' in opts.base ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-diff-'));
  try {
    const synth = await synthesize(opts.docs, {
      outDir: scratch ?? (opts.base as { dir: string }).dir,
      settings: opts.settings,
      allowEmpty: opts.allowEmpty,
      workers: opts.workers,
      write: false,
      collect: true,
    });
    const diff = diffTrees(files, synth.files ?? new Map(), { base: label, failedIds: synth.fleet.failedIds, keepAll: !mayRemove(synth.fleet) });
    return { diff, synth };
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
}
