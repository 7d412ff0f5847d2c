/**
 * The realistic platform config of the config-vs-no-config ratio (issue 16): a `pod:` block and
 * five rules, one of them matching on a config value (`exchange.name`, which the generated fleet
 * sets on most bots).
 */
export const BENCH_CONFIG = {
  pod: {
    nodeSelector: { 'node-pool': 'bots' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'bots', effect: 'NoSchedule' }],
    imagePullSecrets: ['registry-cred'],
    labels: { team: 'trading', 'cost-center': 'cc-42' },
    annotations: { 'example.com/owner': 'platform' },
    terminationGracePeriodSeconds: 60,
  },
  image: { repository: 'registry.example.com/the0/runtime', tag: '1.14.0' },
  rules: [
    { match: { kind: 'scheduled' }, pod: { priorityClassName: 'batch-low', labels: { team: 'reports' } } },
    { match: { runtimes: ['rust-stable', 'gcc13', 'cpp-gcc13'] }, resources: { bot: { limits: { cpu: '1' } } } },
    { match: { config: { 'exchange.name': 'binance' } }, pod: { nodeSelector: { region: 'ap-northeast-1' } } },
    { match: { kind: 'realtime', runtimes: ['python3.11'] }, resources: { sync: { limits: { memory: '192Mi' } } } },
    { match: { ids: ['bench-canary-1', 'bench-canary-2'] }, image: { tag: 'canary' } },
  ],
};
