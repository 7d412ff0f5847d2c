import { Command, InvalidArgumentError, Option } from 'commander';
import { registerArgoCdCommand } from './argocd/generate';
import { registerGitopsCommands } from './gitops/commands';
import { modelOptions } from './config/model-options';
import { buildFleet } from './model/fleet';
import { failureMessage, reportSynth, runSynth } from './run-synth';
import { registerServeCommand } from './service/command';
import { addRenderOptions, openSettingsSource, resolveSettings } from './settings';

const intArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

/** The fleetsynth program; each action is a thin call into the library. */
export function buildProgram(io: { out: (s: string) => void; err: (s: string) => void }, setExit: (code: number) => void): Command {
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
    const settings = await resolveSettings(o, process.env);
    const source = openSettingsSource(settings.source);
    try {
      const r = await runSynth({ source, outDir: o.out, settings: settings.render, allowEmpty: o.allowEmpty, workers: o.workers, write: !o.dryRun });
      setExit(reportSynth(r, io.out, io.err));
    } finally {
      await source.close();
    }
  });

  addRenderOptions(
    program.command('validate').description('check every document (ids, runtimes, crons, paths, quantities, name collisions) and render nothing'),
  ).action(async (o) => {
    const settings = await resolveSettings(o, process.env);
    const source = openSettingsSource(settings.source);
    try {
      const fleet = buildFleet(await source.read(), modelOptions(settings.render));
      for (const w of fleet.warnings) io.err(`warning: ${w.collection}/${w.id}: ${w.message}`);
      for (const e of fleet.errors) io.err(`error: ${e}`);
      const c = fleet.counts;
      io.out(`fleetsynth: ${fleet.specs.length} valid, ${fleet.failedIds.size} invalid, ${c.disabled} disabled (of ${c.bots} bots + ${c.bot_schedules} schedules) in ${source.describe()}`);
      setExit(fleet.errors.length > 0 ? 1 : 0);
    } finally {
      await source.close();
    }
  });

  registerGitopsCommands(program, io, setExit);
  registerServeCommand(program, io, setExit);
  registerArgoCdCommand(program, io, setExit);
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const io = { out: (s: string) => process.stdout.write(s + '\n'), err: (s: string) => process.stderr.write(s + '\n') };
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) return err.exitCode ?? 1;
    const msg = failureMessage(e);
    if (msg === undefined) throw e;
    io.err(`fleetsynth: ${msg}`);
    return 1;
  }
  return code;
}
