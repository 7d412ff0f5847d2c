import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError, ExitCode, assertNoProblems } from '../errors';
import { addRenderOptions, checkSettings, openSettingsSource, resolveSettings } from '../settings';
import { DiffBase, DiffFormat, diffRender, diffTrees, formatDiff, hasChanges, readBase, readTreeFromDir } from './diff';
import { publish } from './publish';
import { MAX_PRINTED_ENTRIES, PublishMeter, formatCapped } from './print';
import { cacheOptionsFromEnv } from '../synth/cache';
import { fleetsynthVersion, rolloutOptions, waitForRollout } from './rollout/command';

type Io = { out: (s: string) => void; err: (s: string) => void };

const emit = (io: Io, text: string) => io.out(text.replace(/\n$/, ''));

/** Adds `diff` and `publish` to the fleetsynth program; `env` holds the env vars they read. */
export function registerGitopsCommands(program: Command, io: Io, setExit: (code: number) => void, env: NodeJS.ProcessEnv): void {
  addRenderOptions(
    program
      .command('diff')
      .description('compare what synth renders now with a base (a git ref of this repository, or a directory); exit 0 no change, 2 changes, 1 failure, 3 bad configuration')
      .option('--base <ref|dir>', 'git ref of the repository in the current directory, or a directory holding an output root', 'HEAD')
      .addOption(new Option('--format <format>', 'report format').choices(['text', 'markdown', 'json']).default('text'))
      .option('--out <dir>', 'output root whose committed copy at --base is compared (ignored when --base is a directory)', 'dist')
      .option('--allow-empty', 'accept a source with no documents (everything shows as removed)')
      .option('--verbose', 'text format: list every file (default: the summary and the first 200)')
      .option('--current <dir>', 'compare this already rendered output root (e.g. from `cdk8s synth` of a GitOps app) instead of rendering; no source is read'),
  ).action(async (o: Record<string, unknown>) => {
    const all = await resolveSettings(o, env);
    const settings = all.render;
    assertNoProblems(checkSettings(settings));
    const baseArg = String(o.base);
    const current = o.current as string | undefined;
    const base: DiffBase = isDirectory(baseArg) ? { dir: baseArg } : { repo: process.cwd(), ref: baseArg, path: String(o.out) };
    if (current !== undefined) {
      if (!isDirectory(current)) throw new ConfigError([`--current: ${current} is not a directory`]);
      const { label, files } = await readBase(base);
      const diff = diffTrees(files, readTreeFromDir(current), { base: label });
      emit(io, report(diff, o));
      setExit(hasChanges(diff) ? ExitCode.CHANGES : ExitCode.OK);
      return;
    }
    const source = openSettingsSource(all.source);
    try {
      const docs = await source.read();
      // As publish would commit it: a fleet-wide change shows as its rollout's first wave and plan.
      const rollout = all.rollout.enabled ? { settings: all.rollout, version: fleetsynthVersion() } : undefined;
      const { diff, synth } = await diffRender({ docs, settings, base, allowEmpty: o.allowEmpty === true, rollout });
      emit(io, report(diff, o));
      for (const w of synth.warnings) io.err(`warning: ${w}`);
      for (const e of synth.errors) io.err(`error: ${e}`);
      setExit(synth.errors.length > 0 ? ExitCode.FAILED : hasChanges(diff) ? ExitCode.CHANGES : ExitCode.OK);
    } finally {
      await source.close();
    }
  });

  addRenderOptions(
    program
      .command('publish')
      .description('render the fleet into the Git repository Argo CD watches, commit and push (guarded against empty sources and mass removal)')
      .requiredOption('--repo <url|path>', 'repository Argo CD watches (URL or local path)')
      .option('--branch <name>', 'branch Argo CD watches', 'main')
      .option('--path <dir>', 'output root inside the repository', 'dist')
      .option('--message <text>', 'commit subject (default: fleetsynth: +A ~C -R bots)')
      .option('--dry-run', 'print the diff and the commit message; change nothing')
      .option('--allow-mass-delete', 'allow removing more than max(10, 20 %) of the bot files')
      .option('--allow-empty', 'accept a source with no documents')
      .option('--argocd-webhook <url>', 'Argo CD webhook URL to notify after a push (env ARGOCD_WEBHOOK_URL; secret from env ARGOCD_WEBHOOK_SECRET)')
      .option('--work-dir <dir>', 'local working copy (default: a cache directory per repository under the temp dir)')
      .option('--wait', 'with a rollout running: keep publishing until it is done or halted (default: advance what can be advanced and exit)')
      .option('--supersede', 'start a new rollout even though one is running (abandons it; see README, Rollouts)')
      .option('--kubeconfig <file>', 'kubeconfig for rollout wave health (default: in-cluster, KUBECONFIG, ~/.kube/config; none: the rollout waits)')
      .option('--verbose', 'list every changed file (default: the summary and the first 200)'),
  ).action(async (o: Record<string, unknown>) => {
    const meter = new PublishMeter(io.err, process.stderr.isTTY === true);
    const settings = await resolveSettings(o, env);
    const source = openSettingsSource(settings.source);
    // Always: with `rollout.enabled: false` the state records every bot on the current generation.
    const ro = rolloutOptions(settings.rollout, { kubeconfig: o.kubeconfig as string | undefined, supersede: o.supersede === true, namespace: settings.render.namespace });
    const once = () =>
      publish({
        source,
        settings: settings.render,
        repo: String(o.repo),
        branch: String(o.branch),
        path: String(o.path),
        message: o.message as string | undefined,
        dryRun: o.dryRun === true,
        allowMassDelete: o.allowMassDelete === true,
        allowEmpty: o.allowEmpty === true,
        argocdWebhook: (o.argocdWebhook as string | undefined) ?? (env.ARGOCD_WEBHOOK_URL || undefined),
        argocdWebhookSecret: env.ARGOCD_WEBHOOK_SECRET || undefined,
        workDir: o.workDir as string | undefined,
        rollout: ro,
        cache: cacheOptionsFromEnv(env),
        // What the capped report shows is described; the rest is counted and listed bare.
        ...(o.verbose === true ? {} : { details: MAX_PRINTED_ENTRIES }),
        onProgress: meter.onProgress,
      });
    try {
      const r = o.wait === true && !o.dryRun ? await waitForRollout(once, { log: io.out }) : await once();
      meter.done(r.dryRun ? 'dry run' : r.outcome?.pushed ? 'published' : 'nothing to publish');
      emit(io, formatCapped(r.diff, { verbose: o.verbose === true }));
      for (const n of r.rollout?.notes ?? []) io.out(n);
      if (r.fromStage) io.out(`rollout: ${r.fromStage} file(s) of this wave were staged during the bake and moved in (not rendered again)`);
      if (r.staged) io.out(`rollout: wave ${r.rollout!.state.current + 2} staged for its turn: ${r.staged} bot(s) rendered, stored and compared ahead`);
      if (r.dryRun) {
        if (r.refusal) io.err(`fleetsynth: a real publish would be refused: ${r.refusal.message}`);
        else if (r.message) emit(io, `dry run: would commit and push:\n${r.message.replace(/^/gm, '    ')}`);
        else io.out('dry run: nothing to publish');
      } else if (r.outcome?.pushed) {
        io.out(`fleetsynth: pushed ${r.outcome.commit} to ${r.diff.base}${r.outcome.attempts > 1 ? ` (after ${r.outcome.attempts - 1} rejected push(es))` : ''}`);
      } else {
        io.out('fleetsynth: nothing to publish, the repository is up to date');
      }
      for (const w of r.warnings) io.err(`warning: ${w}`);
      for (const e of r.errors) io.err(`error: ${e}`);
      if (r.errors.length > 0) io.err(`fleetsynth: ${r.errors.length} problem(s); the other bots were published and failed bots kept their previous files`);
      setExit(r.exitCode);
    } finally {
      await source.close();
    }
  });
}

/** A diff as the --format asks; text is capped unless --verbose (markdown has its own caps, JSON is whole). */
function report(diff: Parameters<typeof formatDiff>[0], o: Record<string, unknown>): string {
  const format = o.format as DiffFormat;
  return format === 'text' ? formatCapped(diff, { verbose: o.verbose === true }) : formatDiff(diff, format);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
