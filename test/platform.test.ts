// The live service's own manifests (src/constructs/platform.ts), the query Job construct, and the
// Dockerfile they run: offline schema validation with kubernetes-models, least privilege, and
// agreement between the image and the manifests (user id, ports, command).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import * as YAML from 'yaml';
import { RENDERED_KINDS } from '../src/argocd/argocd';
import { DEFAULT_FLEETSYNTH_IMAGE, PLATFORM_UID, platformObjects, renderPlatform } from '../src/constructs/platform';
import { renderQueryJob } from '../src/constructs/query-job';
import { toBotSpec } from '../src/model/bot';
import { secretKeyMatcher } from '../src/model/secrets';
import { DEFAULT_SETTINGS, RenderSettings, renderSettingsFromEnv } from '../src/settings';
import { readFleetFile } from '../src/source/file';

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = path.join(__dirname, '..');
const SETTINGS: RenderSettings = { ...DEFAULT_SETTINGS, namespace: 'trading', natsUrl: 'nats://nats:4222', secretKeys: ['seed'] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  Deployment,
  Job,
  Service,
  ServiceAccount,
  NetworkPolicy,
  PodDisruptionBudget,
  Role,
  RoleBinding,
};

function validate(obj: Obj): void {
  const Model = MODELS[obj.kind];
  if (!Model) throw new Error(`no model for ${obj.kind}`);
  new Model(obj).validate();
}

const objects = platformObjects(SETTINGS) as Obj[];
const byKind = (kind: string): Obj => objects.find((o) => o.kind === kind);

describe('renderPlatform', () => {
  test('one file under platform/, exact cdk8s YAML of the objects, deterministic', () => {
    const files = renderPlatform(SETTINGS);
    expect(files.map((f) => f.relPath)).toEqual(['platform/fleetsynth.yaml']);
    const docs = YAML.parseAllDocuments(files[0].text).map((d) => d.toJSON());
    expect(docs).toEqual(objects);
    expect(renderPlatform(SETTINGS)).toEqual(files);
    expect(objects.map((o) => o.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'Service', 'Deployment', 'PodDisruptionBudget', 'NetworkPolicy']);
  });

  test.each([
    ['custom settings', SETTINGS],
    ['defaults', DEFAULT_SETTINGS],
  ])('every object validates against the Kubernetes schema (%s)', (_n, settings) => {
    for (const o of platformObjects(settings)) expect(() => validate(o)).not.toThrow();
  });

  test('the validator does catch mistakes', () => {
    const bad = JSON.parse(JSON.stringify(byKind('Deployment')));
    bad.spec.replicas = 'one';
    expect(() => validate(bad)).toThrow();
  });

  test('every object: managed-by fleetsynth, the settings namespace, a kind the Argo CD project allows', () => {
    const allowed = new Set(RENDERED_KINDS.map((k) => `${k.group}/${k.kind}`));
    for (const o of objects) {
      expect(o.metadata.labels['app.kubernetes.io/managed-by']).toBe('fleetsynth');
      expect(o.metadata.namespace).toBe('trading');
      // The query Service carries the name the0's API calls (RUNTIME_QUERY_URL default of its chart).
      expect(o.metadata.name).toBe(o.kind === 'Service' ? 'the0-bot-controller' : 'fleetsynth');
      const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
      expect(allowed).toContain(`${group}/${o.kind}`);
    }
    expect(objects.map((o) => o.kind)).not.toContain('ClusterRole');
    expect(objects.map((o) => o.kind)).not.toContain('ClusterRoleBinding');
  });

  test('image: option, else settings.fleetsynthImage (FLEETSYNTH_IMAGE in the CLI), else the default; the environment is not read', () => {
    const image = (objs: Obj[]) => objs.find((o: Obj) => o.kind === 'Deployment').spec.template.spec.containers[0].image;
    const saved = process.env.FLEETSYNTH_IMAGE;
    try {
      process.env.FLEETSYNTH_IMAGE = 'registry.example/ignored:1';
      expect(image(platformObjects(SETTINGS))).toBe(DEFAULT_FLEETSYNTH_IMAGE);
      const pinned = { ...SETTINGS, fleetsynthImage: 'registry.example/fleetsynth@sha256:abc' };
      expect(image(platformObjects(pinned))).toBe('registry.example/fleetsynth@sha256:abc');
      expect(image(platformObjects(pinned, { image: 'x/y:1' }))).toBe('x/y:1');
      expect(renderSettingsFromEnv({ FLEETSYNTH_IMAGE: 'r/f:2' }).fleetsynthImage).toBe('r/f:2');
    } finally {
      if (saved === undefined) delete process.env.FLEETSYNTH_IMAGE;
      else process.env.FLEETSYNTH_IMAGE = saved;
    }
  });
});

