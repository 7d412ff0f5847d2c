// The markdown report: a summary table and one collapsible block per file, capped to fit a comment.
import { changeValue, entryName, fieldSummary, summaryLine } from './describe';
import { FleetDiff } from './types';
import { RolloutPreview, waveStateText } from '../rollout/preview';

/** Caps of the markdown report (a pull-request comment holds at most 65,536 characters). */
export interface MarkdownLimits {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

/** Field changes shown per file in markdown, so one bot cannot fill a pull-request comment. */
const MAX_MD_CHANGES = 40;

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A markdown code span that no value can break out of. */
function mdCode(s: string): string {
  const text = s.replace(/\r?\n/g, '⏎');
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A fleet-wide change as its rollout plan: the change, the waves, the bots this commit moves. */
function rolloutSection(p: RolloutPreview): string[] {
  const title = { starts: 'starts', advances: 'advances', holds: 'holds', aborts: 'is aborted', ends: 'ends' }[p.step];
  const bots = p.waveBots.map((id) => mdCode(id)).join(', ');
  const more = p.waveBotsTotal > p.waveBots.length ? `, … and ${p.waveBotsTotal - p.waveBots.length} more` : '';
  return [
    `#### Rollout ${title} (${p.status})`,
    '',
    ...(p.blocked ? [`> **publish refuses this without \`--supersede\`**: ${escapeHtml(p.blocked)}. Shown as \`--supersede\` would commit it.`, ''] : []),
    `Fleet-wide change, generation ${mdCode(p.from)} → ${mdCode(p.to)}:`,
    '',
    ...(p.change.length ? p.change : ['fleetsynth version']).map((c) => `- ${escapeHtml(c)}`),
    '',
    '| wave | share | bots | state |',
    '|--:|--:|--:|:--|',
    ...p.waves.map((w) => `| ${w.wave} | ${w.share} % | ${w.bots} | ${escapeHtml(waveStateText(w, p))} |`),
    '',
    ...(p.waveBotsTotal > 0 ? [`This commit moves ${p.waveBotsTotal} of ${p.fleet} bots: ${bots}${more}.`, ''] : []),
    ...(p.failures?.length ? ['Failing:', '', ...p.failures.map((f) => `- ${mdCode(f.id)}: ${escapeHtml(f.reason)}`), ''] : []),
  ];
}

export function formatMarkdown(d: FleetDiff, limits: MarkdownLimits): string {
  const maxEntries = limits.maxEntries ?? 200;
  const maxBytes = limits.maxBytes ?? 60_000;
  const s = d.summary;
  const fields = fieldSummary(d);
  const head = [
    '### fleetsynth diff',
    '',
    `Compared with ${mdCode(d.base)}: ${summaryLine(d)}.`,
    '',
    '| change | files |',
    '|:--|--:|',
    `| added | ${s.added} |`,
    `| changed | ${s.changed} |`,
    `| removed | ${s.removed} |`,
    `| unchanged | ${s.unchanged} |`,
    ...(s.kept ? [`| kept (failed) | ${s.kept} |`] : []),
    '',
    ...(fields.length ? ['Across the fleet:', '', ...fields.map((l) => `- ${escapeHtml(l)}`), ''] : []),
    ...(d.rollout ? rolloutSection(d.rollout) : []),
    '',
  ].join('\n');
  let out = head;
  let shown = 0;
  const tail = (n: number) => `\n… and ${n} more (run \`fleetsynth diff\` for the full list)\n`;
  for (const e of d.entries) {
    const fields = [...new Set(e.changes.map((c) => c.field))].join(', ');
    const block = [
      `<details><summary>${e.status} <code>${escapeHtml(entryName(e))}</code>${e.status === 'changed' && fields ? `: ${escapeHtml(fields)}` : ''}</summary>`,
      '',
      `${mdCode(e.path)}${e.basePath ? ` (was ${mdCode(e.basePath)})` : ''}`,
      '',
      ...e.changes.slice(0, MAX_MD_CHANGES).map((c) => `- ${c.field === 'secret' ? '**secret changed**' : `**${c.field}**${c.key !== undefined ? ` ${mdCode(c.key)}` : ''}: ${changeValue(c, mdCode)}`}`),
      ...(e.changes.length > MAX_MD_CHANGES ? [`- … and ${e.changes.length - MAX_MD_CHANGES} more changes`] : []),
      '',
      '</details>',
      '',
      '',
    ].join('\n');
    const rest = d.entries.length - shown;
    if (shown >= maxEntries || Buffer.byteLength(out + block + tail(rest)) > maxBytes) {
      return out + tail(rest);
    }
    out += block;
    shown++;
  }
  if (d.kept.length) out += `\n${d.kept.length} file(s) of failed documents kept as they are.\n`;
  return out;
}
