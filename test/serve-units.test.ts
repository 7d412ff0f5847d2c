// Pure parts of the live service: event payloads, intervals, next fire times, commit messages, log redaction.
import { EventParseError, parseEvent } from '../src/service/events';
import { nextFireTime } from '../src/service/next-fire';
import { commitMessage, parseInterval } from '../src/service/resync';
import { normalizeCustom } from '../src/service/apply-event';
import { ServeMetrics } from '../src/service/metrics';
import { botDoc, memoryLogger } from './serve-support';

describe('parseEvent', () => {
  test('flat created/updated form', () => {
    const doc = botDoc('abc');
    const e = parseEvent('the0.bot.updated', JSON.stringify(doc));
    expect(e).toEqual({ subject: 'the0.bot.updated', collection: 'bots', action: 'updated', id: 'abc', config: doc.config, custom: doc.custom });
  });

  test('wrapped form, used when the flat form has no id', () => {
    const doc = botDoc('wrapped1');
    const body = { type: 'bot.created', entity_id: 'wrapped1', data: doc, timestamp: '2026-01-01T00:00:00Z' };
    const e = parseEvent('the0.bot.created', Buffer.from(JSON.stringify(body)));
    expect(e.id).toBe('wrapped1');
    expect(e.action).toBe('created');
    expect(e.config).toEqual(doc.config);
  });

  test('wrapped form without data.id takes entity_id', () => {
    const { id: _drop, ...rest } = botDoc('x');
    const e = parseEvent('the0.bot-schedule.updated', JSON.stringify({ type: 't', entity_id: 'from-entity', data: rest }));
    expect(e.id).toBe('from-entity');
    expect(e.collection).toBe('bot_schedules');
  });

  test('deleted carries only id and config', () => {
    const e = parseEvent('the0.bot-schedule.deleted', JSON.stringify({ id: 's1', config: { name: 'x' } }));
    expect(e).toMatchObject({ collection: 'bot_schedules', action: 'deleted', id: 's1' });
  });

  test.each([
    ['not json', 'the0.bot.created', '{nope'],
    ['array', 'the0.bot.created', '[1]'],
    ['no id at all', 'the0.bot.updated', JSON.stringify({ config: {}, custom: {} })],
    ['no config', 'the0.bot.created', JSON.stringify({ id: 'a', custom: {} })],
    ['no custom', 'the0.bot.updated', JSON.stringify({ id: 'a', config: {} })],
    ['log subject', 'the0.bot.logs.abc', '{}'],
  ])('%s is an EventParseError whose message holds no payload', (_n, subject, body) => {
    let err: unknown;
    try {
      parseEvent(subject, body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EventParseError);
    expect((err as Error).message).not.toContain('{');
  });
});

describe('parseInterval', () => {
  test.each([
    ['300', 300_000],
    ['300s', 300_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1500ms', 1500],
    [' 2.5 ', 2500],
  ])('%s', (t, ms) => expect(parseInterval(t)).toBe(ms));
  test.each(['', '0', '5x', 'm', '-5', '5 m'])('rejects %j', (t) => expect(() => parseInterval(t)).toThrow());
});

describe('nextFireTime (UTC, robfig semantics)', () => {
  const at = new Date('2026-03-14T10:17:30Z'); // a Saturday
  const iso = (expr: string, from = at) => new Date(nextFireTime(expr, from) * 1000).toISOString();
  test.each([
    ['*/5 * * * *', '2026-03-14T10:20:00.000Z'],
    ['0 9 * * *', '2026-03-15T09:00:00.000Z'],
    ['30 0 9 * * *', '2026-03-15T09:00:00.000Z'], // 6 fields: seconds dropped
    ['0 12 * * 1-5', '2026-03-16T12:00:00.000Z'],
    ['0 0 1 * *', '2026-04-01T00:00:00.000Z'],
    ['0 0 13 * 5', '2026-03-20T00:00:00.000Z'], // dom and dow both restricted: either (Friday 20th)
    ['15 10-12 * * *', '2026-03-14T11:15:00.000Z'],
    ['0 0 29 2 *', '2028-02-29T00:00:00.000Z'],
    ['0 8 * JAN,MAR SUN', '2026-03-15T08:00:00.000Z'],
    ['5/20 * * * *', '2026-03-14T10:25:00.000Z'],
    ['@hourly', '2026-03-14T11:00:00.000Z'],
    ['@daily', '2026-03-15T00:00:00.000Z'],
    ['@weekly', '2026-03-15T00:00:00.000Z'],
    ['@monthly', '2026-04-01T00:00:00.000Z'],
    ['@yearly', '2027-01-01T00:00:00.000Z'],
  ])('%s', (expr, want) => expect(iso(expr)).toBe(want));
  test('strictly after the given time', () => {
    expect(iso('18 10 * * *', new Date('2026-03-14T10:18:00Z'))).toBe('2026-03-15T10:18:00.000Z');
  });
  test('invalid expressions throw', () => {
    expect(() => nextFireTime('61 * * * *', at)).toThrow(/invalid schedule/);
    expect(() => nextFireTime('@every 5m', at)).toThrow();
    expect(() => nextFireTime('0 0 31 2 *', at)).toThrow(/never fires/);
  });
});

test('normalizeCustom stores createdAt/updatedAt as RFC 3339 strings', () => {
  expect(normalizeCustom({ createdAt: 1767225600000, updatedAt: '2026-01-01T00:00:00Z', x: 1 })).toEqual({
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00Z',
    x: 1,
  });
  expect(normalizeCustom({ createdAt: { $date: '2026-01-01T00:00:00Z' } }).createdAt).toBe('2026-01-01T00:00:00.000Z');
});

test('commitMessage names ids and paths, never config values', () => {
  const r = { written: ['bots/shard-01/bot-a.yaml'], removed: ['bots/shard-02/bot-b.yaml'], errors: [] } as never;
  const msg = commitMessage(r, false, new Set(['a', 'b']));
  expect(msg.split('\n')[0]).toBe('fleetsynth: resync 2 bots (2 files)');
  expect(msg).toContain('written bots/shard-01/bot-a.yaml');
  expect(msg).toContain('removed bots/shard-02/bot-b.yaml');
  expect(commitMessage({ written: ['x'], removed: [], errors: [] } as never, false, new Set(['a'])).split('\n')[0]).toBe('fleetsynth: resync bot a (1 file)');
});

test('the logger censors configs and secrets wherever they are passed', () => {
  const { logger, lines } = memoryLogger();
  logger.info({ botId: 'a', config: { api_key: 'AKverysecret' }, event: { config: { password: 'pw-verysecret' } }, BOT_CONFIG: 'x-verysecret' }, 'm');
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toContain('verysecret');
  expect(JSON.parse(lines[0]).botId).toBe('a');
});

test('metrics registry exposes the service metrics', async () => {
  const m = new ServeMetrics({ defaultMetrics: false });
  m.events.inc({ subject: 'the0.bot.updated', outcome: 'applied' });
  m.observeQuery('realtime', 200, 0.01);
  const text = await m.text();
  for (const name of ['fleetsynth_events_total', 'fleetsynth_resync_seconds', 'fleetsynth_commits_total', 'fleetsynth_push_failures_total', 'fleetsynth_query_seconds']) {
    expect(text).toContain(`# TYPE ${name}`);
  }
  expect(text).toContain('fleetsynth_events_total{subject="the0.bot.updated",outcome="applied"} 1');
  expect(text).toContain('fleetsynth_query_seconds_count{kind="realtime",status="200"} 1');
});
