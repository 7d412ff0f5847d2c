import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { registerArgoCdCommand } from './argocd/generate';
import { ExitCode, FleetsynthError, describeError } from './errors';
import { registerGitopsCommands } from './gitops/commands';
import { modelOptions } from './config/model-options';
import { buildFleet } from './model/fleet';
import { reportSynth, runSynth } from './run-synth';
import { registerServeCommand } from './service/command';
import { addRenderOptions, openSettingsSource, resolveSettings } from './settings';
import { cacheOptionsFromEnv } from './synth/cache';

const intArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

/** Where a command prints: stdout and stderr lines. */
export interface CliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

/**
 * The fleetsynth program; each action is a thin call into the library. `env` is the one place
 * the commands read environment variables from (the library never reads `process.env`).
 */
export function buildProgram(io: CliIo, setExit: (code: number) => void, env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command('fleetsynth')
    .description('Synthesize a fleet of the0 trading bots into Kubernetes manifests for Argo CD')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });

  addRenderOptions(
    program
      .command('synth')
      .description('render every enabled bot into one file per bot under --out')
      .option('--out <dir>', 'output directory', 'dist')
      .option('--allow-empty', 'accept a source with no documents (removes every managed bot file)')
      .option('--workers <n>', 'render threads (default: one per core for large fleets)', intArg)
      .addOption(new Option('--dry-run', 'render and report, write nothing')),
  ).action(async (o) => {
    const settings = await resolveSettings(o, env);
    const source = openSettingsSource(settings.source);
    try {
      const r = await runSynth({ source, outDir: o.out, settings: settings.render, allowEmpty: o.allowEmpty, workers: o.workers, write: !o.dryRun, cache: cacheOptionsFromEnv(env) });
      setExit(reportSynth(r, io.out, io.err));
    } finally {
      await source.close();
    }
  });

  addRenderOptions(
    program.command('validate').description('check every document (ids, runtimes, crons, paths, quantities, name collisions) and render nothing'),
  ).action(async (o) => {
    const settings = await resolveSettings(o, env);
    const source = openSettingsSource(settings.source);
    try {
      const fleet = buildFleet(await source.read(), modelOptions(settings.render));
      for (const w of fleet.warnings) io.err(`warning: ${w.collection}/${w.id}: ${w.message}`);
      for (const e of fleet.errors) io.err(`error: ${e}`);
      const c = fleet.counts;
      io.out(`fleetsynth: ${fleet.specs.length} valid, ${fleet.failedIds.size} invalid, ${c.disabled} disabled (of ${c.bots} bots + ${c.bot_schedules} schedules) in ${source.describe()}`);
      setExit(fleet.errors.length > 0 ? ExitCode.FAILED : ExitCode.OK);
    } finally {
      await source.close();
    }
  });

  registerGitopsCommands(program, io, setExit, env);
  registerServeCommand(program, io, setExit, env);
  registerArgoCdCommand(program, io, env);
  return program;
}

/**
 * Runs one command line (`argv` as in process.argv) and returns its exit code (README, "Exit
 * codes"). The one place failures are caught: a FleetsynthError prints its message and hint; a
 * usage error commander reported is a configuration error; anything else is a bug and propagates.
 */
export async function runCli(argv: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let code: number = ExitCode.OK;
  const program = buildProgram(io, (c) => (code = c), env);
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.OK : ExitCode.CONFIG;
    if (!(e instanceof FleetsynthError)) throw e;
    for (const line of describeError(e)) io.err(line);
    return e.exitCode;
  }
  return code;
}

/** The `fleetsynth` binary: process argv, stdout/stderr and env; returns the exit code. */
export function main(argv: string[]): Promise<number> {
  const io: CliIo = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') };
  return runCli(argv, io, process.env);
}
