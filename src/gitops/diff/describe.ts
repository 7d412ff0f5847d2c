// How an entry, a change and a summary read in the text and markdown reports.
import { DiffEntry, FieldChange, FleetDiff, PLATFORM_DIR } from './types';

export function entryName(e: DiffEntry): string {
  return e.kind === 'platform' ? `platform ${e.path.slice(PLATFORM_DIR.length + 1)}` : `${e.kind} ${e.id}`;
}

export function changeLabel(c: FieldChange): string {
  return c.key !== undefined ? `${c.field} ${c.key}` : c.field;
}

export function changeValue(c: FieldChange, code: (s: string) => string = (s) => s): string {
  if (c.from !== undefined && c.to !== undefined) return `${code(c.from)} → ${code(c.to)}${c.note ? ` (${c.note})` : ''}`;
  if (c.to !== undefined) return c.note ? `${c.note} ${code(c.to)}` : code(c.to);
  if (c.from !== undefined) return c.note ? `${c.note} (was ${code(c.from)})` : code(c.from);
  return c.note ?? 'changed';
}

/** Fields whose change across many bots is a platform (or settings) change, summarised first. */
const FLEET_FIELDS: ReadonlySet<string> = new Set(['image', 'resources', 'pod', 'runtime']);

/**
 * One line per field changed on several bots, most bots first: "pod tolerations changed on
 * 9,008 bots". A platform config change touches thousands of files the same way; this says so
 * before the per-bot details.
 */
export function fieldSummary(d: FleetDiff, min = 2): string[] {
  const counts = new Map<string, number>();
  for (const e of d.entries) {
    if (e.status !== 'changed' || e.kind === 'platform') continue;
    const labels = new Set(e.changes.filter((c) => FLEET_FIELDS.has(c.field)).map((c) => changeLabel(c).replace(/^(\S+ )?[^ :]+:/, '$1')));
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, n]) => n >= min)
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .map(([label, n]) => `${label} changed on ${n.toLocaleString('en-US')} bots`);
}

export function summaryLine(d: FleetDiff): string {
  const s = d.summary;
  if (d.entries.length === 0) return `no changes (${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept` : ''})`;
  return `${s.added} added, ${s.changed} changed, ${s.removed} removed, ${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept (failed, left as they are)` : ''}`;
}
