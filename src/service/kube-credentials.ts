// Whether the standard Kubernetes credentials exist, without loading the Kubernetes client (a
// 0.4 s require): the CLI asks this on every publish, and loads the client only when it must read.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FleetsynthError } from '../errors';

/** Where the service account's files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Whether loadKube would find a kubeconfig: `explicit` (which must exist), `KUBECONFIG`, the
 * in-cluster service account, `~/.kube/config` — the same order and files, only not parsed.
 */
export function kubeCredentialsPresent(explicit: string | undefined): boolean {
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new FleetsynthError(`kubeconfig ${explicit} does not exist`);
    return true;
  }
  if ((process.env.KUBECONFIG ?? '').split(path.delimiter).some((f) => f !== '' && fs.existsSync(f))) return true;
  const tokenFile = process.env.TOKEN_FILE_PATH || path.join(SERVICE_ACCOUNT_DIR, 'token');
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT && fs.existsSync(tokenFile)) return true;
  const home = process.env.HOME || os.homedir();
  return home !== '' && fs.existsSync(path.join(home, '.kube', 'config'));
}
