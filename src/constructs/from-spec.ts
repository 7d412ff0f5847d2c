// From fleetsynth's internal model (a validated BotSpec and the RenderSettings) to the constructs'
// flat props. Used by src/synth/render.ts (addBot) and the query server, so the constructs
// themselves know nothing of BotSpec or RenderSettings and never see a secret value: only the
// config hash and the redacted config cross over.
import type { BotSpec } from '../model/bot';
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
    image: s.runtimeImage,
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
  };
}

/** Props of a realtime bot's RealtimeBot. */
export function realtimeBotProps(spec: BotSpec, s: RenderSettings): RealtimeBotProps {
  return { ...botPodProps(spec, s), name: spec.objectName, configHash: spec.configHash };
}

/** Props of a schedule's ScheduledBot. */
export function scheduledBotProps(spec: BotSpec, s: RenderSettings): ScheduledBotProps {
  if (spec.schedule === undefined) throw new Error(`schedule ${spec.id} has no converted cron expression`);
  return { ...botPodProps(spec, s), name: spec.objectName, schedule: spec.schedule, configHash: spec.configHash };
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
