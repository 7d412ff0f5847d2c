import { App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { BotSpec } from '../model/bot';
import type { RenderSettings } from '../settings';
import { queryJobProps } from './from-spec';
import { BotPodProps, DEFAULT_NAMESPACE, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, botContainer, botLabels, botPodTemplate } from './pod';

/** The realtime `bot` command; `QUERY_PATH` in the env switches the runtime to one-shot query mode. */
export const QUERY_JOB_COMMAND: readonly string[] = ['/app/runtime', 'execute', '--skip-sync', '--skip-query-server'];

/** Seconds a finished query Job is kept (the0's value); fleetsynth deletes it earlier itself. */
export const QUERY_JOB_TTL_SECONDS = 300;

const MAX_NAME = 63;

/**
 * `query-<id prefix>-<suffix>`, at most 63 chars. The suffix (the query's unix nanoseconds) is
 * what makes the name unique, so the id is shortened instead, never the suffix (the0 cut the
 * whole name at 63 and lost it: SPEC §9 #13). A cut id loses trailing dashes so no `--` appears.
 */
export function queryJobName(id: string, suffix: string): string {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(suffix)) throw new Error(`query job suffix "${suffix}" is not a DNS label`);
  const room = MAX_NAME - 'query-'.length - 1 - suffix.length;
  if (room < 1) throw new Error(`query job suffix "${suffix}" is too long`);
  const prefix = id.slice(0, room).replace(/-+$/, '');
  return prefix === '' ? `query-${suffix}` : `query-${prefix}-${suffix}`;
}

/** Props of a scheduled-bot query Job. */
export interface QueryJobProps extends BotPodProps {
  /** Query path, with its leading `/` (env `QUERY_PATH`). */
  readonly queryPath: string;
  /** Query params; passed as compact JSON in `QUERY_PARAMS` only when non-empty. @default none */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Object key under the query-results bucket the runtime uploads the result to (`QUERY_RESULT_KEY`). */
  readonly resultKey: string;
  /** Deadline of the whole Job in seconds (`activeDeadlineSeconds`), a positive integer. */
  readonly timeoutSec: number;
  /** Unique suffix of the Job name, e.g. the query's unix nanoseconds. */
  readonly nameSuffix: string;
}

/**
 * An ephemeral Job that runs a scheduled bot's query entrypoint once (SPEC §4.3): one `bot`
 * container, no sidecars, no retries, a hard deadline, garbage-collected after 300 s at the latest.
 */
export class QueryJob extends Construct {
  /** The Job. */
  readonly job: k8s.KubeJob;

  constructor(scope: Construct, id: string, props: QueryJobProps) {
    super(scope, id);
    if (!Number.isInteger(props.timeoutSec) || props.timeoutSec < 1) throw new Error(`query timeout must be a positive integer, got ${props.timeoutSec}`);
    const params = props.params && Object.keys(props.params).length > 0 ? JSON.stringify(props.params) : undefined;
    const podLabels = { ...botLabels(props, MANAGED_BY.query), [LABELS.query]: 'true' };
    this.job = new k8s.KubeJob(this, 'Job', {
      metadata: {
        name: queryJobName(props.botId, props.nameSuffix),
        namespace: props.namespace ?? DEFAULT_NAMESPACE,
        labels: { ...podLabels, ...FLEETSYNTH_LABEL },
      },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: QUERY_JOB_TTL_SECONDS,
        activeDeadlineSeconds: props.timeoutSec,
        // Not selected by the bot's query Service: that selector pins managed-by the0-bot-controller.
        template: botPodTemplate(props, {
          labels: podLabels,
          restartPolicy: 'Never',
          containers: [botContainer(props, { type: 'query', queryPath: props.queryPath, params, resultKey: props.resultKey }, [...QUERY_JOB_COMMAND])],
        }),
      },
    });
  }
}

/** What one query needs besides the bot and the settings. */
export interface QueryJobRequest {
  /** Query path with its leading `/`. */
  readonly queryPath: string;
  /** Query params (may be empty). */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Result object key, `<bot_id>/<unix-nanos>/result.json`. */
  readonly resultKey: string;
  /** Timeout in seconds, already clamped to 1–300. */
  readonly timeoutSec: number;
  /** Unix time of the query in nanoseconds; its decimal digits are the Job name's unique suffix. */
  readonly nowNanos: bigint | number | string;
}

/** The Job object exactly as cdk8s renders it (plain JSON, ready to POST to the API server). */
export function renderQueryJob(spec: BotSpec, settings: RenderSettings, req: QueryJobRequest): Record<string, unknown> {
  const suffix = BigInt(req.nowNanos).toString();
  const app = new App({ outdir: 'unused' });
  const chart = new Chart(app, 'query');
  new QueryJob(chart, 'Query', queryJobProps(spec, settings, { ...req, nameSuffix: suffix }));
  const [job] = chart.toJson();
  return job as Record<string, unknown>;
}
