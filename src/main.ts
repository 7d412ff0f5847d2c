// Entry of `cdk8s synth` (cdk8s.yaml): the same pipeline and settings as `fleetsynth synth`, from
// env and the platform config file. The source is FLEET_SOURCE, else MONGO_URI, else the config
// file's `source`, else the embedded example fleet; the output directory is the one the cdk8s CLI passes in CDK8S_OUTDIR.
import { failureMessage, reportSynth, runSynth } from './run-synth';
import { Source } from './source';
import { openSettingsSource, resolveSettings } from './settings';

async function run(): Promise<number> {
  let source: Source | undefined;
  try {
    // The same settings as `fleetsynth synth`: env, then fleetsynth.config.* (or FLEETSYNTH_CONFIG).
    const settings = await resolveSettings({}, process.env);
    source = openSettingsSource(settings.source);
    const r = await runSynth({
      source,
      outDir: process.env.CDK8S_OUTDIR ?? 'dist',
      settings: settings.render,
      allowEmpty: process.env.ALLOW_EMPTY === 'true',
    });
    return reportSynth(r, (s) => console.log(s), (s) => console.error(s));
  } catch (e) {
    const msg = failureMessage(e);
    if (msg === undefined) throw e;
    console.error(`fleetsynth: ${msg}`);
    return 1;
  } finally {
    await source?.close();
  }
}

run().then((code) => (process.exitCode = code));
