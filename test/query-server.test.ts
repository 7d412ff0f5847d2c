// The query API (SPEC §4): protocol, status codes and messages, and realtime proxying to a real
// local HTTP server standing in for a bot's query sidecar.
import type * as http from 'node:http';
import pino from 'pino';
import { lookupFromDocuments } from '../src/service/query/lookup';
import { QueryServer, startQueryServer } from '../src/service/query/server';
import { DEFAULT_SETTINGS } from '../src/settings';
import { LocalServer, call, readAll, startHttp } from './query-fakes';

const RFC3339_NANO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

function doc(id: string, entrypoints: unknown) {
  return {
    id,
    config: { name: `bot ${id}`, type: 'realtime/x', version: '1.0.0', api_key: 'AKsupersecretvalue' },
    custom: { version: '1.0.0', filePath: 'u/x/1.0.0/x.zip', config: { name: 'x', runtime: 'python3.11', type: 'realtime', entrypoints } },
  };
}

const fleet = {
  bots: [
    doc('rt1', { bot: 'main.py', query: 'query.py' }),
    doc('noentry', undefined),
    doc('noquery', { bot: 'main.py' }),
    doc('emptyquery', { bot: 'main.py', query: '' }),
    { ...doc('disabled', { bot: 'main.py', query: 'query.py' }), config: { enabled: false } },
    doc('down', { bot: 'main.py', query: 'query.py' }),
  ],
  bot_schedules: [],
};

interface BotCall {
  method: string;
  url: string;
  body: string;
  contentType?: string;
}

let bot: LocalServer;
let server: QueryServer;
let base: string;
const botCalls: BotCall[] = [];
const observed: [string, number, number][] = [];
const timers: NodeJS.Timeout[] = [];

beforeAll(async () => {
  bot = await startHttp(async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readAll(req);
    botCalls.push({ method: req.method!, url: req.url!, body, contentType: req.headers['content-type'] });
    const path = req.url!.split('?')[0];
    const reply = (code: number, text: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(text);
    };
    if (path === '/status') return reply(200, JSON.stringify({ status: 'ok', data: { price: 45000.5, echo: req.url } }));
    if (path === '/bignum') return reply(200, '{"status":"ok","data":{"order_id":12345678901234567890,"n":1.50}}');
    if (path === '/fail') return reply(500, JSON.stringify({ status: 'error', error: 'unknown symbol' }));
    if (path === '/unknown') return reply(404, JSON.stringify({ status: 'error', error: 'no handler for /unknown', available: ['/status', '/fail'] }));
    if (path === '/nodata') return reply(200, JSON.stringify({ status: 'ok', data: null }));
    if (path === '/garbage') return reply(200, 'Internal Server Error: api_key=AKsupersecretvalue');
    if (path === '/sleep') {
      timers.push(setTimeout(() => reply(200, JSON.stringify({ status: 'ok', data: 'late' })), 3000));
      return;
    }
    reply(404, JSON.stringify({ status: 'error', error: 'not found' }));
  });
  server = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments(fleet),
    settings: DEFAULT_SETTINGS,
    kube: null,
    minio: null,
    realtimeBaseUrl: (id) => (id === 'down' ? 'http://127.0.0.1:1' : bot.url),
    logger: pino({ level: 'silent' }),
    observe: (kind, status, seconds) => observed.push([kind, status, seconds]),
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  timers.forEach(clearTimeout);
  await server.close();
  await bot.close();
});

