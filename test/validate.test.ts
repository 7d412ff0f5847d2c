// API-server validation of rendered objects (issue 13 item 12): hostile objects are refused with
// the object and field named; a failing bot is that bot's error and keeps its last good file.
import type { FleetDocuments } from '../src/model/document';
import { DEFAULT_SETTINGS } from '../src/settings';
import { BotRenderer } from '../src/synth/render';
import { synthesize } from '../src/synth/synth';
import { MAX_ANNOTATIONS_BYTES, objectProblems, ruleProblem } from '../src/synth/validate';
import { botDoc, scheduleDoc } from './serve-support';
import { readTree, tmpDir } from './support/tmp';
import { buildFleet } from '../src/model/fleet';
import { modelOptions } from '../src/config/model-options';

const settings = DEFAULT_SETTINGS;
type Obj = Record<string, any>;

function deployment(over: (d: Obj) => void = () => undefined): Obj {
  const d: Obj = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'bot-a', namespace: 'the0', labels: { 'the0.app/bot-id': 'a' }, annotations: { 'the0.app/config-hash': '0123456789abcdef' } },
    spec: {
      selector: { matchLabels: { 'the0.app/bot-id': 'a' } },
      template: {
        metadata: { labels: { 'the0.app/bot-id': 'a' } },
        spec: {
          volumes: [{ name: 'bot', emptyDir: {} }],
          containers: [{ name: 'bot', image: 'x', ports: [{ name: 'query', containerPort: 9476 }], env: [{ name: 'BOT_ID', value: 'a' }], volumeMounts: [{ name: 'bot', mountPath: '/bot' }] }],
        },
      },
    },
  };
  over(d);
  return d;
}

describe('objectProblems', () => {
  it('accepts a valid Deployment, Service and CronJob', () => {
    expect(objectProblems([deployment()])).toEqual([]);
    expect(objectProblems([{ kind: 'Service', metadata: { name: 'bot-a' }, spec: { selector: { a: 'b' }, ports: [{ name: 'query', port: 9476, targetPort: 'query' }] } }])).toEqual([]);
  });

  it.each<[string, (d: Obj) => void, RegExp]>([
    ['a name with capitals', (d) => (d.metadata.name = 'Bot-A'), /Deployment Bot-A: metadata.name: "Bot-A" is not a DNS-1123 subdomain/],
    ['a name over 253 chars', (d) => (d.metadata.name = 'a'.repeat(254)), /longer than 253/],
    ['a label value ending in -', (d) => (d.metadata.labels['the0.app/custom-bot-id'] = 'abcdefg-'), /labels\["the0.app\/custom-bot-id"\]: "abcdefg-" is not a valid label value/],
    ['a label value of 64 chars', (d) => (d.spec.template.metadata.labels.x = 'a'.repeat(64)), /template.metadata.labels\["x"\]: .* longer than 63/],
    ['a bad label key', (d) => (d.metadata.labels['bad key'] = 'v'), /"bad key" is not a qualified name/],
    ['a label key with a bad prefix', (d) => (d.metadata.labels['Bad_Prefix/x'] = 'v'), /prefix is not a DNS-1123 subdomain/],
    ['a bad annotation key', (d) => (d.metadata.annotations['-x'] = 'v'), /annotations: "-x" is not a qualified name/],
    ['annotations over 256 KiB', (d) => (d.spec.template.metadata.annotations = { 'fleetsynth.io/config': 'x'.repeat(MAX_ANNOTATIONS_BYTES) }), /annotations total \d+ bytes; at most 262144/],
    ['a bad container name', (d) => (d.spec.template.spec.containers[0].name = 'Bot_1'), /containers\[0\].name: "Bot_1" is not a DNS-1123 label/],
    ['a duplicate container name', (d) => d.spec.template.spec.containers.push({ name: 'bot' }), /containers\[1\].name: "bot" is used twice/],
    ['a port name over 15 chars', (d) => (d.spec.template.spec.containers[0].ports[0].name = 'query-port-long-name'), /ports\[0\].name: .* longer than 15/],
    ['a port name without a letter', (d) => (d.spec.template.spec.containers[0].ports[0].name = '9476'), /not an IANA service name/],
    ['a port number 0', (d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 0), /containerPort: 0 is not a port number/],
    ['a bad volume name', (d) => (d.spec.template.spec.volumes[0].name = 'Bot.Volume'), /volumes\[0\].name: "Bot.Volume" is not a DNS-1123 label/],
    ['a mount of a missing volume', (d) => (d.spec.template.spec.containers[0].volumeMounts[0].name = 'gone'), /volumeMounts\[0\].name: "gone" is not a volume of the pod/],
    ['a bad env name', (d) => (d.spec.template.spec.containers[0].env[0].name = '1BOT=ID'), /env\[0\].name: "1BOT=ID" is not a valid environment variable name/],
    ['a selector not in the template labels', (d) => (d.spec.selector.matchLabels['the0.app/bot-id'] = 'b'), /selector.matchLabels\["the0.app\/bot-id"\]: does not match the template labels/],
    ['a bad secretKeyRef name', (d) => (d.spec.template.spec.containers[0].env[0] = { name: 'X', valueFrom: { secretKeyRef: { name: 'Bad Secret', key: 'k' } } }), /secretKeyRef.name: "Bad Secret"/],
  ])('refuses %s', (_what, change, expected) => {
    const problems = objectProblems([deployment(change)]);
    expect(problems.join('\n')).toMatch(expected);
  });

  it('checks names per kind and CronJob name and schedule', () => {
    expect(objectProblems([{ kind: 'Service', metadata: { name: '1bot' }, spec: {} }])[0]).toMatch(/not a DNS-1035 label/);
    expect(objectProblems([{ kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 1 }, { port: 2 }] } }])[0]).toMatch(/is required when a Service has several ports/);
    const cron = (name: string, schedule: string) => ({ kind: 'CronJob', metadata: { name }, spec: { schedule, jobTemplate: { spec: { template: { spec: { containers: [{ name: 'bot' }] } } } } } });
    expect(objectProblems([cron('schedule-a', '0 9 * * *')])).toEqual([]);
    expect(objectProblems([cron('s'.repeat(53), '0 9 * * *')])[0]).toMatch(/longer than 52/);
    expect(objectProblems([cron('schedule-a', '0 0 9 * * *')])[0]).toMatch(/not a valid cron schedule/);
    expect(objectProblems([cron('schedule-a', '61 * * * *')])[0]).toMatch(/out of range/);
    expect(objectProblems([{ kind: 'Deployment', metadata: {}, spec: { template: { spec: {} } } }])).toEqual(
      expect.arrayContaining(['Deployment ?: metadata.name is required', 'Deployment ?: spec.template.spec.containers: at least one container is required']),
    );
    expect(ruleProblem('labelValue', '')).toBeUndefined();
  });
});

