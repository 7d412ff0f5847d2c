// Entry of `cdk8s synth` (cdk8s.yaml): the same pipeline as `fleetsynth synth`, configured by env.
// The source is FLEET_SOURCE, else MONGO_URI, else the embedded example fleet; the output
// directory is the one the cdk8s CLI passes in CDK8S_OUTDIR.
import { failureMessage, reportSynth, runSynth } from './run-synth';
import { renderSettingsFromEnv } from './settings';
import { mongoNamesFromEnv, openSource } from './source';

async function run(): Promise<number> {
  const source = openSource(undefined, process.env, mongoNamesFromEnv());
  try {
    const r = await runSynth({
      source,
      outDir: process.env.CDK8S_OUTDIR ?? 'dist',
      settings: renderSettingsFromEnv(),
      allowEmpty: process.env.ALLOW_EMPTY === 'true',
    });
    return reportSynth(r, (s) => console.log(s), (s) => console.error(s));
  } catch (e) {
    const msg = failureMessage(e);
    if (msg === undefined) throw e;
    console.error(`fleetsynth: ${msg}`);
    return 1;
  } finally {
    await source.close();
  }
}

run().then((code) => (process.exitCode = code));