const query = (body: unknown) => call(`${base}/query`, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('realtime bots', () => {
  test('proxies to the bot with params on the URL query string (and as JSON body) and copies its envelope', async () => {
    botCalls.length = 0;
    const params = { symbol: 'BTC/USDT', limit: 5, verbose: true, none: null, filter: { side: 'buy' }, list: [1, 'a'], text: 'a b&c=d' };
    const r = await query({ bot_id: 'rt1', query_path: 'status', params });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.json.status).toBe('ok');
    expect(r.json.data.price).toBe(45000.5);
    expect(r.json.error).toBeUndefined();
    expect(Number.isInteger(r.json.duration)).toBe(true);
    expect(r.json.duration).toBeGreaterThan(0);
    expect(r.json.timestamp).toMatch(RFC3339_NANO);
    expect(Math.abs(Date.parse(r.json.timestamp) - Date.now())).toBeLessThan(5000);

    expect(botCalls).toHaveLength(1);
    const c = botCalls[0];
    expect(c.method).toBe('POST');
    expect(c.contentType).toBe('application/json');
    const u = new URL(c.url, 'http://x');
    expect(u.pathname).toBe('/status');
    expect(Object.fromEntries(u.searchParams)).toEqual({
      symbol: 'BTC/USDT',
      limit: '5',
      verbose: 'true',
      none: '',
      filter: '{"side":"buy"}',
      list: '[1,"a"]',
      text: 'a b&c=d',
    });
    // Percent-encoded, never `+` for a space.
    expect(c.url).toContain('text=a%20b%26c%3Dd');
    expect(JSON.parse(c.body)).toEqual(params);
  });

  test('no params: no query string, empty body', async () => {
    botCalls.length = 0;
    const r = await query({ bot_id: 'rt1', query_path: '/status' });
    expect(r.status).toBe(200);
    expect(botCalls[0].url).toBe('/status');
    expect(botCalls[0].body).toBe('');
  });

  test('data passes through as the bot wrote it (numbers beyond 2^53 intact)', async () => {
    const r = await query({ bot_id: 'rt1', query_path: '/bignum' });
    expect(r.status).toBe(200);
    expect(r.text).toContain('"data":{"order_id":12345678901234567890,"n":1.50}');
  });

  test('null data is omitted', async () => {
    const r = await query({ bot_id: 'rt1', query_path: '/nodata' });
    expect(r.status).toBe(200);
    expect(r.json).not.toHaveProperty('data');
    expect(r.json.status).toBe('ok');
  });

  test('the bot says error → 500 with its message, whatever its HTTP status', async () => {
    const r = await query({ bot_id: 'rt1', query_path: '/fail' });
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ status: 'error', error: 'unknown symbol' });
    expect(r.json).not.toHaveProperty('data');
    expect(r.json.duration).toBeGreaterThan(0);
    const u = await query({ bot_id: 'rt1', query_path: '/unknown' });
    expect(u.status).toBe(500);
    expect(u.json.error).toBe('no handler for /unknown (available: /status, /fail)');
  });

  test('an unparsable answer is a 500 that does not quote the answer', async () => {
    const r = await query({ bot_id: 'rt1', query_path: '/garbage' });
    expect(r.status).toBe(500);
    expect(r.json.error).toBe('invalid response from bot rt1: not valid JSON');
    expect(r.text).not.toContain('AKsupersecretvalue');
  });

  test('an unreachable bot is a 500, no Job fallback', async () => {
    const r = await query({ bot_id: 'down', query_path: '/status', params: { api_key: 'AKsupersecretvalue' } });
    expect(r.status).toBe(500);
    expect(r.json.status).toBe('error');
    expect(r.json.error).toMatch(/^bot down is unreachable: .*ECONNREFUSED/);
    expect(r.text).not.toContain('AKsupersecretvalue');
  });

  test('timeout: the bot answers after timeout_sec → 500', async () => {
    const t0 = Date.now();
    const r = await query({ bot_id: 'rt1', query_path: '/sleep', timeout_sec: 1 });
    const took = Date.now() - t0;
    expect(r.status).toBe(500);
    expect(r.json.error).toBe('query timed out after 1s');
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(2900);
    expect(r.json.duration).toBeGreaterThanOrEqual(0.95e9);
  });
});

