/**
 * The baseline: the fleet rendered the way a cdk8s user would write it without fleetsynth.
 *
 * ONE cdk8s App, ONE Chart holding every bot, cdk8s-plus-28 L2 constructs (Deployment, Service,
 * CronJob, Volume.fromEmptyDir, EnvValue.fromSecretValue, container securityContext, resources,
 * probes) with the overrides a trading bot needs: replicas 1, Recreate, IfNotPresent, explicit
 * resources and probes instead of cdk8s-plus's defaults, explicit names, no path-hashed selector
 * or pod labels (`select: false` + an explicit selector, the address label patched out), startingDeadlineSeconds removed, and JSON
 * patches for the fields the L2 API does not expose (enableServiceLinks, seccompProfile,
 * Service clusterIP None selector). Then `app.synth()`: FILE_PER_CHART, one big YAML file.
 *
 * The pod layout follows SPEC §2.4 closely (same containers, mounts, env, probes, resources);
 * cdk8s-plus adds its usual extra fields (dnsPolicy, terminationGracePeriodSeconds, …). It is a
 * cost reference, not a conformant renderer: fleetsynth's output is the contract.
 *
 * Usage: node -r tsx/cjs bench/naive.ts <fleet size> <outdir>   (prints one JSON line)
 */
import { ApiObject, App, Chart, Cron, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import type { BotSpec, Resources } from '../src/model/bot';
import type { RenderSettings } from '../src/settings';

const QUERY_PORT = 9476;
const MOUNTS: ReadonlyArray<readonly [string, string]> = [
  ['bot-code', '/bot'],
  ['bot-state', '/state'],
  ['the0', '/var/the0'],
  ['tmp', '/tmp'],
  ['query', '/query'],
];

function cpu(q: string): kplus.Cpu {
  return q.endsWith('m') ? kplus.Cpu.millis(Number(q.slice(0, -1))) : kplus.Cpu.millis(Math.round(Number(q) * 1000));
}

function memory(q: string): Size {
  if (q.endsWith('Gi')) return Size.gibibytes(Number(q.slice(0, -2)));
  if (q.endsWith('Mi')) return Size.mebibytes(Number(q.slice(0, -2)));
  if (q.endsWith('Ki')) return Size.kibibytes(Number(q.slice(0, -2)));
  return Size.mebibytes(Math.ceil(Number(q) / 2 ** 20));
}

function resources(r: Resources): kplus.ContainerResources {
  return {
    cpu: { request: cpu(r.requests.cpu), limit: cpu(r.limits.cpu) },
    memory: { request: memory(r.requests.memory), limit: memory(r.limits.memory) },
  };
}

const SECURITY: kplus.ContainerSecurityContextProps = {
  ensureNonRoot: true,
  user: 1000,
  group: 1000,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: [kplus.Capability.ALL] },
};

const POD_SECURITY: kplus.PodSecurityContextProps = { ensureNonRoot: true, user: 1000, group: 1000, fsGroup: 1000 };

/** Shared objects of the chart: the MinIO credentials Secret (imported by name). */
interface Shared {
  readonly minio: kplus.ISecret;
}

function minioEnv(s: RenderSettings, shared: Shared): Record<string, kplus.EnvValue> {
  const env: Record<string, kplus.EnvValue> = {
    MINIO_ENDPOINT: kplus.EnvValue.fromValue(s.minioEndpoint),
    MINIO_USE_SSL: kplus.EnvValue.fromValue(s.minioUseSsl ? 'true' : 'false'),
    MINIO_ACCESS_KEY: kplus.EnvValue.fromSecretValue({ secret: shared.minio, key: 'minio-access-key' }),
    MINIO_SECRET_KEY: kplus.EnvValue.fromSecretValue({ secret: shared.minio, key: 'minio-secret-key' }),
  };
  if (s.natsUrl) env.NATS_URL = kplus.EnvValue.fromValue(s.natsUrl);
  return env;
}

function botEnv(scope: Construct, spec: BotSpec, s: RenderSettings, shared: Shared): Record<string, kplus.EnvValue> {
  const config = kplus.Secret.fromSecretName(scope, 'config', `bot-${spec.id}-config`);
  const env: Record<string, kplus.EnvValue> = {
    BOT_ID: kplus.EnvValue.fromValue(spec.id),
    CODE_FILE: kplus.EnvValue.fromValue(spec.filePath),
    RUNTIME: kplus.EnvValue.fromValue(spec.runtime),
    ENTRYPOINT: kplus.EnvValue.fromValue(spec.entrypoint),
    BOT_CONFIG: kplus.EnvValue.fromSecretValue({ secret: config, key: 'BOT_CONFIG' }),
    CODE_PATH: kplus.EnvValue.fromValue('/bot'),
    STATE_PATH: kplus.EnvValue.fromValue('/state'),
    LOGS_PATH: kplus.EnvValue.fromValue('/var/the0/logs'),
    STATE_DIR: kplus.EnvValue.fromValue('/state/.the0-state'),
    BOT_TYPE: kplus.EnvValue.fromValue(spec.kind),
    ...minioEnv(s, shared),
    MINIO_CODE_BUCKET: kplus.EnvValue.fromValue(s.minioCodeBucket),
  };
  if (spec.kind === 'scheduled') env.IS_SCHEDULED = kplus.EnvValue.fromValue('true');
  else if (spec.queryEntrypoint) env.QUERY_ENTRYPOINT = kplus.EnvValue.fromValue(spec.queryEntrypoint);
  return env;
}

