// The one pod-spec builder of every bot pod: the realtime Deployment's template, the CronJob's job
// template and the scheduled-bot query Job all call `botPodTemplate`. A field added to "every bot
// pod" (or a new `pod:` option of the platform config) is one edit here.
import { k8s } from 'cdk8s-plus-28';
import { BOT_RESOURCES, Resources } from '../model/bot';
import { configSecretName } from '../model/names';

export { ANNOTATIONS, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, QUERY_PORT } from '../model/labels';
import { LABELS, QUERY_PORT } from '../model/labels';

/** Default runtime image of every bot container (SPEC §2.4). */
export const DEFAULT_RUNTIME_IMAGE = 'ghcr.io/alexanderwanyoike/the0/runtime:latest';
/** Default namespace of the bot objects (SPEC §6). */
export const DEFAULT_NAMESPACE = 'the0';
/** Default Secret holding `minio-access-key` / `minio-secret-key`. */
export const DEFAULT_MINIO_SECRET = 'the0-secrets';

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

/**
 * Cluster conventions every bot pod follows (the platform config's `pod:` block). Only fields
 * that cannot weaken the contract: no containers, commands, env, volumes or security contexts.
 */
export interface BotPodOptions {
  /** Node labels the pod must run on. @default none */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Tolerations, e.g. of a tainted bot node pool. @default none */
  readonly tolerations?: readonly k8s.Toleration[];
  /** Node and pod (anti-)affinity. @default none */
  readonly affinity?: k8s.Affinity;
  /** How bot pods spread over zones or nodes. @default none */
  readonly topologySpreadConstraints?: readonly k8s.TopologySpreadConstraint[];
  /** PriorityClass of the pod. @default none (the cluster default) */
  readonly priorityClassName?: string;
  /** RuntimeClass of the pod (e.g. gVisor for untrusted bot code). @default none */
  readonly runtimeClassName?: string;
  /** Names of docker-registry Secrets to pull the runtime image with. @default none */
  readonly imagePullSecrets?: readonly string[];
  /** Extra pod labels (never `the0.app/*`). @default none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Extra pod annotations (never `the0.app/*` or `fleetsynth.io/*`). @default none */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Seconds a stopping bot gets, e.g. to cancel its open orders. @default Kubernetes' 30 */
  readonly terminationGracePeriodSeconds?: number;
  /** DNS resolver options of the pod. @default none */
  readonly dnsConfig?: k8s.PodDnsConfig;
}

/** Props every bot pod takes: the bot, the runtime image and the platform it talks to. */
export interface BotPodProps {
  /** Bot id (`the0.app/bot-id`, `BOT_ID`): an RFC 1123 label. */
  readonly botId: string;
  /** Language runtime (`RUNTIME`, `the0.app/runtime`), e.g. `python3.11`. */
  readonly runtime: string;
  /** Bot entrypoint inside the code zip (`ENTRYPOINT`). */
  readonly entrypoint: string;
  /** Query entrypoint (`QUERY_ENTRYPOINT`). @default none: the bot answers no queries */
  readonly queryEntrypoint?: string;
  /** Object key of the code zip in the code bucket (`CODE_FILE`). */
  readonly codeFile: string;
  /** `the0.app/custom-bot-id` label value, already sanitized. */
  readonly customBotId: string;
  /** `the0.app/custom-bot-version` label value, already sanitized. @default '' */
  readonly customBotVersion?: string;
  /** The bot's config with secret values redacted, compact JSON (`fleetsynth.io/config`); never a secret value. @default '{}' */
  readonly redactedConfig?: string;
  /** Namespace of the objects. @default 'the0' */
  readonly namespace?: string;
  /** Runtime image of every container. @default DEFAULT_RUNTIME_IMAGE */
  readonly image?: string;
  /** Pull policy of the runtime image. @default 'IfNotPresent' */
  readonly imagePullPolicy?: string;
  /** `bot` container requests and limits. @default SPEC §2.6 (256Mi/100m, limits 768Mi/500m) */
  readonly resources?: Resources;
  /** MinIO endpoint the runtime uses (`MINIO_ENDPOINT`). @default 'minio:9000' */
  readonly minioEndpoint?: string;
  /** Whether the runtime uses TLS to MinIO (`MINIO_USE_SSL`). @default false */
  readonly minioUseSsl?: boolean;
  /** Secret with `minio-access-key` / `minio-secret-key`. @default 'the0-secrets' */
  readonly minioSecretName?: string;
  /** Code bucket (`MINIO_CODE_BUCKET`). @default 'custom-bots' */
  readonly minioCodeBucket?: string;
  /** State bucket override (`MINIO_STATE_BUCKET`). @default the runtime's own */
  readonly minioStateBucket?: string;
  /** Logs bucket override (`MINIO_LOGS_BUCKET`). @default the runtime's own */
  readonly minioLogsBucket?: string;
  /** Query results bucket (`MINIO_QUERY_RESULTS_BUCKET`, passed only when not the default). @default 'query-results' */
  readonly minioQueryResultsBucket?: string;
  /** NATS URL for live logs (`NATS_URL`). @default none: log streaming off */
  readonly natsUrl?: string;
  /** Secret key `NATS_URL` is read from instead (a URL with credentials never goes to Git). @default none: `natsUrl` as a plain value */
  readonly natsUrlSecret?: { readonly name: string; readonly key: string };
  /** Cluster conventions of the pod (node pool, pull secrets, labels, ...). @default none */
  readonly pod?: BotPodOptions;
}

