import * as fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { registerArgoCdCommand } from './argocd/generate';
import { registerGitopsCommands } from './gitops/commands';
import { buildFleet } from './model/fleet';
import { modelOptions } from './model/bot';
import { failureMessage, reportSynth, runSynth } from './run-synth';
import { registerServeCommand } from './service/command';
import { RenderSettings, renderSettingsFromEnv } from './settings';
import { SourceError, mongoNamesFromEnv, openSource } from './source';

const intArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};

/** Render-setting flags shared by synth, diff, publish and serve. */
export function addRenderOptions(cmd: Command): Command {
  return cmd
    .option('--source <uri|path>', 'mongodb:// URI or fleet file (YAML/JSON); default: $FLEET_SOURCE, $MONGO_URI, else examples/fleet.yaml')
    .option('--namespace <ns>', 'namespace of the bot objects (env NAMESPACE)')
    .option('--shards <n>', 'number of shard directories (env SHARDS)', intArg)
    .option('--runtime-image <image>', 'runtime image of every bot container (env RUNTIME_IMAGE)')
    .option('--minio-secret <name>', 'Secret with minio-access-key / minio-secret-key (env MINIO_SECRET_NAME)')
    .option('--minio-endpoint <host:port>', 'MinIO endpoint passed to pods (env MINIO_ENDPOINT)')
    .option('--minio-bucket <bucket>', 'code bucket passed to pods as MINIO_CODE_BUCKET (env MINIO_BUCKET)')
    .option('--nats-url <url>', 'NATS URL passed to pods for live logs (env NATS_URL); a URL with credentials needs --nats-url-secret')
    .option('--nats-url-secret <secret[/key]>', 'Secret pods read NATS_URL from (key default nats-url) instead of a plain value (env NATS_URL_SECRET)')
    .option('--config-hash-key <key>', 'key of a keyed (HMAC) config hash instead of the0\'s plain one (env CONFIG_HASH_KEY; prefer the env or --config-hash-key-file: flags show in ps)')
    .option('--config-hash-key-file <file>', 'file holding the config hash key, e.g. a mounted Secret (trailing newline ignored)')
    .option('--secret-keys <keys>', 'extra config key names treated as secret, comma-separated (env SECRET_KEYS)')
    .option('--bots-db <db>', 'database of realtime bots (env BOTS_DB)')
    .option('--schedules-db <db>', 'database of schedules (env SCHEDULES_DB)');
}

/** Settings from env, then flags. */
export function settingsFrom(o: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): RenderSettings {
  const base = renderSettingsFromEnv(env);
  return {
    ...base,
    namespace: (o.namespace as string) ?? base.namespace,
    shards: (o.shards as number) ?? base.shards,
    runtimeImage: (o.runtimeImage as string) ?? base.runtimeImage,
    minioSecretName: (o.minioSecret as string) ?? base.minioSecretName,
    minioEndpoint: (o.minioEndpoint as string) ?? base.minioEndpoint,
    minioCodeBucket: (o.minioBucket as string) ?? base.minioCodeBucket,
    natsUrl: (o.natsUrl as string) ?? base.natsUrl,
    natsUrlSecret: (o.natsUrlSecret as string) ?? base.natsUrlSecret,
    configHashKey: (o.configHashKey as string) ?? readKeyFile(o.configHashKeyFile as string | undefined) ?? base.configHashKey,
    secretKeys: o.secretKeys !== undefined ? String(o.secretKeys).split(',').map((k) => k.trim()).filter(Boolean) : base.secretKeys,
  };
}

function readKeyFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new SourceError(`cannot read --config-hash-key-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Source from flags and env. */
export function sourceFrom(o: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env) {
  const names = mongoNamesFromEnv(env);
  return openSource(o.source as string | undefined, env, {
    ...names,
    botsDb: (o.botsDb as string) ?? names.botsDb,
    schedulesDb: (o.schedulesDb as string) ?? names.schedulesDb,
  });
}

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
    const source = sourceFrom(o);
    try {
      const r = await runSynth({ source, outDir: o.out, settings: settingsFrom(o), allowEmpty: o.allowEmpty, workers: o.workers, write: !o.dryRun });
      setExit(reportSynth(r, io.out, io.err));
    } finally {
      await source.close();
    }
  });

  addRenderOptions(
    program.command('validate').description('check every document (ids, runtimes, crons, paths, quantities, name collisions) and render nothing'),
  ).action(async (o) => {
    const source = sourceFrom(o);
    try {
      const settings = settingsFrom(o);
      const fleet = buildFleet(await source.read(), modelOptions(settings));
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
