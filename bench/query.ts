// Query proxy overhead: what `POST /query` adds over calling a realtime bot's query port directly.
//
//   node -r tsx/cjs bench/query.ts [--rate 1000] [--seconds 10] [--warmup 2]
//
// Three processes on loopback, as in a cluster: a stand-in bot query server, the fleetsynth
// query server (proxying to it), and this load generator. Open loop at a fixed rate (requests
// are sent on schedule whether or not earlier ones have answered), keep-alive connections. The direct
// path and the proxy path are measured in the same run, alternating in one-second slices for
// --seconds each, after a warm-up. The direct request is exactly what the proxy sends the bot (same path, same
// query string, same JSON body). Latency is from the request's start to its last byte; requests
// due in the same timer tick (~1 ms) go out together, so the offered rate holds exactly.
// Prints a table and writes bench/results/query.json. Target: p99 added ≤ 2 ms at 1,000 req/s.
import { ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';

const BOT_ID = 'benchbot0000000000000001';
const PARAMS = { symbol: 'BTC/USDT', depth: 5 };
const BOT_ANSWER = JSON.stringify({ status: 'ok', data: { symbol: 'BTC/USDT', bid: 45000.5, ask: 45001, positions: [{ qty: 0.5, entry: 44000 }] } });
const TARGET_ADDED_P99_MS = 2;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// ---- child roles --------------------------------------------------------------------------------

async function runBot(): Promise<void> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BOT_ANSWER) });
      res.end(BOT_ANSWER);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  answerCpuQueries();
  process.send!({ port: (server.address() as AddressInfo).port });
}

// The parent asks a child for its CPU time (µs, user + system) around each phase.
function answerCpuQueries(): void {
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    }
  });
}

function cpuOf(proc: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (m && typeof m === 'object' && 'cpu' in m) {
        proc.off('message', on);
        resolve((m as { cpu: number }).cpu);
      }
    };
    proc.on('message', on);
    proc.send('cpu');
  });
}

async function runProxy(botPort: number): Promise<void> {
  // The compiled query server (lib/), as `fleetsynth serve` runs it, not tsx's transform of src/.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startQueryServer, lookupFromDocuments, DEFAULT_SETTINGS } = require('./compiled') as typeof import('./compiled');
  const doc = {
    id: BOT_ID,
    config: { name: 'bench', type: 'realtime/bench', version: '1.0.0' },
    custom: { version: '1.0.0', filePath: 'u/bench/1.0.0/bench.zip', config: { name: 'bench', runtime: 'python3.11', entrypoints: { bot: 'main.py', query: 'query.py' } } },
  };
  const server = await startQueryServer({
    port: 0,
    host: '127.0.0.1',
    lookup: lookupFromDocuments({ bots: [doc] }),
    settings: DEFAULT_SETTINGS,
    kube: null,
    minio: null,
    realtimeBaseUrl: () => `http://127.0.0.1:${botPort}`,
    // As in production: one info line per query, formatted and written (to /dev/null here).
    logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false })),
    observe: () => undefined,
  });
  answerCpuQueries();
  process.send!({ port: server.port });
}

// ---- load generator -----------------------------------------------------------------------------

interface PhaseResult {
  path: string;
  requests: number;
  errors: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

interface CpuPerRequest {
  bot: number;
  proxy: number;
  loadgen: number;
}

interface RawPhase {
  latencies: number[];
  errors: number;
  elapsed: number;
}

function summarize(label: string, latencies: number[], errors: number, elapsed: number): PhaseResult {
  const lat = [...latencies].sort((a, b) => a - b);
  const requests = lat.length + errors;
  return {
    path: label,
    requests,
    errors,
    achievedRate: Math.round(requests / elapsed),
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    p999: percentile(lat, 99.9),
    max: lat[lat.length - 1],
    mean: lat.reduce((a, b) => a + b, 0) / lat.length,
  };
}

/** Sends `rate` requests per second for `seconds`, open loop; latencies in ms of the answered ones. */
async function phase(label: string, send: (done: (ok: boolean) => void) => void, rate: number, seconds: number): Promise<RawPhase> {
  const total = Math.round(rate * seconds);
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const lat: number[] = [];
  let errors = 0;
  let sent = 0;
  let finished = 0;
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const finish = () => resolve({ latencies: lat, errors, elapsed: Number(process.hrtime.bigint() - start) / 1e9 });
    const tick = () => {
      const now = process.hrtime.bigint();
      // Send everything that is due (timers fire late; the schedule does not slip).
      while (sent < total && start + BigInt(sent) * intervalNs <= now) {
        sent++;
        const t0 = process.hrtime.bigint();
        send((ok) => {
          if (ok) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
          else errors++;
          if (++finished === total) finish();
        });
      }
      if (sent < total) {
        const next = start + BigInt(sent) * intervalNs;
        // Never spin: a busy loop here would take a core from the servers being measured.
        const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
        setTimeout(tick, Math.max(1, Math.floor(waitMs)));
      }
    };
    tick();
  });
}

