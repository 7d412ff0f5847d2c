// `fleetsynth argocd` / `npm run argocd`: writes the Argo CD objects into a directory
// (default `argocd/`), rewriting only files whose content changed.
import * as fs from 'fs';
import * as path from 'path';
import { ArgoCdOptions, ArgoCdOptionsError, EXAMPLE_REPO_URL, renderArgoCd } from './argocd';

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
  fs.mkdirSync(outDir, { recursive: true });
  return files.map(({ file, yaml }) => {
    const target = path.join(outDir, file);
    let current: string | undefined;
    try {
      current = fs.readFileSync(target, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (current === yaml) return { file, path: target, changed: false };
    const tmp = path.join(outDir, `.${file}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, yaml, 'utf8');
    fs.renameSync(tmp, target);
    return { file, path: target, changed: true };
  });
}

const USAGE = `usage: fleetsynth argocd [options]

Writes appproject.yaml, applicationset.yaml and platform-application.yaml.

  --repo-url <url>          GitOps repo Argo CD pulls (env FLEETSYNTH_REPO_URL, default ${EXAMPLE_REPO_URL})
  --target-revision <rev>   branch/tag/commit to track (default main)
  --path <dir>              output root R inside the repo (default dist)
  --namespace <ns>          namespace of the bots and the live service (default the0)
  --argo-namespace <ns>     namespace Argo CD runs in (default argocd)
  --project <name>          AppProject name (default fleetsynth)
  --shard-glob <glob>       shard directories under R (default bots/*)
  --out <dir>               where to write the files (default argocd)
  -h, --help                show this help
`;

const FLAGS: Record<string, keyof ArgoCdOptions | 'out'> = {
  '--repo-url': 'repoUrl',
  '--target-revision': 'targetRevision',
  '--path': 'path',
  '--namespace': 'namespace',
  '--argo-namespace': 'argoNamespace',
  '--project': 'project',
  '--shard-glob': 'shardGlob',
  '--out': 'out',
};

/** A command-line mistake; the message says what to do. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `--flag value` / `--flag=value` arguments (argv without node and script). */
export function parseArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): { out: string; options: ArgoCdOptions; help: boolean } {
  const values: Partial<Record<keyof ArgoCdOptions | 'out', string>> = {};
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAGS[flag];
    if (!key) throw new UsageError(`unknown argument "${arg}" (see --help)`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      i++;
    }
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
    values[key] = value;
  }
  const { out = 'argocd', repoUrl, ...rest } = values;
  return {
    out,
    help,
    options: { ...rest, repoUrl: repoUrl ?? (env.FLEETSYNTH_REPO_URL || EXAMPLE_REPO_URL) },
  };
}

/** CLI entry: returns the exit code (0 ok, 1 bad options, 2 bad usage). */
export function main(args: readonly string[] = process.argv.slice(2), log = console.log, error = console.error): number {
  try {
    const { out, options, help } = parseArgs(args);
    if (help) {
      log(USAGE);
      return 0;
    }
    const results = writeArgoCd(out, options);
    for (const r of results) log(`${r.changed ? 'wrote    ' : 'unchanged'} ${r.path}`);
    const n = results.filter((r) => r.changed).length;
    log(`argocd: ${n} of ${results.length} files changed in ${out} (repo ${options.repoUrl})`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      error(`argocd: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ArgoCdOptionsError) {
      error(err.message);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  process.exitCode = main();
}
