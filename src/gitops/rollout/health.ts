// Health of the bots of a rollout wave, read from the Kubernetes API (client-node, standard
// kubeconfig or in-cluster credentials). A bot is healthy when the object Argo CD applied carries
// the new generation's marker and runs on it: for a Deployment, the controller observed it and
// its one pod is updated and available with no container restarted since the wave was
// committed; for a CronJob, its first Job after the commit did not fail (none ran yet: healthy,
// so a daily schedule does not hold a rollout for a day — the bake time is the only wait).
// Types only at load: the client (0.4 s to require) is loaded when a wave's health is first read.
import type { KubeConfig, V1Deployment, V1Job, V1Pod } from '@kubernetes/client-node';
import { FleetsynthError } from '../../errors';
import { LABELS, MANAGED_BY } from '../../model/labels';
import { kubeCredentialsPresent } from '../../service/kube-credentials';
import type { BotHealth } from './controller';

export type { HealthReader, RolloutTarget } from './targets';
import type { HealthReader, RolloutTarget } from './targets';

/** Container states that will not heal by waiting. */
const FAILING_WAITING = new Set([
  'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError',
  'CreateContainerError', 'RunContainerError', 'ErrImageNeverPull',
]);

/** Ids per label-selector request (`the0.app/bot-id in (…)`): bounded URL length, few requests per wave. */
const CHUNK = 100;

