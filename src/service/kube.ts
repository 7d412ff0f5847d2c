// The live service's only API-server access: per-bot config Secrets (never in Git, SPEC §2.8) and
// the ephemeral Jobs of scheduled-bot queries (SPEC §4.3). Bot workloads go through Git only.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchV1Api, CoreV1Api, HttpError, KubeConfig } from '@kubernetes/client-node';
import { FleetsynthError } from '../errors';
import { LeaseClient, kubeLeaseClient } from './leader';

/** Field manager of every server-side apply fleetsynth sends. */
export const FIELD_MANAGER = 'fleetsynth';

/** Time limit of one API request. */
export const KUBE_REQUEST_TIMEOUT_MS = 15_000;

import { SERVICE_ACCOUNT_DIR } from './kube-credentials';
export { SERVICE_ACCOUNT_DIR };

/** Job status as far as a query needs it. */
export interface JobState {
  /** Pods that succeeded. */
  succeeded?: number;
  /** Pods that failed. */
  failed?: number;
  /** Reason of the Job's `Failed` condition (`BackoffLimitExceeded`, `DeadlineExceeded` …), when failed. */
  reason?: string;
  /** Message of that condition. */
  message?: string;
}

/** What the live service may do in its namespace, nothing more. */
export interface KubeAccess {
  /** The namespace every call works in. */
  readonly namespace: string;
  /**
   * Creates or updates an Opaque Secret by server-side apply (fieldManager `fleetsynth`, force).
   * `data` values are plain strings, sent base64-encoded in `data` (not `stringData`: with apply,
   * field ownership is tracked on `data`, so a key dropped later is removed). Errors never contain Secret data.
   */
  applySecret(name: string, data: Record<string, string>, labels: Record<string, string>): Promise<void>;
  /** Deletes a Secret; a missing Secret is not an error. */
  deleteSecret(name: string): Promise<void>;
  /** Names of the Secrets matching a label selector (metadata only is fetched). */
  listSecrets(labelSelector: string): Promise<string[]>;
  /** Creates a Job (the object as rendered, e.g. by `renderQueryJob`). */
  createJob(job: object): Promise<void>;
  /** A Job's status counters, or null when the Job does not exist. */
  readJob(name: string): Promise<JobState | null>;
  /** Deletes a Job and, in the background, its pods; a missing Job is not an error. */
  deleteJob(name: string): Promise<void>;
  /** Last lines of the `bot` container log of a Job's pod, for server-side logging; null when none. */
  jobLogs?(name: string, tailLines?: number): Promise<string | null>;
  /** Client of the leader-election Lease `name` in the namespace (absent: no leader election, the process leads alone). */
  leases?(name: string, timeoutMs: number): LeaseClient;
}

/** Options of loadKube. */
export interface LoadKubeOptions {
  /** Kubeconfig file (`--kubeconfig`); when given it must exist. */
  readonly kubeconfig?: string;
  /** Namespace to work in; default: the service account's namespace, else the context's, else `the0`. */
  readonly namespace?: string;
}

/** An API request that failed: status and reason only, never the request body. */
export class KubeError extends FleetsynthError {
  constructor(
    message: string,
    /** HTTP status, when the API server answered. */
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

/**
 * API server access from, in this order: `opts.kubeconfig`, `KUBECONFIG`, the in-cluster service
 * account (KUBERNETES_SERVICE_HOST + token file), `~/.kube/config`. Null when none is found.
 */
export function loadKube(opts: LoadKubeOptions = {}): KubeAccess | null {
  const found = findKubeConfig(opts);
  return found && kubeAccess(found.kc, found.namespace);
}

/** The kubeconfig loadKube would use and its namespace (for other API clients, e.g. rollout health); null when none. */
export function findKubeConfig(opts: LoadKubeOptions = {}): { kc: KubeConfig; namespace: string } | null {
  const kc = loadKubeConfig(opts.kubeconfig);
  if (!kc) return null;
  const cluster = kc.getCurrentCluster();
  if (!cluster || !cluster.server) return null;
  const namespace = opts.namespace || (kc as KubeConfigWithNs).__fleetsynthNamespace || contextNamespace(kc) || 'the0';
  return { kc, namespace };
}

type KubeConfigWithNs = KubeConfig & { __fleetsynthNamespace?: string };

function loadKubeConfig(explicit: string | undefined): KubeConfig | null {
  const kc = new KubeConfig() as KubeConfigWithNs;
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new KubeError(`kubeconfig ${explicit} does not exist`);
    kc.loadFromFile(explicit);
    return kc;
  }
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '' && fs.existsSync(f));
  if (fromEnv.length > 0) {
    kc.loadFromFile(fromEnv[0]);
    for (const f of fromEnv.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more);
    }
    return kc;
  }
  const tokenFile = process.env.TOKEN_FILE_PATH || path.join(SERVICE_ACCOUNT_DIR, 'token');
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT && fs.existsSync(tokenFile)) {
    kc.loadFromCluster();
    try {
      kc.__fleetsynthNamespace = fs.readFileSync(path.join(SERVICE_ACCOUNT_DIR, 'namespace'), 'utf8').trim() || undefined;
    } catch {
      // no namespace file: fall back to the default
    }
    return kc;
  }
  const home = process.env.HOME || os.homedir();
  const userConfig = home ? path.join(home, '.kube', 'config') : '';
  if (userConfig && fs.existsSync(userConfig)) {
    kc.loadFromFile(userConfig);
    return kc;
  }
  return null;
}