function volumes(scope: Construct): Map<string, kplus.Volume> {
  return new Map(MOUNTS.map(([name]) => [name, kplus.Volume.fromEmptyDir(scope, `vol-${name}`, name)]));
}

function mounts(vols: Map<string, kplus.Volume>, only?: string[]): kplus.VolumeMount[] {
  return MOUNTS.filter(([name]) => !only || only.includes(name)).map(([name, path]) => ({ volume: vols.get(name)!, path }));
}

function labels(spec: BotSpec, managedBy: string): Record<string, string> {
  return {
    'the0.app/bot-id': spec.id,
    'the0.app/custom-bot-id': spec.customBotId,
    'the0.app/custom-bot-version': spec.customBotVersion,
    'the0.app/runtime': spec.runtime,
    'the0.app/managed-by': managedBy,
  };
}

function realtime(chart: Chart, spec: BotSpec, s: RenderSettings, shared: Shared): void {
  const podLabels = labels(spec, 'the0-bot-controller');
  const deployment = new kplus.Deployment(chart, spec.objectName, {
    metadata: {
      name: spec.objectName,
      namespace: s.namespace,
      labels: { ...podLabels, 'app.kubernetes.io/managed-by': 'fleetsynth' },
      annotations: { 'the0.app/config-hash': spec.configHash },
    },
    podMetadata: {
      labels: podLabels,
      annotations: { 'the0.app/config-hash': spec.configHash, 'fleetsynth.io/config': spec.redactedConfig },
    },
    select: false,
    replicas: 1,
    strategy: kplus.DeploymentStrategy.recreate(),
    restartPolicy: kplus.RestartPolicy.ALWAYS,
    automountServiceAccountToken: false,
    securityContext: POD_SECURITY,
  });
  deployment.select(kplus.LabelSelector.of({ labels: { 'the0.app/bot-id': spec.id } }));
  const vols = volumes(deployment);
  for (const v of vols.values()) deployment.addVolume(v);
  const env = botEnv(deployment, spec, s, shared);
  deployment.addInitContainer({
    name: 'sync',
    image: s.runtimeImage,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    restartPolicy: kplus.ContainerRestartPolicy.ALWAYS,
    command: ['/app/runtime', 'daemon', 'sync'],
    args: ['--bot-id', spec.id, '--state-path', '/state', '--logs-path', '/var/the0/logs', '--readiness-port', '8079'],
    envVariables: minioEnv(s, shared),
    startup: kplus.Probe.fromHttpGet('/readyz', {
      port: 8079,
      initialDelaySeconds: Duration.seconds(0),
      periodSeconds: Duration.seconds(1),
      failureThreshold: 30,
    }),
    resources: resources({ requests: { memory: '64Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '100m' } }),
    securityContext: SECURITY,
    volumeMounts: mounts(vols, ['bot-state', 'the0']),
  });
  deployment.addContainer({
    name: 'bot',
    image: s.runtimeImage,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/app/runtime', 'execute', '--skip-sync', '--skip-query-server'],
    workingDir: '/bot',
    envVariables: env,
    resources: resources(spec.resources),
    securityContext: SECURITY,
    volumeMounts: mounts(vols),
  });
  if (spec.queryEntrypoint) {
    deployment.addContainer({
      name: 'query-server',
      image: s.runtimeImage,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['/app/runtime', 'execute', '--query-server-only'],
      workingDir: '/bot',
      envVariables: env,
      ports: [{ name: 'query', number: QUERY_PORT, protocol: kplus.Protocol.TCP }],
      readiness: kplus.Probe.fromTcpSocket({ port: QUERY_PORT, periodSeconds: Duration.seconds(5) }),
      resources: resources({ requests: { memory: '32Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '200m' } }),
      securityContext: SECURITY,
      volumeMounts: mounts(vols),
    });
    const service = new kplus.Service(chart, `${spec.objectName}-svc`, {
      metadata: {
        name: spec.objectName,
        namespace: s.namespace,
        labels: { 'the0.app/bot-id': spec.id, 'app.kubernetes.io/managed-by': 'fleetsynth' },
      },
      clusterIP: 'None',
      ports: [{ name: 'query', port: QUERY_PORT, targetPort: QUERY_PORT, protocol: kplus.Protocol.TCP }],
    });
    service.selectLabel('the0.app/bot-id', spec.id);
    service.selectLabel('the0.app/managed-by', 'the0-bot-controller');
  }
  ApiObject.of(deployment).addJsonPatch(
    JsonPatch.add('/spec/template/spec/enableServiceLinks', false),
    JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
    JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'),
  );
}

function scheduled(chart: Chart, spec: BotSpec, s: RenderSettings, shared: Shared): void {
  const f = spec.schedule!.split(' ');
  const schedule = f.length === 5
    ? Cron.schedule({ minute: f[0], hour: f[1], day: f[2], month: f[3], weekDay: f[4] })
    : { '@hourly': Cron.hourly(), '@daily': Cron.daily(), '@midnight': Cron.daily(), '@weekly': Cron.weekly(), '@monthly': Cron.monthly() }[f[0]] ??
      Cron.annually();
  const cronJob = new kplus.CronJob(chart, spec.objectName, {
    metadata: {
      name: spec.objectName,
      namespace: s.namespace,
      labels: {
        'the0.app/schedule-id': spec.id,
        'the0.app/custom-bot-id': spec.customBotId,
        'the0.app/runtime': spec.runtime,
        'the0.app/managed-by': 'the0-schedule-controller',
        'app.kubernetes.io/managed-by': 'fleetsynth',
      },
      annotations: { 'the0.app/schedule-hash': spec.configHash },
    },
    podMetadata: {
      labels: {
        'the0.app/schedule-id': spec.id,
        'the0.app/bot-id': spec.id,
        'the0.app/custom-bot-id': spec.customBotId,
        'the0.app/managed-by': 'the0-schedule-controller',
      },
      annotations: { 'fleetsynth.io/config': spec.redactedConfig },
    },
    select: false,
    schedule,
    timeZone: 'Etc/UTC',
    concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
    successfulJobsRetained: 3,
    failedJobsRetained: 1,
    backoffLimit: 2,
    restartPolicy: kplus.RestartPolicy.NEVER,
    automountServiceAccountToken: false,
    securityContext: POD_SECURITY,
  });
  const vols = volumes(cronJob);
  for (const v of vols.values()) cronJob.addVolume(v);
  cronJob.addContainer({
    name: 'bot',
    image: s.runtimeImage,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/app/runtime', 'execute', '--skip-query-server'],
    workingDir: '/bot',
    envVariables: botEnv(cronJob, spec, s, shared),
    resources: resources(spec.resources),
    securityContext: SECURITY,
    volumeMounts: mounts(vols),
  });
  ApiObject.of(cronJob).addJsonPatch(
    JsonPatch.remove('/spec/startingDeadlineSeconds'),
    JsonPatch.add('/spec/jobTemplate/spec/template/spec/enableServiceLinks', false),
    JsonPatch.add('/spec/jobTemplate/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
    JsonPatch.remove('/spec/jobTemplate/spec/template/metadata/labels/cdk8s.io~1metadata.addr'),
  );
}

/** Builds the naive App: one Chart, every bot in it. */
export function naiveApp(specs: readonly BotSpec[], settings: RenderSettings, outdir: string): App {
  const app = new App({ outdir });
  const chart = new Chart(app, 'fleet', { disableResourceNameHashes: true });
  const shared: Shared = { minio: kplus.Secret.fromSecretName(chart, 'minio', settings.minioSecretName) };
  for (const spec of specs) {
    if (spec.kind === 'realtime') realtime(chart, spec, settings, shared);
    else scheduled(chart, spec, settings, shared);
  }
  return app;
}

if (require.main === module) {
  // The same validated fleet fleetsynth renders (compiled model), then the naive cdk8s program.
  const { generateFleet, buildFleet, secretKeyMatcher, DEFAULT_SETTINGS } = require('./compiled') as typeof import('./compiled');
  const n = Number(process.argv[2]);
  const outdir = process.argv[3];
  const docs = generateFleet(n, 42);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const fleet = buildFleet(docs, { isSecretKey: secretKeyMatcher(DEFAULT_SETTINGS.secretKeys) });
  const app = naiveApp(fleet.specs, DEFAULT_SETTINGS, outdir);
  const t1 = performance.now();
  app.synth();
  const t2 = performance.now();
  const c = process.cpuUsage(c0);
  const objects = app.charts.reduce((k, ch) => k + ch.node.findAll().filter((x) => x instanceof ApiObject).length, 0);
  process.stdout.write(
    JSON.stringify({
      ms: t2 - t0,
      cpuMs: (c.user + c.system) / 1000,
      buildMs: t1 - t0,
      synthMs: t2 - t1,
      objects,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    }) + '\n',
  );
}