describe('least privilege', () => {
  const role = byKind('Role');

  test('exactly the rules serve needs; no wildcards, no escalation verbs, no watch', () => {
    const rules = role.rules.map((r: Obj) => ({ apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}), verbs: [...r.verbs].sort() }));
    expect(rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'delete', 'get', 'list', 'patch'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'delete', 'get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      // Leader election: update only on the one Lease serve renews.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['fleetsynth'], verbs: ['get', 'update'] },
    ]);
    // `update` is only ever granted on that named Lease.
    const all = JSON.stringify(role.rules.filter((r: Obj) => !r.resourceNames));
    expect(all).not.toContain('*');
    for (const verb of ['escalate', 'bind', 'impersonate', 'watch', 'update', 'deletecollection']) expect(all).not.toContain(`"${verb}"`);
    for (const res of ['deployments', 'cronjobs', 'services', 'configmaps', 'roles', 'rolebindings', 'pods/exec']) expect(all).not.toContain(`"${res}"`);
  });

  test('the RoleBinding gives that Role to the service account the pod runs as, in the same namespace', () => {
    const rb = byKind('RoleBinding');
    expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: 'fleetsynth', namespace: 'trading' }]);
    expect(byKind('Deployment').spec.template.spec.serviceAccountName).toBe(byKind('ServiceAccount').metadata.name);
  });

  test('the source says why the rules cannot be narrower', () => {
    const src = fs.readFileSync(path.join(ROOT, 'src/constructs/platform.ts'), 'utf8');
    expect(src).toMatch(/RBAC cannot scope a rule by label/);
  });
});

describe('Deployment', () => {
  const dep = byKind('Deployment');
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];

  test('two replicas, rolling update that never drops one, selector matches the pod labels', () => {
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
    expect(pod.containers).toHaveLength(1);
    expect((platformObjects({ ...SETTINGS, platform: { replicas: 3 } }) as Obj[]).find((o: Obj) => o.kind === 'Deployment').spec.replicas).toBe(3);
  });

  test('a PodDisruptionBudget keeps one replica through drains; replicas prefer different nodes', () => {
    const pdb = byKind('PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: dep.spec.selector.matchLabels } });
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
    const spread = pod.topologySpreadConstraints;
    expect(spread.map((t: Obj) => [t.topologyKey, t.whenUnsatisfiable])).toEqual([
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
    ]);
    const anti = pod.affinity.podAntiAffinity;
    expect(anti.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm).toEqual({ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: dep.spec.selector.matchLabels } });
  });

  test('the pod name and namespace reach the container (the Lease holder identity)', () => {
    const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e]));
    expect(env.POD_NAME.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.POD_NAMESPACE.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
  });

  test('locked down: non-root 10001, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: PLATFORM_UID, runAsGroup: PLATFORM_UID, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.enableServiceLinks).toBe(false);
  });

  test('emptyDir for /tmp and the git work dir; WORK_DIR points into it', () => {
    const vols = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.mountPath, m.name]));
    expect(vols[mounts['/tmp']].emptyDir).toEqual({});
    const workDir = c.env.find((e: Obj) => e.name === 'WORK_DIR').value as string;
    const mount = Object.keys(mounts).find((m) => workDir.startsWith(m + '/') || workDir === m);
    expect(mount).toBeDefined();
    expect(vols[mounts[mount!]].emptyDir).toEqual({});
  });

  test('ports 9477 query and 8080 health; probes /healthz and /readyz on the health port', () => {
    expect(c.ports).toEqual([
      { name: 'query', containerPort: 9477, protocol: 'TCP' },
      { name: 'health', containerPort: 8080, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
  });

  test('settings passed on as SPEC §6 env; credentials only by secretKeyRef', () => {
    const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e]));
    expect(env.NAMESPACE.value).toBe('trading');
    expect(env.NATS_URL.value).toBe('nats://nats:4222');
    expect(env.MINIO_ENDPOINT.value).toBe('minio:9000');
    expect(env.MINIO_USE_SSL.value).toBe('false');
    expect(env.MINIO_BUCKET.value).toBe('custom-bots');
    expect(env.MINIO_QUERY_RESULTS_BUCKET.value).toBe('query-results');
    expect(env.MINIO_SECRET_NAME.value).toBe('the0-secrets');
    expect(env.RUNTIME_IMAGE.value).toBe(SETTINGS.runtimeImage);
    expect(env.RUNTIME_IMAGE_PULL_POLICY.value).toBe('IfNotPresent');
    expect(env.SHARDS.value).toBe('16');
    expect(env.SECRET_KEYS.value).toBe('seed');
    for (const [name, key] of [
      ['MINIO_ACCESS_KEY', 'minio-access-key'],
      ['MINIO_SECRET_KEY', 'minio-secret-key'],
      ['MONGO_URI', 'mongo-url'],
      ['GITOPS_REPO', 'gitops-repo'],
    ]) {
      expect(env[name]).toEqual({ name, valueFrom: { secretKeyRef: { name: 'the0-secrets', key } } });
    }
    // No credential-looking variable carries a literal value.
    for (const e of c.env) if (/KEY|SECRET|PASSWORD|TOKEN|URI/.test(e.name) && e.name !== 'MINIO_SECRET_NAME' && e.name !== 'SECRET_KEYS') expect(e.value).toBeUndefined();
  });
});

