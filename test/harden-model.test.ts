// Hostile documents and settings (issue 13): nothing is removed by accident, no secret reaches a
// file or an error, one bad document never stops the others.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FleetDocuments } from '../src/model/document';
import { buildFleet } from '../src/model/fleet';
import { configHash } from '../src/model/gojson';
import { MAX_DOCUMENT_DEPTH } from '../src/model/limits';
import { isBuiltinSecretKey, secretKeyMatcher, splitSecrets } from '../src/model/secrets';
import { modelOptions } from '../src/config/model-options';
import { DEFAULT_SETTINGS, RenderSettings, checkSettings } from '../src/settings';
import { parseFleetText } from '../src/source/file';
import { synthesize } from '../src/synth/synth';
import { renderPlatform } from '../src/constructs/platform';
import { generateFleet } from '../src/testing/fleet-gen';
import { botDoc, scheduleDoc } from './serve-support';
import { readTree, tmpDir } from './support/tmp';

const settings = DEFAULT_SETTINGS;
type Doc = Record<string, any>;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const botFiles = (tree: Map<string, string>) => [...tree.keys()].filter((p) => /\/(bot|schedule)-.*\.yaml$/.test(p)).sort();

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
}

describe('documents without a usable id (item 1)', () => {
  it.each([
    ['a number', 123],
    ['null', null],
    ['missing', undefined],
    ['an empty string', ''],
    ['an object', { $oid: 'x' }],
    ['a malformed string', 'Not A Bot!'],
  ])('id %s: the run fails, nothing is removed, the other bots are rendered', async (_what, badId) => {
    const out = tmpDir();
    const docs = generateFleet(80, 7);
    await synthesize(docs, { outDir: out, settings });
    const before = readTree(out);
    const next = clone(docs) as { bots: Doc[]; bot_schedules: Doc[] };
    // 30 documents lose their id (as in the report: `id: 123` on 30 documents), one bot changes.
    for (const d of [...next.bots, ...next.bot_schedules].slice(0, 30)) d.id = badId;
    const changed = next.bots.slice(40).find((b) => b.config?.enabled !== false)!;
    changed.config.symbol = 'CHANGED-SYMBOL';
    const r = await synthesize(next as FleetDocuments, { outDir: out, settings });
    expect(r.removed).toEqual([]);
    expect(r.fleet.unowned).toBeGreaterThan(0);
    expect(r.errors.some((e) => /no usable bot id.*nothing is removed/.test(e))).toBe(true);
    const after = readTree(out);
    expect(botFiles(after)).toEqual(botFiles(before));
    expect([...after.values()].some((t) => t.includes('CHANGED-SYMBOL'))).toBe(true);
  });

  it('a disabled document without an id does not stop removals', async () => {
    const out = tmpDir();
    const docs = { bots: [botDoc('alpha'), botDoc('beta')], bot_schedules: [] } as FleetDocuments;
    await synthesize(docs, { outDir: out, settings });
    const r = await synthesize({ bots: [botDoc('alpha'), { id: 5, config: { enabled: false } }], bot_schedules: [] }, { outDir: out, settings });
    expect(r.fleet.unowned).toBe(0);
    expect(r.removed).toHaveLength(1);
  });
});

