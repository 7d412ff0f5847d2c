// Test stand-ins for the query tests: a local HTTP server playing the Kubernetes API (used through
// @kubernetes/client-node's real code), an in-process S3 server (s3rver), and small HTTP helpers.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MinioSettings } from '../src/service/query/minio';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');

/** A request the fake API server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A started local HTTP server. */
export interface LocalServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 and a random port. */
export async function startHttp(handler: http.RequestListener): Promise<LocalServer> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Reads a request body. */
export function readAll(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** How the fake API answers a Job status read: by Job name and the how-manieth read it is (1-based). */
export type JobBehaviour = (name: string, reads: number) => Record<string, unknown>;

/** The fake Kubernetes API server. */
export interface FakeKube extends LocalServer {
  /** Every request, in order. */
  requests: RecordedRequest[];
  /** Jobs created and not deleted, by name. */
  jobs: Map<string, Record<string, unknown>>;
  /** Every Job ever created, in order. */
  created: Record<string, unknown>[];
  /** Names of deleted Jobs, with the propagationPolicy they were deleted with. */
  deleted: { name: string; propagationPolicy: string | null }[];
  /** Secrets stored by apply (name → object as sent). */
  secrets: Map<string, Record<string, unknown>>;
  /** Job status answers; default: succeeded on the third read. */
  jobBehaviour: JobBehaviour;
  /** Called when a Job is created (e.g. to upload its result). */
  onJobCreated?: (job: Record<string, unknown>) => void | Promise<void>;
  /** Forces the next matching request to fail with this status and Status object. */
  failNext?: { method: string; pathIncludes: string; code: number; status: Record<string, unknown> };
  /** coordination.k8s.io/v1 Leases by name (resourceVersion checked on update: 409 when stale). */
  leases: Map<string, Record<string, unknown>>;
  /** Every accepted Lease write, in order: when (server clock), holder, resourceVersion. */
  leaseWrites: { at: number; holder: string; resourceVersion: string; verb: 'create' | 'update' }[];
  /** Lease writes refused with 409 (stale resourceVersion or already exists). */
  leaseConflicts: number;
}

/** Starts a fake Kubernetes API server that speaks just enough of core/v1 Secrets and batch/v1 Jobs. */
export async function startFakeKube(): Promise<FakeKube> {
  const reads = new Map<string, number>();
  let leaseVersion = 100;
  const fake: Partial<FakeKube> = {
    requests: [],
    jobs: new Map(),
    created: [],
    deleted: [],
    secrets: new Map(),
    leases: new Map(),
    leaseWrites: [],
    leaseConflicts: 0,
    jobBehaviour: (_name, n) => (n >= 3 ? { succeeded: 1, active: 0 } : { active: 1 }),
  };
  const json = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const notFound = (res: http.ServerResponse, kind: string, name: string) =>
    json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${kind} "${name}" not found` });

  const server = await startHttp(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = await readAll(req);
    const rec: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body };
    fake.requests!.push(rec);
    const f = fake.failNext;
    if (f && f.method === rec.method && rec.path.includes(f.pathIncludes)) {
      fake.failNext = undefined;
      return json(res, f.code, f.status);
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(url.pathname))) {
      const name = m[2] ? decodeURIComponent(m[2]) : undefined;
      const leases = fake.leases!;
      const conflict = (message: string, reason = 'Conflict') => {
        fake.leaseConflicts!++;
        return json(res, 409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code: 409, message });
      };
      const store = (obj: Record<string, unknown>, verb: 'create' | 'update') => {
        const meta = obj.metadata as Record<string, unknown>;
        const rv = String(++leaseVersion);
        const saved = { ...obj, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { ...meta, namespace: m![1], resourceVersion: rv, uid: `uid-${meta.name}` } };
        leases.set(meta.name as string, saved);
        fake.leaseWrites!.push({ at: Date.now(), holder: String((obj.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? ''), resourceVersion: rv, verb });
        return saved;
      };
      if (name && req.method === 'GET') {
        const l = leases.get(name);
        return l ? json(res, 200, l) : notFound(res, 'leases.coordination.k8s.io', name);
      }
      if (!name && req.method === 'POST') {
        const obj = JSON.parse(body) as Record<string, unknown>;
        const n = (obj.metadata as { name: string }).name;
        if (leases.has(n)) return conflict(`leases.coordination.k8s.io "${n}" already exists`, 'AlreadyExists');
        return json(res, 201, store(obj, 'create'));
      }
      if (name && req.method === 'PUT') {
        const obj = JSON.parse(body) as Record<string, unknown>;
        const have = leases.get(name);
        if (!have) return notFound(res, 'leases.coordination.k8s.io', name);
        const rv = (obj.metadata as { resourceVersion?: string }).resourceVersion;
        if (rv !== (have.metadata as { resourceVersion: string }).resourceVersion) {
          return conflict(`Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`);
        }
        return json(res, 200, store(obj, 'update'));
      }
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(url.pathname)) && req.method === 'POST') {
      const job = JSON.parse(body) as Record<string, unknown>;
      const name = (job.metadata as { name: string }).name;
      if (fake.jobs!.has(name)) return json(res, 409, { kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409, message: `jobs.batch "${name}" already exists` });
      fake.jobs!.set(name, job);
      fake.created!.push(job);
      await fake.onJobCreated?.(job);
      return json(res, 201, job);
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/.exec(url.pathname))) {
      const name = decodeURIComponent(m[2]);
      const job = fake.jobs!.get(name);
      if (req.method === 'GET') {
        if (!job) return notFound(res, 'jobs.batch', name);
        const n = (reads.get(name) ?? 0) + 1;
        reads.set(name, n);
        return json(res, 200, { ...job, status: fake.jobBehaviour!(name, n) });
      }
      if (req.method === 'DELETE') {
        if (!job) return notFound(res, 'jobs.batch', name);
        fake.jobs!.delete(name);
        fake.deleted!.push({ name, propagationPolicy: url.searchParams.get('propagationPolicy') });
        return json(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname))) {
      const name = decodeURIComponent(m[2]);
      if (req.method === 'PATCH') {
        const obj = JSON.parse(body) as Record<string, unknown>;
        fake.secrets!.set(name, obj);
        return json(res, 200, obj);
      }
      if (req.method === 'DELETE') {
        if (!fake.secrets!.delete(name)) return notFound(res, 'secrets', name);
        return json(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(url.pathname)) && req.method === 'GET') {
      const selector = url.searchParams.get('labelSelector') ?? '';
      const want = selector === '' ? [] : selector.split(',').map((kv) => kv.split('='));
      const items = [...fake.secrets!.values()]
        .filter((s) => want.every(([k, v]) => ((s.metadata as { labels?: Record<string, string> }).labels ?? {})[k] === v))
        .map((s) => ({ metadata: { name: (s.metadata as { name: string }).name } }));
      return json(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: {}, items });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)) && req.method === 'GET') {
      return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'query-pod-1' } }] });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname)) && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('Traceback: query.py line 3\nValueError: boom\n');
    }
    json(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: `no route ${req.method} ${url.pathname}` });
  });
  return Object.assign(fake, server) as FakeKube;
}

/** Writes a kubeconfig pointing at `server` (plain HTTP, a bearer token) and returns its path. */
export function writeKubeconfig(dir: string, server: string, namespace = 'the0'): string {
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${server}`,
      'users:',
      '- name: tester',
      '  user:',
      '    token: test-token',
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: tester',
      `    namespace: ${namespace}`,
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return file;
}

/** A running in-process S3 server. */
export interface FakeS3 {
  port: number;
  settings: MinioSettings;
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1, a random port, silent, in a temp directory, with the given buckets. */
export async function startS3(buckets: string[] = ['query-results']): Promise<FakeS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-s3-'));
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const addr = (await s3.run()) as AddressInfo;
  return {
    port: addr.port,
    settings: { endPoint: '127.0.0.1', port: addr.port, useSSL: false, accessKey: 'S3RVER', secretKey: 'S3RVER', bucket: buckets[0] },
    close: async () => {
      await s3.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** POSTs (or sends `method`) to a URL and returns status, headers and parsed JSON. */
export async function call(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const res = await fetch(url, { method: opts.method ?? 'POST', body: opts.body, headers: opts.headers });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
