// The live service `fleetsynth serve` itself, as Argo CD applies it from `<root>/platform/`:
// Deployment, PodDisruptionBudget, Service, ServiceAccount, Role, RoleBinding, NetworkPolicy. Only kinds the Argo CD
// AppProject whitelists (src/argocd/argocd.ts RENDERED_KINDS), all namespaced, nothing cluster-wide.
import { App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { natsUrlSecretRef } from '../config/credentials';
import type { RenderSettings } from '../settings';
import { DEFAULT_LEASE_NAME } from '../service/lease-settings';
import { stringifyDocuments } from '../synth/yaml';
import { FLEETSYNTH_LABEL, natsEnv } from './pod';

/** Image of fleetsynth itself when none is given (settings.fleetsynthImage, `FLEETSYNTH_IMAGE` in the CLI). */
export const DEFAULT_FLEETSYNTH_IMAGE = 'ghcr.io/fleetsynth/fleetsynth:latest';
/** Name of every platform object. */
export const PLATFORM_NAME = 'fleetsynth';
/** User and group the fleetsynth image runs as (Dockerfile `USER 10001:10001`). */
export const PLATFORM_UID = 10001;
/** Query API port (SPEC §6). */
export const PLATFORM_QUERY_PORT = 9477;
/** Health and metrics port (SPEC §6). */
export const PLATFORM_HEALTH_PORT = 8080;
/** Replicas of serve when `platform.replicas` is not set: one leader writes, every replica answers queries. */
export const DEFAULT_PLATFORM_REPLICAS = 2;
/** Where the git working copy lives (an emptyDir: the repository is the state, not the pod). */
export const PLATFORM_WORK_DIR = '/var/lib/fleetsynth';

/**
 * Keys fleetsynth reads from the platform Secret (`settings.minioSecretName`, default `the0-secrets`):
 * the names the0's Helm chart gives them in `<release>-secrets` (k8s/templates/secrets.yaml).
 */
export const PLATFORM_SECRET_KEYS = {
  minioAccessKey: 'minio-access-key',
  minioSecretKey: 'minio-secret-key',
  /** MongoDB URI (it carries credentials); the chart's key. */
  mongoUri: 'mongo-url',
  /** GitOps repository URL, e.g. `https://x-access-token:<token>@github.com/acme/fleet-gitops.git`. */
  gitopsRepo: 'gitops-repo',
  /** Key of the keyed config hash (only read when fleetsynth runs with one). */
  configHashKey: 'config-hash-key',
  /** The key before a rotation (only read while one rolls out, when fleetsynth runs with one). */
  previousConfigHashKey: 'previous-config-hash-key',
} as const;

/** Props of the platform. */
export interface PlatformProps {
  /** Namespace, bot render settings (passed on, so `serve` renders exactly what `synth` renders). */
  readonly settings: RenderSettings;
  /** fleetsynth image. @default DEFAULT_FLEETSYNTH_IMAGE */
  readonly image?: string;
  /** Branch `serve` pushes to (`GITOPS_BRANCH`). @default serve's own default */
  readonly gitopsBranch?: string;
  /** Output root inside the GitOps repository (`GITOPS_PATH`). @default serve's own default */
  readonly gitopsPath?: string;
}

const SELECTOR = { 'app.kubernetes.io/name': PLATFORM_NAME } as const;

/**
 * Name of the query API Service: the one the0's API calls by default (chart value
 * `the0Api.env.RUNTIME_QUERY_URL: http://the0-bot-controller:9477`, free once the chart runs with
 * `botController.enabled: false`).
 */
export const DEFAULT_QUERY_SERVICE_NAME = 'the0-bot-controller';

/** Pods allowed to call the query API by default: the0's API pods as its chart labels them. */
export const DEFAULT_QUERY_CLIENTS: { readonly podSelector: Readonly<Record<string, string>> } = {
  podSelector: { 'app.kubernetes.io/name': 'the0', 'app.kubernetes.io/component': 'api' },
};

/**
 * The live service: several replicas (default 2) that all answer queries, of which the holder of
 * the `fleetsynth` Lease alone consumes events and writes (src/service/leader.ts); rolling updates
 * that never take a replica away before its successor is ready, a PodDisruptionBudget and a
 * preference for different nodes, so an upgrade, a drain or a lost node never stops the query API. Locked
 * down (non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp), with the
 * least API access it needs and ingress only to its two ports.
 */
export class Platform extends Construct {
  /** The serve Deployment. */
  readonly deployment: k8s.KubeDeployment;
  /** The Role of the service account. */
  readonly role: k8s.KubeRole;
  /** At least one replica through voluntary disruptions (drains, upgrades of nodes). */
  readonly disruptionBudget: k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: PlatformProps) {
    super(scope, id);
    const s = props.settings;
    const p = s.platform ?? {};
    const keys = { ...PLATFORM_SECRET_KEYS, ...p.secretKeys };
    const clients = p.queryClients ?? DEFAULT_QUERY_CLIENTS;
    const labels = { ...SELECTOR, 'app.kubernetes.io/component': 'serve', ...FLEETSYNTH_LABEL };
    const meta = (extra: Record<string, string> = {}) => ({ name: PLATFORM_NAME, namespace: s.namespace, labels: { ...labels, ...extra } });

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: meta() });

    // Kubernetes RBAC cannot scope a rule by label, and `create`/`list` cannot be limited by
    // resourceNames; the names fleetsynth uses (bot-<id>-config, query-<id>-<nanos>) are dynamic.
    // So these rules cover every Secret and Job of this namespace; fleetsynth itself only ever
    // updates or deletes Secrets labelled app.kubernetes.io/managed-by=fleetsynth (SPEC §2.8).
    // Keep the bots in a namespace of their own so "every Secret" means nothing more than theirs
    // and the platform Secret. Nothing is cluster-wide: a Role, never a ClusterRole.
    this.role = new k8s.KubeRole(this, 'Role', {
      metadata: meta(),
      rules: [
        // Per-bot BOT_CONFIG Secrets: server-side apply (patch; create when new), list to prune, delete.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get', 'list', 'patch', 'delete'] },
        // Ephemeral scheduled-bot query Jobs (SPEC §4.3): create, poll, delete. No list, no watch.
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'delete'] },
        // A failed query Job's pod and the tail of its log, logged server-side only.
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
        // Leader election: create the Lease once (create cannot be limited by name), then read and
        // renew only the one Lease serve uses.
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [DEFAULT_LEASE_NAME], verbs: ['get', 'update'] },
      ],
    });

    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: meta(),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: PLATFORM_NAME },
      subjects: [{ kind: 'ServiceAccount', name: PLATFORM_NAME, namespace: s.namespace }],
    });

    new k8s.KubeService(this, 'Service', {
      metadata: { ...meta(), name: p.serviceName ?? DEFAULT_QUERY_SERVICE_NAME },
      spec: {
        type: 'ClusterIP',
        selector: { ...SELECTOR },
        ports: [
          { name: 'query', port: PLATFORM_QUERY_PORT, targetPort: k8s.IntOrString.fromString('query'), protocol: 'TCP' },
          { name: 'metrics', port: PLATFORM_HEALTH_PORT, targetPort: k8s.IntOrString.fromString('health'), protocol: 'TCP' },
        ],
      },
    });

    const secretRef = (key: string) => ({ secretKeyRef: { name: s.minioSecretName, key } });
    const env: k8s.EnvVar[] = [
      { name: 'NAMESPACE', value: s.namespace },
      // The replica's identity in the Lease (holderIdentity) and where it runs.
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'MONGO_URI', valueFrom: secretRef(keys.mongoUri) },
      { name: 'GITOPS_REPO', valueFrom: secretRef(keys.gitopsRepo) },
      // serve hashes configs as this run does; the key itself never leaves the Secret.
      ...(s.configHashKey ? [{ name: 'CONFIG_HASH_KEY', valueFrom: secretRef(keys.configHashKey) }] : []),
      ...(s.previousConfigHashKey ? [{ name: 'PREVIOUS_CONFIG_HASH_KEY', valueFrom: secretRef(keys.previousConfigHashKey) }] : []),
      ...(props.gitopsBranch ? [{ name: 'GITOPS_BRANCH', value: props.gitopsBranch }] : []),
      ...(props.gitopsPath ? [{ name: 'GITOPS_PATH', value: props.gitopsPath }] : []),
      { name: 'WORK_DIR', value: `${PLATFORM_WORK_DIR}/work` },
      ...[natsEnv({ natsUrl: s.natsUrl, natsUrlSecret: natsUrlSecretRef(s) })].filter((e): e is k8s.EnvVar => e !== undefined),
      // serve renders the bots as this run does: NATS_URL by secretKeyRef too.
      ...(s.natsUrlSecret ? [{ name: 'NATS_URL_SECRET', value: s.natsUrlSecret }] : []),
      { name: 'MINIO_ENDPOINT', value: s.minioEndpoint },
      { name: 'MINIO_USE_SSL', value: s.minioUseSsl ? 'true' : 'false' },
      { name: 'MINIO_ACCESS_KEY', valueFrom: secretRef(keys.minioAccessKey) },
      { name: 'MINIO_SECRET_KEY', valueFrom: secretRef(keys.minioSecretKey) },
      { name: 'MINIO_SECRET_NAME', value: s.minioSecretName },
      { name: 'MINIO_BUCKET', value: s.minioCodeBucket },
      ...(s.minioStateBucket ? [{ name: 'MINIO_STATE_BUCKET', value: s.minioStateBucket }] : []),
      ...(s.minioLogsBucket ? [{ name: 'MINIO_LOGS_BUCKET', value: s.minioLogsBucket }] : []),
      { name: 'MINIO_QUERY_RESULTS_BUCKET', value: s.minioQueryResultsBucket },
      { name: 'RUNTIME_IMAGE', value: s.runtimeImage },
      { name: 'RUNTIME_IMAGE_PULL_POLICY', value: s.imagePullPolicy },
      { name: 'SHARDS', value: String(s.shards) },
      ...(s.secretKeys.length > 0 ? [{ name: 'SECRET_KEYS', value: s.secretKeys.join(',') }] : []),
      // git and npm want a writable home; the root filesystem is read-only.
      { name: 'HOME', value: '/tmp' },
      { name: 'NODE_ENV', value: 'production' },
    ];

    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: meta(),
      spec: {
        // One writer through the Lease; the others answer queries and take over when it goes.
        replicas: p.replicas ?? DEFAULT_PLATFORM_REPLICAS,
        // A new pod is ready (answers queries) before an old one stops; the old leader releases the
        // Lease on SIGTERM and the next replica takes it at its next attempt.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromNumber(1) } },
        selector: { matchLabels: { ...SELECTOR } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: PLATFORM_NAME,
            // Replicas on different nodes (and zones) when the cluster has room: a lost node takes
            // at most one of them. Preferred, not required: a one-node cluster still runs them all.
            topologySpreadConstraints: [
              { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...SELECTOR } } },
              { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...SELECTOR } } },
            ],
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { ...SELECTOR } } } },
                ],
              },
            },
            // The token is needed: serve writes Secrets and query Jobs through the API server.
            automountServiceAccountToken: true,
            enableServiceLinks: false,
            // A running scheduled-bot query may take up to 300 s; let in-flight work finish.
            terminationGracePeriodSeconds: 60,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: PLATFORM_UID,
              runAsGroup: PLATFORM_UID,
              fsGroup: PLATFORM_UID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'fleetsynth',
                image: props.image ?? DEFAULT_FLEETSYNTH_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                args: ['serve'],
                ports: [
                  { name: 'query', containerPort: PLATFORM_QUERY_PORT, protocol: 'TCP' },
                  { name: 'health', containerPort: PLATFORM_HEALTH_PORT, protocol: 'TCP' },
                ],
                env,
                livenessProbe: {
                  httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('health') },
                  initialDelaySeconds: 10,
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 6,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('health') },
                  periodSeconds: 5,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('250m'), memory: k8s.Quantity.fromString('512Mi') },
                  // No CPU limit (throttling slows a full render); memory bounded.
                  limits: { memory: k8s.Quantity.fromString('2Gi') },
                },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: PLATFORM_UID,
                  runAsGroup: PLATFORM_UID,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                volumeMounts: [
                  { name: 'tmp', mountPath: '/tmp' },
                  { name: 'work', mountPath: PLATFORM_WORK_DIR },
                ],
              },
            ],
            volumes: [
              { name: 'tmp', emptyDir: {} },
              { name: 'work', emptyDir: {} },
            ],
          },
        },
      },
    });

    this.disruptionBudget = new k8s.KubePodDisruptionBudget(this, 'PodDisruptionBudget', {
      metadata: meta(),
      spec: { minAvailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...SELECTOR } } },
    });

    // Ingress to the query API only from the0's API pods (configurable: platform.queryClients): a
    // bot pod runs a user's code, and the query API answers for every bot, so a bot allowed to
    // call it could query other users' bots. Health/metrics from pods of this namespace
    // (Prometheus); nothing else. Egress stays open:
    // serve talks to the API server, MongoDB, NATS, MinIO, the Git host and the bots' query ports.
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: meta(),
      spec: {
        podSelector: { matchLabels: { ...SELECTOR } },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [peerOf(clients)], ports: [{ port: k8s.IntOrString.fromNumber(PLATFORM_QUERY_PORT), protocol: 'TCP' }] },
          { from: [{ podSelector: {} }], ports: [{ port: k8s.IntOrString.fromNumber(PLATFORM_HEALTH_PORT), protocol: 'TCP' }] },
        ],
      },
    });
  }
}

