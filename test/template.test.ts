import { buildFleet } from '../src/model/fleet';
import type { BotSpec } from '../src/model/bot';
import { secretKeyMatcher } from '../src/model/secrets';
import { DEFAULT_SETTINGS } from '../src/settings';
import { BotRenderer } from '../src/synth/render';
import { TemplateCache, shapeOf } from '../src/synth/template';
import { compileTemplate, fillTemplate, stringifyDocuments } from '../src/synth/yaml';
import { generateFleet, mulberry32 } from '../src/testing/fleet-gen';
import { edgeCaseFleet } from './support/edge-fleet';

const settings = { ...DEFAULT_SETTINGS, natsUrl: 'nats://nats:4222', minioStateBucket: 'bot-state-prod' };

// Values that change how YAML writes a scalar (quoting, block scalars, YAML 1.1 type guessing).
const TRICKY = [
  'yes', 'No', 'null', '~', '0777', '1e3', 'e9', '2001-12-14', '12:30', '- x', 'a: b', 'a #b', '#x', "it's", '"dq"', `both ' and "`,
  'x ', ' x', 'multi\nline', 'multi\nline\n', '\nlead', 'a\u0007b', 'ünïcødé ✨', '😀', '---', '...', '<<', '{"a":1}', 'x'.repeat(300),
  '@@@', '[x]', 'a,b', '%x', '!tag', '&a', '*a', '|', '>', '?', '-', 'true', 'False', '0', '-1', '.inf',
];

function fleetSpecs(docs: ReturnType<typeof edgeCaseFleet>): BotSpec[] {
  const fleet = buildFleet(docs, { isSecretKey: secretKeyMatcher() });
  expect(fleet.errors.map(String)).toEqual([]);
  return fleet.specs;
}

