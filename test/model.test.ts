import { toBotSpec } from '../src/model/bot';
import { convertSchedule } from '../src/model/cron';
import { isEnabled } from '../src/model/document';
import { buildFleet } from '../src/model/fleet';
import { configHash, goJson } from '../src/model/gojson';
import { cronJobName, sanitizeLabel } from '../src/model/names';
import { parseQuantity } from '../src/model/quantity';
import { findLeaks, secretKeyMatcher, splitSecrets } from '../src/model/secrets';

const opts = { isSecretKey: secretKeyMatcher() };

function doc(over: Record<string, unknown> = {}, custom: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'abc123',
    config: { name: 'x', type: 'realtime/x', version: '1.0.0', symbol: 'BTC' },
    custom: {
      version: '1.0.0',
      filePath: 'u/x/1.0.0/x.zip',
      config: { name: 'x', runtime: 'python3.11', entrypoints: { bot: 'main.py' }, ...custom },
    },
    ...over,
  };
}

describe('config hash (SPEC §2.3 vectors, checked against Go)', () => {
  it('matches the three test vectors', () => {
    expect(configHash({ key: 'value1' }, '1.0.0', undefined)).toBe('c603297941353c4d');
    const config = { é: 1, z: null, symbols: ['BTC', 'ETH'], price: 45000.5, note: '<b>&</b>' };
    expect(goJson(config)).toBe('{"note":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","price":45000.5,"symbols":["BTC","ETH"],"z":null,"é":1}');
    expect(configHash(config, '2.1.0', false)).toBe('80bc5683050f596d');
    expect(configHash(null, '', undefined)).toBe('34500216e9cfc8d3');
  });
  it('formats numbers and escapes like Go', () => {
    expect(goJson([5.0, 1e21, 1e-7, 0.1, 1.5e-7, 123456789012])).toBe("[5,1e+21,1e-7,0.1,1.5e-7,123456789012]");
    // strconv.AppendFloat(-0.0, 'f', -1, 64) is "-0"; integer zero is "0".
    expect(goJson({ a: -0, b: 0, c: [-0] })).toBe('{"a":-0,"b":0,"c":[-0]}');
    expect(goJson('a\u2028b\u2029')).toBe('"a\\u2028b\\u2029"');
    // keys sorted by UTF-8 bytes (code points), not UTF-16 units: U+FF5E sorts before U+1F600
    expect(goJson({ '😀': 1, '～': 2, a: 3 })).toBe('{"a":3,"～":2,"😀":1}');
  });
  it('changes when a secret value changes (a rotated key restarts the bot)', () => {
    expect(configHash({ api_key: 'one' }, '1', null)).not.toBe(configHash({ api_key: 'two' }, '1', null));
  });
});

describe('names and labels', () => {
  it('sanitizes like the0', () => {
    expect(sanitizeLabel('special@#$chars')).toBe('specialchars');
    expect(sanitizeLabel('-starts-with-dash')).toBe('starts-with-dash');
    expect(sanitizeLabel('@@@')).toBe('bot');
    expect(sanitizeLabel('Price Alerts ✨ v2!')).toBe('PriceAlertsv2');
    expect(sanitizeLabel('2.1.0+build.7')).toBe('2.1.0build.7');
    expect(sanitizeLabel('a'.repeat(70) + '-')).toBe('a'.repeat(63));
  });
  it('truncates CronJob names to 52 and strips trailing dashes', () => {
    expect(cronJobName('schedule-1')).toBe('schedule-schedule-1');
    expect(cronJobName('very-long-schedule-id-that-needs-to-be-truncated-for-k8s-name-limit')).toBe(
      'schedule-very-long-schedule-id-that-needs-to-be-trun',
    );
    expect(cronJobName('x'.repeat(42) + '-yyyy')).toBe('schedule-' + 'x'.repeat(42));
  });
});

describe('cron conversion (SPEC §3.2)', () => {
  it.each([
    ['0 0 9 * * *', '0 9 * * *'],
    ['30 0 9 1 * 0', '0 9 1 * 0'],
    ['  */5   * * * *  ', '*/5 * * * *'],
    ['@daily', '@daily'],
    ['0 9 * JAN-MAR mon-fri', '0 9 * JAN-MAR mon-fri'],
    ['0 9 ? * 1,3,5', '0 9 ? * 1,3,5'],
  ])('%s → %s', (input, out) => {
    expect(convertSchedule(input)).toEqual({ ok: true, schedule: out });
  });
  it.each(['61 * * * *', '* * * *', '0 0 0 0 0 0 0', '@every 5m', '* 24 * * *', '*/0 * * * *', '5-1 * * * *', 'a b c d e', '0 0 32 * *'])(
    'rejects %s',
    (input) => {
      expect(convertSchedule(input).ok).toBe(false);
    },
  );
});

