import { k8s } from 'cdk8s-plus-28';
import type { BotSpec, Resources } from '../model/bot';
import { configSecretName } from '../model/names';
import { RenderSettings, natsUrlSecretRef } from '../settings';

export { ANNOTATIONS, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, QUERY_PORT } from '../model/labels';
import { LABELS } from '../model/labels';

/** The five emptyDir volumes and where containers mount them (SPEC §2.4). */
const MOUNTS: ReadonlyArray<readonly [string, string]> = [
  ['bot-code', '/bot'],
  ['bot-state', '/state'],
  ['the0', '/var/the0'],
  ['tmp', '/tmp'],
  ['query', '/query'],
];

/** The pod's volumes, all `emptyDir: {}`. */
export function botVolumes(): k8s.Volume[] {
  return MOUNTS.map(([name]) => ({ name, emptyDir: {} }));
}

/** The five mounts of the `bot` and `query-server` containers. */
export function botMounts(): k8s.VolumeMount[] {
  return MOUNTS.map(([name, mountPath]) => ({ name, mountPath }));
}

/** Pod security context of every bot pod (SPEC §2.5). */
export function podSecurityContext(): k8s.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } };
}

/** Container security context of every bot container (SPEC §2.5). */
export function containerSecurityContext(): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: 1000,
    runAsGroup: 1000,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  };
}

/** Kubernetes resource requirements from plain quantities. */
export function resourceRequirements(r: Resources): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.requests.cpu), memory: k8s.Quantity.fromString(r.requests.memory) },
    limits: { cpu: k8s.Quantity.fromString(r.limits.cpu), memory: k8s.Quantity.fromString(r.limits.memory) },
  };
}

/** `sync` sidecar resources (SPEC §2.6). */
export const SYNC_RESOURCES: Resources = { requests: { memory: '64Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '100m' } };
/** `query-server` resources (SPEC §2.6). */
export const QUERY_SERVER_RESOURCES: Resources = { requests: { memory: '32Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '200m' } };

/** MinIO access for the runtime: endpoint, TLS flag and credentials by secretKeyRef only. */
export function minioEnv(s: RenderSettings): k8s.EnvVar[] {
  return [
    { name: 'MINIO_ENDPOINT', value: s.minioEndpoint },
    { name: 'MINIO_USE_SSL', value: s.minioUseSsl ? 'true' : 'false' },
    { name: 'MINIO_ACCESS_KEY', valueFrom: { secretKeyRef: { name: s.minioSecretName, key: 'minio-access-key' } } },
    { name: 'MINIO_SECRET_KEY', valueFrom: { secretKeyRef: { name: s.minioSecretName, key: 'minio-secret-key' } } },
  ];
}

/** Bucket overrides and NATS, passed only when configured (the0 never passed them: SPEC §9 #8). */
export function platformEnv(s: RenderSettings, opts: { code: boolean }): k8s.EnvVar[] {
  const env: k8s.EnvVar[] = [];
  if (opts.code) env.push({ name: 'MINIO_CODE_BUCKET', value: s.minioCodeBucket });
  if (s.minioStateBucket) env.push({ name: 'MINIO_STATE_BUCKET', value: s.minioStateBucket });
  if (s.minioLogsBucket) env.push({ name: 'MINIO_LOGS_BUCKET', value: s.minioLogsBucket });
  if (s.minioQueryResultsBucket !== 'query-results') env.push({ name: 'MINIO_QUERY_RESULTS_BUCKET', value: s.minioQueryResultsBucket });
  const nats = natsEnv(s);
  if (nats) env.push(nats);
  return env;
}

/** `NATS_URL` for a pod: by secretKeyRef when the URL lives in a Secret, else plain; undefined when unset. */
export function natsEnv(s: RenderSettings): k8s.EnvVar | undefined {
  const ref = natsUrlSecretRef(s);
  if (ref) return { name: 'NATS_URL', valueFrom: { secretKeyRef: ref } };
  return s.natsUrl ? { name: 'NATS_URL', value: s.natsUrl } : undefined;
}

/** Which container a bot env list is for. */
export type BotEnvMode =
  | { readonly type: 'realtime' }
  | { readonly type: 'scheduled' }
  | { readonly type: 'query'; readonly queryPath: string; readonly params?: string; readonly resultKey: string };

/** Env of the `bot` / `query-server` containers (SPEC §2.7, §3.3, §4.3). */
export function botEnv(spec: BotSpec, s: RenderSettings, mode: BotEnvMode): k8s.EnvVar[] {
  const entrypoint = mode.type === 'query' ? (spec.queryEntrypoint ?? spec.entrypoint) : spec.entrypoint;
  const env: k8s.EnvVar[] = [
    { name: 'BOT_ID', value: spec.id },
    { name: 'CODE_FILE', value: spec.filePath },
    { name: 'RUNTIME', value: spec.runtime },
    { name: 'ENTRYPOINT', value: entrypoint },
    { name: 'BOT_CONFIG', valueFrom: { secretKeyRef: { name: configSecretName(spec.id), key: 'BOT_CONFIG' } } },
    { name: 'CODE_PATH', value: '/bot' },
    { name: 'STATE_PATH', value: '/state' },
    { name: 'LOGS_PATH', value: '/var/the0/logs' },
    { name: 'STATE_DIR', value: '/state/.the0-state' },
  ];
  if (mode.type === 'realtime') {
    env.push({ name: 'BOT_TYPE', value: 'realtime' });
    if (spec.queryEntrypoint) env.push({ name: 'QUERY_ENTRYPOINT', value: spec.queryEntrypoint });
  } else if (mode.type === 'scheduled') {
    env.push({ name: 'BOT_TYPE', value: 'scheduled' }, { name: 'IS_SCHEDULED', value: 'true' });
  } else {
    env.push({ name: 'QUERY_PATH', value: mode.queryPath });
    if (mode.params !== undefined) env.push({ name: 'QUERY_PARAMS', value: mode.params });
    env.push({ name: 'QUERY_RESULT_KEY', value: mode.resultKey });
  }
  env.push(...minioEnv(s), ...platformEnv(s, { code: true }));
  return env;
}

/** The `bot` container: runs the bot's entrypoint from the code zip the runtime downloads. */
export function botContainer(spec: BotSpec, s: RenderSettings, mode: BotEnvMode, command: string[]): k8s.Container {
  return {
    name: 'bot',
    image: s.runtimeImage,
    imagePullPolicy: s.imagePullPolicy,
    command,
    workingDir: '/bot',
    env: botEnv(spec, s, mode),
    resources: resourceRequirements(spec.resources),
    securityContext: containerSecurityContext(),
    volumeMounts: botMounts(),
  };
}

/** The0 labels of a bot pod or object (SPEC §2.2). */
export function botLabels(spec: BotSpec, managedBy: string): Record<string, string> {
  return {
    [LABELS.botId]: spec.id,
    [LABELS.customBotId]: spec.customBotId,
    [LABELS.customBotVersion]: spec.customBotVersion,
    [LABELS.runtime]: spec.runtime,
    [LABELS.managedBy]: managedBy,
  };
}