describe('shape templates give the same bytes as rendering each bot through cdk8s', () => {
  it('on a generated fleet of 3,000 documents (every shape, most bots filled from a template)', () => {
    const specs = fleetSpecs(generateFleet(3000, 7));
    const templated = new BotRenderer(settings);
    const direct = new BotRenderer(settings, { templates: false });
    for (const spec of specs) expect(templated.render(spec).text).toBe(direct.render(spec).text);
    const t = templated.templates!;
    expect(t.filled).toBe(specs.length);
    expect(t.direct).toBe(0);
    expect(t.shapes).toBeGreaterThan(8);
    expect(t.shapes).toBeLessThan(100);
  });

  it('on the edge-case fleet, each bot filled from a template another bot built', () => {
    const specs = fleetSpecs(edgeCaseFleet());
    const direct = new BotRenderer(settings, { templates: false });
    // Warm the templates with every bot, then render each again: the second pass only fills.
    const templated = new BotRenderer(settings);
    specs.forEach((s) => templated.render(s));
    const built = templated.templates!.shapes;
    for (const spec of specs) expect(templated.render(spec).text).toBe(direct.render(spec).text);
    expect(templated.templates!.shapes).toBe(built);
    expect(templated.templates!.filled).toBeGreaterThanOrEqual(specs.length);
  });

  it('with tricky values in every string field of a bot of an existing shape', () => {
    const specs = fleetSpecs(generateFleet(200, 3));
    // Invalid values on purpose (the API-server checks are tested in validate.test.ts).
    const templated = new BotRenderer(settings, { validate: false });
    const direct = new BotRenderer(settings, { templates: false, validate: false });
    const r = mulberry32(99);
    let checked = 0;
    for (const base of specs.slice(0, 40)) {
      templated.render(base);
      for (let k = 0; k < 10; k++) {
        // Same shape (no string becomes empty), other values.
        const pick = () => TRICKY[Math.floor(r() * TRICKY.length)];
        const spec: BotSpec = {
          ...base,
          id: pick(),
          objectName: pick(),
          entrypoint: pick(),
          filePath: pick(),
          customBotId: pick(),
          customBotVersion: pick(),
          configHash: pick(),
          redactedConfig: pick(),
          ...(base.queryEntrypoint ? { queryEntrypoint: pick() } : {}),
          ...(base.schedule ? { schedule: pick() } : {}),
          resources: { requests: { memory: pick(), cpu: pick() }, limits: { memory: pick(), cpu: pick() } },
        };
        expect(shapeOf(spec)!.key).toBe(shapeOf(base)!.key);
        expect(templated.render(spec).text).toBe(direct.render(spec).text);
        checked++;
      }
    }
    expect(checked).toBe(400);
    expect(templated.templates!.direct).toBe(0);
  });

  it('renders directly a bot whose values hold a hole marker or a cdk8s token', () => {
    const [base] = fleetSpecs(generateFleet(20, 1));
    expect(shapeOf({ ...base, entrypoint: 'a\u00000\u0000b' })).toBeUndefined();
    expect(shapeOf({ ...base, entrypoint: '${Token[TOKEN.1]}' })).toBeUndefined();
    const templated = new BotRenderer(settings);
    const direct = new BotRenderer(settings, { templates: false });
    const odd = { ...base, entrypoint: 'x\u00001\u0000y' };
    templated.render(base);
    expect(templated.render(odd).text).toBe(direct.render(odd).text);
    expect(templated.templates!.direct).toBe(1);
  });

  it('a shape whose constructs transform a value or read an unrendered field is always rendered directly', () => {
    const [base] = fleetSpecs(generateFleet(20, 1));
    const doc = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: {} as Record<string, string> });
    // Upper-cases the id: a template would carry the marker's case, not the value's.
    const upper = new TemplateCache((s) => [doc(s.id.toUpperCase())], false);
    // Reads configJson, which is not part of the shape.
    const leaky = new TemplateCache((s) => [{ ...doc(s.id), data: { c: s.configJson } }]);
    // A pure substitution, for contrast.
    const pure = new TemplateCache((s) => [{ ...doc(`bot-${s.id}`), data: { e: s.entrypoint, q: s.queryEntrypoint ?? 'none' } }]);
    const other = { ...base, id: 'other-id', configJson: '{"other":1}' };
    for (const [cache, expected] of [
      [upper, (s: BotSpec) => [doc(s.id.toUpperCase())]],
      [leaky, (s: BotSpec) => [{ ...doc(s.id), data: { c: s.configJson } }]],
      [pure, (s: BotSpec) => [{ ...doc(`bot-${s.id}`), data: { e: s.entrypoint, q: s.queryEntrypoint ?? 'none' } }]],
    ] as const) {
      expect(cache.text(base).text).toBe(stringifyDocuments(expected(base)));
      expect(cache.text(other).text).toBe(stringifyDocuments(expected(other)));
    }
    expect(upper.filled).toBe(0);
    expect(leaky.filled).toBe(0);
    expect(pure.filled).toBe(2);
  });
});

describe('YAML templates', () => {
  it('fill to what the writer writes for the filled data, in maps, lists and inside longer strings', () => {
    const h = (i: number) => `\u0000${i}\u0000`;
    const data = (v: (i: number) => string) => [
      { a: v(0), list: [v(1), { k: `pre-${v(0)}-${v(2)}-post` }], nested: { deep: { x: v(2) } } },
      { second: [v(1), [v(0)]] },
    ];
    const t = compileTemplate(data(h))!;
    expect(t.holes.length).toBe(6);
    for (const a of TRICKY) {
      for (const b of ['', 'plain', 'multi\nline\n', "'"]) {
        const values = [a, b, `${a}${b}`];
        expect(fillTemplate(t, values)).toBe(stringifyDocuments(data((i) => values[i])));
      }
    }
  });

  it('refuses a hole in a key and a malformed marker', () => {
    expect(compileTemplate([{ ['\u00000\u0000']: 'x' }])).toBeUndefined();
    expect(compileTemplate([{ a: 'x\u0000y' }])).toBeUndefined();
    expect(compileTemplate([{ a: 0.5, b: '\u00000\u0000' }])).toBeUndefined();
  });
});
