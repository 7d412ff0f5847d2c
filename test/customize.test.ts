// The customization hook through the library's whole-fleet entry (synthFleet): it sees each bot
// without secret values and its cdk8s ApiObjects; patches land in that bot's file; protected SPEC
// fields stay protected, per bot, named; the output stays deterministic.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiObject, JsonPatch } from 'cdk8s';
import * as YAML from 'yaml';
import { BotCustomizer, BotView, EXAMPLE_FLEET, ProtectedFieldError, readFleetFile, synthFleet } from '../src';
import type { FleetDocuments } from '../src/model/document';
import { generateFleet } from '../src/testing/fleet-gen';
import { changedPaths, readTree, tmpDir } from './support/tmp';

const podSpecPath = (o: ApiObject) => (o.kind === 'CronJob' ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec');
const withPriority: BotCustomizer = (_bot, objects) => {
  for (const o of objects) if (o.kind === 'Deployment' || o.kind === 'CronJob') o.addJsonPatch(JsonPatch.add(`${podSpecPath(o)}/priorityClassName`, 'trading-bots'));
};
const docsOf = (dir: string) => [...readTree(dir)].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml')).map(([p, t]) => [p, YAML.parseAllDocuments(t).map((d) => d.toJS())] as const);

describe('customize hook (synthFleet)', () => {
  const example = readFleetFile(EXAMPLE_FLEET);

  it('patches every bot pod through addJsonPatch, and changes nothing else', async () => {
    const plain = tmpDir();
    const custom = tmpDir();
    const a = await synthFleet({ documents: example, outDir: plain });
    const b = await synthFleet({ documents: example, outDir: custom, customize: withPriority });
    expect(b.errors).toEqual([]);
    expect(b.written).toEqual(a.written);
    for (const [p, objs] of docsOf(custom)) {
      const main = objs.find((o) => o.kind === 'Deployment' || o.kind === 'CronJob');
      const pod = main.kind === 'CronJob' ? main.spec.jobTemplate.spec.template.spec : main.spec.template.spec;
      expect([p, pod.priorityClassName]).toEqual([p, 'trading-bots']);
      // The same file without the patch is exactly the plain render.
      delete pod.priorityClassName;
      expect(objs).toEqual(YAML.parseAllDocuments(fs.readFileSync(path.join(plain, p), 'utf8')).map((d) => d.toJS()));
    }
    // platform/ is not a bot: untouched.
    expect(readTree(custom).get('platform/fleetsynth.yaml')).toBe(readTree(plain).get('platform/fleetsynth.yaml'));
  });

  it('sees each bot once, without any secret value, and its objects in file order', async () => {
    const seen: Array<{ view: BotView; kinds: string[] }> = [];
    const r = await synthFleet({ documents: example, outDir: tmpDir(), customize: (view, objects) => seen.push({ view, kinds: objects.map((o) => o.kind) }) });
    expect(seen.map((s) => s.view.id).sort()).toEqual(r.fleet.specs.map((s) => s.id).sort());
    const withSecrets = r.fleet.specs.filter((s) => s.secrets.length > 0);
    expect(withSecrets.length).toBeGreaterThan(0);
    const text = JSON.stringify(seen.map((s) => ({ ...s.view, config: s.view.config })));
    for (const spec of withSecrets) for (const secret of spec.secrets) expect(text).not.toContain(String(secret.value));
    expect(text).toContain('"<secret>"');
    for (const s of seen) {
      expect(Object.keys(s.view)).not.toEqual(expect.arrayContaining(['configJson']));
      expect(s.kinds).toEqual(s.view.kind === 'scheduled' ? ['CronJob'] : s.view.queryEntrypoint ? ['Deployment', 'Service'] : ['Deployment']);
    }
  });

  it('objects a hook adds to the scope go into that bot\'s file', async () => {
    const out = tmpDir();
    const r = await synthFleet({
      documents: example,
      outDir: out,
      customize: (bot, _objects, scope) => {
        if (bot.kind !== 'realtime') return;
        new ApiObject(scope, 'Pdb', {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name: bot.objectName, namespace: 'the0', labels: { 'the0.app/bot-id': bot.id } },
          spec: { maxUnavailable: 0, selector: { matchLabels: { 'the0.app/bot-id': bot.id } } },
        });
      },
    });
    expect(r.errors).toEqual([]);
    const realtime = r.fleet.specs.find((s) => s.kind === 'realtime')!;
    const file = docsOf(out).find(([p]) => p.endsWith(`/bot-${realtime.id}.yaml`))!;
    expect(file[1].map((o) => o.kind)).toContain('PodDisruptionBudget');
  });

  it.each([
    ['changing a the0 label', (o: ApiObject) => o.metadata.addLabel('the0.app/bot-id', 'other'), 'metadata.labels["the0.app/bot-id"]'],
    ['changing the selector', (o: ApiObject) => o.addJsonPatch(JsonPatch.replace('/spec/selector/matchLabels', { app: 'x' })), 'spec.selector'],
    ['removing the pod security context', (o: ApiObject) => o.addJsonPatch(JsonPatch.remove('/spec/template/spec/securityContext')), 'spec.template.spec.securityContext'],
    ['turning automountServiceAccountToken on', (o: ApiObject) => o.addJsonPatch(JsonPatch.replace('/spec/template/spec/automountServiceAccountToken', true)), 'spec.template.spec.automountServiceAccountToken'],
    ['replacing the BOT_CONFIG secret reference by a value', (o: ApiObject) => o.addJsonPatch(JsonPatch.replace('/spec/template/spec/containers/0/env/4', { name: 'BOT_CONFIG', value: '{}' })), 'spec.template.spec.containers[bot].env[BOT_CONFIG]'],
    ['adding a container', (o: ApiObject) => o.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/-', { name: 'miner', image: 'x' })), 'spec.template.spec.containers[*].name'],
    ['renaming the object', (o: ApiObject) => o.addJsonPatch(JsonPatch.replace('/metadata/name', 'renamed')), 'metadata.name'],
    ['changing replicas', (o: ApiObject) => o.addJsonPatch(JsonPatch.replace('/spec/replicas', 2)), 'spec.replicas'],
  ])('%s is that bot\'s error, named; the other bots render', async (_what, change, field) => {
    const docs: FleetDocuments = generateFleet(40, 5);
    const out = tmpDir();
    const before = await synthFleet({ documents: docs, outDir: out });
    const victim = before.fleet.specs.find((s) => s.kind === 'realtime')!;
    // Check BOT_CONFIG really is env[4] of the victim's bot container, so the test changes what it says.
    const deploy = docsOf(out).find(([p]) => p.endsWith(`/bot-${victim.id}.yaml`))![1][0];
    expect(deploy.spec.template.spec.containers[0].env[4].name).toBe('BOT_CONFIG');
    const tree = readTree(out);
    const r = await synthFleet({
      documents: docs,
      outDir: out,
      customize: (bot, objects) => {
        if (bot.id === victim.id) change(objects[0]);
      },
    });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain(`bots/${victim.id}: `);
    expect(r.errors[0]).toContain(`protected field ${field} of Deployment/bot-${victim.id}`);
    // The failed bot keeps its previous file; every other bot rendered the same bytes as before.
    expect(changedPaths(tree, readTree(out))).toEqual([]);
    expect(r.kept).toEqual([expect.stringContaining(victim.id)]);
  });

  it('a removed object is a protected-field error too', async () => {
    const r = await synthFleet({
      documents: example,
      outDir: tmpDir(),
      customize: (bot, objects, scope) => {
        if (bot.queryEntrypoint && bot.kind === 'realtime') scope.node.findChild('Bot').node.tryRemoveChild(objects[1].node.id);
      },
    });
    expect(r.errors.length).toBeGreaterThan(0);
    for (const e of r.errors) expect(e).toMatch(/protected field \(the object itself was removed\) of Service\/bot-/);
    expect(new ProtectedFieldError('a', 'Service/bot-a', 'x').botId).toBe('a');
  });

  it('is deterministic and equal across runs, also above the worker threshold (the hook renders in this thread)', async () => {
    const docs = generateFleet(1200, 9);
    const a = tmpDir();
    const b = tmpDir();
    await synthFleet({ documents: docs, outDir: a, customize: withPriority, workers: 4 });
    await synthFleet({ documents: JSON.parse(JSON.stringify(docs)), outDir: b, customize: withPriority });
    expect(readTree(a)).toEqual(readTree(b));
  });

  it('needs a source or documents, and valid settings', async () => {
    await expect(synthFleet({ outDir: tmpDir() })).rejects.toThrow(/give `source` or `documents`/);
    await expect(synthFleet({ documents: example, outDir: tmpDir(), settings: { namespace: 'Bad_NS' } })).rejects.toMatchObject({ exitCode: 3 });
    const r = await synthFleet({ source: EXAMPLE_FLEET, app: { outdir: tmpDir() } });
    expect(r.errors).toEqual([]);
    expect(r.written.length).toBeGreaterThan(30);
  });
});
