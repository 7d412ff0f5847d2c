// A fake Kubernetes API (HTTP, through client-node's real code) whose Deployments, pods and
// CronJobs are made from what a bare GitOps remote holds, as Argo CD would apply it: a pod whose
// image contains "bad" never pulls (ImagePullBackOff). For rollout tests of publish and serve.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { readTreeFromGit } from '../../src/gitops/diff';
import { kubeHealthReader } from '../../src/gitops/rollout/health';
import { readAll, startHttp, writeKubeconfig } from '../query-fakes';

type Json = Record<string, any>;

/** The cluster as Argo CD would make it from the remote's main branch. */
async function clusterFrom(repo: string): Promise<{ deployments: Json[]; pods: Json[]; cronJobs: Json[] }> {
  const tree = await readTreeFromGit(repo, 'main', 'dist');
  const deployments: Json[] = [];
  const pods: Json[] = [];
  const cronJobs: Json[] = [];
  for (const [p, text] of tree) {
    if (!p.startsWith('bots/')) continue;
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJSON() as Json;
      if (o.kind === 'Deployment') {
        const id = o.metadata.labels['the0.app/bot-id'];
        const image: string = o.spec.template.spec.containers[0].image;
        const bad = image.includes('bad');
        deployments.push({ metadata: { ...o.metadata, generation: 2 }, status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: bad ? 0 : 1 } });
        pods.push({
          metadata: { name: `bot-${id}-x`, labels: o.spec.template.metadata.labels, creationTimestamp: new Date(0).toISOString() },
          status: { phase: bad ? 'Pending' : 'Running', containerStatuses: [{ name: 'bot', image, restartCount: 0, state: bad ? { waiting: { reason: 'ImagePullBackOff' } } : { running: {} } }] },
        });
      } else if (o.kind === 'CronJob') cronJobs.push({ metadata: o.metadata });
    }
  }
  return { deployments, pods, cronJobs };
}

function selector(sel: string): (labels: Record<string, string>) => boolean {
  const parts: Array<(l: Record<string, string>) => boolean> = [];
  for (const m of sel.matchAll(/([^,\s]+)\s+in\s+\(([^)]*)\)|([^,=\s]+)=([^,]*)/g)) {
    if (m[1]) {
      const set = new Set(m[2].split(','));
      parts.push((l) => set.has(l[m[1]]));
    } else parts.push((l) => l[m[3]] === m[4]);
  }
  return (l) => parts.every((p) => p(l));
}

/** The fake API server over `repo` (main:dist), with a health reader pointed at it; kubeconfig written under `tmp`. */
export async function fakeCluster(repo: string, tmp: string) {
  const server = await startHttp(async (req, res) => {
    await readAll(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const c = await clusterFrom(repo);
    const items: Json[] | undefined =
      url.pathname.endsWith('/deployments') ? c.deployments : url.pathname.endsWith('/pods') ? c.pods : url.pathname.endsWith('/cronjobs') ? c.cronJobs : undefined;
    res.writeHead(items ? 200 : 404, { 'content-type': 'application/json' });
    if (!items) {
      res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: url.pathname }));
      return;
    }
    const match = selector(url.searchParams.get('labelSelector') ?? '');
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: {}, items: items.filter((o) => match(o.metadata.labels ?? {})) }));
  });
  const kc = new KubeConfig();
  const kubeconfig = writeKubeconfig(fs.mkdtempSync(path.join(tmp, 'kc-')), server.url);
  kc.loadFromFile(kubeconfig);
  return { server, kubeconfig, health: kubeHealthReader(kc, 'the0') };
}

