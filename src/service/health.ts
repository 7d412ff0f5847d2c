import * as http from 'node:http';
import type pino from 'pino';
import type { ServeMetrics } from './metrics';
import { listen } from './listen';

/** One readiness check. */
export interface CheckResult {
  /** False makes /readyz answer 503 (unless the check is informational). */
  readonly ok: boolean;
  /** One line for operators. */
  readonly detail: string;
  /** Informational checks are reported but never make the service unready. */
  readonly informational?: boolean;
}

/** Named checks, evaluated on every /readyz request. */
export type ReadinessChecks = Record<string, () => CheckResult | Promise<CheckResult>>;

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** Port (8080 by default in serve; 0 = any free port). */
  readonly port: number;
  /** Listen address (default all interfaces). */
  readonly host?: string;
  /** Checks behind /readyz. */
  readonly checks: ReadinessChecks;
  /** Registry behind /metrics. */
  readonly metrics: ServeMetrics;
  /** Logger. */
  readonly logger?: pino.Logger;
  /** Longest time one check may take before it counts as failed (default 2 s). */
  readonly checkTimeoutMs?: number;
}

/** A running health server. */
export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Evaluates every check (in parallel, each with a timeout). */
export async function evaluate(checks: ReadinessChecks, timeoutMs = 2000): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map(async (name): Promise<CheckResult> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          Promise.resolve().then(checks[name]),
          new Promise<CheckResult>((resolve) => {
            timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
          }),
        ]);
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      } finally {
        if (timer) clearTimeout(timer);
      }
    }),
  );
  const out: Record<string, CheckResult> = {};
  names.forEach((n, i) => (out[n] = results[i]));
  return { ready: results.every((r) => r.ok || r.informational), checks: out };
}

/**
 * `/healthz` (alive: 200 `ok`), `/readyz` (200 or 503 with the checks as JSON), `/metrics`
 * (Prometheus text). Unlike the0's 5 s timer, ready means the dependencies answer.
 */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    if (url === '/healthz' || url === '/livez') return send(200, 'text/plain; charset=utf-8', 'ok\n');
    if (url === '/readyz') {
      evaluate(opts.checks, opts.checkTimeoutMs).then(
        (r) => {
          const checks: Record<string, { ok: boolean; detail: string; informational?: boolean }> = {};
          for (const [k, v] of Object.entries(r.checks)) checks[k] = v.informational ? { ok: v.ok, detail: v.detail, informational: true } : { ok: v.ok, detail: v.detail };
          send(r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ok' : 'not ready', checks }) + '\n');
        },
        (e) => send(503, 'application/json', JSON.stringify({ status: 'not ready', error: (e as Error).message }) + '\n'),
      );
      return;
    }
    if (url === '/metrics') {
      opts.metrics.text().then(
        (text) => send(200, opts.metrics.registry.contentType, text),
        (e) => send(500, 'text/plain; charset=utf-8', `metrics failed: ${(e as Error).message}\n`),
      );
      return;
    }
    send(404, 'text/plain; charset=utf-8', 'not found\n');
  });
  server.keepAliveTimeout = 5000;
  const port = await listen(server, opts.port, opts.host);
  opts.logger?.info({ port }, 'health server listening (/healthz, /readyz, /metrics)');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
