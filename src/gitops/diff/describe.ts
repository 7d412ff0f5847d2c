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

export function summaryLine(d: FleetDiff): string {
  const s = d.summary;
  if (d.entries.length === 0) return `no changes (${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept` : ''})`;
  return `${s.added} added, ${s.changed} changed, ${s.removed} removed, ${s.unchanged} unchanged${s.kept ? `, ${s.kept} kept (failed, left as they are)` : ''}`;
}
