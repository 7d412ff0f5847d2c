// Scheduled bots have no running pod to ask: each query runs the query entrypoint once in an
// ephemeral Job, whose result the runtime uploads to the query-results bucket (SPEC §4.3).
import type { Logger } from 'pino';
import { renderQueryJob } from '../../constructs/query-job';
import { objectProblems } from '../../synth/validate';
import type { BotSpec } from '../../model/bot';
import type { RenderSettings } from '../../settings';
import type { KubeAccess } from '../kube';
import type { Cancellation } from './cancel';
import { Envelope, QueryFailure, parseEnvelope } from './envelope';
import type { ResultStore } from './minio';

/** One scheduled-bot query. */
export interface ScheduledQuery {
  /** The validated bot. */
  readonly spec: BotSpec;
  /** Render settings (image, MinIO env …); the namespace is the API access's. */
  readonly settings: RenderSettings;
  /** API access (create, poll and delete the Job). */
  readonly kube: KubeAccess;
  /** Result objects. */
  readonly results: ResultStore;
  /** Path with its leading `/`. */
  readonly queryPath: string;
  /** Params (`QUERY_PARAMS` when non-empty). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Timeout in seconds: the Job's `activeDeadlineSeconds` and how long we wait. */
  readonly timeoutSec: number;
  /** Unique Unix nanoseconds of this query (Job name suffix and result key). */
  readonly nanos: bigint;
  /** Milliseconds between two Job status reads (SPEC: 500). */
  readonly pollIntervalMs: number;
  /** Cancels the wait (client gone, server closing); the Job is still deleted. */
  readonly cancel?: Cancellation;
  /** Server-side log; never gets params or results. */
  readonly logger: Logger;
}

/** `<bot_id>/<unix-nanoseconds>/result.json` (SPEC §4.3). */
export function resultKey(botId: string, nanos: bigint): string {
  return `${botId}/${nanos}/result.json`;
}

/** Runs the query Job, waits for it, and returns the bot's envelope from the result object. */
export async function queryScheduled(q: ScheduledQuery): Promise<Envelope> {
  const key = resultKey(q.spec.id, q.nanos);
  const job = renderQueryJob(q.spec, { ...q.settings, namespace: q.kube.namespace }, {
    queryPath: q.queryPath,
    params: q.params,
    resultKey: key,
    timeoutSec: q.timeoutSec,
    nowNanos: q.nanos,
  });
  const name = (job.metadata as { name: string }).name;
  const log = q.logger.child({ bot_id: q.spec.id, job: name });
  // Checked as the API server would, before a pod is asked for (a refused Job is a 500 either way,
  // but this one names the field and costs no API call).
  const problems = objectProblems([job]);
  if (problems.length > 0) {
    log.error({ problems }, 'query job would be refused by the API server');
    throw new QueryFailure(`query job would be refused by the API server: ${problems[0]}`);
  }
  const deadline = Date.now() + q.timeoutSec * 1000;

  try {
    await q.kube.createJob(job);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'creating query job failed');
    throw new QueryFailure(`creating query job failed: ${(e as Error).message}`);
  }

  let answered = false;
  try {
    let lastError: string | undefined;
    for (;;) {
      const wait = Math.min(q.pollIntervalMs, deadline - Date.now());
      if (wait <= 0) {
        log.warn({ timeout_sec: q.timeoutSec, last_error: lastError }, 'query job deadline reached');
        throw new QueryFailure(`query timed out after ${q.timeoutSec}s`);
      }
      await sleep(wait, q.cancel);
      let state;
      try {
        state = await q.kube.readJob(name);
      } catch (e) {
        // A blip of the API server is not the query's failure: keep polling until the deadline.
        lastError = (e as Error).message;
        log.warn({ err: lastError }, 'reading query job status failed');
        continue;
      }
      if (state === null) throw new QueryFailure('query job disappeared before it finished');
      if ((state.succeeded ?? 0) > 0) break;
      if ((state.failed ?? 0) > 0) {
        await logFailure(q, name, state.reason, state.message, log);
        throw new QueryFailure('query job failed');
      }
    }
    let body: Buffer | null;
    try {
      body = await q.results.take(key);
    } catch (e) {
      throw new QueryFailure((e as Error).message);
    }
    answered = true;
    if (body === null) throw new QueryFailure('query job succeeded but left no result');
    return parseEnvelope(body.toString('utf8'), 'query job');
  } finally {
    try {
      await q.kube.deleteJob(name);
    } catch (e) {
      // ttlSecondsAfterFinished removes it at the latest 300 s after it finished.
      log.warn({ err: (e as Error).message }, 'deleting query job failed');
    }
    // A result uploaded after we gave up must not stay behind.
    if (!answered) await q.results.remove(key).catch(() => undefined);
  }
}

// the0 returned the pod's raw log to the API caller (SPEC §9 #24); it only goes to our log.
async function logFailure(q: ScheduledQuery, name: string, reason: string | undefined, message: string | undefined, log: Logger) {
  let tail: string | null = null;
  if (q.kube.jobLogs) {
    try {
      tail = await q.kube.jobLogs(name, 50);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'reading query job log failed');
    }
  }
  log.warn({ reason, message, log: tail ?? undefined }, 'query job failed');
}

function sleep(ms: number, cancel?: Cancellation): Promise<void> {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const t = setTimeout(() => {
      unsubscribe();
      resolve();
    }, ms);
    if (cancel) {
      unsubscribe = cancel.onCancel(() => {
        clearTimeout(t);
        reject(new QueryFailure('query cancelled'));
      });
    }
  });
}
