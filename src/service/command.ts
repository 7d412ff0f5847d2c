import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, ExitCode } from '../errors';
import { addServeOptions, checkSettings, openSettingsSource, resolveSettings } from '../settings';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, leaseProblems } from './lease-settings';
import { EXAMPLE_FLEET, MongoSource } from '../source';
import { DEFAULT_STREAM } from './events';
import { DEFAULT_MAX_QUERY_JOBS } from './query/server';
import { createLogger } from './logger';
import { MinioSettings, minioSettingsFromEnv } from './query/minio';
import { DEFAULT_COALESCE_MS, DEFAULT_RECONCILE_MS, parseInterval } from './resync';
import { ServeSource, startServe } from './serve';

const portArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number');
  return n;
};
const intervalArg = (v: string) => {
  try {
    return parseInterval(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const msArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer (milliseconds)');
  return n;
};

const eventsFromArg = (v: string): 'new' | 'all' => {
  if (v !== 'new' && v !== 'all') throw new InvalidArgumentError('must be "new" or "all"');
  return v;
};
const countArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** Adds `fleetsynth serve`: the live service (events → Git, Secrets, query API, health). */
export function registerServeCommand(program: Command, io: { out: (s: string) => void; err: (s: string) => void }, setExit: (code: number) => void, env: NodeJS.ProcessEnv): Command {
  return addServeOptions(
    program
      .command('serve')
      .description('live service: NATS events → MongoDB writes → one commit per burst; per-bot Secrets; query API on --port; health on --health-port')
      .option('--repo <url|path>', 'GitOps repository Argo CD watches (env GITOPS_REPO)')
      .option('--branch <name>', 'branch to push (env GITOPS_BRANCH)', env.GITOPS_BRANCH || 'main')
      .option('--path <dir>', 'output root inside the repository (env GITOPS_PATH)', env.GITOPS_PATH || 'dist')
      .option('--work-dir <dir>', 'local working copy owned by fleetsynth (env WORK_DIR)', env.WORK_DIR || path.join(os.tmpdir(), 'fleetsynth-work'))
      .option('--port <n>', 'query API port', portArg, 9477)
      .option('--health-port <n>', 'port of /healthz, /readyz, /metrics', portArg, 8080)
      .option('--nats-stream <name>', 'JetStream stream of bot events (env NATS_STREAM)', env.NATS_STREAM || DEFAULT_STREAM)
      .option('--nats-subject-prefix <prefix>', 'prefix of the event subjects, for a shared NATS account or tests (env NATS_SUBJECT_PREFIX)', env.NATS_SUBJECT_PREFIX || '')
      .option('--reconcile-interval <d>', 'full reconcile period: 300, 300s, 5m (env RECONCILE_INTERVAL)', intervalArg)
      .option('--coalesce-ms <ms>', 'events within this window become one commit', msArg, DEFAULT_COALESCE_MS)
      .option('--events-from <new|all>', 'where the durable consumer starts when it does not exist yet: new events only, or all the stream keeps (env NATS_EVENTS_FROM)', eventsFromArg)
      .option('--max-query-jobs <n>', 'scheduled-bot query Jobs running at once; more fail fast with a 500 (env MAX_QUERY_JOBS)', countArg)
      .option('--allow-mass-delete', 'let a full reconcile remove more than max(10, 20 %) of the bot files')
      .option('--kubeconfig <file>', 'kubeconfig for per-bot Secrets and query Jobs (default: in-cluster, KUBECONFIG, ~/.kube/config)'),
  ).action(async (o) => {
    const resolved = await resolveSettings(o, env);
    const settings = resolved.render;
    const problems = checkSettings(settings);
    const repo = (o.repo as string | undefined) ?? env.GITOPS_REPO;
    if (!repo) problems.push('--repo (or GITOPS_REPO) is required: the GitOps repository to publish to');
    // A flag wins; else its env var, parsed the same way (a bad value is a problem, not a crash).
    const fromEnv = <T>(flag: T | undefined, name: string, parse: (v: string) => T): T | undefined => {
      if (flag !== undefined || !env[name]) return flag;
      try {
        return parse(env[name]!);
      } catch (e) {
        problems.push(`${name}: ${(e as Error).message}`);
        return undefined;
      }
    };
    const reconcileMs = fromEnv(o.reconcileInterval as number | undefined, 'RECONCILE_INTERVAL', parseInterval);
    const maxQueryJobs = fromEnv(o.maxQueryJobs as number | undefined, 'MAX_QUERY_JOBS', countArg) ?? DEFAULT_MAX_QUERY_JOBS;
    const eventsFrom = fromEnv(o.eventsFrom as 'new' | 'all' | undefined, 'NATS_EVENTS_FROM', eventsFromArg);
    let minio: MinioSettings | null = null;
    try {
      minio = minioSettingsFromEnv(env);
    } catch (e) {
      problems.push((e as Error).message);
    }
    const lead = resolved.leader;
    if (lead.enabled) {
      problems.push(
        ...leaseProblems({
          durationMs: lead.durationMs ?? DEFAULT_LEASE_DURATION_MS,
          renewDeadlineMs: lead.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS,
          retryPeriodMs: lead.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS,
        }),
      );
    }
    if (problems.length > 0) throw new ConfigError(problems, { hint: 'run `fleetsynth serve --help` for the flags and the env vars they read' });

    const src = openSettingsSource(resolved.source);
    const source: ServeSource = src instanceof MongoSource ? { mongo: src } : { file: src.describe(), readOnly: src.describe() === EXAMPLE_FLEET };
    const logger = createLogger({ level: env.LOG_LEVEL });
    if ('file' in source && source.readOnly) logger.warn({ file: source.file }, 'serving the embedded example fleet read-only: events are not written anywhere (use --source or MONGO_URI)');
    const handle = await startServe({
      source,
      settings,
      repo: repo!,
      branch: o.branch,
      path: o.path,
      workDir: o.workDir,
      natsUrl: settings.natsUrl,
      stream: o.natsStream,
      subjectPrefix: o.natsSubjectPrefix,
      port: o.port,
      healthPort: o.healthPort,
      coalesceMs: o.coalesceMs,
      maxQueryJobs,
      eventsFrom,
      reconcileMs: reconcileMs ?? DEFAULT_RECONCILE_MS,
      kubeconfig: o.kubeconfig,
      minio,
      allowMassDelete: o.allowMassDelete === true,
      leader: lead.enabled ? { name: lead.name, durationMs: lead.durationMs, renewDeadlineMs: lead.renewDeadlineMs, retryPeriodMs: lead.retryPeriodMs, identity: lead.identity } : false,
      logger,
    });
    // Runs until SIGTERM (Kubernetes) or SIGINT; then finishes the pending commit and push.
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        logger.info({ signal: sig }, 'signal received');
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    await handle.stop();
    setExit(ExitCode.OK);
  });
}
