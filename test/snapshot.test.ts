import { buildFleet } from '../src/model/fleet';
import { secretKeyMatcher } from '../src/model/secrets';
import { DEFAULT_SETTINGS } from '../src/settings';
import { BotRenderer } from '../src/synth/render';
import { edgeCaseFleet } from './support/edge-fleet';

// Snapshots of the generated YAML for representative bots: a change to the manifests shows up
// in review as a snapshot diff.
describe('generated YAML', () => {
  const fleet = buildFleet(edgeCaseFleet(), { isSecretKey: secretKeyMatcher() });
  const renderer = new BotRenderer(DEFAULT_SETTINGS);
  const file = (id: string, kind: 'realtime' | 'scheduled') => {
    const spec = fleet.specs.find((s) => s.id === id && s.kind === kind);
    if (!spec) throw new Error(`no ${kind} ${id}`);
    return renderer.render(spec);
  };

  it('realtime bot without queries: one Deployment', () => {
    const r = file('plain-bot', 'realtime');
    expect(r.relPath).toBe('bots/shard-02/bot-plain-bot.yaml');
    expect(r.text).toMatchSnapshot();
  });
  it('query-capable realtime bot with tricky config values: Deployment + headless Service', () => {
    expect(file('query-bot-with-a-rather-long-identifier-for-edge-cases-x', 'realtime').text).toMatchSnapshot();
  });
  it('bot with resource overrides, empty version and an empty query entrypoint', () => {
    expect(file('12345', 'realtime').text).toMatchSnapshot();
  });
  it('scheduled bot with a 6-field cron and a secret', () => {
    expect(file('sched-6-field', 'scheduled').text).toMatchSnapshot();
  });
  it('scheduled bot with a truncated CronJob name', () => {
    const r = file('very-long-schedule-id-that-needs-truncation-for-name-limit', 'scheduled');
    expect(r.text).toContain('name: schedule-very-long-schedule-id-that-needs-truncation\n');
    expect(r.text).toMatchSnapshot();
  });
});
