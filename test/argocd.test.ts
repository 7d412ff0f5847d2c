import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import * as YAML from 'yaml';
import {
  ARGOCD_FILES,
  ArgoCdOptionsError,
  EXAMPLE_REPO_URL,
  IGNORED_DIFFERENCES,
  RENDERED_KINDS,
  SERVE_OWNED_OBJECTS,
  renderArgoCd,
} from '../src/argocd/argocd';
import { writeArgoCd } from '../src/argocd/generate';
import { runCli } from '../src/cli';

const ROOT = path.join(__dirname, '..');
const CRD_DIR = path.join(ROOT, 'crds', 'argo-cd');

// ---------------------------------------------------------------------------------------------
// CRD openAPIV3Schema → JSON Schema that ajv can check, as strict as the API server's pruning:
// the API server silently DROPS unknown fields of a structural schema (a typo in `syncPolicy`
// would vanish without an error), so here an unknown field is an error instead.

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'nullable') continue;
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, toJsonSchema(v)]));
    } else if (['items', 'additionalProperties', 'not', 'anyOf', 'allOf', 'oneOf'].includes(key)) {
      out[key] = toJsonSchema(value);
    } else {
      out[key] = value;
    }
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (
    out.type === 'object' &&
    out.properties &&
    out.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

// The CRDs leave metadata to the API server (`type: object`); check the parts we write.
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };
const OBJECT_META = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    labels: { type: 'object', additionalProperties: { type: 'string', pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', maxLength: 63 } },
    annotations: STRING_MAP,
    finalizers: { type: 'array', items: { type: 'string' } },
  },
};

function crdValidator(ajv: Ajv, file: string): { kind: string; validate: ValidateFunction; schema: Json } {
  const crd = YAML.parse(fs.readFileSync(path.join(CRD_DIR, file), 'utf8'));
  const version = crd.spec.versions.find((v: Json) => v.name === 'v1alpha1');
  const schema = toJsonSchema(version.schema.openAPIV3Schema);
  schema.properties.metadata = OBJECT_META;
  schema.properties.apiVersion = { const: `${crd.spec.group}/v1alpha1` };
  schema.properties.kind = { const: crd.spec.names.kind };
  schema.required = [...new Set([...(schema.required ?? []), 'apiVersion', 'kind', 'metadata', 'spec'])];
  return { kind: crd.spec.names.kind, validate: ajv.compile(schema), schema };
}

let validators: Map<string, ValidateFunction>;

beforeAll(() => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  validators = new Map();
  for (const file of ['appproject-crd.yaml', 'application-crd.yaml', 'applicationset-crd.yaml']) {
    const { kind, validate } = crdValidator(ajv, file);
    validators.set(kind, validate);
  }
});

