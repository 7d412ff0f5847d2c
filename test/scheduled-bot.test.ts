// ScheduledBot composed in a user's own Chart with flat props only (cdk8s Testing.synth).
import { Chart, Testing } from 'cdk8s';
import { ScheduledBot, ScheduledBotProps } from '../src/constructs';

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PROPS: ScheduledBotProps = {
  botId: 'sched-1',
  runtime: 'nodejs20',
  entrypoint: 'index.js',
  codeFile: 'u/report/2.0.0/report.zip',
  customBotId: 'report',
  customBotVersion: '2.0.0',
  schedule: '*/5 * * * *',
  configHash: 'fedcba9876543210',
  redactedConfig: '{"api_key":"<secret>","symbol":"BTC"}',
};

function synth(props: ScheduledBotProps): Obj[] {
  const chart = new Chart(Testing.app(), 'user-chart');
  new ScheduledBot(chart, 'Bot', props);
  return Testing.synth(chart);
}

describe('ScheduledBot', () => {
  test('defaults: one CronJob schedule-<id>, UTC, Forbid, one bot container, the redacted config only', () => {
    const objs = synth(PROPS);
    expect(objs.map((o) => o.kind)).toEqual(['CronJob']);
    const [c] = objs;
    expect(c.metadata).toMatchObject({ name: 'schedule-sched-1', namespace: 'the0', annotations: { 'the0.app/schedule-hash': 'fedcba9876543210' } });
    expect(c.spec).toMatchObject({ schedule: '*/5 * * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' });
    const pod = c.spec.jobTemplate.spec.template;
    expect(pod.metadata.annotations).toEqual({ 'fleetsynth.io/config': PROPS.redactedConfig });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.spec.containers.map((x: Obj) => x.name)).toEqual(['bot']);
    const env = Object.fromEntries(pod.spec.containers[0].env.map((e: Obj) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({ BOT_TYPE: 'scheduled', IS_SCHEDULED: 'true', BOT_CONFIG: { secretKeyRef: { name: 'bot-sched-1-config', key: 'BOT_CONFIG' } } });
  });

  test('a long id gets the 52-character CronJob name unless a name is given', () => {
    const id = 'a'.repeat(60);
    expect(synth({ ...PROPS, botId: id })[0].metadata.name).toBe(`schedule-${'a'.repeat(43)}`);
    expect(synth({ ...PROPS, botId: id, name: 'nightly' })[0].metadata.name).toBe('nightly');
  });

  test('pod options reach the job template pod (the same builder as the realtime pod)', () => {
    const [c] = synth({ ...PROPS, image: 'registry.example/the0/runtime:1.2.3', pod: { runtimeClassName: 'gvisor', dnsConfig: { options: [{ name: 'ndots', value: '2' }] } } });
    const pod = c.spec.jobTemplate.spec.template.spec;
    expect(pod.runtimeClassName).toBe('gvisor');
    expect(pod.dnsConfig).toEqual({ options: [{ name: 'ndots', value: '2' }] });
    expect(pod.containers[0].image).toBe('registry.example/the0/runtime:1.2.3');
  });
});
