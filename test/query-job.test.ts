// QueryJob composed in a Chart with flat props only (cdk8s Testing.synth).
import { Chart, Testing } from 'cdk8s';
import { QueryJob, QueryJobProps } from '../src/constructs';

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PROPS: QueryJobProps = {
  botId: 'sched-1',
  runtime: 'python3.11',
  entrypoint: 'main.py',
  queryEntrypoint: 'query.py',
  codeFile: 'u/report/2.0.0/report.zip',
  customBotId: 'report',
  queryPath: '/status',
  resultKey: 'sched-1/1767323045123456789/result.json',
  timeoutSec: 30,
  nameSuffix: '1767323045123456789',
};

function synth(props: QueryJobProps): Obj[] {
  const chart = new Chart(Testing.app(), 'c');
  new QueryJob(chart, 'Query', props);
  return Testing.synth(chart);
}

describe('QueryJob', () => {
  test('one Job with a deadline, no retries, the query entrypoint and result key, no sidecar', () => {
    const [j, ...rest] = synth(PROPS);
    expect(rest).toEqual([]);
    expect(j.metadata.name).toBe('query-sched-1-1767323045123456789');
    expect(j.spec).toMatchObject({ backoffLimit: 0, ttlSecondsAfterFinished: 300, activeDeadlineSeconds: 30 });
    const pod = j.spec.template;
    expect(pod.metadata.labels).toMatchObject({ 'the0.app/managed-by': 'the0-query-handler', 'the0.app/query': 'true' });
    expect(pod.spec.containers.map((c: Obj) => c.name)).toEqual(['bot']);
    const env = Object.fromEntries(pod.spec.containers[0].env.map((e: Obj) => [e.name, e.value]));
    expect(env).toMatchObject({ ENTRYPOINT: 'query.py', QUERY_PATH: '/status', QUERY_RESULT_KEY: PROPS.resultKey });
    expect(env.QUERY_PARAMS).toBeUndefined();
  });

  test('params as compact JSON; pod options as on every bot pod', () => {
    const [j] = synth({ ...PROPS, params: { n: 5 }, pod: { tolerations: [{ key: 'bots', operator: 'Exists' }], labels: { team: 'quant' } } });
    const pod = j.spec.template;
    expect(pod.spec.containers[0].env.find((e: Obj) => e.name === 'QUERY_PARAMS').value).toBe('{"n":5}');
    expect(pod.spec.tolerations).toEqual([{ key: 'bots', operator: 'Exists' }]);
    expect(pod.metadata.labels.team).toBe('quant');
  });

  test('a non-integer timeout is refused', () => {
    expect(() => synth({ ...PROPS, timeoutSec: 0 })).toThrow('query timeout must be a positive integer, got 0');
  });
});
