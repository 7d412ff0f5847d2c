// RealtimeBot composed in a user's own Chart with flat props only (cdk8s Testing.synth).
import { Chart, JsonPatch, Testing } from 'cdk8s';
import { RealtimeBot, RealtimeBotProps } from '../src/constructs';

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PROPS: RealtimeBotProps = {
  botId: 'abc123',
  runtime: 'python3.11',
  entrypoint: 'main.py',
  codeFile: 'u/price/1.0.0/price.zip',
  customBotId: 'price',
  configHash: '0123456789abcdef',
};

function synth(props: RealtimeBotProps): Obj[] {
  const chart = new Chart(Testing.app(), 'user-chart');
  new RealtimeBot(chart, 'Bot', props);
  return Testing.synth(chart);
}

describe('RealtimeBot', () => {
  test('defaults: the SPEC §2 Deployment with no query Service, in namespace the0, with the default image', () => {
    const [d, ...rest] = synth(PROPS);
    expect(rest).toEqual([]);
    expect(d.kind).toBe('Deployment');
    expect(d.metadata).toMatchObject({ name: 'bot-abc123', namespace: 'the0' });
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    expect(d.spec.selector).toEqual({ matchLabels: { 'the0.app/bot-id': 'abc123' } });
    const pod = d.spec.template;
    expect(pod.metadata.annotations).toEqual({ 'the0.app/config-hash': '0123456789abcdef', 'fleetsynth.io/config': '{}' });
    expect(pod.metadata.labels['the0.app/custom-bot-version']).toBe('');
    expect(pod.spec.initContainers.map((c: Obj) => c.name)).toEqual(['sync']);
    expect(pod.spec.containers.map((c: Obj) => c.name)).toEqual(['bot']);
    for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) {
      expect(c.image).toBe('ghcr.io/alexanderwanyoike/the0/runtime:latest');
      expect(c.imagePullPolicy).toBe('IfNotPresent');
    }
    expect(pod.spec.containers[0].resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '500m', memory: '768Mi' } });
    expect(pod.spec.nodeSelector).toBeUndefined();
    expect(pod.spec.tolerations).toBeUndefined();
  });

  test('a query entrypoint adds the query-server container and the headless Service', () => {
    const objs = synth({ ...PROPS, queryEntrypoint: 'query.py', queryServerResources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } } });
    expect(objs.map((o) => o.kind)).toEqual(['Deployment', 'Service']);
    const qs = objs[0].spec.template.spec.containers[1];
    expect(qs.name).toBe('query-server');
    expect(qs.resources.limits).toEqual({ cpu: '1', memory: '256Mi' });
    expect(qs.env.find((e: Obj) => e.name === 'QUERY_ENTRYPOINT').value).toBe('query.py');
    expect(objs[1].spec).toMatchObject({ clusterIP: 'None', selector: { 'the0.app/bot-id': 'abc123', 'the0.app/managed-by': 'the0-bot-controller' } });
  });

  test('pod options shape the pod; the contract labels and annotations win over them', () => {
    const [d] = synth({
      ...PROPS,
      pod: {
        nodeSelector: { pool: 'bots' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'bots', effect: 'NoSchedule' }],
        imagePullSecrets: ['regcred'],
        labels: { team: 'quant', 'the0.app/bot-id': 'other' },
        annotations: { 'cost-center': '42', 'the0.app/config-hash': 'x' },
        terminationGracePeriodSeconds: 120,
        priorityClassName: 'bots',
      },
    });
    const pod = d.spec.template;
    expect(pod.metadata.labels).toMatchObject({ team: 'quant', 'the0.app/bot-id': 'abc123' });
    expect(pod.metadata.annotations).toMatchObject({ 'cost-center': '42', 'the0.app/config-hash': '0123456789abcdef' });
    expect(pod.spec).toMatchObject({
      nodeSelector: { pool: 'bots' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'bots', effect: 'NoSchedule' }],
      imagePullSecrets: [{ name: 'regcred' }],
      terminationGracePeriodSeconds: 120,
      priorityClassName: 'bots',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
    });
    // The Deployment's own labels are not the pod's: a team label is a pod option only.
    expect(d.metadata.labels.team).toBeUndefined();
  });

  test('patchable like any cdk8s construct (ApiObject.addJsonPatch)', () => {
    const chart = new Chart(Testing.app(), 'c');
    const bot = new RealtimeBot(chart, 'Bot', PROPS);
    bot.deployment.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 2));
    expect(Testing.synth(chart)[0].spec.revisionHistoryLimit).toBe(2);
  });
});