/** Which container a bot env list is for. */
export type BotEnvMode =
  | { readonly type: 'realtime' }
  | { readonly type: 'scheduled' }
  | { readonly type: 'query'; readonly queryPath: string; readonly params?: string; readonly resultKey: string };

/** MinIO access for the runtime: endpoint, TLS flag and credentials by secretKeyRef only. */
export function minioEnv(p: BotPodProps): k8s.EnvVar[] {
  const secret = p.minioSecretName ?? DEFAULT_MINIO_SECRET;
  return [
    { name: 'MINIO_ENDPOINT', value: p.minioEndpoint ?? 'minio:9000' },
    { name: 'MINIO_USE_SSL', value: p.minioUseSsl ? 'true' : 'false' },
    { name: 'MINIO_ACCESS_KEY', valueFrom: { secretKeyRef: { name: secret, key: 'minio-access-key' } } },
    { name: 'MINIO_SECRET_KEY', valueFrom: { secretKeyRef: { name: secret, key: 'minio-secret-key' } } },
  ];
}

/** Bucket overrides and NATS, passed only when configured (the0 never passed them: SPEC §9 #8). */
export function platformEnv(p: BotPodProps, opts: { code: boolean }): k8s.EnvVar[] {
  const env: k8s.EnvVar[] = [];
  if (opts.code) env.push({ name: 'MINIO_CODE_BUCKET', value: p.minioCodeBucket ?? 'custom-bots' });
  if (p.minioStateBucket) env.push({ name: 'MINIO_STATE_BUCKET', value: p.minioStateBucket });
  if (p.minioLogsBucket) env.push({ name: 'MINIO_LOGS_BUCKET', value: p.minioLogsBucket });
  const results = p.minioQueryResultsBucket ?? 'query-results';
  if (results !== 'query-results') env.push({ name: 'MINIO_QUERY_RESULTS_BUCKET', value: results });
  const nats = natsEnv(p);
  if (nats) env.push(nats);
  return env;
}

/** `NATS_URL` for a pod: by secretKeyRef when the URL lives in a Secret, else plain; undefined when unset. */
export function natsEnv(p: { readonly natsUrl?: string; readonly natsUrlSecret?: { readonly name: string; readonly key: string } }): k8s.EnvVar | undefined {
  if (p.natsUrlSecret) return { name: 'NATS_URL', valueFrom: { secretKeyRef: { name: p.natsUrlSecret.name, key: p.natsUrlSecret.key } } };
  return p.natsUrl ? { name: 'NATS_URL', value: p.natsUrl } : undefined;
}

/** Env of the `bot` / `query-server` containers (SPEC §2.7, §3.3, §4.3). */
export function botEnv(p: BotPodProps, mode: BotEnvMode): k8s.EnvVar[] {
  const entrypoint = mode.type === 'query' ? (p.queryEntrypoint || p.entrypoint) : p.entrypoint;
  const env: k8s.EnvVar[] = [
    { name: 'BOT_ID', value: p.botId },
    { name: 'CODE_FILE', value: p.codeFile },
    { name: 'RUNTIME', value: p.runtime },
    { name: 'ENTRYPOINT', value: entrypoint },
    { name: 'BOT_CONFIG', valueFrom: { secretKeyRef: { name: configSecretName(p.botId), key: 'BOT_CONFIG' } } },
    { name: 'CODE_PATH', value: '/bot' },
    { name: 'STATE_PATH', value: '/state' },
    { name: 'LOGS_PATH', value: '/var/the0/logs' },
    { name: 'STATE_DIR', value: '/state/.the0-state' },
  ];
  if (mode.type === 'realtime') {
    env.push({ name: 'BOT_TYPE', value: 'realtime' });
    if (p.queryEntrypoint) env.push({ name: 'QUERY_ENTRYPOINT', value: p.queryEntrypoint });
  } else if (mode.type === 'scheduled') {
    env.push({ name: 'BOT_TYPE', value: 'scheduled' }, { name: 'IS_SCHEDULED', value: 'true' });
  } else {
    env.push({ name: 'QUERY_PATH', value: mode.queryPath });
    if (mode.params !== undefined) env.push({ name: 'QUERY_PARAMS', value: mode.params });
    env.push({ name: 'QUERY_RESULT_KEY', value: mode.resultKey });
  }
  env.push(...minioEnv(p), ...platformEnv(p, { code: true }));
  return env;
}