describe('request errors', () => {
  test.each([
    ['empty body', '', 'invalid request body: empty body'],
    ['not JSON', '{"bot_id":', 'invalid request body: not valid JSON'],
    ['an array', '[1]', 'invalid request body: expected a JSON object'],
    ['bot_id of the wrong type', '{"bot_id":5,"query_path":"/x"}', 'invalid request body: bot_id must be a string'],
    ['query_path of the wrong type', '{"bot_id":"rt1","query_path":["/x"]}', 'invalid request body: query_path must be a string'],
    ['params not an object', '{"bot_id":"rt1","query_path":"/x","params":[1]}', 'invalid request body: params must be an object'],
    ['timeout_sec not an integer', '{"bot_id":"rt1","query_path":"/x","timeout_sec":1.5}', 'invalid request body: timeout_sec must be an integer'],
    ['timeout_sec a string', '{"bot_id":"rt1","query_path":"/x","timeout_sec":"10"}', 'invalid request body: timeout_sec must be an integer'],
    ['bot_id missing', '{"query_path":"/x"}', 'bot_id is required'],
    ['bot_id empty', '{"bot_id":"","query_path":"/x"}', 'bot_id is required'],
    ['query_path missing', '{"bot_id":"rt1"}', 'query_path is required'],
    ['query_path empty', '{"bot_id":"rt1","query_path":""}', 'query_path is required'],
  ])('%s → 400', async (_name, body, message) => {
    const r = await query(body);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.json).toEqual({ status: 'error', error: message, duration: 0, timestamp: expect.stringMatching(RFC3339_NANO) });
  });

  test.each([
    ['unknown bot', 'nosuchbot', 'bot not found: nosuchbot'],
    ['disabled bot', 'disabled', 'bot not found: disabled'],
    ['no entrypoints', 'noentry', 'bot noentry does not have entrypoints configured'],
    ['no query entrypoint', 'noquery', 'bot noquery does not have a query entrypoint'],
    ['empty query entrypoint', 'emptyquery', 'bot emptyquery does not have a query entrypoint'],
  ])('%s → 404', async (_name, id, message) => {
    const r = await query({ bot_id: id, query_path: '/status' });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ status: 'error', error: message, duration: 0 });
  });

  test('a body over 1 MiB → 413', async () => {
    const big = JSON.stringify({ bot_id: 'rt1', query_path: '/status', params: { pad: 'x'.repeat(1024 * 1024) } });
    const r = await query(big);
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ status: 'error', error: 'request body too large', duration: 0 });
  });

  test('a chunked body over 1 MiB → 413', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    let sent = 0;
    const stream = new ReadableStream({
      pull(ctl) {
        if (sent === 0) ctl.enqueue(new TextEncoder().encode('{"bot_id":"rt1","query_path":"/status","params":{"pad":"'));
        if (sent > 20) {
          ctl.enqueue(new TextEncoder().encode('"}}'));
          ctl.close();
          return;
        }
        sent++;
        ctl.enqueue(new TextEncoder().encode(chunk));
      },
    });
    const res = await fetch(`${base}/query`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('request body too large');
  });

  test('a body just under the limit is read', async () => {
    const pad = 'x'.repeat(1024 * 1024 - 200);
    const r = await query({ bot_id: 'nosuchbot', query_path: '/status', params: { pad } });
    expect(r.status).toBe(404);
  });

  test.each(['GET', 'PUT', 'DELETE'])('%s /query → 405', async (method) => {
    const r = await call(`${base}/query`, { method });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST');
    expect(r.json).toMatchObject({ status: 'error', error: 'method not allowed', duration: 0 });
  });

  test('GET /health → 200 {"status":"ok"}', async () => {
    const r = await call(`${base}/health`, { method: 'GET' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.json).toEqual({ status: 'ok' });
  });

  test.each(['/', '/queries', '/query/', '/metrics'])('unknown path %s → 404', async (p) => {
    const r = await call(`${base}${p}`, { method: 'GET' });
    expect(r.status).toBe(404);
    expect(r.json.status).toBe('error');
  });

  test('observe gets kind, status and seconds of each /query', async () => {
    observed.length = 0;
    await query({ bot_id: 'rt1', query_path: '/status' });
    await query({ bot_id: 'nosuchbot', query_path: '/status' });
    await query('');
    expect(observed.map(([k, s]) => [k, s])).toEqual([
      ['realtime', 200],
      ['none', 404],
      ['none', 400],
    ]);
    for (const [, , s] of observed) expect(s).toBeGreaterThanOrEqual(0);
  });
});

describe('scheduled bots without API access', () => {
  test('kube or MinIO missing → 500 naming what is missing', async () => {
    const sched = {
      ...doc('sched1', { bot: 'main.py', query: 'query.py' }),
      config: { name: 's', type: 'scheduled/x', version: '1.0.0', schedule: '0 * * * *' },
    };
    const s = await startQueryServer({
      port: 0,
      host: '127.0.0.1',
      lookup: lookupFromDocuments({ bots: [], bot_schedules: [sched] }),
      settings: DEFAULT_SETTINGS,
      kube: null,
      minio: null,
      logger: pino({ level: 'silent' }),
    });
    try {
      const r = await call(`http://127.0.0.1:${s.port}/query`, { body: JSON.stringify({ bot_id: 'sched1', query_path: '/x' }) });
      expect(r.status).toBe(500);
      expect(r.json.error).toMatch(/^scheduled-bot queries unavailable: no Kubernetes API access/);
    } finally {
      await s.close();
    }
  });
});
