// The query API on :9477, compatible with the0's query server (SPEC §4): POST /query, GET /health.
import * as http from 'node:http';
import pino, { Logger } from 'pino';
import { QUERY_PORT } from '../../model/labels';
import { toBotSpec } from '../../model/bot';
import { BOT_ID_PATTERN } from '../../model/names';
import { modelOptions } from '../../config/model-options';
import type { RenderSettings } from '../../settings';
import type { KubeAccess } from '../kube';
import { CancelSource, Cancellation } from './cancel';
import { rfc3339Nano, uniqueNanos, unixNanos } from './clock';
import { Envelope, QueryFailure, responseBody } from './envelope';
import type { BotLookup } from './lookup';
import { MinioSettings, ResultStore } from './minio';
import { queryRealtime } from './realtime';
import { queryScheduled } from './scheduled';
import { listen } from '../listen';

/** Default `timeout_sec` (SPEC §4.1). */
export const DEFAULT_TIMEOUT_SEC = 30;
/** `timeout_sec` above this is clamped (SPEC §4.3). */
export const MAX_TIMEOUT_SEC = 300;
/** Request body limit (SPEC §4.1). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Time allowed to receive a request's headers: a slow (slowloris) client is cut off after it. */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * Time allowed to receive a whole request (headers and a body of at most 1 MiB). The response is
 * not limited by it: only by the query's own timeout (at most 300 s) and its safety net.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Connections open at once; beyond it new ones are refused (each idle one costs a socket). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** Default cap on scheduled-bot query Jobs running at once: each is a pod in the cluster. */
export const DEFAULT_MAX_QUERY_JOBS = 20;
/** Slack of the per-request safety net over the query's own timeout (Job cleanup, result download). */
const SAFETY_SLACK_MS = 30_000;

/** How a query was executed, for metrics. */
export type QueryKind = 'realtime' | 'scheduled' | 'none';

/** Options of the query server. */
export interface QueryServerOptions {
  /** Port; 0 picks a free one (tests). */
  port: number;
  /** Interface; default all. */
  host?: string;
  /** Finds a bot by id. */
  lookup: BotLookup;
  /** Render settings (namespace, runtime image, MinIO env of query Jobs). */
  settings: RenderSettings;
  /** API access for scheduled-bot query Jobs; null → those queries answer 500. */
  kube: KubeAccess | null;
  /** Where query Jobs leave their results; null → scheduled-bot queries answer 500. */
  minio: MinioSettings | null;
  /** Base URL of a realtime bot's query port; default `http://bot-<id>.<namespace>.svc:9476`. */
  realtimeBaseUrl?: (id: string) => string;
  /** Request body limit in bytes. @default 1 MiB */
  maxBodyBytes?: number;
  /** Server-side log (never gets params or results). */
  logger?: Logger;
  /** Called once per /query request with its kind, HTTP status and duration. */
  observe?: (kind: QueryKind, status: number, seconds: number) => void;
  /** Milliseconds between Job status reads. @default 500 */
  pollIntervalMs?: number;
  /** Scheduled-bot query Jobs running at once; beyond it a query fails at once (500). @default 20 */
  maxQueryJobs?: number;
  /** Time to receive a request's headers. @default 10 s */
  headersTimeoutMs?: number;
  /** Time to receive a whole request (not the response). @default 30 s */
  requestTimeoutMs?: number;
  /** Connections open at once; more are refused. @default 1024 */
  maxConnections?: number;
}

/** A running query server. */
export interface QueryServer {
  /** The port it listens on. */
  port: number;
  /** Stops listening, cancels running queries (their Jobs are deleted) and closes connections. */
  close(): Promise<void>;
}

/** A parsed, valid query request. */
interface QueryRequest {
  botId: string;
  queryPath: string;
  params?: Record<string, unknown>;
  timeoutSec: number;
}

/** An answer to send: HTTP status and the response fields. */
interface Answer {
  code: number;
  kind: QueryKind;
  env: Envelope;
  /** Nanoseconds spent executing; 0 for request errors (SPEC §4.1). */
  durationNs: bigint;
}

class RequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly kind: QueryKind = 'none',
  ) {
    super(message);
  }
}

