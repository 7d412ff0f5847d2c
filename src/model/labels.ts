// Names of the the0 contract and fleetsynth's own marks, without the constructs (light to load:
// the writer and the render workers use them).

/** Label keys of the the0 contract (SPEC §2.2). */
export const LABELS = {
  botId: 'the0.app/bot-id',
  scheduleId: 'the0.app/schedule-id',
  customBotId: 'the0.app/custom-bot-id',
  customBotVersion: 'the0.app/custom-bot-version',
  runtime: 'the0.app/runtime',
  managedBy: 'the0.app/managed-by',
  query: 'the0.app/query',
} as const;

/** Marks every object fleetsynth renders or writes; the writer only ever removes files carrying it. */
export const FLEETSYNTH_LABEL = { 'app.kubernetes.io/managed-by': 'fleetsynth' } as const;

/** Annotation keys. */
export const ANNOTATIONS = {
  configHash: 'the0.app/config-hash',
  scheduleHash: 'the0.app/schedule-hash',
  config: 'fleetsynth.io/config',
  /** The rollout generation a bot's object was rendered with (metadata only, so a pod never restarts for it). */
  generation: 'fleetsynth.io/generation',
} as const;

/** `the0.app/managed-by` values the0 uses, kept so existing tooling still recognises the pods. */
export const MANAGED_BY = {
  realtime: 'the0-bot-controller',
  scheduled: 'the0-schedule-controller',
  query: 'the0-query-handler',
} as const;

/** Port of the query sidecar in a bot pod. */
export const QUERY_PORT = 9476;
