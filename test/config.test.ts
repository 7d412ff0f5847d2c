// The platform config: precedence, discovery, errors (key path, closest key, protected keys,
// Kubernetes values), rules, and what it renders — through the real model, constructs and
// shape templates.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelOptions } from '../src/config/model-options';
import { ConfigError } from '../src/config/errors';
import { findConfigFile, loadConfigFile, validateConfig } from '../src/config/load';
import { applyImage } from '../src/config/resolve';
import { buildFleet } from '../src/model/fleet';
import { DEFAULT_SETTINGS, RenderSettings, resolveSettings, settingsFromValues } from '../src/settings';
import { BotRenderer } from '../src/synth/render';
import { generateFleet } from '../src/testing/fleet-gen';
import { tmpDir } from './support/tmp';

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any
import * as YAML from 'yaml';

const problemsOf = (raw: unknown): string[] => {
  try {
    validateConfig('fleetsynth.config.yaml', raw);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
};

describe('precedence: flags > env > file > defaults', () => {
  const file = { namespace: 'from-file', shards: 8, runtimeImage: 'file/runtime:1', secretKeys: ['seed'], minioUseSsl: true };
  test('each layer wins over the next, per setting', () => {
    const s = settingsFromValues({ namespace: 'from-flag' }, { NAMESPACE: 'from-env', SHARDS: '4' }, file).render;
    expect(s.namespace).toBe('from-flag');
    expect(s.shards).toBe(4);
    expect(s.runtimeImage).toBe('file/runtime:1');
    expect(s.secretKeys).toEqual(['seed']);
    expect(s.minioUseSsl).toBe(true);
    expect(s.minioEndpoint).toBe(DEFAULT_SETTINGS.minioEndpoint);
  });
  test('an empty env variable counts as unset; env strings are parsed like flags', () => {
    const s = settingsFromValues({}, { NAMESPACE: '', SECRET_KEYS: 'a, b', MINIO_USE_SSL: 'false' }, file).render;
    expect(s.namespace).toBe('from-file');
    expect(s.secretKeys).toEqual(['a', 'b']);
    expect(s.minioUseSsl).toBe(false);
  });
  test('a bad env value is a ConfigError naming the variable', () => {
    expect(() => settingsFromValues({}, { SHARDS: 'many' }, {})).toThrow(/environment: SHARDS: must be number/);
  });
  test('source settings too: FLEET_SOURCE over the file, the file over the example fleet', () => {
    expect(settingsFromValues({}, {}, { source: 'x.yaml', botsDb: 'runner' }).source).toEqual({
      ref: 'x.yaml',
      names: { botsDb: 'runner', botsCollection: 'bots', schedulesDb: 'bot_scheduler', schedulesCollection: 'bot_schedules' },
    });
    expect(settingsFromValues({}, { FLEET_SOURCE: 'env.yaml' }, { source: 'x.yaml' }).source.ref).toBe('env.yaml');
  });
});

describe('finding the file', () => {
  test('--config, else FLEETSYNTH_CONFIG, else fleetsynth.config.* in the working directory', () => {
    const dir = tmpDir();
    expect(findConfigFile({ cwd: dir, env: {} })).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'fleetsynth.config.yml'), 'shards: 2\n');
    expect(findConfigFile({ cwd: dir, env: {} })).toBe(path.join(dir, 'fleetsynth.config.yml'));
    fs.writeFileSync(path.join(dir, 'other.json'), '{}');
    expect(findConfigFile({ cwd: dir, env: { FLEETSYNTH_CONFIG: 'other.json' } })).toBe(path.join(dir, 'other.json'));
    expect(findConfigFile({ cwd: dir, env: { FLEETSYNTH_CONFIG: 'other.json' }, explicit: 'fleetsynth.config.yml' })).toBe(path.join(dir, 'fleetsynth.config.yml'));
    expect(() => findConfigFile({ cwd: dir, env: {}, explicit: 'missing.yaml' })).toThrow(/missing.yaml: no such file \(given by --config\)/);
    fs.writeFileSync(path.join(dir, 'fleetsynth.config.json'), '{}');
    expect(() => findConfigFile({ cwd: dir, env: {} })).toThrow(/more than one config file: fleetsynth.config.yml, fleetsynth.config.json/);
  });
  test('resolveSettings reads YAML and JSON the same way', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'fleetsynth.config.json'), JSON.stringify({ namespace: 'trading', pod: { priorityClassName: 'bots' } }));
    const s = await resolveSettings({}, {}, dir);
    expect(s.configFile).toBe(path.join(dir, 'fleetsynth.config.json'));
    expect(s.render.namespace).toBe('trading');
    expect(s.render.pods).toEqual({ pod: { priorityClassName: 'bots' } });
  });
  test('YAML errors and a customize hook outside .mjs are errors naming the file', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'fleetsynth.config.yaml');
    fs.writeFileSync(f, 'shards: 2\nshards: 3\n');
    await expect(loadConfigFile(f)).rejects.toThrow(new RegExp(`${f}: not valid YAML: Map keys must be unique`));
    fs.writeFileSync(f, 'customize: x\n');
    await expect(loadConfigFile(f)).rejects.toThrow('customize: a function, only possible in fleetsynth.config.mjs');
  });
});