/**
 * A lean keep-alive HTTP/1.1 client for the load generator: one prebuilt request, a pool of
 * connections, responses framed by Content-Length. Node's http client costs ~0.25 ms of CPU per
 * request on a small VM, which would compete with the servers being measured for the same cores.
 */
class RawPool {
  private readonly idle: net.Socket[] = [];
  private readonly all = new Set<net.Socket>();
  private readonly request: Buffer;

  constructor(
    private readonly port: number,
    reqPath: string,
    body: string,
  ) {
    this.request = Buffer.from(
      `POST ${reqPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  send = (done: (ok: boolean) => void): void => {
    const sock = this.idle.pop() ?? this.connect();
    let buf: Buffer | null = null;
    const onData = (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = buf.subarray(0, headEnd).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < headEnd + 4 + len) return;
      sock.off('data', onData);
      sock.off('close', onClose);
      const ok = head.startsWith('HTTP/1.1 200') && buf.subarray(headEnd + 4, headEnd + 4 + len).includes('"status":"ok"');
      this.idle.push(sock);
      done(ok);
    };
    const onClose = () => {
      sock.off('data', onData);
      done(false);
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(this.request);
  };

  private connect(): net.Socket {
    const sock = net.connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    sock.on('error', () => undefined);
    sock.once('close', () => {
      this.all.delete(sock);
      const i = this.idle.indexOf(sock);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.all.add(sock);
    return sock;
  }

  close(): void {
    for (const s of this.all) s.destroy();
  }
}

function child(role: string, extra: string[] = []): Promise<{ proc: ChildProcess; port: number }> {
  // BENCH_PROFILE=<dir> writes a CPU profile of the query server process there.
  const prof = role === 'proxy' && process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  if (role === 'proxy' && process.env.BENCH_TRACE_GC) prof.push('--trace-gc');
  const proc = fork(__filename, [role, ...extra], { execArgv: [...process.execArgv, ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (m) => resolve({ proc, port: (m as { port: number }).port }));
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const rate = arg('rate', 1000);
  const seconds = arg('seconds', 10);
  const warmup = arg('warmup', 2);
  const bot = await child('bot');
  const proxy = await child('proxy', [String(bot.port)]).catch((e) => {
    bot.proc.kill();
    throw e;
  });
  const qs = Object.entries(PARAMS)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v))}`)
    .join('&');
  const directPool = new RawPool(bot.port, `/status?${qs}`, JSON.stringify(PARAMS));
  const proxyPool = new RawPool(proxy.port, '/query', JSON.stringify({ bot_id: BOT_ID, query_path: '/status', params: PARAMS, timeout_sec: 10 }));
  const direct = directPool.send;
  const viaProxy = proxyPool.send;

  const loadBefore = os.loadavg();
  try {
    console.log(`query proxy overhead: ${rate} req/s open loop, ${seconds} s per path after ${warmup} s warm-up, loopback, ${os.cpus().length} CPUs, node ${process.version}`);
    await phase('warm-up direct', direct, rate, warmup);
    await phase('warm-up proxy', viaProxy, rate, warmup);
    // The two paths alternate in one-second slices (direct, proxy, direct, …), so a noisy moment
    // of a shared machine falls on both alike instead of on whichever path ran first.
    const slices = Math.max(1, Math.round(seconds));
    const sliceSeconds = seconds / slices;
    const measured = async (): Promise<[PhaseResult & { cpuUsPerRequest: CpuPerRequest }, PhaseResult & { cpuUsPerRequest: CpuPerRequest }]> => {
      const acc = { direct: { lat: [] as number[], errors: 0, wall: 0, cpu: [0, 0, 0] }, proxy: { lat: [] as number[], errors: 0, wall: 0, cpu: [0, 0, 0] } };
      for (let i = 0; i < slices; i++) {
        for (const [key, send] of [['direct', direct], ['proxy', viaProxy]] as const) {
          const before = await Promise.all([cpuOf(bot.proc), cpuOf(proxy.proc)]);
          const own = process.cpuUsage();
          const r = await phase(key, send, rate, sliceSeconds);
          const after = await Promise.all([cpuOf(bot.proc), cpuOf(proxy.proc)]);
          const mine = process.cpuUsage(own);
          const a = acc[key];
          a.lat.push(...r.latencies);
          a.errors += r.errors;
          a.wall += r.elapsed;
          a.cpu[0] += after[0] - before[0];
          a.cpu[1] += after[1] - before[1];
          a.cpu[2] += mine.user + mine.system;
        }
      }
      const result = (key: 'direct' | 'proxy') => {
        const a = acc[key];
        const requests = a.lat.length + a.errors;
        const per = (us: number) => Math.round(us / requests);
        return { ...summarize(key, a.lat, a.errors, a.wall), cpuUsPerRequest: { bot: per(a.cpu[0]), proxy: per(a.cpu[1]), loadgen: per(a.cpu[2]) } };
      };
      return [result('direct'), result('proxy')];
    };
    const [d, p] = await measured();
    const added = { p50: p.p50 - d.p50, p90: p.p90 - d.p90, p99: p.p99 - d.p99, p999: p.p999 - d.p999, mean: p.mean - d.mean };

    const f = (n: number) => n.toFixed(3).padStart(8);
    console.log('');
    console.log('path      requests  errors  rate/s     mean      p50      p90      p99    p99.9      max   (ms)');
    for (const r of [d, p]) {
      console.log(`${r.path.padEnd(8)}  ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ${String(r.achievedRate).padStart(6)} ${f(r.mean)} ${f(r.p50)} ${f(r.p90)} ${f(r.p99)} ${f(r.p999)} ${f(r.max)}`);
    }
    console.log(`added                                 ${f(added.mean)} ${f(added.p50)} ${f(added.p90)} ${f(added.p99)} ${f(added.p999)}`);
    console.log(`\nCPU µs per request   direct: bot ${d.cpuUsPerRequest.bot}, load generator ${d.cpuUsPerRequest.loadgen}`);
    console.log(`                     proxy:  bot ${p.cpuUsPerRequest.bot}, query server ${p.cpuUsPerRequest.proxy}, load generator ${p.cpuUsPerRequest.loadgen}`);
    console.log(`load average before/after: ${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const pass = added.p99 <= TARGET_ADDED_P99_MS && p.errors === 0 && d.errors === 0;
    console.log(`\np99 added by the proxy: ${added.p99.toFixed(3)} ms (target ≤ ${TARGET_ADDED_P99_MS} ms): ${pass ? 'PASS' : 'FAIL'}`);

    const out = path.join(__dirname, 'results', 'query.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(
      out,
      JSON.stringify(
        {
          benchmark: 'query proxy overhead (POST /query → bot vs POST bot directly)',
          date: new Date().toISOString(),
          node: process.version,
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          rate,
          secondsPerPath: seconds,
          warmupSeconds: warmup,
          unit: 'ms',
          direct: d,
          proxy: p,
          added,
          loadAverageBefore: loadBefore,
          loadAverageAfter: os.loadavg(),
          targetAddedP99Ms: TARGET_ADDED_P99_MS,
          pass,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`wrote ${path.relative(process.cwd(), out)}`);
    process.exitCode = pass ? 0 : 1;
  } finally {
    directPool.close();
    proxyPool.close();
    // Disconnecting lets the children exit normally (and write a profile when asked).
    bot.proc.disconnect();
    proxy.proc.disconnect();
  }
}

const role = process.argv[2];
// A child never outlives the load generator.
if (role) process.on('disconnect', () => process.exit(0));
if (role === 'bot') void runBot();
else if (role === 'proxy') void runProxy(Number(process.argv[3]));
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