function contextNamespace(kc: KubeConfig): string | undefined {
  const name = kc.getCurrentContext();
  return kc.getContextObject(name)?.namespace || undefined;
}

/** KubeAccess over an already loaded KubeConfig (tests point it at a local fake API server). */
export function kubeAccess(kc: KubeConfig, namespace: string): KubeAccess {
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const timeout = (opts: { timeout?: number }) => {
    opts.timeout = KUBE_REQUEST_TIMEOUT_MS;
  };
  core.addInterceptor(timeout);
  batch.addInterceptor(timeout);

  return {
    namespace,

    leases: (name, timeoutMs) => kubeLeaseClient(kc, namespace, name, timeoutMs),

    async applySecret(name, data, labels) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, labels },
        type: 'Opaque',
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
      };
      try {
        await core.patchNamespacedSecret(name, namespace, body, undefined, undefined, FIELD_MANAGER, undefined, true, {
          headers: { 'Content-Type': 'application/apply-patch+yaml' },
        });
      } catch (e) {
        throw kubeError(e, `apply Secret ${namespace}/${name}`, Object.values(data));
      }
    },

    async deleteSecret(name) {
      try {
        await core.deleteNamespacedSecret(name, namespace);
      } catch (e) {
        if (statusOf(e) === 404) return;
        throw kubeError(e, `delete Secret ${namespace}/${name}`);
      }
    },

    async listSecrets(labelSelector) {
      const names: string[] = [];
      let cont: string | undefined;
      try {
        do {
          // Metadata only: the list must not pull every Secret's data into this process.
          const res = await core.listNamespacedSecret(namespace, undefined, undefined, cont, undefined, labelSelector, 500, undefined, undefined, undefined, undefined, undefined, {
            headers: { Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json' },
          });
          for (const item of res.body.items ?? []) if (item.metadata?.name) names.push(item.metadata.name);
          cont = res.body.metadata?._continue || undefined;
        } while (cont);
      } catch (e) {
        throw kubeError(e, `list Secrets in ${namespace} (${labelSelector})`);
      }
      return names.sort();
    },

    async createJob(job) {
      const name = (job as { metadata?: { name?: string } }).metadata?.name ?? '(unnamed)';
      try {
        await batch.createNamespacedJob(namespace, job as never);
      } catch (e) {
        throw kubeError(e, `create Job ${namespace}/${name}`);
      }
    },

    async readJob(name) {
      try {
        const res = await batch.readNamespacedJob(name, namespace);
        const st = res.body.status ?? {};
        const state: JobState = {};
        if (st.succeeded !== undefined) state.succeeded = st.succeeded;
        if (st.failed !== undefined) state.failed = st.failed;
        const failed = (st.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True');
        if (failed) {
          if (failed.reason) state.reason = failed.reason;
          if (failed.message) state.message = failed.message;
        }
        return state;
      } catch (e) {
        if (statusOf(e) === 404) return null;
        throw kubeError(e, `read Job ${namespace}/${name}`);
      }
    },

    async deleteJob(name) {
      try {
        await batch.deleteNamespacedJob(name, namespace, undefined, undefined, undefined, undefined, 'Background');
      } catch (e) {
        if (statusOf(e) === 404) return;
        throw kubeError(e, `delete Job ${namespace}/${name}`);
      }
    },

    async jobLogs(name, tailLines = 50) {
      try {
        const pods = await core.listNamespacedPod(namespace, undefined, undefined, undefined, undefined, `job-name=${name}`, 5);
        const pod = pods.body.items?.[0]?.metadata?.name;
        if (!pod) return null;
        const log = await core.readNamespacedPodLog(pod, namespace, 'bot', false, undefined, 16 * 1024, undefined, false, undefined, tailLines);
        return typeof log.body === 'string' ? log.body : null;
      } catch (e) {
        if (statusOf(e) === 404) return null;
        throw kubeError(e, `read logs of Job ${namespace}/${name}`);
      }
    },
  };
}

function statusOf(e: unknown): number | undefined {
  return e instanceof HttpError ? e.statusCode : undefined;
}

/**
 * Turns a client error into one line: what we did, the HTTP status, the API server's reason and
 * message. The client's error object carries the whole request (with any Secret data): it is
 * never passed on, and any secret value echoed by the server is cut out of the message.
 */
function kubeError(e: unknown, what: string, secretValues: readonly string[] = []): KubeError {
  let message: string;
  let code: number | undefined;
  if (e instanceof HttpError) {
    code = e.statusCode;
    const status = (e.body ?? {}) as { reason?: unknown; message?: unknown };
    const reason = typeof status.reason === 'string' ? ` ${status.reason}` : '';
    const detail = typeof status.message === 'string' ? `: ${status.message}` : '';
    message = `${what}: HTTP ${code ?? '?'}${reason}${detail}`;
  } else {
    const err = e as { code?: unknown; message?: unknown };
    const cause = typeof err?.message === 'string' && err.message !== '' ? err.message : typeof err?.code === 'string' ? err.code : 'request failed';
    message = `${what}: ${cause}`;
  }
  for (const v of secretValues) {
    if (v.length < 4) continue;
    for (const form of [v, Buffer.from(v, 'utf8').toString('base64'), JSON.stringify(v).slice(1, -1)]) {
      message = message.split(form).join('<redacted>');
    }
  }
  if (message.length > 1000) message = message.slice(0, 1000) + '…';
  return new KubeError(message, code);
}
