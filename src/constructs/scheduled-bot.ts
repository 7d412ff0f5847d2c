import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { cronJobName } from '../model/names';
import { BotNetworkPolicy, BotNetworkPolicyProps } from './network-policy';
import { ANNOTATIONS, BotPodProps, DEFAULT_NAMESPACE, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, botContainer, botPodTemplate } from './pod';

/** Props of a scheduled bot. */
export interface ScheduledBotProps extends BotPodProps {
  /** Kubernetes cron expression (5 fields, already converted from the0's format), run in `Etc/UTC`. */
  readonly schedule: string;
  /** the0-compatible hash of the schedule document (`the0.app/schedule-hash`). */
  readonly configHash: string;
  /** Name of the CronJob. @default `schedule-<botId>` cut to 52 characters (SPEC §3.1) */
  readonly name?: string;
  /** A NetworkPolicy for the schedule's pods (no ingress; name and selector filled in). @default none */
  readonly networkPolicy?: Omit<BotNetworkPolicyProps, 'botId' | 'name' | 'namespace' | 'queryIngress'>;
}

/** A scheduled bot: one CronJob, one `bot` container per run, no sidecars (SPEC §3). */
export class ScheduledBot extends Construct {
  /** The CronJob. */
  readonly cronJob: k8s.KubeCronJob;
  /** The schedule's NetworkPolicy, when asked for. */
  readonly networkPolicy?: BotNetworkPolicy;

  constructor(scope: Construct, id: string, props: ScheduledBotProps) {
    super(scope, id);
    const name = props.name ?? cronJobName(props.botId);
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: {
        name,
        namespace,
        labels: {
          [LABELS.scheduleId]: props.botId,
          [LABELS.customBotId]: props.customBotId,
          [LABELS.runtime]: props.runtime,
          [LABELS.managedBy]: MANAGED_BY.scheduled,
          ...FLEETSYNTH_LABEL,
        },
        annotations: { [ANNOTATIONS.scheduleHash]: props.configHash },
      },
      spec: {
        schedule: props.schedule,
        timeZone: 'Etc/UTC',
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 1,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: botPodTemplate(props, {
              labels: {
                [LABELS.scheduleId]: props.botId,
                [LABELS.botId]: props.botId,
                [LABELS.customBotId]: props.customBotId,
                [LABELS.managedBy]: MANAGED_BY.scheduled,
              },
              annotations: { [ANNOTATIONS.config]: props.redactedConfig ?? '{}' },
              restartPolicy: 'Never',
              containers: [botContainer(props, { type: 'scheduled' }, ['/app/runtime', 'execute', '--skip-query-server'])],
            }),
          },
        },
      },
    });
    if (props.networkPolicy) this.networkPolicy = new BotNetworkPolicy(this, 'NetworkPolicy', { ...props.networkPolicy, botId: props.botId, name, namespace });
  }
}
