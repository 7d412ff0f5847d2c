import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { DEFAULT_NAMESPACE, FLEETSYNTH_LABEL, LABELS, QUERY_PORT } from './pod';

/** Pods by labels: in the policy's namespace, or in the namespaces the namespace selector matches. */
export interface PeerOptions {
  /** Pod labels (matchLabels). @default every pod */
  readonly podSelector?: Readonly<Record<string, string>>;
  /** Namespace labels (matchLabels). @default the policy's own namespace */
  readonly namespaceSelector?: Readonly<Record<string, string>>;
}

/** An in-cluster service the bots talk to, on one port. */
export interface ServicePeerOptions extends PeerOptions {
  /** TCP port. */
  readonly port: number;
}

/** CIDRs and TCP ports the bots may reach outside the cluster (the exchanges). */
export interface EgressRuleOptions {
  /** e.g. `203.0.113.0/24`. */
  readonly cidr: string;
  /** CIDRs inside `cidr` that stay closed. @default none */
  readonly except?: readonly string[];
  /** TCP ports, e.g. `[443]`. */
  readonly ports: readonly number[];
}

/** Props of a bot's NetworkPolicy. */
export interface BotNetworkPolicyProps {
  /** Bot id: the policy selects the pods labelled `the0.app/bot-id: <botId>`. */
  readonly botId: string;
  /** Name of the policy. */
  readonly name: string;
  /** Namespace. @default 'the0' */
  readonly namespace?: string;
  /** Whether the bot's pods listen on the query port (a query-capable realtime bot). @default false: no ingress at all */
  readonly queryIngress?: boolean;
  /** Who may call the query port. @default the fleetsynth serve pods (`app.kubernetes.io/name: fleetsynth`) */
  readonly queryFrom?: PeerOptions;
  /** The cluster DNS. @default `k8s-app: kube-dns` pods in `kube-system`, port 53 UDP and TCP */
  readonly dns?: PeerOptions;
  /** MinIO (code, state, logs). @default none */
  readonly minio?: ServicePeerOptions;
  /** NATS (live logs). @default none */
  readonly nats?: ServicePeerOptions;
  /** Destinations outside the cluster. @default none */
  readonly egress?: readonly EgressRuleOptions[];
}

/** Default callers of a bot's query port: the fleetsynth serve pods. */
export const DEFAULT_QUERY_FROM: PeerOptions = { podSelector: { 'app.kubernetes.io/name': 'fleetsynth' } };
/** Default DNS peer: kube-dns / CoreDNS in kube-system. */
export const DEFAULT_DNS: PeerOptions = { podSelector: { 'k8s-app': 'kube-dns' }, namespaceSelector: { 'kubernetes.io/metadata.name': 'kube-system' } };

function peer(p: PeerOptions): k8s.NetworkPolicyPeer {
  return {
    podSelector: { matchLabels: { ...p.podSelector } },
    ...(p.namespaceSelector ? { namespaceSelector: { matchLabels: { ...p.namespaceSelector } } } : {}),
  };
}
const tcp = (port: number): k8s.NetworkPolicyPort => ({ port: k8s.IntOrString.fromNumber(port), protocol: 'TCP' });

/**
 * One bot's NetworkPolicy: ingress only to the query port and only from the serve pods; egress
 * only to DNS, MinIO, NATS and the given CIDRs. Bot code is untrusted: it reaches nothing else,
 * neither other bots nor the API server.
 */
export class BotNetworkPolicy extends Construct {
  /** The NetworkPolicy. */
  readonly policy: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: BotNetworkPolicyProps) {
    super(scope, id);
    const egress: k8s.NetworkPolicyEgressRule[] = [
      { to: [peer(props.dns ?? DEFAULT_DNS)], ports: [{ port: k8s.IntOrString.fromNumber(53), protocol: 'UDP' }, tcp(53)] },
    ];
    for (const svc of [props.minio, props.nats]) if (svc) egress.push({ to: [peer(svc)], ports: [tcp(svc.port)] });
    for (const e of props.egress ?? []) {
      egress.push({ to: [{ ipBlock: { cidr: e.cidr, ...(e.except?.length ? { except: [...e.except] } : {}) } }], ports: e.ports.map(tcp) });
    }
    this.policy = new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: props.name, namespace: props.namespace ?? DEFAULT_NAMESPACE, labels: { [LABELS.botId]: props.botId, ...FLEETSYNTH_LABEL } },
      spec: {
        podSelector: { matchLabels: { [LABELS.botId]: props.botId } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: props.queryIngress ? [{ from: [peer(props.queryFrom ?? DEFAULT_QUERY_FROM)], ports: [tcp(QUERY_PORT)] }] : [],
        egress,
      },
    });
  }
}
