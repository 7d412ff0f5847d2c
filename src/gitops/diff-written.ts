// The diff of a writing render, from what it wrote: only the files the render created, rewrote or
// removed are compared (old text from Git, new text from disk), a batch at a time, so neither the
// fleet's text nor the old tree's is ever held at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SynthResult } from '../synth/synth';
import { DiffEntry, DiffOptions, FleetDiff, classifyPath, diffTrees } from './diff';

/** Files compared per batch (old and new text of each in memory). */
const BATCH = 2000;

/**
 * Compares the files a writing render changed with their committed versions. `readBase` gives the
 * committed texts of paths under the output root (absent: not committed). Files the render left
 * as they were count as unchanged; files of failed documents are `kept`.
 */
export async function diffWritten(
  synth: SynthResult,
  outDir: string,
  readBase: (paths: readonly string[]) => Promise<Map<string, string>>,
  opts: DiffOptions & {
    /**
     * Added and removed files described with their key facts (each is parsed); past it they are
     * listed bare (a first publish of 50,000 bots need not parse 50,000 files for a report that
     * shows 200). Changed files are always compared: the fleet-wide field lines count them all.
     * @default every one
     */
    readonly describe?: number;
    /** Entries known beforehand (a staged wave, against the same base): null for a file with the committed bytes. */
    readonly precomputed?: ReadonlyMap<string, DiffEntry | null>;
  },
): Promise<FleetDiff> {
  // A file that moved (another shard) is one entry: group old and new paths by their key.
  const byKey = new Map<string, string[]>();
  for (const p of [...synth.written, ...synth.removed]) {
    const c = classifyPath(p);
    if (!c) continue;
    const list = byKey.get(c.key);
    if (list) list.push(p);
    else byKey.set(c.key, [p]);
  }
  const groups = [...byKey.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const written = new Set(synth.written);
  const limit = opts.describe ?? Infinity;
  let described = 0;
  const entries: FleetDiff['entries'] = [];
  let unchanged = synth.unchanged;
  const pre = opts.precomputed;
  for (let i = 0; i < groups.length; i += BATCH) {
    const batch = groups.slice(i, i + BATCH);
    const base = await readBase(batch.filter((g) => !(g.length === 1 && pre?.has(g[0]))).flat());
    const compared: string[] = [];
    for (const g of batch) {
      const known = g.length === 1 ? opts.precomputed?.get(g[0]) : undefined;
      if (known !== undefined) {
        if (known) entries.push(known);
        else unchanged++;
        continue;
      }
      const old = g.find((p) => base.has(p));
      const cur = g.find((p) => written.has(p));
      if (old === undefined && cur === undefined) continue;
      if ((old !== undefined && cur !== undefined) || described++ < limit) {
        compared.push(...g);
        continue;
      }
      const p = (cur ?? old)!;
      const c = classifyPath(p)!;
      entries.push({ path: p, kind: c.kind, ...(c.id !== undefined ? { id: c.id } : {}), status: cur ? 'added' : 'removed', changes: [] });
    }
    const current = new Map<string, string>();
    for (const p of compared) if (written.has(p)) current.set(p, fs.readFileSync(path.join(outDir, p), 'utf8'));
    const baseOf = new Map<string, string>();
    for (const p of compared) if (base.has(p)) baseOf.set(p, base.get(p)!);
    const part = diffTrees(baseOf, current, { ...opts, keepAll: false, failedIds: undefined });
    entries.push(...part.entries);
    unchanged += part.summary.unchanged;
  }
  entries.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  const kept = synth.kept.filter((k) => classifyPath(k) !== undefined).sort();
  const count = (s: string) => entries.filter((e) => e.status === s).length;
  const label = diffTrees(new Map(), new Map(), { base: opts.base }).base;
  return { base: label, entries, kept, summary: { added: count('added'), changed: count('changed'), removed: count('removed'), unchanged, kept: kept.length } };
}
