// What publish and diff print: the text report capped to fit a CI log, and progress on stderr.
import { formatText } from './diff/report-text';
import { fieldSummary } from './diff/describe';
import type { FleetDiff } from './diff';
import type { PublishProgress } from './publish';

/** Entries printed without --verbose (the markdown report's default cap). */
export const MAX_PRINTED_ENTRIES = 200;

/**
 * The text report with at most `max` files listed (summary and fleet-wide field lines always in
 * full); `verbose` lists every file.
 */
export function formatCapped(d: FleetDiff, opts: { verbose?: boolean; max?: number } = {}): string {
  const max = opts.max ?? MAX_PRINTED_ENTRIES;
  const total = d.entries.length + d.kept.length;
  if (opts.verbose || total <= max) return formatText(d);
  const entries = d.entries.slice(0, max);
  const kept = d.kept.slice(0, Math.max(0, max - entries.length));
  const part: FleetDiff = { base: d.base, summary: d.summary, entries, kept };
  const lines = formatText(part).replace(/\n$/, '').split('\n');
  // The summary line (whole counts), the fleet-wide field lines of the whole diff, its rollout lines, the listed files.
  const fields = fieldSummary(d).map((l) => `  ${l}`);
  const rollout = d.rollout ? formatText({ ...d, entries: [], kept: [] }).replace(/\n$/, '').split('\n').slice(1) : [];
  const body = lines.slice(1 + fieldSummary(part).length);
  const more = total - entries.length - kept.length;
  return [lines[0], ...fields, ...rollout, ...body, `… and ${more} more file(s) not listed (--verbose lists every one)`].join('\n') + '\n';
}

/**
 * Progress of a long publish: on a terminal one updated line per step on stderr; elsewhere
 * nothing until `done`, which prints one line with where the time went.
 */
export class PublishMeter {
  private readonly start = Date.now();
  private phase = 'read';
  private phaseAt = this.start;
  private readonly spent = new Map<string, number>();
  private detail = '';

  constructor(private readonly err: (s: string) => void, private readonly tty: boolean, private readonly write: (s: string) => void = (s) => process.stderr.write(s)) {}

  readonly onProgress = (p: PublishProgress): void => {
    const now = Date.now();
    if (p.phase === 'render' && p.done !== undefined) {
      // Within the render phase: only the line changes.
      if (this.tty) this.write(`\r\x1b[2Kfleetsynth: rendered ${p.done} of ${p.bots} bots (${secs(now - this.start)})`);
      return;
    }
    this.spent.set(this.phase, (this.spent.get(this.phase) ?? 0) + now - this.phaseAt);
    this.phase = p.phase;
    this.phaseAt = now;
    if (p.phase === 'render') this.detail = `${p.bots} bots`;
    if (p.phase === 'compare') this.detail = `${p.files} files written`;
    if (!this.tty) return;
    const text =
      p.phase === 'sync' ? 'syncing with the remote' :
      p.phase === 'prepare' ? 'reading the documents' :
      p.phase === 'render' ? `rendering ${p.bots} bots` :
      p.phase === 'compare' ? `comparing ${p.files} written file(s) with the commit` :
      p.phase === 'commit' ? 'staging and committing' : 'pushing';
    this.write(`\r\x1b[2Kfleetsynth: ${text} (${secs(now - this.start)})`);
  };

  /** Clears the progress line (terminal) or prints the timing summary (otherwise). */
  done(what: string): void {
    const now = Date.now();
    this.spent.set(this.phase, (this.spent.get(this.phase) ?? 0) + now - this.phaseAt);
    if (this.tty) {
      this.write('\r\x1b[2K');
      return;
    }
    const parts = ['read', 'sync', 'prepare', 'render', 'compare', 'commit', 'push'].filter((k) => this.spent.has(k)).map((k) => `${k} ${secs(this.spent.get(k)!)}`);
    this.err(`fleetsynth: ${what} in ${secs(now - this.start)}${parts.length ? ` (${parts.join(', ')})` : ''}${this.detail ? `; ${this.detail}` : ''}`);
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