describe('rendered bots', () => {
  it('every object of the example-like fleet passes (template and direct paths)', () => {
    const docs = { bots: [botDoc('alpha'), botDoc('beta', {}, false)], bot_schedules: [scheduleDoc('gamma'), scheduleDoc('delta', '*/5 * * * *')] } as FleetDocuments;
    const fleet = buildFleet(docs, modelOptions(settings));
    for (const templates of [true, false]) {
      const r = new BotRenderer(settings, { templates });
      for (const spec of fleet.specs) expect(() => r.render(spec)).not.toThrow();
    }
  });

  it('the custom-bot-id fallback never ends in "-"', async () => {
    const out = tmpDir();
    const docs = ['abcdefg-hij', 'abc--def-x', 'a-------b'].map((id) => {
      const d = botDoc(id) as Obj;
      delete d.custom.config.name;
      return d;
    });
    const r = await synthesize({ bots: docs, bot_schedules: [] }, { outDir: out, settings });
    expect(r.errors).toEqual([]);
    const text = [...readTree(out).values()].join('\n');
    expect(text).toContain('the0.app/custom-bot-id: abcdefg\n');
    expect(text).toContain('the0.app/custom-bot-id: abc--def\n');
    expect(text).toContain('the0.app/custom-bot-id: a\n');
    expect(text).not.toMatch(/custom-bot-id: .*-\n/);
  });

  it('a bot whose annotation would exceed 256 KiB is its own error, on the template path too, and keeps its last good file', async () => {
    const out = tmpDir();
    const keyed = { ...settings, secretKeys: ['a'] };
    const small = { bots: [botDoc('alpha'), botDoc('beta'), botDoc('gamma')], bot_schedules: [] } as FleetDocuments;
    await synthesize(small, { outDir: out, settings: keyed, workers: 0 });
    const before = readTree(out);
    // 125 KiB of config (under the 128 KiB limit) whose values sit under a secret key: the
    // redacted copy for reviewers more than doubles, beyond the API server's 256 KiB.
    const list = Array.from({ length: 16_000 }, (_, i) => ({ a: i % 10 }));
    const docs = { bots: [botDoc('alpha', { symbol: 'NEW-A' }), botDoc('beta', { list }), botDoc('gamma', { symbol: 'NEW-G' })], bot_schedules: [] } as FleetDocuments;
    // alpha teaches the template of the shape; beta is filled from it.
    const r = await synthesize(docs, { outDir: out, settings: keyed, workers: 0 });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^bots\/beta: render failed: the API server would refuse it: Deployment bot-beta: spec.template.metadata.annotations: annotations total \d+ bytes; at most 262144/);
    const after = readTree(out);
    const betaFile = [...before.keys()].find((p) => p.includes('bot-beta'))!;
    expect(after.get(betaFile)).toBe(before.get(betaFile));
    expect([...after.values()].filter((t) => t.includes('NEW-A') || t.includes('NEW-G'))).toHaveLength(2);
  });

  it('an invalid setting that reaches every object is each bot\'s named error, nothing removed', async () => {
    const out = tmpDir();
    const docs = { bots: [botDoc('alpha')], bot_schedules: [scheduleDoc('gamma')] } as FleetDocuments;
    await synthesize(docs, { outDir: out, settings });
    const before = readTree(out);
    const r = await synthesize(docs, { outDir: out, settings: { ...settings, minioSecretName: 'Not_A_Secret' } });
    expect(r.errors.map((e) => e.split(':')[0]).sort()).toEqual(['bot_schedules/gamma', 'bots/alpha']);
    expect(r.errors[0]).toContain('secretKeyRef.name: "Not_A_Secret"');
    expect(r.removed).toEqual([]);
    expect([...readTree(out).entries()].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml'))).toEqual([...before.entries()].filter(([p]) => p.startsWith('bots/') && p.endsWith('.yaml')));
  });
});
