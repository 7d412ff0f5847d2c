import { Source } from './source';
import { SourceError } from './source/file';
import { RenderSettings, checkSettings } from './settings';
import { EmptySourceError, SynthResult, synthesize } from './synth/synth';
import { OutputTreeError } from './synth/writer';

/** Options of one synth run from a source. */
export interface RunSynthOptions {
  readonly source: Source;
  readonly outDir: string;
  readonly settings: RenderSettings;
  readonly allowEmpty?: boolean;
  readonly workers?: number;
  readonly write?: boolean;
  readonly collect?: boolean;
}

/** Reads the source and synthesizes; configuration and source problems become SourceErrors. */
export async function runSynth(opts: RunSynthOptions): Promise<SynthResult> {
  const problems = checkSettings(opts.settings);
  if (problems.length > 0) throw new SourceError(`invalid settings: ${problems.join('; ')}`);
  const docs = await opts.source.read();
  return synthesize(docs, {
    outDir: opts.outDir,
    settings: opts.settings,
    allowEmpty: opts.allowEmpty,
    workers: opts.workers,
    write: opts.write,
    collect: opts.collect,
  });
}

/** Prints a synth result the way a CI log wants it; returns the exit code. */
export function reportSynth(r: SynthResult, log: (line: string) => void, err: (line: string) => void): number {
  for (const w of r.warnings) err(`warning: ${w}`);
  for (const e of r.errors) err(`error: ${e}`);
  const c = r.fleet.counts;
  log(
    `fleetsynth: ${r.fleet.specs.length + r.fleet.known.length} bots rendered (${r.objects} objects) from ${c.bots} bots + ${c.bot_schedules} schedules` +
      `${c.disabled ? `, ${c.disabled} disabled` : ''}: ${r.written.length} written, ${r.unchanged} unchanged, ${r.removed.length} removed` +
      `${r.kept.length ? `, ${r.kept.length} kept (failed bots)` : ''}${r.foreign.length ? `, ${r.foreign.length} foreign files left alone` : ''}`,
  );
  if (r.errors.length > 0) err(`fleetsynth: ${r.errors.length} problem(s); the other bots were written and failed bots kept their previous files`);
  return r.errors.length > 0 ? 1 : 0;
}

/** Turns known failures into a message and exit code; rethrows bugs. */
export function failureMessage(e: unknown): string | undefined {
  if (e instanceof SourceError || e instanceof EmptySourceError || e instanceof OutputTreeError) return e.message;
  return undefined;
}
