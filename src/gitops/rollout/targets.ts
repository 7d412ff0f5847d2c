// What a rollout asks the cluster, without the Kubernetes client's types (the public library's
// declarations must not pull in @kubernetes/client-node's).
import type { BotHealth } from './controller';

/** One bot a wave changed, and how to recognise its new generation on the live object. */
export interface RolloutTarget {
  readonly id: string;
  readonly kind: 'realtime' | 'scheduled';
  /** Name of its Deployment or CronJob. */
  readonly name: string;
  /** Annotation on the object's metadata whose value marks the new generation. */
  readonly markerKey: string;
  readonly markerValue: string;
}

/** Reads the health of a wave's bots. */
export interface HealthReader {
  /** `since`: when the wave was committed (a restart or a Job before it is not this wave's). */
  check(targets: readonly RolloutTarget[], since: Date): Promise<BotHealth[]>;
}