describe('quantities', () => {
  it('parses Kubernetes quantities by value', () => {
    expect(parseQuantity('1000m')).toBe(parseQuantity('1'));
    expect(parseQuantity('1Gi')).toBe(1024 ** 3);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('0.5')).toBe(0.5);
    expect(parseQuantity('lots')).toBeUndefined();
    expect(parseQuantity('1GB')).toBeUndefined();
  });
});

describe('enabled (SPEC §1.2)', () => {
  it('only a boolean false disables', () => {
    expect(isEnabled({ config: { enabled: false } })).toBe(false);
    for (const v of [true, null, 'false', 0, undefined]) expect(isEnabled({ config: { enabled: v } })).toBe(true);
    expect(isEnabled({ enabled: false, config: {} })).toBe(true);
    expect(isEnabled({})).toBe(true);
  });
  it('warns on non-boolean enabled values', () => {
    const r = toBotSpec(doc({ config: { enabled: 'false' } }), 'bots', 0, opts);
    expect(r.spec?.warnings.join()).toMatch(/config.enabled is "false", not a boolean/);
  });
});

describe('secrets (SPEC §2.8)', () => {
  const config = {
    symbol: 'BTC',
    API_KEY: 'AKIA-123456',
    exchange: { passphrase: 'horse-battery', nested: { private_key: { k: 'pk-abcdef' } }, plain: 'visible' },
    list: [{ token: 'tok-99999999' }],
    Credentials: ['cred-aaaaaa', 42],
  };
  it('redacts every secret key at any depth, case-insensitively, whole values', () => {
    const s = splitSecrets(config, secretKeyMatcher());
    expect(s.redacted).toEqual({
      symbol: 'BTC',
      API_KEY: '<secret>',
      exchange: { passphrase: '<secret>', nested: { private_key: '<secret>' }, plain: 'visible' },
      list: [{ token: '<secret>' }],
      Credentials: '<secret>',
    });
    expect(s.secrets.map((x) => x.value).sort()).toEqual(['AKIA-123456', 'cred-aaaaaa', 'horse-battery', 'pk-abcdef', 'tok-99999999']);
    expect(s.secretPaths).toContain('exchange.nested.private_key');
  });
  it('honours user-listed keys', () => {
    expect(splitSecrets({ wallet: 'w-1234567' }, secretKeyMatcher(['WALLET'])).redacted).toEqual({ wallet: '<secret>' });
  });
  it('finds leaks in plain, JSON-escaped and base64 form, reporting key paths only', () => {
    const secrets = [{ path: 'a.token', value: 'p"ss/wörd' }];
    expect(findLeaks('x p"ss/wörd y', secrets)).toEqual(['a.token in line 1']);
    expect(findLeaks('a: 1\n  label: x p\\"ss/wörd y', secrets)).toEqual(['a.token in field "label"']);
    expect(findLeaks(`- name: X\n  value: ${Buffer.from('p"ss/wörd').toString('base64')}`, secrets)).toEqual(['a.token in env X']);
    expect(findLeaks('nothing here', secrets)).toEqual([]);
  });
  it('keeps secrets out of the reviewer annotation but in the bot config', () => {
    const r = toBotSpec(doc({ config: { api_key: 'AK-SECRET-1', symbol: 'BTC' } }), 'bots', 0, opts);
    expect(r.spec!.redactedConfig).toBe('{"api_key":"<secret>","symbol":"BTC"}');
    expect(JSON.parse(r.spec!.configJson)).toEqual({ api_key: 'AK-SECRET-1', symbol: 'BTC' });
  });
});