/** A HealthReader over the API server of `kc`, in `namespace`. */
export function kubeHealthReader(kc: KubeConfig, namespace: string): HealthReader {
  const { AppsV1Api, BatchV1Api, CoreV1Api } = require('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);

  async function listAll<T>(fetch: (cont: string | undefined) => Promise<{ body: { items: T[]; metadata?: { _continue?: string } } }>): Promise<T[]> {
    const out: T[] = [];
    let cont: string | undefined;
    do {
      const res = await fetch(cont);
      out.push(...(res.body.items ?? []));
      cont = res.body.metadata?._continue || undefined;
    } while (cont);
    return out;
  }

  return {
    async check(targets, since) {
      const out: BotHealth[] = [];
      const realtime = targets.filter((t) => t.kind === 'realtime');
      const scheduled = targets.filter((t) => t.kind === 'scheduled');
      for (let i = 0; i < realtime.length; i += CHUNK) {
        const chunk = realtime.slice(i, i + CHUNK);
        const sel = `${LABELS.botId} in (${chunk.map((t) => t.id).join(',')})`;
        const deployments = await listAll<V1Deployment>((c) => apps.listNamespacedDeployment(namespace, undefined, undefined, c, undefined, sel, 500));
        const pods = await listAll<V1Pod>((c) =>
          core.listNamespacedPod(namespace, undefined, undefined, c, undefined, `${sel},${LABELS.managedBy}=${MANAGED_BY.realtime}`, 500),
        );
        const byName = new Map(deployments.map((d) => [d.metadata?.name ?? '', d]));
        const podsOf = groupBy(pods, (p) => p.metadata?.labels?.[LABELS.botId] ?? '');
        for (const t of chunk) out.push(deploymentHealth(t, byName.get(t.name), podsOf.get(t.id) ?? [], since));
      }
      for (let i = 0; i < scheduled.length; i += CHUNK) {
        const chunk = scheduled.slice(i, i + CHUNK);
        const sel = `${LABELS.scheduleId} in (${chunk.map((t) => t.id).join(',')})`;
        const cronJobs = await listAll((c) => batch.listNamespacedCronJob(namespace, undefined, undefined, c, undefined, sel, 500));
        // A CronJob's Jobs carry no labels of ours (only its pods do, from the pod template): find
        // the Jobs run since the wave through their pods' job-name label.
        const pods = await listAll<V1Pod>((c) => core.listNamespacedPod(namespace, undefined, undefined, c, undefined, sel, 500));
        const jobsOf = new Map<string, V1Job[]>();
        const seen = new Set<string>();
        for (const p of pods) {
          const job = p.metadata?.labels?.['job-name'];
          const id = p.metadata?.labels?.[LABELS.scheduleId];
          if (!job || !id || seen.has(job) || new Date(p.metadata?.creationTimestamp ?? 0).getTime() < since.getTime()) continue;
          seen.add(job);
          try {
            const j = (await batch.readNamespacedJob(job, namespace)).body;
            jobsOf.set(id, [...(jobsOf.get(id) ?? []), j]);
          } catch (e) {
            if ((e as { statusCode?: number }).statusCode !== 404) throw e; // a Job already cleaned up by its history limit
          }
        }
        const byName = new Map(cronJobs.map((cj) => [cj.metadata?.name ?? '', cj]));
        for (const t of chunk) {
          const cj = byName.get(t.name);
          if (!cj) out.push({ id: t.id, state: 'pending', reason: 'CronJob not applied yet' });
          else if (cj.metadata?.annotations?.[t.markerKey] !== t.markerValue) out.push({ id: t.id, state: 'pending', reason: 'not synced yet' });
          else out.push(jobHealth(t, jobsOf.get(t.id) ?? [], since));
        }
      }
      return out;
    },
  };
}

/** Health of one realtime bot from its Deployment and pods (exported for tests of the rules). */
export function deploymentHealth(t: RolloutTarget, d: V1Deployment | undefined, pods: readonly V1Pod[], since: Date): BotHealth {
  if (!d) return { id: t.id, state: 'pending', reason: 'Deployment not applied yet' };
  if (d.metadata?.annotations?.[t.markerKey] !== t.markerValue) return { id: t.id, state: 'pending', reason: 'not synced yet' };
  const failing = podFailure(pods, since);
  if (failing) return { id: t.id, state: 'unhealthy', reason: failing };
  const stalled = (d.status?.conditions ?? []).find((c) => c.type === 'Progressing' && c.status === 'False');
  if (stalled) return { id: t.id, state: 'unhealthy', reason: stalled.reason ?? 'ProgressDeadlineExceeded' };
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return { id: t.id, state: 'pending', reason: 'rollout not observed yet' };
  if (st.updatedReplicas !== 1 || st.availableReplicas !== 1 || (st.replicas ?? 0) > 1) {
    return { id: t.id, state: 'pending', reason: podWaiting(pods) ?? 'pod not available yet' };
  }
  return { id: t.id, state: 'healthy' };
}

/** Health of one scheduled bot from its Jobs (exported for tests of the rules). */
export function jobHealth(t: RolloutTarget, jobs: readonly V1Job[], since: Date): BotHealth {
  const mine = jobs
    .filter((j) => new Date(j.metadata?.creationTimestamp ?? 0).getTime() >= since.getTime())
    .sort((a, b) => new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime());
  const first = mine[0];
  if (!first) return { id: t.id, state: 'healthy' };
  const failed = (first.status?.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed || (first.status?.failed ?? 0) > 0) return { id: t.id, state: 'unhealthy', reason: `Job ${first.metadata?.name} failed${failed?.reason ? `: ${failed.reason}` : ''}` };
  if ((first.status?.succeeded ?? 0) > 0) return { id: t.id, state: 'healthy' };
  return { id: t.id, state: 'pending', reason: `Job ${first.metadata?.name} running` };
}

/** A pod reason that will not heal: a failing waiting state, an OOM kill or a restart since the wave. */
function podFailure(pods: readonly V1Pod[], since: Date): string | undefined {
  for (const p of pods) {
    const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
    for (const c of statuses) {
      const waiting = c.state?.waiting?.reason;
      if (waiting && FAILING_WAITING.has(waiting)) return `${waiting} (container ${c.name})`;
      const last = c.lastState?.terminated;
      const fresh = new Date(p.metadata?.creationTimestamp ?? 0).getTime() >= since.getTime() || (last?.finishedAt && new Date(last.finishedAt).getTime() >= since.getTime());
      if (c.restartCount > 0 && fresh) return `${last?.reason ?? 'restarted'} (container ${c.name}, ${c.restartCount} restart${c.restartCount === 1 ? '' : 's'})`;
    }
    if (p.status?.phase === 'Failed') return p.status.reason ?? 'pod failed';
  }
  return undefined;
}

function podWaiting(pods: readonly V1Pod[]): string | undefined {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) if (c.state?.waiting?.reason) return c.state.waiting.reason;
    const unsched = (p.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (unsched) return unsched.reason ?? 'Unschedulable';
  }
  return undefined;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/**
 * The health reader of the cluster the standard credentials name (kubeconfig, in-cluster); null
 * when there are none. The credentials are parsed, and the client loaded, at the first read.
 */
export function healthFromCredentials(kubeconfig: string | undefined, namespace: string): HealthReader | null {
  if (!kubeCredentialsPresent(kubeconfig)) return null;
  let reader: HealthReader | undefined;
  return {
    check(targets, since) {
      if (!reader) {
        const { findKubeConfig } = require('../../service/kube') as typeof import('../../service/kube');
        const found = findKubeConfig({ kubeconfig, namespace });
        if (!found) throw new FleetsynthError(`the kubeconfig names no current cluster: the rollout's health cannot be read`, { hint: 'set the current context (kubectl config use-context), or run without credentials to leave the rollout pending' });
        reader = kubeHealthReader(found.kc, found.namespace);
      }
      return reader.check(targets, since);
    },
  };
}
