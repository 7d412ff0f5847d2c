// The text report: one line per file, one indented line per field change.
import { changeLabel, changeValue, entryName, fieldSummary, summaryLine } from './describe';
import { EntryStatus, FleetDiff } from './types';
import { rolloutPreviewLines } from '../rollout/preview';

export function formatText(d: FleetDiff): string {
  const lines = [`fleetsynth diff against ${d.base}: ${summaryLine(d)}`, ...fieldSummary(d).map((l) => `  ${l}`), ...(d.rollout ? rolloutPreviewLines(d.rollout) : [])];
  const sign: Record<EntryStatus, string> = { added: '+', changed: '~', removed: '-' };
  for (const e of d.entries) {
    lines.push(`${sign[e.status]} ${e.path} (${entryName(e)}${e.status === 'changed' ? '' : ` ${e.status}`})`);
    for (const c of e.changes) lines.push(`    ${c.field === 'secret' ? c.note : `${changeLabel(c)}: ${changeValue(c)}`}`);
  }
  for (const k of d.kept) lines.push(`= ${k} (kept: its document failed)`);
  return lines.join('\n') + '\n';
}