describe('one id in both collections (item 4)', () => {
  it('is an error naming both documents; neither renders, both keep their files', async () => {
    const out = tmpDir();
    await synthesize({ bots: [botDoc('shared'), botDoc('other')], bot_schedules: [scheduleDoc('sched')] } as FleetDocuments, { outDir: out, settings });
    const before = readTree(out);
    const docs = { bots: [botDoc('shared', { symbol: 'NEW' }), botDoc('other', { symbol: 'OTHER-NEW' })], bot_schedules: [scheduleDoc('sched'), scheduleDoc('shared')] };
    const r = await synthesize(docs as FleetDocuments, { outDir: out, settings });
    expect(r.errors.filter((e) => e.includes('shared'))).toEqual([
      'bots/shared: id: the same id is also in bot_schedules (#1): both would use Secret bot-shared-config; rename one',
      'bot_schedules/shared: id: the same id is also in bots (#0): both would use Secret bot-shared-config; rename one',
    ]);
    expect(r.fleet.specs.map((s) => s.id).sort()).toEqual(['other', 'sched']);
    const after = readTree(out);
    const sharedFile = botFiles(before).find((p) => p.includes('bot-shared'))!;
    expect(after.get(sharedFile)).toBe(before.get(sharedFile));
    expect(botFiles(after).some((p) => p.includes('schedule-shared'))).toBe(false);
    expect([...after.values()].some((t) => t.includes('OTHER-NEW'))).toBe(true);
    expect(r.removed).toEqual([]);
  });

  it('also when one of the two is invalid', () => {
    const bad = scheduleDoc('dup', 'not a cron');
    const fleet = buildFleet({ bots: [botDoc('dup')], bot_schedules: [bad] }, modelOptions(settings));
    expect(fleet.specs).toEqual([]);
    expect(fleet.failedIds.has('dup')).toBe(true);
    expect(fleet.errors.map(String).filter((e) => e.includes('also in'))).toHaveLength(2);
  });
});