/** A runtime-image container with the hardened security context (every bot container is one). */
function runtimeContainer(p: BotPodProps, c: Omit<k8s.Container, 'image' | 'imagePullPolicy' | 'securityContext'>): k8s.Container {
  return { ...c, image: p.image ?? DEFAULT_RUNTIME_IMAGE, imagePullPolicy: p.imagePullPolicy ?? 'IfNotPresent', securityContext: containerSecurityContext() };
}

/** The `bot` container: runs the bot's entrypoint from the code zip the runtime downloads. */
export function botContainer(p: BotPodProps, mode: BotEnvMode, command: string[]): k8s.Container {
  return runtimeContainer(p, {
    name: 'bot',
    command,
    workingDir: '/bot',
    env: botEnv(p, mode),
    resources: resourceRequirements(p.resources ?? BOT_RESOURCES),
    volumeMounts: botMounts(),
  });
}

/** The `query-server` container of a query-capable realtime bot (SPEC §2.4). */
export function queryServerContainer(p: BotPodProps, resources: Resources = QUERY_SERVER_RESOURCES): k8s.Container {
  return runtimeContainer(p, {
    name: 'query-server',
    command: ['/app/runtime', 'execute', '--query-server-only'],
    workingDir: '/bot',
    env: botEnv(p, { type: 'realtime' }),
    ports: [{ name: 'query', containerPort: QUERY_PORT, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(QUERY_PORT) }, periodSeconds: 5 },
    resources: resourceRequirements(resources),
    volumeMounts: botMounts(),
  });
}

/** The `sync` native sidecar (Kubernetes >= 1.29): restores state, uploads state and logs while the bot runs. */
export function syncContainer(p: BotPodProps, resources: Resources = SYNC_RESOURCES): k8s.Container {
  return runtimeContainer(p, {
    name: 'sync',
    restartPolicy: 'Always',
    command: ['/app/runtime', 'daemon', 'sync'],
    args: ['--bot-id', p.botId, '--state-path', '/state', '--logs-path', '/var/the0/logs', '--readiness-port', '8079'],
    env: [...minioEnv(p), ...platformEnv(p, { code: false })],
    startupProbe: {
      httpGet: { path: '/readyz', port: k8s.IntOrString.fromNumber(8079) },
      initialDelaySeconds: 0,
      periodSeconds: 1,
      failureThreshold: 30,
    },
    resources: resourceRequirements(resources),
    volumeMounts: [
      { name: 'bot-state', mountPath: '/state' },
      { name: 'the0', mountPath: '/var/the0' },
    ],
  });
}

/** The0 labels of a realtime bot's or query Job's pod and objects (SPEC §2.2). */
export function botLabels(p: BotPodProps, managedBy: string): Record<string, string> {
  return {
    [LABELS.botId]: p.botId,
    [LABELS.customBotId]: p.customBotId,
    [LABELS.customBotVersion]: p.customBotVersion ?? '',
    [LABELS.runtime]: p.runtime,
    [LABELS.managedBy]: managedBy,
  };
}

/** What differs between the three bot pods; everything else is shared. */
export interface BotPodParts {
  /** The contract's labels of this pod kind (they win over `pod.labels`). */
  readonly labels: Record<string, string>;
  /** The contract's annotations of this pod kind (they win over `pod.annotations`). */
  readonly annotations?: Record<string, string>;
  /** `Always` for a Deployment, `Never` for Jobs. */
  readonly restartPolicy: 'Always' | 'Never';
  /** Init containers (the realtime `sync` sidecar). */
  readonly initContainers?: k8s.Container[];
  /** The containers, `bot` first. */
  readonly containers: k8s.Container[];
}

/**
 * The pod template of every bot pod: the contract's hardening (no service links, no token,
 * non-root, the five emptyDirs) plus the cluster's conventions from `props.pod`.
 */
export function botPodTemplate(props: BotPodProps, parts: BotPodParts): k8s.PodTemplateSpec {
  const o = props.pod ?? {};
  const annotations = o.annotations || parts.annotations ? { ...o.annotations, ...parts.annotations } : undefined;
  return {
    metadata: { labels: { ...o.labels, ...parts.labels }, ...(annotations ? { annotations } : {}) },
    spec: {
      restartPolicy: parts.restartPolicy,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(),
      ...(parts.initContainers ? { initContainers: parts.initContainers } : {}),
      containers: parts.containers,
      volumes: botVolumes(),
      nodeSelector: o.nodeSelector ? { ...o.nodeSelector } : undefined,
      tolerations: o.tolerations ? [...o.tolerations] : undefined,
      affinity: o.affinity,
      topologySpreadConstraints: o.topologySpreadConstraints ? [...o.topologySpreadConstraints] : undefined,
      priorityClassName: o.priorityClassName,
      runtimeClassName: o.runtimeClassName,
      imagePullSecrets: o.imagePullSecrets?.map((name) => ({ name })),
      terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
      dnsConfig: o.dnsConfig,
    },
  };
}