function errorsOf(obj: Json): string[] {
  const validate = validators.get(obj.kind);
  if (!validate) return [`no CRD for kind ${obj.kind}`];
  if (validate(obj)) return [];
  return (validate.errors ?? []).map((e) => `${obj.kind} ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

function parse(files: { file: string; yaml: string }[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const f of files) {
    const docs = YAML.parseAllDocuments(f.yaml);
    expect(docs).toHaveLength(1);
    out[f.file] = docs[0].toJS();
  }
  return out;
}

/** What the ApplicationSet controller makes of the template for one directory (fasttemplate mode). */
function instantiate(appSet: Json, dir: string): Json {
  const params: Record<string, string> = { path: dir, 'path.basename': path.posix.basename(dir) };
  const json = JSON.stringify(appSet.spec.template).replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (m, name: string) => {
    if (!(name in params)) throw new Error(`template uses unknown parameter ${m}`);
    return params[name];
  });
  const t = JSON.parse(json);
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { ...t.metadata, namespace: appSet.metadata.namespace },
    spec: t.spec,
  };
}

const DEFAULTS = { repoUrl: EXAMPLE_REPO_URL };
const CUSTOM = {
  repoUrl: 'git@github.com:acme/trading-gitops.git',
  targetRevision: 'production',
  path: 'clusters/eu-1/fleet/',
  namespace: 'bots-eu',
  argoNamespace: 'gitops',
  project: 'trading',
  shardGlob: 'bots/shard-*',
};

describe('renderArgoCd', () => {
  test.each([
    ['defaults', DEFAULTS],
    ['custom options', CUSTOM],
  ])('every object validates against its CRD schema (%s)', (_name, opts) => {
    const files = renderArgoCd(opts);
    expect(files.map((f) => f.file)).toEqual([...ARGOCD_FILES]);
    const objs = parse(files);
    for (const obj of Object.values(objs)) expect(errorsOf(obj)).toEqual([]);
    const shard = instantiate(objs['applicationset.yaml'], `${objs['applicationset.yaml'].spec.generators[0].git.directories[0].path.replace('*', 'shard-07')}`);
    expect(errorsOf(shard)).toEqual([]);
  });

  test('the validator catches mistakes the API server would silently prune or reject', () => {
    const objs = parse(renderArgoCd(DEFAULTS));
    const typo = structuredClone(objs['applicationset.yaml']);
    typo.spec.template.spec.syncPolicy.automated.selfheal = true; // lower-case h: unknown field
    expect(errorsOf(typo).join('\n')).toMatch(/automated must NOT have additional properties.*selfheal/);

    const wrongType = structuredClone(objs['appproject.yaml']);
    wrongType.spec.orphanedResources.warn = 'true';
    expect(errorsOf(wrongType).join('\n')).toMatch(/orphanedResources\/warn must be boolean/);

    const unknownTop = structuredClone(objs['platform-application.yaml']);
    unknownTop.spec.syncOptions = ['Prune=true']; // belongs under syncPolicy
    expect(errorsOf(unknownTop)).not.toEqual([]);

    const badName = structuredClone(objs['appproject.yaml']);
    badName.metadata.name = 'Fleet_Synth';
    expect(errorsOf(badName)).not.toEqual([]);
  });

  test('AppProject: one repo, one destination, only the kinds fleetsynth renders, orphans warned', () => {
    const p = parse(renderArgoCd(DEFAULTS))['appproject.yaml'];
    expect(p.metadata).toMatchObject({ name: 'fleetsynth', namespace: 'argocd', labels: { 'app.kubernetes.io/managed-by': 'fleetsynth' } });
    expect(p.spec.sourceRepos).toEqual([EXAMPLE_REPO_URL]);
    expect(p.spec.destinations).toEqual([{ server: 'https://kubernetes.default.svc', namespace: 'the0' }]);
    expect(p.spec.clusterResourceWhitelist).toEqual([]);
    expect(p.spec.namespaceResourceWhitelist).toEqual([
      { group: 'apps', kind: 'Deployment' },
      { group: '', kind: 'Service' },
      { group: 'batch', kind: 'CronJob' },
      { group: '', kind: 'ServiceAccount' },
      { group: 'rbac.authorization.k8s.io', kind: 'Role' },
      { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding' },
      { group: 'networking.k8s.io', kind: 'NetworkPolicy' },
      { group: 'policy', kind: 'PodDisruptionBudget' },
    ]);
    const kinds = p.spec.namespaceResourceWhitelist.map((k: Json) => k.kind);
    expect(kinds).not.toContain('Secret'); // per-bot Secrets are the live service's, never Git's
    expect(kinds).not.toContain('Job');
    expect(p.spec.orphanedResources.warn).toBe(true);
    expect(p.spec.orphanedResources.ignore).toEqual([
      { group: '', kind: 'Secret', name: 'bot-*-config' },
      { group: 'batch', kind: 'Job', name: 'query-*' },
      { group: 'coordination.k8s.io', kind: 'Lease', name: 'fleetsynth' },
    ]);
  });

  test('orphan ignore globs match what fleetsynth serve creates and nothing Git renders', () => {
    // Argo CD matches these with glob semantics (`*` = any run of characters).
    const glob = (g: string) => new RegExp('^' + g.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    const secret = glob(SERVE_OWNED_OBJECTS[0].name);
    const job = glob(SERVE_OWNED_OBJECTS[1].name);
    expect(secret.test('bot-ckz1x2y3z4a5b6c7d8e9f0g1-config')).toBe(true);
    expect(secret.test('bot-3f1c2a9e-1b2c-4d5e-8f90-123456789abc-config')).toBe(true);
    expect(secret.test('the0-secrets')).toBe(false);
    expect(job.test('query-ckz1x2y3z4a5-k3j2h1')).toBe(true);
    expect(job.test('schedule-ckz1x2y3z4a5-29123456')).toBe(false); // CronJob runs are owned, not orphans
  });

  test('ApplicationSet: one Application per shard directory, automated prune + selfHeal, bots survive deletion', () => {
    const s = parse(renderArgoCd(DEFAULTS))['applicationset.yaml'];
    expect(s.metadata).toMatchObject({ name: 'fleetsynth-bots', namespace: 'argocd' });
    expect(s.metadata.annotations['fleetsynth.io/shards']).toMatch(/pure function of its id/);
    expect(s.spec.goTemplate).toBe(false);
    expect(s.spec.generators).toEqual([
      { git: { repoURL: EXAMPLE_REPO_URL, revision: 'main', directories: [{ path: 'dist/bots/*' }] } },
    ]);
    expect(s.spec.syncPolicy).toEqual({ preserveResourcesOnDeletion: true });
    const t = s.spec.template;
    expect(t.metadata.name).toBe('fleetsynth-{{path.basename}}');
    expect(t.metadata.annotations['argocd.argoproj.io/compare-options']).toBe('ServerSideDiff=true');
    // A commit that touches one shard refreshes only that shard's Application.
    expect(t.metadata.annotations['argocd.argoproj.io/manifest-generate-paths']).toBe('.');
    expect(t.spec.project).toBe('fleetsynth');
    expect(t.spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: 'the0' });
    expect(t.spec.source).toMatchObject({ repoURL: EXAMPLE_REPO_URL, targetRevision: 'main', path: '{{path}}' });
    expect(t.spec.syncPolicy.automated).toMatchObject({ prune: true, selfHeal: true });
    expect(t.spec.syncPolicy.syncOptions).toEqual([
      'CreateNamespace=false',
      'ServerSideApply=true',
      'RespectIgnoreDifferences=true',
      'PruneLast=true',
      'ApplyOutOfSyncOnly=true',
    ]);
    const cron = t.spec.ignoreDifferences.find((d: Json) => d.kind === 'CronJob');
    expect(cron).toMatchObject({ group: 'batch' });
    expect(cron.jsonPointers).toContain('/status');
    const svc = t.spec.ignoreDifferences.find((d: Json) => d.kind === 'Service');
    expect(svc.jsonPointers).toEqual(expect.arrayContaining(['/spec/clusterIPs', '/spec/ipFamilies', '/spec/ipFamilyPolicy']));
    expect(t.spec.info.map((i: Json) => i.name)).toContain('Shard');

    const app = instantiate(s, 'dist/bots/shard-03');
    expect(app.metadata.name).toBe('fleetsynth-shard-03');
    expect(app.metadata.labels['fleetsynth.io/shard']).toBe('shard-03');
    expect(app.spec.source.path).toBe('dist/bots/shard-03');
  });

  test('shard directory include pattern takes bot and schedule files only', () => {
    const s = parse(renderArgoCd(DEFAULTS))['applicationset.yaml'];
    expect(s.spec.template.spec.source.directory).toEqual({ recurse: false, include: '{bot-*.yaml,schedule-*.yaml}' });
  });

  test('platform Application: R/platform, same project, automated prune + selfHeal', () => {
    const a = parse(renderArgoCd(DEFAULTS))['platform-application.yaml'];
    expect(a.metadata).toMatchObject({ name: 'fleetsynth-platform', namespace: 'argocd' });
    expect(a.metadata.finalizers).toBeUndefined(); // deleting the Application keeps the live service
    expect(a.metadata.annotations['argocd.argoproj.io/manifest-generate-paths']).toBe('.');
    expect(a.spec.project).toBe('fleetsynth');
    expect(a.spec.source).toMatchObject({ repoURL: EXAMPLE_REPO_URL, targetRevision: 'main', path: 'dist/platform' });
    expect(a.spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: 'the0' });
    expect(a.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true, allowEmpty: false });
  });

  test('custom options flow into every object', () => {
    const o = parse(renderArgoCd(CUSTOM));
    const p = o['appproject.yaml'];
    const s = o['applicationset.yaml'];
    const a = o['platform-application.yaml'];
    expect(p.metadata).toMatchObject({ name: 'trading', namespace: 'gitops' });
    expect(p.spec.sourceRepos).toEqual([CUSTOM.repoUrl]);
    expect(p.spec.destinations).toEqual([{ server: 'https://kubernetes.default.svc', namespace: 'bots-eu' }]);
    expect(s.metadata).toMatchObject({ name: 'trading-bots', namespace: 'gitops' });
    expect(s.spec.generators[0].git).toEqual({
      repoURL: CUSTOM.repoUrl,
      revision: 'production',
      directories: [{ path: 'clusters/eu-1/fleet/bots/shard-*' }],
    });
    expect(s.spec.template.metadata.name).toBe('trading-{{path.basename}}');
    expect(s.spec.template.spec.project).toBe('trading');
    expect(s.spec.template.spec.destination.namespace).toBe('bots-eu');
    expect(s.spec.template.spec.source.targetRevision).toBe('production');
    expect(a.metadata).toMatchObject({ name: 'trading-platform', namespace: 'gitops' });
    expect(a.spec.source).toMatchObject({ repoURL: CUSTOM.repoUrl, targetRevision: 'production', path: 'clusters/eu-1/fleet/platform' });
  });

  test('output root at the repo root', () => {
    const o = parse(renderArgoCd({ ...DEFAULTS, path: '.' }));
    expect(o['applicationset.yaml'].spec.generators[0].git.directories[0].path).toBe('bots/*');
    expect(o['platform-application.yaml'].spec.source.path).toBe('platform');
  });

  test('bad options are reported with the option named', () => {
    expect(() => renderArgoCd({ repoUrl: '' })).toThrow(ArgoCdOptionsError);
    expect(() => renderArgoCd({ ...DEFAULTS, namespace: 'The0' })).toThrow(/--namespace/);
    expect(() => renderArgoCd({ ...DEFAULTS, path: '/abs' })).toThrow(/--path.*relative/);
    expect(() => renderArgoCd({ ...DEFAULTS, path: '../up' })).toThrow(/leaves the repo/);
    expect(() => renderArgoCd({ ...DEFAULTS, shardGlob: '' })).toThrow(/--shard-glob/);
    expect(() => renderArgoCd({ ...DEFAULTS, project: 'x'.repeat(64) })).toThrow(/--project/);
  });

  test('deterministic: two renders are byte-identical', () => {
    expect(renderArgoCd(DEFAULTS)).toEqual(renderArgoCd(DEFAULTS));
    expect(renderArgoCd(CUSTOM)).toEqual(renderArgoCd(CUSTOM));
    for (const f of renderArgoCd(DEFAULTS)) {
      expect(f.yaml.startsWith('# Generated by `fleetsynth argocd`')).toBe(true);
      expect(f.yaml.endsWith('\n')).toBe(true);
    }
  });

  test('committed argocd/*.yaml equal a fresh render with defaults (run `npm run argocd` to update)', () => {
    for (const f of renderArgoCd(DEFAULTS)) {
      const committed = fs.readFileSync(path.join(ROOT, 'argocd', f.file), 'utf8');
      expect({ file: f.file, yaml: committed }).toEqual(f);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-checks against the rendered fleet, when this checkout has one (dist/ is committed by CI).

const DIST = path.join(ROOT, 'dist');
const haveDist = fs.existsSync(path.join(DIST, 'bots')) || fs.existsSync(path.join(DIST, 'platform'));

function yamlFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFilesUnder(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

function pointerIsSet(obj: Json, pointer: string): boolean {
  let cur = obj;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return false;
    cur = cur[key];
  }
  return true;
}

test('pointerIsSet (used by the dist/ cross-checks)', () => {
  const obj = { spec: { template: { spec: { dnsPolicy: 'ClusterFirst' } }, 'a/b': 0 }, status: {} };
  expect(pointerIsSet(obj, '/spec/template/spec/dnsPolicy')).toBe(true);
  expect(pointerIsSet(obj, '/spec/a~1b')).toBe(true);
  expect(pointerIsSet(obj, '/status')).toBe(true);
  expect(pointerIsSet(obj, '/spec/revisionHistoryLimit')).toBe(false);
  expect(pointerIsSet(obj, '/spec/template/spec/dnsPolicy/x')).toBe(false);
});

(haveDist ? describe : describe.skip)('against the rendered fleet in dist/', () => {
  const docs = () =>
    yamlFilesUnder(DIST).flatMap((file) =>
      YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
        .map((d) => d.toJS())
        .filter(Boolean)
        .map((obj: Json) => ({ file: path.relative(ROOT, file), obj })),
    );

  test('every rendered kind is whitelisted by the AppProject, in the bots namespace', () => {
    const allowed = new Set(RENDERED_KINDS.map((k) => `${k.group}/${k.kind}`));
    for (const { file, obj } of docs()) {
      const group = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/')[0] : '';
      expect({ file, gk: `${group}/${obj.kind}`, allowed: allowed.has(`${group}/${obj.kind}`) }).toMatchObject({ allowed: true });
      expect({ file, namespace: obj.metadata?.namespace }).toEqual({ file, namespace: 'the0' });
    }
  });

  test('no ignored difference is a field fleetsynth renders (RespectIgnoreDifferences would never apply it)', () => {
    for (const { file, obj } of docs()) {
      for (const d of IGNORED_DIFFERENCES.filter((x) => x.kind === obj.kind)) {
        for (const p of d.jsonPointers) expect({ file, pointer: p, set: pointerIsSet(obj, p) }).toEqual({ file, pointer: p, set: false });
      }
    }
  });

  test('bot files live in directories the generator matches', () => {
    const botFiles = yamlFilesUnder(path.join(DIST, 'bots'));
    for (const f of botFiles) expect(path.relative(DIST, f)).toMatch(/^bots\/[^/]+\/(bot|schedule)-[^/]+\.yaml$/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('fleetsynth argocd', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-argocd-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function cli(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['node', 'fleetsynth', 'argocd', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out, err };
  }

  test('writes the three files, then rewrites nothing on a second run', async () => {
    let r = await cli(['--out', dir]);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual([...ARGOCD_FILES].sort());
    expect(r.out.filter((l) => l.startsWith('wrote'))).toHaveLength(3);
    const mtimes = ARGOCD_FILES.map((f) => fs.statSync(path.join(dir, f)).mtimeMs);
    r = await cli(['--out', dir]);
    expect(r.out.filter((l) => l.startsWith('unchanged'))).toHaveLength(3);
    expect(ARGOCD_FILES.map((f) => fs.statSync(path.join(dir, f)).mtimeMs)).toEqual(mtimes);
  });

  test('flags reach the objects', async () => {
    await cli(['--out', dir, '--repo-url', 'https://a/b.git', '--path', 'gitops/dist', '--namespace', 'bots']);
    const appset = fs.readFileSync(path.join(dir, 'applicationset.yaml'), 'utf8');
    expect(appset).toContain('repoURL: https://a/b.git');
    expect(appset).toContain('gitops/dist/bots/*');
    expect(appset).toContain('namespace: bots');
  });

  test('writeArgoCd rewrites only the file that changed and leaves other files alone', () => {
    writeArgoCd(dir, DEFAULTS);
    fs.writeFileSync(path.join(dir, 'README.md'), 'mine\n');
    fs.appendFileSync(path.join(dir, 'appproject.yaml'), '# tampered\n');
    const res = writeArgoCd(dir, DEFAULTS);
    expect(res.filter((r) => r.changed).map((r) => r.file)).toEqual(['appproject.yaml']);
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('mine\n');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('bad values and unknown flags are configuration errors (exit 3) naming the option, nothing written', async () => {
    let r = await cli(['--out', dir, '--namespace', 'Bad_NS']);
    expect(r.code).toBe(3);
    expect(r.err.join('\n')).toMatch(/namespace/);
    r = await cli(['--out', dir, '--bogus']);
    expect(r.code).toBe(3);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