describe('credentials in URL settings (item 3)', () => {
  const s = (over: Partial<RenderSettings>): RenderSettings => ({ ...settings, ...over });
  it.each([
    'nats://user:password@nats:4222',
    'nats://s3cr3t-token@nats:4222',
    'tls://u:p@a:4222,nats://b:4222',
    'nats://a:4222, nats://user:pw@b:4222',
  ])('refuses NATS URL %s without printing the credential', (url) => {
    const problems = checkSettings(s({ natsUrl: url }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('--nats-url-secret');
    for (const part of ['password', 's3cr3t-token', 'u:p', 'user:pw']) expect(problems[0]).not.toContain(part);
  });

  it('refuses a MinIO endpoint with user info', () => {
    expect(checkSettings(s({ minioEndpoint: 'admin:minio123@minio:9000' }))[0]).toContain('MinIO endpoint');
    expect(checkSettings(s({ minioEndpoint: 'https://k:s@minio:9000' }))[0]).not.toContain('k:s');
    expect(checkSettings(s({ minioEndpoint: 'minio:9000', natsUrl: 'nats://nats:4222' }))).toEqual([]);
  });

  it('with --nats-url-secret, NATS_URL reaches pods and the platform by secretKeyRef only', async () => {
    const withSecret = s({ natsUrl: 'nats://user:password@nats:4222', natsUrlSecret: 'nats-creds/url' });
    expect(checkSettings(withSecret)).toEqual([]);
    const out = tmpDir();
    const r = await synthesize({ bots: [botDoc('alpha')], bot_schedules: [scheduleDoc('beta')] } as FleetDocuments, { outDir: out, settings: withSecret });
    expect(r.errors).toEqual([]);
    const texts = [...readTree(out).values(), ...renderPlatform(withSecret).map((f) => f.text)];
    expect(texts.some((t) => t.includes('password'))).toBe(false);
    const bot = [...readTree(out).entries()].find(([p]) => p.includes('bot-alpha'))![1];
    expect(bot).toMatch(/- name: NATS_URL\n\s+valueFrom:\n\s+secretKeyRef:\n\s+key: url\n\s+name: nats-creds\n/);
    expect(checkSettings(s({ natsUrlSecret: 'Bad Name' }))[0]).toContain('not <secret-name>');
  });
});

describe('secret key names (item 5)', () => {
  it.each([
    'key', 'auth', 'mnemonic', 'seed', 'pwd', 'accessKey', 'private key', 'secretKey', 'API_KEY', 'apikey', 'privKey', 'seed_phrase',
    'seedPhrase', 'passphrase', 'authToken', 'oauth', 'jwt', 'pin', 'client-secret', 'wallet.key', 'signingKey', 'hmac', 'Password', 'x-api-key',
  ])('%s is secret', (k) => {
    expect(isBuiltinSecretKey(k)).toBe(true);
  });

  it.each(['symbol', 'symbols', 'name', 'type', 'version', 'schedule', 'monkey', 'author', 'authority', 'seedling', 'keyboard', 'hotkey', 'passive', 'spinner', 'interval', 'exchange', 'customBotId'])(
    '%s is not secret',
    (k) => {
      expect(isBuiltinSecretKey(k)).toBe(false);
    },
  );

  it('keeps exchange.key out of the reviewer annotation; --secret-keys still adds exact names', async () => {
    const out = tmpDir();
    const doc = botDoc('alpha', { exchange: { key: 'K-123456789', name: 'binance' }, wallet: { mnemonic: 'abandon abandon ability' }, accessKey: 'AKIA123456' });
    const r = await synthesize({ bots: [doc], bot_schedules: [] } as FleetDocuments, { outDir: out, settings });
    expect(r.errors).toEqual([]);
    const text = [...readTree(out).values()].join('\n');
    for (const v of ['K-123456789', 'abandon', 'AKIA123456']) expect(text).not.toContain(v);
    expect(text).toContain('binance');
    expect(splitSecrets({ custom_field: 'abcdefgh' }, secretKeyMatcher(['Custom_Field'])).redacted).toEqual({ custom_field: '<secret>' });
  });
});

describe('a secret equal to manifest text (item 17)', () => {
  it('names the rendered field it matched and what to do; the bot keeps its file', async () => {
    const out = tmpDir();
    const docs = { bots: [botDoc('alpha'), botDoc('beta')], bot_schedules: [] } as FleetDocuments;
    await synthesize(docs, { outDir: out, settings });
    const before = readTree(out);
    const r = await synthesize({ bots: [botDoc('alpha', { key: 'main.py' }), botDoc('beta', { token: 'BTCUSDT' })], bot_schedules: [] } as FleetDocuments, { outDir: out, settings });
    expect(r.errors).toEqual([
      'bots/alpha: the value of secret config key(s) key in env ENTRYPOINT also appears in the rendered manifest, so the file is not written (its previous file is kept): if that value is not secret, rename the config key; if it is, it equals public manifest text (guessable): change it',
      'bots/beta: the value of secret config key(s) token in field "fleetsynth.io/config" also appears in the rendered manifest, so the file is not written (its previous file is kept): if that value is not secret, rename the config key; if it is, it equals public manifest text (guessable): change it',
    ]);
    expect(readTree(out)).toEqual(before);
  });
});

describe('deeply nested documents (item 2)', () => {
  it.each([10_000, 1000, MAX_DOCUMENT_DEPTH + 1])('a config %i levels deep is that bot\'s named error; the others render', async (depth) => {
    const out = tmpDir();
    const docs = { bots: [botDoc('alpha'), botDoc('deep', { params: nested(depth) })], bot_schedules: [scheduleDoc('gamma')] } as FleetDocuments;
    const r = await synthesize(docs, { outDir: out, settings });
    expect(r.errors).toEqual([`bots/deep: (document): is nested more than ${MAX_DOCUMENT_DEPTH} levels deep (MongoDB's own limit)`]);
    expect(r.fleet.specs.map((s) => s.id).sort()).toEqual(['alpha', 'gamma']);
  });

  it('deep custom, deep arrays and a deep document without an id are caught too', async () => {
    let arr: unknown = 1;
    for (let i = 0; i < 5000; i++) arr = [arr];
    const deepCustom = botDoc('custom-deep');
    (deepCustom.custom as Doc).config.schema = nested(5000);
    const docs = { bots: [botDoc('alpha'), botDoc('arr', { a: arr }), deepCustom, { id: nested(5000) }], bot_schedules: [] } as FleetDocuments;
    const r = await synthesize(docs, { outDir: tmpDir(), settings });
    expect(r.fleet.specs.map((s) => s.id)).toEqual(['alpha']);
    expect(r.errors.filter((e) => e.includes('nested more than'))).toHaveLength(3);
    expect(r.errors.some((e) => e.includes('#3 (no usable id)'))).toBe(true);
  });

  it('a config just within the limit renders', () => {
    const fleet = buildFleet({ bots: [botDoc('ok', { params: nested(MAX_DOCUMENT_DEPTH - 3) })], bot_schedules: [] }, modelOptions(settings));
    expect(fleet.errors).toEqual([]);
  });
});

describe('keyed config hash (item 6)', () => {
  const key = 'k'.repeat(32);
  it('is an HMAC of the0\'s input under the key: 16 hex chars, differs from the plain hash and per key', () => {
    const plain = configHash({ pin: '123456' }, '1.0.0', null);
    const keyed = configHash({ pin: '123456' }, '1.0.0', null, key);
    expect(keyed).toMatch(/^[0-9a-f]{16}$/);
    expect(keyed).not.toBe(plain);
    expect(configHash({ pin: '123456' }, '1.0.0', null, key + 'x')).not.toBe(keyed);
    expect(configHash({ pin: '123457' }, '1.0.0', null, key)).not.toBe(keyed);
    // the0's default is untouched
    expect(configHash({ key: 'value1' }, '1.0.0', undefined)).toBe('c603297941353c4d');
  });

  it('renders the keyed hash, never the key; a short key is refused', async () => {
    const out = tmpDir();
    const keyed = { ...settings, configHashKey: key };
    const r = await synthesize({ bots: [botDoc('alpha')], bot_schedules: [] } as FleetDocuments, { outDir: out, settings: keyed });
    expect(r.errors).toEqual([]);
    const spec = buildFleet({ bots: [botDoc('alpha')], bot_schedules: [] }, modelOptions(keyed)).specs[0];
    const text = [...readTree(out).values()].join('\n') + renderPlatform(keyed)[0].text;
    expect(text).toContain(`the0.app/config-hash: ${spec.configHash}`);
    expect(text).not.toContain(key);
    expect(renderPlatform(keyed)[0].text).toContain('- name: CONFIG_HASH_KEY\n');
    expect(checkSettings({ ...settings, configHashKey: 'tiny-key-1' })[0]).toContain('at least 16 bytes');
    expect(checkSettings({ ...settings, configHashKey: 'tiny-key-1' })[0]).not.toContain('tiny-key-1');
  });
});

describe('YAML alias bombs (item 9)', () => {
  function bomb(levels: number, width = 10): string {
    const lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
    return `${lines.join('\n')}\nbots:\n  - id: bomb\n    config: {name: x, payload: *a${levels - 1}}\nbot_schedules: []\n`;
  }
  it.each([10, 7])('a %i-level alias bomb is refused quickly with a clear error', (levels) => {
    const t0 = Date.now();
    expect(() => parseFleetText(bomb(levels), 'fleet.yaml')).toThrow(/fleet\.yaml: YAML aliases expand to more than \d+ values \(an alias bomb\?\)/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('flow-mapping and merge-key bombs too; ordinary anchors still work', () => {
    const lines = ['x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}'];
    for (let i = 1; i < 9; i++) lines.push(`x${i}: &x${i} {a: *x${i - 1}, b: *x${i - 1}, c: *x${i - 1}, d: *x${i - 1}, e: *x${i - 1}, f: *x${i - 1}, g: *x${i - 1}, h: *x${i - 1}}`);
    expect(() => parseFleetText(`${lines.join('\n')}\nbots: [*x8]\n`, 'm.yaml')).toThrow(/alias bomb/);
    const ok = `custom: &c {version: "1", filePath: a/b.zip, config: {runtime: python3.11, entrypoints: {bot: main.py}}}\nbots:\n${Array.from({ length: 500 }, (_, i) => `  - {id: b${i}, config: {name: n}, custom: *c}`).join('\n')}\nbot_schedules: []\n`;
    const docs = parseFleetText(ok, 'ok.yaml');
    expect(docs.bots).toHaveLength(500);
    expect(buildFleet(docs, modelOptions(settings)).errors).toEqual([]);
  });
});

describe('__proto__ keys (item 14)', () => {
  it('are kept as data in the reviewer annotation', () => {
    const raw = JSON.parse('{"bots":[{"id":"proto","config":{"name":"x","__proto__":{"polluted":"yes"}},"custom":{"version":"1","filePath":"a.zip","config":{"runtime":"python3.11","entrypoints":{"bot":"main.py"}}}}],"bot_schedules":[]}');
    const spec = buildFleet(raw, modelOptions(settings)).specs[0];
    expect(spec.redactedConfig).toBe('{"__proto__":{"polluted":"yes"},"name":"x"}');
    expect(JSON.parse(spec.configJson)).toHaveProperty(['__proto__', 'polluted'], 'yes');
    expect(({} as Doc).polluted).toBeUndefined();
  });
});

describe('log forging in CLI errors (item 13)', () => {
  it.each([
    ['a newline', 'bad\nerror: bots/other: forged'],
    ['an ANSI escape', 'bad\u001b[2J\u001b[31mred'],
    ['a carriage return', 'bad\rok'],
    ['a line separator', 'bad\u2028forged'],
    ['a bidi override', 'bad\u202egnp.exe'],
    ['a C1 control', 'bad\u009bforged'],
  ])('an id with %s is printed escaped, on one line', (_what, id) => {
    const fleet = buildFleet({ bots: [{ ...botDoc('x'), id }], bot_schedules: [] }, modelOptions(settings));
    const line = fleet.errors.map(String).join('\n');
    expect(line.split('\n')).toHaveLength(1);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(line).toMatch(/^bots\/bad\\u|^bots\/bad\\[nr]/);
  });

  it('values in warnings and YAML errors are escaped too', () => {
    const fleet = buildFleet({ bots: [botDoc('x', { memory_limit: 'lots\n\u001b[31m', enabled: 'no\u2028' })], bot_schedules: [] }, modelOptions(settings));
    for (const w of fleet.warnings) expect(w.message).not.toMatch(/[\u0000-\u001f\u2028]/);
    expect(() => parseFleetText('bots: [\u001b[31m\n  - : :', 'f.yaml')).toThrow(/^(?![\s\S]*\u001b)/);
  });
});

describe('resource overrides beyond a sane bound (item 15)', () => {
  it.each([
    ['memory_limit', '1e400'],
    ['memory_limit', '2Ti'],
    ['memory_request', '1Ei'],
    ['cpu_limit', '100000'],
    ['cpu_request', '1e300'],
  ])('%s %s: a warning, the default is kept, the bot renders', (key, value) => {
    const fleet = buildFleet({ bots: [botDoc('x', { [key]: value })], bot_schedules: [] }, modelOptions(settings));
    expect(fleet.errors).toEqual([]);
    expect(fleet.warnings.map((w) => w.message)).toEqual([expect.stringMatching(new RegExp(`^config.${key} "${value}" is above .*: default .* kept$`))]);
    const r = fleet.specs[0].resources;
    expect([r.requests.memory, r.requests.cpu, r.limits.memory, r.limits.cpu]).not.toContain(value);
  });

  it('large but real values are kept', () => {
    const fleet = buildFleet({ bots: [botDoc('x', { memory_limit: '512Gi', memory_request: '1Gi', cpu_limit: '64', cpu_request: '2' })], bot_schedules: [] }, modelOptions(settings));
    expect(fleet.warnings).toEqual([]);
    expect(fleet.specs[0].resources.limits).toEqual({ memory: '512Gi', cpu: '64' });
  });
});

afterAll(() => {
  // tmpDir()s live under the OS temp dir; nothing here writes elsewhere.
  expect(fs.existsSync(path.join(process.cwd(), 'bots'))).toBe(false);
});
