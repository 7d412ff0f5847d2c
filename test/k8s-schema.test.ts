import * as YAML from 'yaml';
import { buildFleet } from '../src/model/fleet';
import { secretKeyMatcher } from '../src/model/secrets';
import { DEFAULT_SETTINGS } from '../src/settings';
import { BotRenderer } from '../src/synth/render';
import { generateFleet } from '../src/testing/fleet-gen';
import { edgeCaseFleet } from './support/edge-fleet';
import { validateK8sObject } from './support/k8s-validate';

describe('every rendered object validates against the Kubernetes schemas (offline)', () => {
  const renderer = new BotRenderer({ ...DEFAULT_SETTINGS, natsUrl: 'nats://nats:4222' });
  const docs = generateFleet(150, 11);
  docs.bots.push(...edgeCaseFleet().bots);
  docs.bot_schedules.push(...edgeCaseFleet().bot_schedules);
  const fleet = buildFleet(docs, { isSecretKey: secretKeyMatcher() });

  it('renders a mix of kinds', () => {
    expect(fleet.errors).toEqual([]);
    const kinds = new Set(fleet.specs.flatMap((s) => YAML.parseAllDocuments(renderer.render(s).text).map((d) => d.toJS().kind)));
    expect(kinds).toEqual(new Set(['Deployment', 'Service', 'CronJob']));
  });

  it('validates each object, parsed back from the written YAML', () => {
    let n = 0;
    for (const spec of fleet.specs) {
      for (const doc of YAML.parseAllDocuments(renderer.render(spec).text)) {
        expect(doc.errors).toEqual([]);
        const obj = doc.toJS();
        expect(() => validateK8sObject(obj)).not.toThrow();
        n++;
      }
    }
    expect(n).toBeGreaterThan(fleet.specs.length);
  });

  it('the validator does reject a broken object', () => {
    const spec = fleet.specs.find((s) => s.kind === 'realtime')!;
    const [deployment] = renderer.toJson(spec) as Array<{ spec: { replicas: unknown } }>;
    deployment.spec.replicas = 'one';
    expect(() => validateK8sObject(deployment as never)).toThrow(/replicas must be integer/);
  });
});
