// Realtime bots: the query is proxied to the bot's query sidecar through its headless Service
// `bot-<id>:9476` (SPEC §4.2). No Job fallback: an unreachable bot is a failure (SPEC §8.10).
import * as http from 'node:http';
import * as https from 'node:https';
import type { Cancellation } from './cancel';
import { Envelope, QueryFailure, parseEnvelope } from './envelope';

/** Largest answer read from a bot. */
export const MAX_BOT_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Params as the SDKs read them, from the URL query string (SPEC §4.2): strings as-is, numbers
 * and booleans as their JSON text, null as empty, objects and arrays as compact JSON; all
 * percent-encoded (`%20`, not `+`, so every decoder agrees).
 */
export function encodeParams(params: Readonly<Record<string, unknown>> | undefined): string {
  if (!params) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const text = typeof v === 'string' ? v : v === null ? '' : JSON.stringify(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(text)}`);
  }
  return parts.join('&');
}

/** One realtime query. */
export interface RealtimeQuery {
  /** Bot id (for messages). */
  readonly botId: string;
  /** Base URL of the bot's query port, e.g. `http://bot-<id>.the0.svc:9476`. */
  readonly baseUrl: string;
  /** Path with its leading `/`. */
  readonly queryPath: string;
  /** Params, sent on the query string and (when non-empty) as the JSON body. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Client timeout in seconds. */
  readonly timeoutSec: number;
  /** Cancels the call (client gone, server closing). */
  readonly cancel?: Cancellation;
  /** Keep-alive agent shared by all queries. */
  readonly agent?: http.Agent;
}

/** POSTs the query to the bot and parses its envelope, whatever the HTTP status. */
export function queryRealtime(q: RealtimeQuery): Promise<Envelope> {
  const base = new URL(q.baseUrl);
  const isHttps = base.protocol === 'https:';
  const qs = encodeParams(q.params);
  // Characters Node refuses in a request path are percent-encoded; everything else goes as given.
  const path = base.pathname.replace(/\/+$/, '') + q.queryPath.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  const fullPath = qs === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${qs}`;
  const body = q.params && Object.keys(q.params).length > 0 ? JSON.stringify(q.params) : undefined;
  const target = `bot ${q.botId}`;

  return new Promise<Envelope>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: QueryFailure | null, env?: Envelope) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve(env!);
    };
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', accept: 'application/json' };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    else headers['content-length'] = 0;
    let req: http.ClientRequest | undefined;
    let retried = false;
    timer = setTimeout(() => {
      finish(new QueryFailure(`query timed out after ${q.timeoutSec}s`));
      req?.destroy();
    }, q.timeoutSec * 1000);
    let unsubscribe = () => {};
    if (q.cancel) {
      unsubscribe = q.cancel.onCancel(() => {
        finish(new QueryFailure('query cancelled'));
        req?.destroy();
      });
      if (settled) return;
    }

    const attempt = () => {
      let r: http.ClientRequest;
      try {
        r = (isHttps ? https : http).request({
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: base.port || (isHttps ? 443 : 80),
          method: 'POST',
          path: fullPath,
          headers,
          agent: q.agent,
        });
      } catch (e) {
        return finish(new QueryFailure(`failed to create query request: ${(e as Error).message}`));
      }
      req = r;
      let answered = false;
      r.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive socket the bot closed meanwhile: the request never reached it; try once more.
        if (!answered && !retried && r.reusedSocket && e.code === 'ECONNRESET' && !settled) {
          retried = true;
          return attempt();
        }
        // The message names host and port only; the path with its params is never included.
        finish(new QueryFailure(`${target} is unreachable: ${e.message || e.code || 'connection failed'}`));
      });
      r.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BOT_RESPONSE_BYTES) {
            finish(new QueryFailure(`response from ${target} is larger than ${MAX_BOT_RESPONSE_BYTES} bytes`));
            r.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          try {
            finish(null, parseEnvelope(Buffer.concat(chunks).toString('utf8'), target));
          } catch (e) {
            finish(e instanceof QueryFailure ? e : new QueryFailure(String(e)));
          }
        });
        res.on('error', (e) => finish(new QueryFailure(`reading the response from ${target} failed: ${e.message}`)));
        res.on('aborted', () => finish(new QueryFailure(`${target} closed the connection mid-response`)));
      });
      r.end(body);
    };
    attempt();
  });
}
