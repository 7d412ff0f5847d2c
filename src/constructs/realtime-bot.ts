import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { BotSpec } from '../model/bot';
import type { RenderSettings } from '../settings';
import {
  ANNOTATIONS, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, QUERY_PORT, QUERY_SERVER_RESOURCES, SYNC_RESOURCES,
  botContainer, botEnv, botLabels, botMounts, botVolumes, containerSecurityContext, minioEnv, platformEnv,
  podSecurityContext, resourceRequirements,
} from './pod';

/** Props of a realtime bot. */
export interface RealtimeBotProps {
  /** The validated bot. */
  readonly spec: BotSpec;
  /** Namespace, image and platform settings. */
  readonly settings: RenderSettings;
}

/**
 * A realtime bot: a Deployment `bot-<id>` with exactly one pod (Recreate: two copies of a trading
 * bot must never run at once), and a headless Service when the bot answers queries (SPEC §2).
 */
export class RealtimeBot extends Construct {
  /** The Deployment. */
  readonly deployment: k8s.KubeDeployment;
  /** The headless query Service, when the bot is query-capable. */
  readonly service?: k8s.KubeService;

  constructor(scope: Construct, id: string, props: RealtimeBotProps) {
    super(scope, id);
    const { spec, settings: s } = props;
    const labels = botLabels(spec, MANAGED_BY.realtime);
    const containers: k8s.Container[] = [
      botContainer(spec, s, { type: 'realtime' }, ['/app/runtime', 'execute', '--skip-sync', '--skip-query-server']),
    ];
    if (spec.queryEntrypoint) {
      containers.push({
        name: 'query-server',
        image: s.runtimeImage,
        imagePullPolicy: s.imagePullPolicy,
        command: ['/app/runtime', 'execute', '--query-server-only'],
        workingDir: '/bot',
        env: botEnv(spec, s, { type: 'realtime' }),
        ports: [{ name: 'query', containerPort: QUERY_PORT, protocol: 'TCP' }],
        readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(QUERY_PORT) }, periodSeconds: 5 },
        resources: resourceRequirements(QUERY_SERVER_RESOURCES),
        securityContext: containerSecurityContext(),
        volumeMounts: botMounts(),
      });
    }

    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: {
        name: spec.objectName,
        namespace: s.namespace,
        labels: { ...labels, ...FLEETSYNTH_LABEL },
        annotations: { [ANNOTATIONS.configHash]: spec.configHash },
      },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { [LABELS.botId]: spec.id } },
        template: {
          metadata: {
            labels,
            annotations: { [ANNOTATIONS.configHash]: spec.configHash, [ANNOTATIONS.config]: spec.redactedConfig },
          },
          spec: {
            restartPolicy: 'Always',
            enableServiceLinks: false,
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(),
            // Native sidecar (Kubernetes >= 1.29): uploads state and logs while the bot runs.
            initContainers: [
              {
                name: 'sync',
                image: s.runtimeImage,
                imagePullPolicy: s.imagePullPolicy,
                restartPolicy: 'Always',
                command: ['/app/runtime', 'daemon', 'sync'],
                args: ['--bot-id', spec.id, '--state-path', '/state', '--logs-path', '/var/the0/logs', '--readiness-port', '8079'],
                env: [...minioEnv(s), ...platformEnv(s, { code: false })],
                startupProbe: {
                  httpGet: { path: '/readyz', port: k8s.IntOrString.fromNumber(8079) },
                  initialDelaySeconds: 0,
                  periodSeconds: 1,
                  failureThreshold: 30,
                },
                resources: resourceRequirements(SYNC_RESOURCES),
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: 'bot-state', mountPath: '/state' },
                  { name: 'the0', mountPath: '/var/the0' },
                ],
              },
            ],
            containers,
            volumes: botVolumes(),
          },
        },
      },
    });

    if (spec.queryEntrypoint) {
      this.service = new k8s.KubeService(this, 'Service', {
        metadata: {
          name: spec.objectName,
          namespace: s.namespace,
          labels: { [LABELS.botId]: spec.id, ...FLEETSYNTH_LABEL },
        },
        spec: {
          clusterIp: 'None',
          // Pins managed-by so query Job pods, which share the bot-id label, are never selected.
          selector: { [LABELS.botId]: spec.id, [LABELS.managedBy]: MANAGED_BY.realtime },
          ports: [{ name: 'query', port: QUERY_PORT, targetPort: k8s.IntOrString.fromNumber(QUERY_PORT), protocol: 'TCP' }],
        },
      });
    }
  }
}
