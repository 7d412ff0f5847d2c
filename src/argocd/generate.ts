// `fleetsynth argocd` / `npm run argocd`: writes the Argo CD objects into a directory
// (default `argocd/`), rewriting only files whose content changed.
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { writeIfChanged } from '../synth/writer';
import { RenderSettings, resolveSettings } from '../settings';
import { ArgoCdOptions, EXAMPLE_REPO_URL, renderArgoCd } from './argocd';

/** The pod-spec fields the platform config renders (in `pod:` or in any rule). */
export function podFieldsOf(s: RenderSettings): string[] {
  const fields = new Set<string>(Object.keys(s.pods?.pod ?? {}));
  for (const r of s.pods?.rules ?? []) for (const k of Object.keys(r.pod ?? {})) fields.add(k);
  return [...fields].sort();
}

/** What happened to one file. */
export interface ArgoCdWriteResult {
  /** File name inside the output directory. */
  readonly file: string;
  /** Path as written (outDir joined with file). */
  readonly path: string;
  /** True when the file was created or its content changed; false when it was already identical. */
  readonly changed: boolean;
}

/**
 * Renders the Argo CD objects and writes them into `outDir` (created if missing). A file is
 * rewritten only when its bytes differ, through a temp file and rename, so readers never see a
 * half-written file and unchanged files keep their mtime. Files it did not generate are untouched.
 */
export function writeArgoCd(outDir: string, opts: ArgoCdOptions): ArgoCdWriteResult[] {
  const files = renderArgoCd(opts);
  return files.map(({ file, yaml }) => {
    const target = path.join(outDir, file);
    return { file, path: target, changed: writeIfChanged(target, yaml, fs.existsSync(target)) === 'written' };
  });
}

/** Adds `fleetsynth argocd`: writes appproject.yaml, applicationset.yaml and platform-application.yaml. */
export function registerArgoCdCommand(program: Command, io: { out: (s: string) => void; err: (s: string) => void }, env: NodeJS.ProcessEnv): void {
  program
    .command('argocd')
    .description('write the Argo CD objects (AppProject, shard ApplicationSet, platform Application)')
    .option('--repo-url <url>', `GitOps repo Argo CD pulls (env FLEETSYNTH_REPO_URL, default ${EXAMPLE_REPO_URL})`)
    .option('--target-revision <rev>', 'branch/tag/commit to track (default main)')
    .option('--path <dir>', 'output root inside the repo (default dist)')
    .option('--namespace <ns>', 'namespace of the bots and the live service (default the0)')
    .option('--argo-namespace <ns>', 'namespace Argo CD runs in (default argocd)')
    .option('--project <name>', 'AppProject name (default fleetsynth)')
    .option('--shard-glob <glob>', 'shard directories under the output root (default bots/*)')
    .option('--out <dir>', 'where to write the files', 'argocd')
    .option('--config <file>', 'platform config file (env FLEETSYNTH_CONFIG; default: fleetsynth.config.* in the working directory): fields it renders are not ignored')
    .action(async (o) => {
      const { out, repoUrl, config, ...rest } = o as Record<string, string>;
      // A bad config file is a ConfigError and a bad option value an ArgoCdOptionsError: runCli prints either, exit code 3.
      const renderedPodFields = podFieldsOf((await resolveSettings({ config }, env)).render);
      const options: ArgoCdOptions = { ...rest, repoUrl: repoUrl ?? (env.FLEETSYNTH_REPO_URL || EXAMPLE_REPO_URL), renderedPodFields };
      const results = writeArgoCd(out, options);
      for (const r of results) io.out(`${r.changed ? 'wrote    ' : 'unchanged'} ${r.path}`);
      io.out(`argocd: ${results.filter((r) => r.changed).length} of ${results.length} files changed in ${out} (repo ${options.repoUrl})`);
    });
}