describe('Service and NetworkPolicy', () => {
  const svc = byKind('Service');
  const np = byKind('NetworkPolicy');
  const podLabels = byKind('Deployment').spec.template.metadata.labels;

  test('Service: 9477 query and 8080 metrics to the named container ports, selecting the pod', () => {
    expect(svc.spec.ports).toEqual([
      { name: 'query', port: 9477, targetPort: 'query', protocol: 'TCP' },
      { name: 'metrics', port: 8080, targetPort: 'health', protocol: 'TCP' },
    ]);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(podLabels[k]).toBe(v);
  });

  test("ingress: 9477 only from the0's API pods (never the bot pods), 8080 from this namespace only, nothing else", () => {
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) expect(podLabels[k]).toBe(v);
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'api', 'app.kubernetes.io/name': 'the0' } } }], ports: [{ port: 9477, protocol: 'TCP' }] },
      { from: [{ podSelector: {} }], ports: [{ port: 8080, protocol: 'TCP' }] },
    ]);
  });

  test('the platform config names the Service, the Secret keys and the query clients', () => {
    const objs = platformObjects({
      ...SETTINGS,
      platform: { serviceName: 'runtime-query', secretKeys: { mongoUri: 'MONGO_URI', gitopsRepo: 'repo-url' }, queryClients: { podSelector: { app: 'api' }, namespaceSelector: { team: 'the0' } } },
    }) as Obj[];
    expect(objs.find((o) => o.kind === 'Service').metadata.name).toBe('runtime-query');
    const env = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env.find((e: Obj) => e.name === 'MONGO_URI').valueFrom.secretKeyRef).toEqual({ name: 'the0-secrets', key: 'MONGO_URI' });
    expect(env.find((e: Obj) => e.name === 'GITOPS_REPO').valueFrom.secretKeyRef).toEqual({ name: 'the0-secrets', key: 'repo-url' });
    expect(objs.find((o) => o.kind === 'NetworkPolicy').spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: { app: 'api' } }, namespaceSelector: { matchLabels: { team: 'the0' } } }]);
  });
});

describe('Dockerfile', () => {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  // Instructions with line continuations joined, comments dropped.
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const froms = lines.filter((l) => /^FROM /i.test(l));
  const runtime = lines.slice(lines.lastIndexOf(froms[froms.length - 1]));
  const dep = byKind('Deployment');
  const c = dep.spec.template.spec.containers[0];

  test('multi-stage: node 20 build stage packs the tarball and installs it without dev dependencies; node 20 runtime', () => {
    expect(froms).toHaveLength(2);
    expect(froms[0]).toMatch(/^FROM node:20-bookworm-slim(@sha256:[0-9a-f]{64})? AS build$/i);
    expect(froms[1]).toMatch(/^FROM (node:20-bookworm-slim|gcr\.io\/distroless\/nodejs20-debian12(:nonroot)?)(@sha256:[0-9a-f]{64})?$/);
    const build = lines.slice(0, lines.indexOf(froms[1])).join('\n');
    expect(build).toMatch(/RUN npm ci\b/);
    // The image holds exactly what the published package holds (npm pack runs the prepack build).
    expect(build).toMatch(/npm pack\b/);
    expect(build).toMatch(/npm ci --omit=dev/);
  });

  test('runtime: git installed, copies the installed package, runs as the uid the manifests use', () => {
    const rt = runtime.join('\n');
    expect(rt).toMatch(/apt-get install .*\bgit\b/);
    expect(rt).toMatch(/COPY --from=build \/app \.\//);
    const user = runtime.filter((l) => /^USER /.test(l)).pop()!;
    const [uid, gid] = user.replace(/^USER /, '').split(':').map(Number);
    expect(uid).toBe(PLATFORM_UID);
    expect(gid).toBe(PLATFORM_UID);
    expect(c.securityContext.runAsUser).toBe(uid);
    expect(c.securityContext.runAsGroup).toBe(gid);
    expect(rt).toMatch(new RegExp(`useradd --uid ${uid} --gid ${gid}`));
  });

  test('EXPOSE matches the container ports; ENTRYPOINT and CMD match the Deployment', () => {
    const exposed = runtime
      .filter((l) => /^EXPOSE /.test(l))
      .flatMap((l) => l.replace(/^EXPOSE /, '').split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, '')))
      .sort();
    expect(exposed).toEqual(c.ports.map((p: Obj) => p.containerPort).sort());
    expect(runtime.filter((l) => /^ENTRYPOINT /.test(l))).toEqual(['ENTRYPOINT ["node","/app/bin/fleetsynth"]']);
    const cmd = JSON.parse(runtime.find((l) => /^CMD /.test(l))!.replace(/^CMD /, ''));
    expect(cmd).toEqual(['serve']);
    expect(c.args).toEqual(cmd);
    expect(c.command).toBeUndefined();
  });

  test('the entrypoint script loads the compiled CLI the build stage produces', () => {
    const bin = fs.readFileSync(path.join(ROOT, 'bin/fleetsynth'), 'utf8');
    expect(bin).toContain("require('../lib/src/cli.js')");
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8'));
    expect(tsconfig.compilerOptions.outDir).toBe('lib');
  });

  test('every COPY source exists and is not excluded by .dockerignore', () => {
    const ignore = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).toEqual(expect.arrayContaining(['.git', 'node_modules', 'lib']));
    const sources = lines
      .filter((l) => /^COPY /.test(l) && !/--from=/.test(l))
      .flatMap((l) => l.replace(/^COPY /, '').split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(fs.existsSync(path.join(ROOT, src))).toBe(true);
      const top = src.split('/')[0];
      expect(ignore).not.toContain(top);
      expect(ignore).not.toContain(src);
    }
  });
});

