// A GitOps repo's cdk8s app: the platform team's own chart (a PriorityClass for trading bots) and
// the whole the0 fleet rendered by fleetsynth into the same output. The fleet's settings and its
// customization come from fleetsynth.config.mjs beside this file, exactly as for the fleetsynth
// CLI run here, so `cdk8s synth` and `fleetsynth synth` render the same bots.
import { ApiObject, App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { FleetsynthError, describeError, openSettingsSource, reportSynth, resolveSettings, synthFleet } from 'fleetsynth';

/** Priority class of every bot pod (fleetsynth.config.mjs sets it): bots are evicted after batch work, before platform services. */
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

/** Renders everything into `outdir`; returns the exit code (0 only when every bot rendered). */
export async function main(env: NodeJS.ProcessEnv = process.env, outdir?: string): Promise<number> {
  // `cdk8s synth` passes the output directory in CDK8S_OUTDIR; App reads it.
  const app = new App(outdir ? { outdir } : {});
  new TradingPlatform(app, 'trading-platform');
  app.synth();
  try {
    // As the CLI does: env (MONGO_URI, NAMESPACE, …), then fleetsynth.config.* here, then defaults;
    // the source is MongoDB in production, fleetsynth's example fleet when none is configured.
    const settings = await resolveSettings({}, env, __dirname);
    const result = await synthFleet({ app, source: openSettingsSource(settings.source), settings: settings.render });
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
