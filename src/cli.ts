import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, FleetsynthError, describeError } from './errors';
import { modelOptions } from './config/model-options';
import { buildFleet } from './model/fleet';
import { reportSynth, runSynth } from './run-synth';
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
export function buildProgram(io: CliIo, setExit: (code: number) => void, env: NodeJS.ProcessEnv = process.env, only?: string): Command {
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

  // The other commands' modules load only when they may run (`only`: the command named on the
  // command line): `fleetsynth publish` does not load the live service or the Argo CD generator.
  const want = (...names: string[]) => only === undefined || !KNOWN_COMMANDS.has(only) || names.includes(only);
  if (want('diff', 'publish')) (require('./gitops/commands') as typeof import('./gitops/commands')).registerGitopsCommands(program, io, setExit, env);
  if (want('rollout')) (require('./gitops/rollout/command') as typeof import('./gitops/rollout/command')).registerRolloutCommands(program, io, setExit, env);
  if (want('serve')) (require('./service/command') as typeof import('./service/command')).registerServeCommand(program, io, setExit, env);
  if (want('argocd')) (require('./argocd/generate') as typeof import('./argocd/generate')).registerArgoCdCommand(program, io, env);
  return program;
}

/** Commands registered by modules of their own (see buildProgram's `only`), and cli.ts's own. */
const KNOWN_COMMANDS = new Set(['synth', 'validate', 'diff', 'publish', 'rollout', 'serve', 'argocd']);

/** The command an argv names (its first word after the program), if any. */
function commandOf(argv: readonly string[]): string | undefined {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return first !== undefined && argv.slice(2).indexOf(first) === 0 ? first : undefined;
}

/**
 * Runs one command line (`argv` as in process.argv) and returns its exit code (README, "Exit
 * codes"). The one place failures are caught: a FleetsynthError prints its message and hint; a
 * usage error commander reported is a configuration error; anything else is a bug and propagates.
 */
export async function runCli(argv: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let code: number = ExitCode.OK;
  const program = buildProgram(io, (c) => (code = c), env, commandOf(argv));
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
