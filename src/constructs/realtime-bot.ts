import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { deploymentName } from '../model/names';
import type { Resources } from '../model/bot';
import { BotNetworkPolicy, BotNetworkPolicyProps } from './network-policy';
import {
  ANNOTATIONS, BotPodProps, DEFAULT_NAMESPACE, FLEETSYNTH_LABEL, LABELS, MANAGED_BY, QUERY_PORT, botContainer, botLabels, botPodTemplate,
  queryServerContainer, syncContainer,
} from './pod';

/** Props of a realtime bot. */
export interface RealtimeBotProps extends BotPodProps {
  /** the0-compatible config hash (SPEC §2.3, `the0.app/config-hash`): a change restarts the bot. */
  readonly configHash: string;
  /** Name of the Deployment and query Service. @default `bot-<botId>` */
  readonly name?: string;
  /** `sync` sidecar requests and limits. @default SPEC §2.6 (64Mi/10m, limits 128Mi/100m) */
  readonly syncResources?: Resources;
  /** `query-server` requests and limits. @default SPEC §2.6 (32Mi/10m, limits 128Mi/200m) */
  readonly queryServerResources?: Resources;
  /** A NetworkPolicy for the bot's pods (name and selector filled in). @default none */
  readonly networkPolicy?: Omit<BotNetworkPolicyProps, 'botId' | 'name' | 'namespace' | 'queryIngress'>;
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
  /** The bot's NetworkPolicy, when asked for. */
  readonly networkPolicy?: BotNetworkPolicy;

  constructor(scope: Construct, id: string, props: RealtimeBotProps) {
    super(scope, id);
    const name = props.name ?? deploymentName(props.botId);
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    const labels = botLabels(props, MANAGED_BY.realtime);
    const containers: k8s.Container[] = [botContainer(props, { type: 'realtime' }, ['/app/runtime', 'execute', '--skip-sync', '--skip-query-server'])];
    if (props.queryEntrypoint) containers.push(queryServerContainer(props, props.queryServerResources));

    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: {
        name,
        namespace,
        labels: { ...labels, ...FLEETSYNTH_LABEL },
        annotations: { [ANNOTATIONS.configHash]: props.configHash },
      },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { [LABELS.botId]: props.botId } },
        template: botPodTemplate(props, {
          labels,
          annotations: { [ANNOTATIONS.configHash]: props.configHash, [ANNOTATIONS.config]: props.redactedConfig ?? '{}' },
          restartPolicy: 'Always',
          initContainers: [syncContainer(props, props.syncResources)],
          containers,
        }),
      },
    });

    if (props.queryEntrypoint) {
      this.service = new k8s.KubeService(this, 'Service', {
        metadata: { name, namespace, labels: { [LABELS.botId]: props.botId, ...FLEETSYNTH_LABEL } },
        spec: {
          clusterIp: 'None',
          // Pins managed-by so query Job pods, which share the bot-id label, are never selected.
          selector: { [LABELS.botId]: props.botId, [LABELS.managedBy]: MANAGED_BY.realtime },
          ports: [{ name: 'query', port: QUERY_PORT, targetPort: k8s.IntOrString.fromNumber(QUERY_PORT), protocol: 'TCP' }],
        },
      });
    }
    if (props.networkPolicy) {
      this.networkPolicy = new BotNetworkPolicy(this, 'NetworkPolicy', { ...props.networkPolicy, botId: props.botId, name, namespace, queryIngress: !!props.queryEntrypoint });
    }
  }
}
