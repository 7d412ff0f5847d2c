// A full render split into groups of bots, each with its own settings (a rollout renders the
// bots of rolled waves with the new generation and the others with the old one). Each group is
// one synthesizeFleet over its ids; the first renders the live service and the shard markers.
import { modelOptions } from '../config/model-options';
import type { FleetDocuments } from '../model/document';
import { Fleet, FleetReuse, buildFleet } from '../model/fleet';
import type { RenderSettings } from '../settings';
import { SynthOptions, SynthResult, synthesizeFleet } from './synth';
import { listBotFiles } from './writer';

/** Bots rendered with one settings object. */
export interface SynthGroup {
  readonly settings: RenderSettings;
  readonly ids: ReadonlySet<string>;
  /** The group's own validated fleet, when its settings validate differently (see keyedGroups). */
  readonly fleet?: Fleet;
}

/**
 * Config hashes are taken when documents are validated, under the fleet's config-hash key. A group
 * rendered with another key (bots a key rotation has not reached yet) gets a fleet of its own,
 * validated under its key, so its hashes, and so its pods, stay as they were.
 */
export function keyedGroups(
  docs: FleetDocuments,
  fleetKey: string | undefined,
  groups: readonly SynthGroup[],
  /** Documents whose files are already what this group's settings render (the output cache). */
  reuse?: (settings: RenderSettings) => FleetReuse,
): SynthGroup[] {
  return groups.map((g) =>
    g.settings.configHashKey === fleetKey || g.ids.size === 0 || g.fleet ? g : { ...g, fleet: buildFleet(docs, { ...modelOptions(g.settings), ...(reuse ? { reuse: reuse(g.settings) } : {}) }) },
  );
}

/**
 * Renders every group into one output root and merges the results as one full render would
 * report them. Files of bots in no group (removed bots) are pruned by the first group's run, so
 * the usual guards (failed and unknown owners keep their files) apply to them unchanged.
 * `partial`: only the groups' own bots, as a live resync of a few bots renders them (no live
 * service, no pruning of other files, empty groups skipped).
 */
export async function synthesizeGroups(
  fleet: Fleet,
  groups: readonly SynthGroup[],
  opts: Omit<SynthOptions, 'settings' | 'onlyIds' | 'platform'> & { readonly partial?: boolean },
): Promise<SynthResult> {
  if (groups.length === 0) throw new Error('synthesizeGroups: no group');
  const { partial, ...synthOpts } = opts;
  if (partial) {
    const parts = groups.filter((g) => g.ids.size > 0);
    const results: SynthResult[] = [];
    for (const g of parts.length > 0 ? parts : groups.slice(0, 1)) results.push(await synthesizeFleet(g.fleet ?? fleet, { ...synthOpts, settings: g.settings, onlyIds: g.ids }));
    return mergeResults(results);
  }
  const grouped = new Set<string>();
  for (const g of groups) for (const id of g.ids) grouped.add(id);
  const strays = listBotFiles(opts.outDir)
    .map((f) => f.id)
    .filter((id) => !grouped.has(id));
  const results: SynthResult[] = [];
  for (const [i, g] of groups.entries()) {
    const ids = i === 0 ? new Set([...g.ids, ...strays]) : g.ids;
    results.push(await synthesizeFleet(g.fleet ?? fleet, { ...synthOpts, settings: g.settings, onlyIds: ids, platform: i === 0 }));
  }
  const merged = mergeResults(results);
  // A run over chosen ids reports only those ids' document errors: add the ones that name no id.
  const idless = fleet.errors.filter((e) => e.id === undefined).map((e) => e.toString());
  return { ...merged, errors: [...new Set([...idless, ...merged.errors])] };
}

function mergeResults(rs: readonly SynthResult[]): SynthResult {
  const uniq = (lists: string[][]) => [...new Set(lists.flat())];
  const files = rs.some((r) => r.files) ? new Map<string, string>() : undefined;
  if (files) for (const r of rs) for (const [k, v] of r.files ?? []) files.set(k, v);
  return {
    fleet: rs[0].fleet,
    objects: rs.reduce((n, r) => n + r.objects, 0),
    written: uniq(rs.map((r) => r.written)).sort(),
    unchanged: rs.reduce((n, r) => n + r.unchanged, 0),
    removed: uniq(rs.map((r) => r.removed)).sort(),
    kept: uniq(rs.map((r) => r.kept)).sort(),
    foreign: uniq(rs.map((r) => r.foreign)).sort(),
    errors: uniq(rs.map((r) => r.errors)),
    warnings: uniq(rs.map((r) => r.warnings)),
    markers: uniq(rs.map((r) => r.markers ?? [])).sort(),
    keptIds: new Set(rs.flatMap((r) => [...(r.keptIds ?? [])])),
    ...(files ? { files } : {}),
  };
}
