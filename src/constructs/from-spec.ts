// From fleetsynth's internal model (a validated BotSpec and the RenderSettings) to the constructs'
// flat props. Used by src/synth/render.ts (addBot) and the query server, so the constructs
// themselves know nothing of BotSpec or RenderSettings and never see a secret value: only the
// config hash and the redacted config cross over.
import type { BotSpec } from '../model/bot';
import { natsUrlSecretRef } from '../config/credentials';
import type { RenderSettings } from '../settings';
import type { BotPodProps } from './pod';
import type { QueryJobProps } from './query-job';
import type { RealtimeBotProps } from './realtime-bot';
import type { ScheduledBotProps } from './scheduled-bot';

/** The pod props every bot kind shares. */
export function botPodProps(spec: BotSpec, s: RenderSettings): BotPodProps {
  return {
    botId: spec.id,
    runtime: spec.runtime,
    entrypoint: spec.entrypoint,
    queryEntrypoint: spec.queryEntrypoint,
    codeFile: spec.filePath,
    customBotId: spec.customBotId,
    customBotVersion: spec.customBotVersion,
    redactedConfig: spec.redactedConfig,
    namespace: s.namespace,
    image: spec.platform?.image ?? s.runtimeImage,
    imagePullPolicy: s.imagePullPolicy,
    resources: spec.resources,
    minioEndpoint: s.minioEndpoint,
    minioUseSsl: s.minioUseSsl,
    minioSecretName: s.minioSecretName,
    minioCodeBucket: s.minioCodeBucket,
    minioStateBucket: s.minioStateBucket,
    minioLogsBucket: s.minioLogsBucket,
    minioQueryResultsBucket: s.minioQueryResultsBucket,
    natsUrl: s.natsUrl,
    natsUrlSecret: natsUrlSecretRef(s),
    pod: spec.platform?.pod,
  };
}

/** The bot NetworkPolicy the settings ask for (`networkPolicy.enabled`), else undefined. */
export function botNetworkPolicyOptions(s: RenderSettings): RealtimeBotProps['networkPolicy'] {
  const np = s.networkPolicy;
  if (!np?.enabled) return undefined;
  const minioPort = Number(/:(\d+)$/.exec(s.minioEndpoint)?.[1] ?? (s.minioUseSsl ? 443 : 80));
  const natsPort = s.natsUrl ? Number(/:(\d+)(\/|$)/.exec(s.natsUrl.replace(/^[a-z]+:\/\//, ''))?.[1] ?? 4222) : undefined;
  const { port: mPort, ...minioPeer } = np.minio ?? {};
  const { port: nPort, ...natsPeer } = np.nats ?? {};
  return {
    queryFrom: np.queryFrom,
    dns: np.dns,
    minio: { ...minioPeer, port: mPort ?? minioPort },
    nats: natsPort !== undefined || nPort !== undefined ? { ...natsPeer, port: nPort ?? natsPort! } : undefined,
    egress: np.egress,
  };
}

/** Props of a realtime bot's RealtimeBot. */
export function realtimeBotProps(spec: BotSpec, s: RenderSettings): RealtimeBotProps {
  return {
    ...botPodProps(spec, s),
    name: spec.objectName,
    configHash: spec.configHash,
    ...(s.generation ? { generation: s.generation } : {}),
    syncResources: spec.platform?.syncResources,
    queryServerResources: spec.platform?.queryServerResources,
    networkPolicy: botNetworkPolicyOptions(s),
  };
}

/** Props of a schedule's ScheduledBot. */
export function scheduledBotProps(spec: BotSpec, s: RenderSettings): ScheduledBotProps {
  if (spec.schedule === undefined) throw new Error(`schedule ${spec.id} has no converted cron expression`);
  return { ...botPodProps(spec, s), name: spec.objectName, schedule: spec.schedule, configHash: spec.configHash, ...(s.generation ? { generation: s.generation } : {}), networkPolicy: botNetworkPolicyOptions(s) };
}

/** What one query Job needs besides the bot and the settings. */
export type QueryJobInput = Pick<QueryJobProps, 'queryPath' | 'params' | 'resultKey' | 'timeoutSec' | 'nameSuffix'>;

/** Props of a query Job against `spec`. */
export function queryJobProps(spec: BotSpec, s: RenderSettings, q: QueryJobInput): QueryJobProps {
  return {
    ...botPodProps(spec, s),
    queryPath: q.queryPath,
    params: q.params,
    resultKey: q.resultKey,
    timeoutSec: q.timeoutSec,
    nameSuffix: q.nameSuffix,
  };
}