describe('bad input: key path and problem', () => {
  test('unknown keys name the closest known key, at any depth', () => {
    expect(problemsOf({ namespce: 'x', rules: [{ match: {}, pod: { tolerationz: [] } }] })).toEqual([
      'rules[0].pod.tolerationz: unknown key; did you mean "tolerations"?',
      'namespce: unknown key; did you mean "namespace"?',
    ]);
  });
  test('protected keys are refused as protected', () => {
    const p = problemsOf({
      pod: { securityContext: { runAsUser: 0 }, containers: [], labels: { 'the0.app/bot-id': 'x' }, annotations: { 'the0.app/config-hash': 'x', 'fleetsynth.io/config': '{}' } },
    });
    expect(p).toContain('pod.securityContext: is protected: the hardened security contexts are the contract (SPEC §2.5)');
    expect(p).toContain('pod.containers: is protected: the containers are the0 runtime contract (SPEC §2.4)');
    expect(p.filter((x) => x.startsWith('pod.annotations.'))).toHaveLength(2);
    expect(p.find((x) => x.startsWith('pod.labels.the0.app/bot-id: is protected'))).toBeDefined();
  });
  test('invalid Kubernetes values: label syntax, toleration operator, quantities, names', () => {
    const p = problemsOf({
      pod: {
        labels: { team: 'not valid!' },
        nodeSelector: { 'bad key!': 'x' },
        tolerations: [{ key: 'dedicated', operator: 'Maybe' }, { key: 'x', operator: 'Exists', value: 'v' }],
        imagePullSecrets: ['Reg_Cred'],
        terminationGracePeriodSeconds: -1,
      },
      resources: { bot: { limits: { memory: 'lots' } } },
      image: { digest: 'sha256:xyz' },
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^pod\.labels\.team: is not a valid label value/),
        expect.stringMatching(/^pod\.nodeSelector\.bad key!: key "bad key!" is not a valid Kubernetes key/),
        'pod.tolerations[0].operator: Invalid option: expected one of "Exists"|"Equal"',
        'pod.tolerations[1].value: must be empty when operator is Exists',
        expect.stringMatching(/^pod\.imagePullSecrets\[0\]: is not a valid Kubernetes name/),
        expect.stringMatching(/^pod\.terminationGracePeriodSeconds: /),
        expect.stringMatching(/^resources\.bot\.limits\.memory: is not a positive Kubernetes quantity/),
        'image.digest: is not a sha256 digest',
      ]),
    );
    expect(p).toHaveLength(8);
  });
  test('a wrong type says what was expected, never the string given (it could be a credential)', () => {
    expect(problemsOf({ shards: 'mongodb://user:pw@host' })).toEqual(['shards: must be number, got a string']);
  });
  test('a rule may not match on a secret config key; a resource request above its limit is refused', () => {
    const settings = withConfig({ rules: [{ match: { config: { 'exchange.api_key': 'x' } } }] });
    expect(() => modelOptions(settings)).toThrow('rules[0].match.config.exchange.api_key: names a secret config key');
    expect(() => modelOptions(withConfig({ resources: { bot: { limits: { memory: '128Mi' } } } }))).toThrow('resources.bot: memory request 256Mi is larger than limit 128Mi');
  });
});