describe('validation names the bot and the field (SPEC §1.4)', () => {
  const errorOf = (d: unknown, coll: 'bots' | 'bot_schedules' = 'bots') => {
    const r = toBotSpec(d, coll, 3, opts);
    expect(r.errors).toBeDefined();
    return r.errors!.map((e) => e.toString()).join('\n');
  };
  it.each([
    [doc({ id: undefined }), /bots\/#3 \(no usable id\): id: is required/],
    [doc({ id: 'Bad_ID' }), /bots\/Bad_ID: id: must be a Kubernetes name/],
    [doc({ id: 'a'.repeat(60) }), /id: is 60 characters; at most 59/],
    [doc({}, { runtime: 'cobol' }), /bots\/abc123: custom.config.runtime: must be one of .*got "cobol"/],
    [doc({}, { entrypoints: { bot: '' } }), /custom.config.entrypoints.bot: must not be empty/],
    [doc({}, { entrypoints: undefined }), /custom.config.entrypoints: is required/],
    [doc({ custom: { filePath: 'x;rm -rf', config: { runtime: 'nodejs20', entrypoints: { bot: 'a' } } } }), /custom.filePath: may only contain/],
    [doc({ config: 'not an object' }), /bots\/abc123: config: must be an object/],
    [doc({ config: { memory_request: '2Gi', memory_limit: '1Gi' } }), /config.memory_request: request 2Gi is larger than limit 1Gi/],
    [doc({ config: { big: 'x'.repeat(130 * 1024) } }), /config: JSON is \d+ bytes; at most 131072/],
  ])('%#', (d, re) => {
    expect(errorOf(d)).toMatch(re);
  });
  it('checks schedules', () => {
    expect(errorOf(doc({ config: { name: 's' } }), 'bot_schedules')).toMatch(/bot_schedules\/abc123: config.schedule: is required/);
    expect(errorOf(doc({ config: { schedule: '61 * * * *' } }), 'bot_schedules')).toMatch(/config.schedule: invalid cron expression: minute "61"/);
    expect(errorOf(doc({ id: 'a'.repeat(64), config: { schedule: '@daily' } }), 'bot_schedules')).toMatch(/at most 63/);
  });
  it('never puts a config value into an error message', () => {
    const msg = errorOf(doc({ config: { api_key: 'SUPER-SECRET-VALUE', memory_request: '2Gi', memory_limit: '1Gi' } }, { runtime: 'x' }));
    expect(msg).not.toContain('SUPER-SECRET-VALUE');
  });
  it('ignores unknown fields anywhere', () => {
    const r = toBotSpec(doc({ extra: { deep: 1 }, custom: { filePath: 'a/b.zip', unknown: true, config: { runtime: 'gcc13', entrypoints: { bot: 'm', other: 1 }, schema: {} } } }), 'bots', 0, opts);
    expect(r.spec?.runtime).toBe('gcc13');
  });
  it('keeps default resources on bad overrides, with a warning', () => {
    const r = toBotSpec(doc({ config: { memory_limit: 'lots', cpu_limit: 2, cpu_request: '-1', memory_request: '300Mi' } }), 'bots', 0, opts);
    expect(r.spec!.resources).toEqual({ requests: { memory: '300Mi', cpu: '100m' }, limits: { memory: '768Mi', cpu: '500m' } });
    expect(r.spec!.warnings).toHaveLength(3);
  });
  it('treats an empty query entrypoint as none', () => {
    expect(toBotSpec(doc({}, { entrypoints: { bot: 'm', query: '' } }), 'bots', 0, opts).spec!.queryEntrypoint).toBeUndefined();
  });
  it('labels: custom-bot-id falls back to the id prefix, version sanitized', () => {
    const s = toBotSpec(doc({ id: 'abcdefghijk', custom: { version: '2.1.0+build.7', filePath: 'a.zip', config: { name: '', runtime: 'nodejs20', entrypoints: { bot: 'x' } } } }), 'bots', 0, opts).spec!;
    expect(s.customBotId).toBe('abcdefgh');
    expect(s.customBotVersion).toBe('2.1.0build.7');
  });
});

describe('fleet', () => {
  it('renders the good bots, reports the bad ones, skips disabled', () => {
    const f = buildFleet(
      {
        bots: [doc({ id: 'good' }), doc({ id: 'bad' }, { runtime: 'cobol' }), doc({ id: 'off', config: { enabled: false } })],
        bot_schedules: [],
      },
      opts,
    );
    expect(f.specs.map((s) => s.id)).toEqual(['good']);
    expect([...f.failedIds]).toEqual(['bad']);
    expect(f.counts.disabled).toBe(1);
  });
  it('rejects duplicate ids and CronJob name collisions, naming both', () => {
    const long = 'x'.repeat(50);
    const f = buildFleet(
      {
        bots: [doc({ id: 'dup' }), doc({ id: 'dup' })],
        bot_schedules: [doc({ id: `${long}-aaa`, config: { schedule: '@daily' } }), doc({ id: `${long}-bbb`, config: { schedule: '@daily' } })],
      },
      opts,
    );
    expect(f.specs).toHaveLength(0);
    const text = f.errors.map(String).join('\n');
    expect(text).toMatch(/bots\/dup: id: duplicate id/);
    expect(text).toContain(`bot_schedules/${long}-aaa: id: object name schedule-${'x'.repeat(43)} collides with ${long}-bbb`);
    expect(text).toContain(`bot_schedules/${long}-bbb: id: object name`);
  });
});