describe('QueryJob', () => {
  const fleet = readFleetFile(path.join(ROOT, 'examples/fleet.yaml'));
  const isSecretKey = secretKeyMatcher(SETTINGS.secretKeys);
  const schedule = fleet.bot_schedules.map((d, i) => toBotSpec(d, 'bot_schedules', i, { isSecretKey }).spec).find((s) => s?.queryEntrypoint)!;
  const realtime = toBotSpec(fleet.bots[0], 'bots', 0, { isSecretKey }).spec!;

  test.each([
    ['a schedule, with params', schedule, { symbol: 'ETH', depth: 3 }],
    ['a schedule, no params', schedule, {}],
    ['a realtime spec', realtime, undefined],
  ])('validates against the Kubernetes schema: %s', (_n, spec, params) => {
    const job = renderQueryJob(spec, SETTINGS, { queryPath: '/status', params, resultKey: `${spec.id}/1767323045123456789/result.json`, timeoutSec: 45, nowNanos: 1767323045123456789n }) as Obj;
    expect(() => validate(job)).not.toThrow();
    expect(job.metadata.namespace).toBe('trading');
    expect(job.metadata.name).toBe(`query-${spec.id}-1767323045123456789`);
    expect(job.spec).toMatchObject({ backoffLimit: 0, ttlSecondsAfterFinished: 300, activeDeadlineSeconds: 45 });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers.map((x: Obj) => x.name)).toEqual(['bot']);
    expect(pod.containers[0].command).toEqual(['/app/runtime', 'execute', '--skip-sync', '--skip-query-server']);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.volumes.map((v: Obj) => v.name)).toEqual(['bot-code', 'bot-state', 'the0', 'tmp', 'query']);
    const labels = job.spec.template.metadata.labels;
    expect(labels).toMatchObject({ 'the0.app/bot-id': spec.id, 'the0.app/managed-by': 'the0-query-handler', 'the0.app/query': 'true', 'the0.app/runtime': spec.runtime });
    const env = Object.fromEntries(pod.containers[0].env.map((e: Obj) => [e.name, e]));
    expect(env.ENTRYPOINT.value).toBe(spec.queryEntrypoint ?? spec.entrypoint);
    expect(env.QUERY_PATH.value).toBe('/status');
    expect(env.QUERY_RESULT_KEY.value).toBe(`${spec.id}/1767323045123456789/result.json`);
    if (params && Object.keys(params).length > 0) expect(JSON.parse(env.QUERY_PARAMS.value)).toEqual(params);
    else expect(env.QUERY_PARAMS).toBeUndefined();
    expect(env.BOT_TYPE).toBeUndefined();
    expect(env.QUERY_ENTRYPOINT).toBeUndefined();
    expect(env.BOT_CONFIG.valueFrom.secretKeyRef).toEqual({ name: `bot-${spec.id}-config`, key: 'BOT_CONFIG' });
    for (const s of spec.secrets) expect(JSON.stringify(job)).not.toContain(s.value);
  });
});
