// Lease settings, their defaults and checks: plain data, so the CLI and the platform manifests
// read them without loading the Kubernetes client (src/service/leader.ts runs the election).
import * as os from 'node:os';

/** Lease settings (all durations in ms). */
export interface LeaseSettings {
  /** Name of the Lease object in the service's namespace. @default fleetsynth */
  readonly name: string;
  /** How long a Lease stays valid after its last renewal, as seen by the others. @default 12 s */
  readonly durationMs: number;
  /** The leader stops leading when it could not renew for this long (< durationMs). @default 8 s */
  readonly renewDeadlineMs: number;
  /** Time between attempts to acquire or renew. @default 2 s */
  readonly retryPeriodMs: number;
  /** This replica's identity, stored in holderIdentity (pod name in a cluster). */
  readonly identity: string;
}

/** Defaults: client-go's 15/10/2 s, with the lease and the deadline 3 s and 2 s shorter so a failover (lease + sync, reconcile, push ≈ 1.5 s) stays within 15 s; the leader still stops writing 4 s before anyone may take over. */
export const DEFAULT_LEASE_NAME = 'fleetsynth';
export const DEFAULT_LEASE_DURATION_MS = 12_000;
export const DEFAULT_RENEW_DEADLINE_MS = 8_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

/** A replica's identity: the pod name when known, else `<hostname>-<pid>`. */
export function defaultIdentity(podName?: string): string {
  return podName && podName.trim() !== '' ? podName.trim() : `${os.hostname()}-${process.pid}`;
}

/** Checks lease settings; one message per problem. */
export function leaseProblems(s: Pick<LeaseSettings, 'durationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>): string[] {
  const p: string[] = [];
  if (!(s.renewDeadlineMs < s.durationMs)) p.push(`lease renew deadline (${s.renewDeadlineMs} ms) must be shorter than the lease duration (${s.durationMs} ms)`);
  if (!(s.retryPeriodMs < s.renewDeadlineMs)) p.push(`lease retry period (${s.retryPeriodMs} ms) must be shorter than the renew deadline (${s.renewDeadlineMs} ms)`);
  if (s.durationMs < 1000) p.push(`lease duration (${s.durationMs} ms) must be at least 1 s (leaseDurationSeconds is whole seconds)`);
  return p;
}
