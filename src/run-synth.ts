import { Source } from './source';
import { assertNoProblems } from './errors';
import { RenderSettings, checkSettings } from './settings';
import type { CacheOptions } from './synth/cache';
import { SynthResult, synthesize } from './synth/synth';

/** Options of one synth run from a source. */
export interface RunSynthOptions {
  readonly source: Source;
  readonly outDir: string;
  readonly settings: RenderSettings;
  readonly allowEmpty?: boolean;
  readonly workers?: number;
  readonly write?: boolean;
  readonly collect?: boolean;
  /** Where the output cache lives, or `{ off: true }`. @default see CacheOptions */
  readonly cache?: CacheOptions;
}

/** Reads the source and synthesizes; configuration and source problems become SourceErrors. */
export async function runSynth(opts: RunSynthOptions): Promise<SynthResult> {
  const problems = checkSettings(opts.settings);
  assertNoProblems(problems);
  const docs = await opts.source.read();
  return synthesize(docs, {
    outDir: opts.outDir,
    settings: opts.settings,
    allowEmpty: opts.allowEmpty,
    workers: opts.workers,
    write: opts.write,
    collect: opts.collect,
    cache: opts.cache,
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
