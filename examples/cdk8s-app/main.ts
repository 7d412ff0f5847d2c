// A GitOps repo's cdk8s app: the platform team's own chart (a PriorityClass for trading bots) and
// the whole the0 fleet rendered by fleetsynth into the same output, with one customization (every
// bot pod gets that priority class and a team label). `cdk8s synth` runs it (cdk8s.yaml).
import { ApiObject, App, Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { BotCustomizer, EXAMPLE_FLEET, FleetsynthError, describeError, renderSettingsFromEnv, reportSynth, synthFleet } from 'fleetsynth';

/** Priority class of every bot pod: bots are evicted after batch work, before platform services. */
export const PRIORITY_CLASS = 'trading-bots';

/** What the platform team owns beside the bots. */
export class TradingPlatform extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new ApiObject(this, 'PriorityClass', {
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: PRIORITY_CLASS },
      value: 100000,
      globalDefault: false,
      preemptionPolicy: 'Never',
      description: 'the0 trading bots (rendered by fleetsynth)',
    });
  }
}

/** Called for each bot with its objects; fleetsynth checks that labels, selectors and hardening stay intact. */
export const customize: BotCustomizer = (_bot, objects) => {
  for (const o of objects) {
    o.metadata.addLabel('example.com/team', 'trading');
    if (o.kind === 'Deployment') o.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', PRIORITY_CLASS));
    if (o.kind === 'CronJob') o.addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/priorityClassName', PRIORITY_CLASS));
  }
};

/** Renders everything into `outdir`; returns the exit code (0 only when every bot rendered). */
export async function main(env: NodeJS.ProcessEnv = process.env, outdir?: string): Promise<number> {
  // `cdk8s synth` passes the output directory in CDK8S_OUTDIR; App reads it.
  const app = new App(outdir ? { outdir } : {});
  new TradingPlatform(app, 'trading-platform');
  app.synth();
  try {
    const result = await synthFleet({
      app,
      // MongoDB in production (MONGO_URI); fleetsynth's example fleet otherwise.
      source: env.FLEET_SOURCE || env.MONGO_URI || EXAMPLE_FLEET,
      settings: renderSettingsFromEnv(env),
      customize,
    });
    return reportSynth(result, (line) => console.log(line), (line) => console.error(line));
  } catch (e) {
    if (!(e instanceof FleetsynthError)) throw e;
    for (const line of describeError(e)) console.error(line);
    return e.exitCode;
  }
}

if (require.main === module) {
  main().then((code) => (process.exitCode = code));
}
