import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { BotSpec } from '../model/bot';
import type { RenderSettings } from '../settings';
import { ANNOTATIONS, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, botContainer, botVolumes, podSecurityContext } from './pod';

/** Props of a scheduled bot. */
export interface ScheduledBotProps {
  /** The validated schedule (kind `scheduled`, with a converted cron expression). */
  readonly spec: BotSpec;
  /** Namespace, image and platform settings. */
  readonly settings: RenderSettings;
}

/** A scheduled bot: one CronJob, one `bot` container per run, no sidecars (SPEC §3). */
export class ScheduledBot extends Construct {
  /** The CronJob. */
  readonly cronJob: k8s.KubeCronJob;

  constructor(scope: Construct, id: string, props: ScheduledBotProps) {
    super(scope, id);
    const { spec, settings: s } = props;
    if (spec.schedule === undefined) throw new Error(`schedule ${spec.id} has no converted cron expression`);
    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: {
        name: spec.objectName,
        namespace: s.namespace,
        labels: {
          [LABELS.scheduleId]: spec.id,
          [LABELS.customBotId]: spec.customBotId,
          [LABELS.runtime]: spec.runtime,
          [LABELS.managedBy]: MANAGED_BY.scheduled,
          ...FLEETSYNTH_LABEL,
        },
        annotations: { [ANNOTATIONS.scheduleHash]: spec.configHash },
      },
      spec: {
        schedule: spec.schedule,
        timeZone: 'Etc/UTC',
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 1,
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: {
              metadata: {
                labels: {
                  [LABELS.scheduleId]: spec.id,
                  [LABELS.botId]: spec.id,
                  [LABELS.customBotId]: spec.customBotId,
                  [LABELS.managedBy]: MANAGED_BY.scheduled,
                },
                annotations: { [ANNOTATIONS.config]: spec.redactedConfig },
              },
              spec: {
                restartPolicy: 'Never',
                enableServiceLinks: false,
                automountServiceAccountToken: false,
                securityContext: podSecurityContext(),
                containers: [botContainer(spec, s, { type: 'scheduled' }, ['/app/runtime', 'execute', '--skip-query-server'])],
                volumes: botVolumes(),
              },
            },
          },
        },
      },
    });
  }
}
