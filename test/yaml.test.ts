import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Chart, Yaml } from 'cdk8s';
import { buildFleet } from '../src/model/fleet';
import { secretKeyMatcher } from '../src/model/secrets';
import { DEFAULT_SETTINGS } from '../src/settings';
import { BotRenderer, addBot } from '../src/synth/render';
import { mulberry32 } from '../src/testing/fleet-gen';
import { stringifyDocument, stringifyDocuments } from '../src/synth/yaml';
import { edgeCaseFleet } from './support/edge-fleet';

// Strings chosen to hit every branch of yaml's string stringifier under YAML 1.1.
const TRICKY = [
  '', ' ', 'yes', 'No', 'ON', 'off', 'y', 'n', 'true', 'False', 'null', 'Null', '~', '0', '007', '0777', '0x1F', '0o17', '1e3', '1E-3',
  '.5', '5.', 'e9', 'e-5', '-1', '+1', '1_000', '1:20', '190:20:30', '.inf', '-.Inf', '.nan', '2001-12-14', '2001-12-14t21:59:43.10-05:00',
  '2026-01-02T15:04:05Z', '12:30', '- x', '-', '?', '? x', ':x', 'a: b', 'a:b', 'a #b', '#x', 'x#', '&a', '*a', '!tag', '|', '>', "'",
  '"', "it's", '"dq"', `both ' and "`, '%x', '@x', '`x', '[x]', '{x}', 'a,b', 'x ', ' x', '\tx', 'x\t', 'multi\nline', 'multi\nline\n',
  'multi\n\nline\n\n', '\nlead', 'trail\n ', ' lead\nx', 'x\n y', 'a\rb', 'a\u0000b', 'a\u0007b', 'a\u001bb', 'a\u0085b', 'a\u00a0b',
  'a\u2028b', 'ünïcødé ✨', '😀', '\ud800', '---', '--- x', '...', '... x', 'x\n---\ny', '<b>&</b>', '{"a":1,"b":"<x>"}', "{'a':1}",
  'x'.repeat(300), `${'word '.repeat(40)}end`, 'http://example.com/a?b=c&d=e#f', 'C:\\path\\file', '=', '<<', 'Y', 'NO', '=x',
];

function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 3 || x < 0.45) {
    const y = r();
    if (y < 0.6) return TRICKY[Math.floor(r() * TRICKY.length)];
    if (y < 0.75) return Math.floor(r() * 20000) - 100;
    if (y < 0.85) return r() < 0.5;
    return null;
  }
  if (x < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[TRICKY[Math.floor(r() * TRICKY.length)]] = randomValue(r, depth + 1);
  return o;
}

describe('fast YAML writer = cdk8s Yaml.stringify, byte for byte', () => {
  it.each(TRICKY.map((s) => [JSON.stringify(s), s]))('string %s as value, key, list item and nested', (_, s) => {
    const doc = { k: s, [s]: 'v', list: [s, [s], { [s]: s }], deep: { a: { b: s } } };
    expect(stringifyDocument(doc)).toBe(Yaml.stringify(doc));
  });
  it('random documents (2,000)', () => {
    const r = mulberry32(1234);
    for (let i = 0; i < 2000; i++) {
      const doc = { apiVersion: 'v1', kind: 'X', data: randomValue(r, 0) };
      expect(stringifyDocument(doc)).toBe(Yaml.stringify(doc));
    }
  });
  it('falls back to the library for data outside the plain subset', () => {
    const doc = { float: 0.5, big: 2 ** 60, neg0: -0, long: { ['k'.repeat(1100)]: 1 }, undef: undefined };
    expect(stringifyDocument(doc)).toBe(Yaml.stringify(doc));
    expect(stringifyDocuments([{ a: 1 }, { b: [] }])).toBe(Yaml.stringify({ a: 1 }, { b: [] }));
    expect(stringifyDocuments([])).toBe(Yaml.stringify());
  });
});

describe('rendered files = what cdk8s App.synth() writes for the same constructs', () => {
  it('is byte-identical on a fleet of edge cases', () => {
    const settings = { ...DEFAULT_SETTINGS, natsUrl: 'nats://nats:4222', minioStateBucket: 'bot-state-prod' };
    const fleet = buildFleet(edgeCaseFleet(), { isSecretKey: secretKeyMatcher() });
    expect(fleet.errors.map(String)).toEqual([]);
    expect(fleet.specs.length).toBeGreaterThan(8);

    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-app-'));
    const app = new App({ outdir });
    fleet.specs.forEach((spec, i) => addBot(new Chart(app, `c${String(i).padStart(3, '0')}`), spec, settings));
    app.synth();

    const renderer = new BotRenderer(settings);
    fleet.specs.forEach((spec, i) => {
      const expected = fs.readFileSync(path.join(outdir, `c${String(i).padStart(3, '0')}.k8s.yaml`), 'utf8');
      expect(renderer.render(spec).text).toBe(expected);
    });
    fs.rmSync(outdir, { recursive: true, force: true });
  });
});
