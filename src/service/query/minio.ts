// Query results of scheduled bots: the runtime uploads `query-results/<bot_id>/<nanos>/result.json`,
// the query server reads it once and deletes it (SPEC §4.3).
import type { Readable } from 'node:stream';
import * as Minio from 'minio';

/** Where query results are read from. */
export interface MinioSettings {
  /** Host name of the S3/MinIO endpoint. */
  endPoint: string;
  /** Port of the endpoint. */
  port: number;
  /** Whether to use TLS. */
  useSSL: boolean;
  /** Access key (never logged). */
  accessKey: string;
  /** Secret key (never logged). */
  secretKey: string;
  /** Bucket of query results, `query-results` by default (`MINIO_QUERY_RESULTS_BUCKET`). */
  bucket: string;
  /** Region sent in signatures; fixed so the client does not ask the server for it first. @default 'us-east-1' */
  region?: string;
}

/** Largest result object read; a bigger one is an error, not an out-of-memory. */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;

/**
 * MinIO settings from SPEC §6 env: `MINIO_ENDPOINT` (`host:port`, default `minio:9000`, an
 * `http(s)://` prefix is accepted), `MINIO_USE_SSL`, `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY`,
 * `MINIO_QUERY_RESULTS_BUCKET`. Null when either credential is missing.
 */
export function minioSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): MinioSettings | null {
  const accessKey = env.MINIO_ACCESS_KEY ?? '';
  const secretKey = env.MINIO_SECRET_KEY ?? '';
  if (accessKey === '' || secretKey === '') return null;
  let endpoint = (env.MINIO_ENDPOINT || 'minio:9000').trim();
  let useSSL = (env.MINIO_USE_SSL ?? 'false').trim().toLowerCase() === 'true';
  const scheme = /^(https?):\/\//i.exec(endpoint);
  if (scheme) {
    useSSL = scheme[1].toLowerCase() === 'https';
    endpoint = endpoint.slice(scheme[0].length);
  }
  endpoint = endpoint.replace(/\/+$/, '');
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(endpoint);
  if (!m) throw new Error(`MINIO_ENDPOINT "${endpoint}" is not host or host:port`);
  const host = m[1].replace(/^\[(.*)\]$/, '$1');
  const port = m[2] !== undefined ? Number(m[2]) : useSSL ? 443 : 80;
  if (!(port > 0 && port < 65536)) throw new Error(`MINIO_ENDPOINT "${endpoint}" has an invalid port`);
  return {
    endPoint: host,
    port,
    useSSL,
    accessKey,
    secretKey,
    bucket: env.MINIO_QUERY_RESULTS_BUCKET || 'query-results',
    region: env.MINIO_REGION || undefined,
  };
}

/** Reads and removes query result objects. */
export class ResultStore {
  private readonly client: Minio.Client;

  constructor(readonly settings: MinioSettings) {
    this.client = new Minio.Client({
      endPoint: settings.endPoint,
      port: settings.port,
      useSSL: settings.useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region ?? 'us-east-1',
      pathStyle: true,
    });
  }

  /**
   * The object's bytes, or null when it does not exist. Bounded in size and time (the client
   * library has no timeout of its own).
   */
  async get(key: string, timeoutMs = 30_000): Promise<Buffer | null> {
    let stream: Readable | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stream?.destroy();
        reject(new Error(`reading query result timed out after ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
    });
    const read = (async () => {
      try {
        stream = await this.client.getObject(this.settings.bucket, key);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'NoSuchKey' || code === 'NotFound') return null;
        throw new Error(`reading query result failed: ${describe(e)}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream) {
        size += (chunk as Buffer).length;
        if (size > MAX_RESULT_BYTES) {
          stream.destroy();
          throw new Error(`query result is larger than ${MAX_RESULT_BYTES} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    })();
    try {
      return await Promise.race([read, deadline]);
    } finally {
      clearTimeout(timer);
      read.catch(() => undefined);
    }
  }

  /** Removes the object; a missing object is fine (S3 semantics). */
  async remove(key: string): Promise<void> {
    try {
      await this.client.removeObject(this.settings.bucket, key);
    } catch (e) {
      throw new Error(`deleting query result failed: ${describe(e)}`);
    }
  }

  /** Reads the object, then deletes it (SPEC §4.3): a result is answered once. */
  async take(key: string): Promise<Buffer | null> {
    const body = await this.get(key);
    if (body !== null) await this.remove(key);
    return body;
  }
}

// The S3 error code or the message, never the request (which is signed with the keys).
function describe(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  if (typeof err?.code === 'string' && typeof err.message === 'string') return `${err.code}: ${err.message}`;
  if (typeof err?.message === 'string') return err.message;
  return String(e);
}
