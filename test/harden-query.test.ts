// The query server against slow and many clients (issue 13 item 10): headers must arrive within
// seconds, the whole request within its own limit, the response may take the query's full
// timeout, and connections beyond the cap are refused.
import type * as http from 'node:http';
import * as net from 'node:net';
import pino from 'pino';
import { lookupFromDocuments } from '../src/service/query/lookup';
import { QueryServer, startQueryServer } from '../src/service/query/server';
import { DEFAULT_SETTINGS } from '../src/settings';
import { LocalServer, call, readAll, startHttp } from './query-fakes';
import { waitFor } from './serve-support';

jest.setTimeout(30_000);

const doc = {
  id: 'rt1',
  config: { name: 'rt1', type: 'realtime/x', version: '1.0.0' },
  custom: { version: '1.0.0', filePath: 'u/x.zip', config: { name: 'x', runtime: 'python3.11', type: 'realtime', entrypoints: { bot: 'main.py', query: 'q.py' } } },
};

let bot: LocalServer;
let server: QueryServer;
let port: number;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  bot = await startHttp(async (req: http.IncomingMessage, res: http.ServerResponse) => {
    await readAll(req);
    const delay = req.url!.startsWith('/slow') ? 2500 : 0;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', data: 'answered' }));
    }, delay);
  });
  server = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments({ bots: [doc], bot_schedules: [] }),
    settings: DEFAULT_SETTINGS,
    kube: null,
    minio: null,
    realtimeBaseUrl: () => bot.url,
    logger: pino({ level: 'silent' }),
    headersTimeoutMs: 600,
    requestTimeoutMs: 1200,
    maxConnections: 30,
  });
  port = server.port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await server.close();
  await bot.close();
});

/** A client that sends a request line, then one header line every `everyMs`, never finishing. */
function slowloris(everyMs: number): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const t0 = Date.now();
      socket.write('POST /query HTTP/1.1\r\nHost: x\r\n');
      const timer = setInterval(() => socket.writable && socket.write(`X-Slow-${Date.now()}: a\r\n`), everyMs);
      const closed = new Promise<number>((r) => socket.on('close', () => {
        clearInterval(timer);
        r(Date.now() - t0);
      }));
      resolve({ socket, closed });
    });
    socket.on('error', () => undefined);
    sockets.push(socket);
  });
}

const query = (path: string) => call(`http://127.0.0.1:${port}/query`, { body: JSON.stringify({ bot_id: 'rt1', query_path: path, timeout_sec: 20 }), headers: { 'content-type': 'application/json' } });

test('slowloris clients sending headers forever are cut off after the headers timeout', async () => {
  const clients = await Promise.all(Array.from({ length: 20 }, () => slowloris(100)));
  const times = await Promise.all(clients.map((c) => c.closed));
  for (const t of times) expect(t).toBeLessThan(3000);
  expect((await query('/fast')).status).toBe(200);
});

test('a client that sends its headers but trickles the body is cut off after the request timeout', async () => {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  const t0 = Date.now();
  socket.write('POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
  const timer = setInterval(() => socket.writable && socket.write(' '), 100);
  const ms = await new Promise<number>((r) => socket.on('close', () => r(Date.now() - t0)));
  clearInterval(timer);
  expect(ms).toBeLessThan(4000);
});

test('the response itself may take longer than the request timeouts (up to the query timeout)', async () => {
  const t0 = Date.now();
  const r = await query('/slow');
  expect(r.status).toBe(200);
  expect(r.json.data).toBe('answered');
  expect(Date.now() - t0).toBeGreaterThan(2000);
});

test('connections beyond the cap are refused; the server serves again once they are gone', async () => {
  const idle: net.Socket[] = [];
  const closedEarly: boolean[] = [];
  for (let i = 0; i < 45; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    const i0 = i;
    s.on('close', () => (closedEarly[i0] = true));
    idle.push(s);
    sockets.push(s);
  }
  await waitFor(() => closedEarly.filter(Boolean).length >= 15, 5000, 'connections over the cap closed');
  expect(closedEarly.filter(Boolean).length).toBeLessThanOrEqual(16);
  for (const s of idle) s.destroy();
  await waitFor(async () => (await query('/fast')).status === 200, 5000, 'serving again');
});