function withConfig(raw: unknown, base: Record<string, unknown> = {}): RenderSettings {
  return settingsFromValues(base, {}, validateConfig('test.yaml', raw), 'test.yaml').render;
}

const REALISTIC = {
  pod: {
    nodeSelector: { 'node-pool': 'bots' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'bots', effect: 'NoSchedule' }],
    imagePullSecrets: ['regcred'],
    labels: { team: 'trading' },
    annotations: { 'cost-center': 'cc-42' },
    terminationGracePeriodSeconds: 60,
  },
  image: { repository: 'registry.example.com/the0/runtime', tag: '1.14.0' },
  rules: [
    { match: { kind: 'scheduled' }, pod: { priorityClassName: 'batch-low', labels: { team: 'reports' } } },
    { match: { runtimes: ['rust-stable', 'gcc13'] }, resources: { bot: { limits: { cpu: '1' } } } },
    { match: { config: { 'exchange.name': 'binance' } }, pod: { tolerations: [{ key: 'exchange', operator: 'Equal', value: 'binance', effect: 'NoSchedule' }], nodeSelector: { region: 'ap' } } },
    { match: { kind: 'realtime', runtimes: ['python3.11'] }, resources: { sync: { limits: { memory: '256Mi' } } } },
    { match: { ids: ['no-such-bot'] }, image: { tag: 'canary' } },
  ],
};

describe('rules and what the config renders', () => {
  const settings = withConfig(REALISTIC);
  const fleet = buildFleet(generateFleet(400, 3), modelOptions(settings));
  const templated = new BotRenderer(settings);
  const direct = new BotRenderer(settings, { templates: false });
  const docs = (spec: (typeof fleet.specs)[number]) => YAML.parseAllDocuments(templated.render(spec).text).map((d) => d.toJSON());
  const podOf = (spec: (typeof fleet.specs)[number]): Obj => {
    const main = docs(spec)[0];
    return spec.kind === 'realtime' ? main.spec.template : main.spec.jobTemplate.spec.template;
  };

  test('templates stay in use and give exactly the direct bytes', () => {
    expect(fleet.errors).toEqual([]);
    for (const spec of fleet.specs) expect(templated.render(spec).text).toBe(direct.render(spec).text);
    expect(templated.templates!.filled).toBeGreaterThan(fleet.specs.length * 0.8);
  });

  test('every pod gets the top-level pod block and image; later rules win, maps merge, lists replace', () => {
    for (const spec of fleet.specs) {
      const pod = podOf(spec);
      const cfg = JSON.parse(spec.redactedConfig);
      const binance = cfg.exchange?.name === 'binance';
      expect(pod.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
      expect(pod.spec.terminationGracePeriodSeconds).toBe(60);
      expect(pod.metadata.annotations['cost-center']).toBe('cc-42');
      expect(pod.metadata.labels.team).toBe(spec.kind === 'scheduled' ? 'reports' : 'trading');
      expect(pod.metadata.labels['the0.app/bot-id']).toBe(spec.id);
      expect(pod.spec.priorityClassName).toBe(spec.kind === 'scheduled' ? 'batch-low' : undefined);
      // nodeSelector is a map: the binance rule adds a key; tolerations is a list: it replaces.
      expect(pod.spec.nodeSelector).toEqual(binance ? { 'node-pool': 'bots', region: 'ap' } : { 'node-pool': 'bots' });
      expect(pod.spec.tolerations.map((t: Obj) => t.key)).toEqual(binance ? ['exchange'] : ['dedicated']);
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) expect(c.image).toBe('registry.example.com/the0/runtime:1.14.0');
      const sync = pod.spec.initContainers?.[0];
      if (sync) expect(sync.resources.limits.memory).toBe(spec.runtime === 'python3.11' ? '256Mi' : '128Mi');
    }
    expect(fleet.specs.some((s) => JSON.parse(s.redactedConfig).exchange?.name === 'binance')).toBe(true);
  });

  test("resources: the config's bot defaults apply, a bot's own overrides still win", () => {
    for (const spec of fleet.specs) {
      const bot = podOf(spec).spec.containers[0];
      const cfg = JSON.parse(spec.redactedConfig);
      const own = typeof cfg.cpu_limit === 'string' && /^[0-9.]+m?$/.test(cfg.cpu_limit) && parseFloat(cfg.cpu_limit) > 0;
      const expected = own ? cfg.cpu_limit : ['rust-stable', 'gcc13'].includes(spec.runtime) ? '1' : '500m';
      expect(bot.resources.limits.cpu).toBe(expected);
    }
  });

  test('no config: no pod options, the SPEC defaults, the same bytes as before (dist/ is checked by check-generated)', () => {
    const plain = buildFleet(generateFleet(20, 3), modelOptions(DEFAULT_SETTINGS));
    expect(plain.specs.every((s) => s.platform === undefined)).toBe(true);
  });

  test('networkPolicy: one per bot in its own file; ingress only to a query port from serve; egress DNS, MinIO, NATS, exchanges', () => {
    const s = withConfig({ networkPolicy: { enabled: true, egress: [{ cidr: '203.0.113.0/24', ports: [443] }] } }, { natsUrl: 'nats://nats.the0:4222', minioEndpoint: 'minio.the0:9000' });
    const f = buildFleet(generateFleet(40, 5), modelOptions(s));
    const r = new BotRenderer(s);
    for (const spec of f.specs) {
      const objs = YAML.parseAllDocuments(r.render(spec).text).map((d) => d.toJSON());
      const np = objs.find((o: Obj) => o.kind === 'NetworkPolicy');
      expect(np.spec.podSelector).toEqual({ matchLabels: { 'the0.app/bot-id': spec.id } });
      expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      const query = spec.kind === 'realtime' && spec.queryEntrypoint !== undefined;
      expect(np.spec.ingress).toEqual(query ? [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'fleetsynth' } } }], ports: [{ port: 9476, protocol: 'TCP' }] }] : []);
      expect(np.spec.egress.map((e: Obj) => e.ports.map((p: Obj) => p.port))).toEqual([[53, 53], [9000], [4222], [443]]);
      expect(np.spec.egress[3].to).toEqual([{ ipBlock: { cidr: '203.0.113.0/24' } }]);
    }
  });
});

