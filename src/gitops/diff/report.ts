// Reports: one diff as text (terminal, CI log), markdown (pull-request comment) or JSON.
import { MarkdownLimits, formatMarkdown } from './report-markdown';
import { formatText } from './report-text';
import { FleetDiff } from './types';

export type { MarkdownLimits };

/** Report formats. */
export type DiffFormat = 'text' | 'markdown' | 'json';

/** Formats a diff. */
export function formatDiff(diff: FleetDiff, format: DiffFormat, limits: MarkdownLimits = {}): string {
  if (format === 'json') return JSON.stringify(diff, null, 2) + '\n';
  if (format === 'markdown') return formatMarkdown(diff, limits);
  return formatText(diff);
}

/** True when the diff has something to review. */
export const hasChanges = (d: FleetDiff): boolean => d.entries.length > 0;