/** Starts the query API. */
export async function startQueryServer(opts: QueryServerOptions): Promise<QueryServer> {
  const logger = opts.logger ?? pino({ name: 'query' });
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const pollIntervalMs = opts.pollIntervalMs ?? 500;
  const baseUrl = opts.realtimeBaseUrl ?? ((id: string) => `http://bot-${id}.${opts.settings.namespace}.svc:${QUERY_PORT}`);
  const results = opts.minio ? new ResultStore(opts.minio) : null;
  const modelOpts = modelOptions(opts.settings);
  const nextNanos = uniqueNanos();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
  const running = new Set<CancelSource>();
  const maxJobs = opts.maxQueryJobs ?? DEFAULT_MAX_QUERY_JOBS;
  let jobs = 0;
  const pending = new Set<Promise<void>>();

  const execute = async (q: QueryRequest, cancel: Cancellation): Promise<Answer> => {
    let found;
    try {
      found = await opts.lookup.find(q.botId);
    } catch (e) {
      logger.error({ bot_id: q.botId, err: (e as Error).message }, 'bot lookup failed');
      throw new QueryFailure(`bot lookup failed: ${(e as Error).message}`);
    }
    if (!found) throw new RequestError(404, `bot not found: ${q.botId}`);
    const kind: QueryKind = found.collection === 'bots' ? 'realtime' : 'scheduled';
    const entrypoints = (found.doc as { custom?: { config?: { entrypoints?: unknown } } } | null)?.custom?.config?.entrypoints;
    if (entrypoints === undefined || entrypoints === null || typeof entrypoints !== 'object') {
      throw new RequestError(404, `bot ${q.botId} does not have entrypoints configured`, kind);
    }
    const queryEntry = (entrypoints as { query?: unknown }).query;
    if (typeof queryEntry !== 'string' || queryEntry === '') {
      throw new RequestError(404, `bot ${q.botId} does not have a query entrypoint`, kind);
    }

    const started = process.hrtime.bigint();
    const answer = (env: Envelope): Answer => ({
      code: env.status === 'error' ? 500 : 200,
      kind,
      env,
      durationNs: process.hrtime.bigint() - started,
    });
    try {
      if (kind === 'realtime') {
        if (!BOT_ID_PATTERN.test(q.botId)) throw new QueryFailure(`bot id ${q.botId} is not a valid Kubernetes name`);
        return answer(
          await queryRealtime({ botId: q.botId, baseUrl: baseUrl(q.botId), queryPath: q.queryPath, params: q.params, timeoutSec: q.timeoutSec, cancel, agent }),
        );
      }
      if (!opts.kube) throw new QueryFailure('scheduled-bot queries unavailable: no Kubernetes API access (no in-cluster service account or kubeconfig)');
      if (!results) throw new QueryFailure('scheduled-bot queries unavailable: MinIO credentials not configured (MINIO_ACCESS_KEY, MINIO_SECRET_KEY)');
      const model = toBotSpec(found.doc, found.collection, 0, modelOpts);
      if (!model.spec) throw new QueryFailure(`bot ${q.botId} cannot run a query: ${model.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
      // A burst of scheduled queries must not become a burst of pods: beyond the cap, fail fast.
      if (jobs >= maxJobs) {
        logger.warn({ bot_id: q.botId, running: jobs, max: maxJobs }, 'scheduled query refused: too many query jobs running');
        throw new QueryFailure(`too many scheduled-bot queries running (limit ${maxJobs}); try again shortly`);
      }
      jobs++;
      try {
        return answer(
          await queryScheduled({
            spec: model.spec,
            settings: opts.settings,
            kube: opts.kube,
            results,
            queryPath: q.queryPath,
            params: q.params,
            timeoutSec: q.timeoutSec,
            nanos: nextNanos(),
            pollIntervalMs,
            cancel,
            logger,
          }),
        );
      } finally {
        jobs--;
      }
    } catch (e) {
      if (e instanceof QueryFailure) return answer({ status: 'error', error: e.message });
      throw e;
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, errorEnv('method not allowed'), 0n, { allow: 'GET, HEAD' });
      return send(res, 200, { status: 'ok' }, null);
    }
    if (path !== '/query') return send(res, 404, errorEnv('not found'), 0n);

    const t0 = process.hrtime.bigint();
    const observe = (kind: QueryKind, code: number) => opts.observe?.(kind, code, Number(process.hrtime.bigint() - t0) / 1e9);
    if (req.method !== 'POST') {
      observe('none', 405);
      return send(res, 405, errorEnv('method not allowed'), 0n, { allow: 'POST' });
    }

    const ac = new CancelSource();
    running.add(ac);
    // The client went away before the answer: stop waiting (a query Job is still deleted).
    res.once('close', () => {
      if (!res.writableFinished) ac.cancel();
    });
    let q: QueryRequest;
    try {
      q = parseQuery(await readBody(req, maxBody));
    } catch (e) {
      running.delete(ac);
      const err = e instanceof RequestError ? e : new RequestError(400, `invalid request body: ${(e as Error).message}`);
      observe('none', err.code);
      return send(res, err.code, errorEnv(err.message), 0n, err.code === 413 ? { connection: 'close' } : undefined);
    }

    // Safety net over the query's own timeout, so no request can hang forever.
    const safety = setTimeout(() => ac.cancel(), q.timeoutSec * 1000 + SAFETY_SLACK_MS);
    try {
      const a = await execute(q, ac);
      observe(a.kind, a.code);
      // Answered queries only at debug: a log line per query costs more CPU than the proxying
      // itself (bench/query.ts); their count and latency are in the metrics (observe).
      const fields = { bot_id: q.botId, kind: a.kind, query_path: q.queryPath.split('?')[0], status: a.code, duration_ms: Math.round(Number(a.durationNs) / 1e6) };
      if (a.code === 200) logger.debug(fields, 'query answered');
      else logger.info(fields, 'query failed');
      send(res, a.code, a.env, a.durationNs);
    } catch (e) {
      if (e instanceof RequestError) {
        observe(e.kind, e.code);
        logger.info({ bot_id: q.botId, status: e.code }, e.message);
        send(res, e.code, errorEnv(e.message), 0n);
      } else {
        observe('none', 500);
        logger.error({ bot_id: q.botId, err: (e as Error).message }, 'query crashed');
        send(res, 500, errorEnv(`internal error: ${(e as Error).message}`), process.hrtime.bigint() - t0);
      }
    } finally {
      clearTimeout(safety);
      running.delete(ac);
    }
  };

  // the0's 60 s write timeout made every timeout_sec > 60 fail (SPEC §9 #14). Node has no write
  // timeout: these bound only receiving a request (headers in seconds, the whole request in
  // 30 s), so a slow client cannot hold a connection, while a 300 s query answers in full.
  const requestTimeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout);
  // How often Node checks those deadlines (its default, 30 s, would let a slow client stay longer).
  const connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4)));
  const server = http.createServer({ requestTimeout, headersTimeout, connectionsCheckingInterval }, (req, res) => {
    const p = handle(req, res).catch((e) => {
      logger.error({ err: (e as Error).message }, 'query handler failed');
      if (!res.headersSent) send(res, 500, errorEnv('internal error'), 0n);
      else res.destroy();
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  });
  server.timeout = 0;
  server.keepAliveTimeout = 65_000;
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

  const port = await listen(server, opts.port, opts.host);
  logger.info({ port }, 'query server listening');

  return {
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ac of running) ac.cancel();
      server.closeIdleConnections();
      await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 10_000).unref())]);
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}

function errorEnv(message: string): Envelope {
  return { status: 'error', error: message };
}

function send(res: http.ServerResponse, code: number, env: Envelope, durationNs: bigint | null, headers?: http.OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return;
  const body = durationNs === null ? '{"status":"ok"}\n' : responseBody({ ...env, durationNs, timestamp: rfc3339Nano(unixNanos()) });
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

/** Reads the body up to `max` bytes; beyond that a 413 (the rest is not read). */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) {
    req.resume();
    return Promise.reject(new RequestError(413, 'request body too large'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        reject(new RequestError(413, 'request body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => reject(new RequestError(400, `invalid request body: ${e.message}`)));
  });
}

/** Validates a /query body as the0's Go decoder would, with SPEC §4.1's messages. */
export function parseQuery(text: string): QueryRequest {
  if (text.trim() === '') throw new RequestError(400, 'invalid request body: empty body');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RequestError(400, 'invalid request body: not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RequestError(400, 'invalid request body: expected a JSON object');
  const o = v as Record<string, unknown>;
  const str = (name: string): string => {
    const x = o[name];
    if (x === undefined || x === null) return '';
    if (typeof x !== 'string') throw new RequestError(400, `invalid request body: ${name} must be a string`);
    return x;
  };
  const botId = str('bot_id');
  let queryPath = str('query_path');
  let params: Record<string, unknown> | undefined;
  if (o.params !== undefined && o.params !== null) {
    if (typeof o.params !== 'object' || Array.isArray(o.params)) throw new RequestError(400, 'invalid request body: params must be an object');
    params = o.params as Record<string, unknown>;
  }
  let timeoutSec = DEFAULT_TIMEOUT_SEC;
  if (o.timeout_sec !== undefined && o.timeout_sec !== null) {
    if (typeof o.timeout_sec !== 'number' || !Number.isInteger(o.timeout_sec)) {
      throw new RequestError(400, 'invalid request body: timeout_sec must be an integer');
    }
    timeoutSec = o.timeout_sec <= 0 ? DEFAULT_TIMEOUT_SEC : Math.min(o.timeout_sec, MAX_TIMEOUT_SEC);
  }
  if (botId === '') throw new RequestError(400, 'bot_id is required');
  if (queryPath === '') throw new RequestError(400, 'query_path is required');
  if (!queryPath.startsWith('/')) queryPath = '/' + queryPath;
  return { botId, queryPath, params, timeoutSec };
}