test('image: tag or digest over the runtime image, repository for a mirror', () => {
  expect(applyImage('ghcr.io/a/runtime:latest', { tag: '1.14.0' })).toBe('ghcr.io/a/runtime:1.14.0');
  expect(applyImage('ghcr.io/a/runtime:latest', { digest: `sha256:${'a'.repeat(64)}` })).toBe(`ghcr.io/a/runtime@sha256:${'a'.repeat(64)}`);
  expect(applyImage('ghcr.io/a/runtime:latest', { repository: 'reg.local:5000/the0/runtime' })).toBe('reg.local:5000/the0/runtime:latest');
  expect(applyImage('localhost:5000/runtime', { repository: 'r/x' })).toBe('r/x');
  expect(applyImage('runtime:1.14.0', { tag: '1.14.0', digest: `sha256:${'b'.repeat(64)}` })).toBe(`runtime@sha256:${'b'.repeat(64)}`);
});

describe('Argo CD: a field the config renders stops being ignored', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { renderArgoCd } = require('../src/argocd/argocd') as typeof import('../src/argocd/argocd');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { podFieldsOf } = require('../src/argocd/generate') as typeof import('../src/argocd/generate');
  const pointers = (fields: string[]) =>
    renderArgoCd({ repoUrl: 'https://example.com/r.git', renderedPodFields: fields })
      .filter((f) => f.file !== 'appproject.yaml')
      .flatMap((f) => JSON.stringify(YAML.parse(f.yaml.replace(/^#.*\n/gm, '')).spec).match(/"\/spec\/[^"]*terminationGracePeriodSeconds"/g) ?? []);
  test('terminationGracePeriodSeconds in pod: (or a rule) removes its CronJob pointer from every Application', () => {
    expect(pointers([]).length).toBeGreaterThan(0);
    const fields = podFieldsOf(withConfig({ rules: [{ match: { kind: 'scheduled' }, pod: { terminationGracePeriodSeconds: 120 } }] }));
    expect(fields).toEqual(['terminationGracePeriodSeconds']);
    expect(pointers(fields)).toEqual([]);
  });
});