/** A NetworkPolicy peer from labels (matchLabels only). */
export function peerOf(p: { readonly podSelector?: Readonly<Record<string, string>>; readonly namespaceSelector?: Readonly<Record<string, string>> }): k8s.NetworkPolicyPeer {
  return {
    podSelector: { matchLabels: { ...p.podSelector } },
    ...(p.namespaceSelector ? { namespaceSelector: { matchLabels: { ...p.namespaceSelector } } } : {}),
  };
}

/** Options of renderPlatform. */
export interface RenderPlatformOptions {
  /** fleetsynth image. @default settings.fleetsynthImage, else DEFAULT_FLEETSYNTH_IMAGE */
  image?: string;
  /** Branch serve pushes to (`GITOPS_BRANCH`), when not serve's default. */
  gitopsBranch?: string;
  /** Output root in the GitOps repository (`GITOPS_PATH`), when not serve's default. */
  gitopsPath?: string;
}

/** The platform's objects as cdk8s renders them (plain JSON). */
export function platformObjects(settings: RenderSettings, opts: RenderPlatformOptions = {}): Record<string, unknown>[] {
  const app = new App({ outdir: 'unused' });
  const chart = new Chart(app, 'platform');
  new Platform(chart, 'Platform', {
    settings,
    image: opts.image || settings.fleetsynthImage || DEFAULT_FLEETSYNTH_IMAGE,
    gitopsBranch: opts.gitopsBranch,
    gitopsPath: opts.gitopsPath,
  });
  return chart.toJson() as Record<string, unknown>[];
}

/** The platform's file(s) under the output root: `platform/fleetsynth.yaml`, exact cdk8s YAML. */
export function renderPlatform(settings: RenderSettings, opts: RenderPlatformOptions = {}): { relPath: string; text: string }[] {
  return [{ relPath: `platform/${PLATFORM_NAME}.yaml`, text: stringifyDocuments(platformObjects(settings, opts)) }];
}
