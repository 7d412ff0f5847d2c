// Entry of `cdk8s synth` (cdk8s.yaml): the same pipeline and settings as `fleetsynth synth`, from
// env and the platform config file. The source is FLEET_SOURCE, else MONGO_URI, else the config
// file's `source`, else the embedded example fleet; the output directory is the one the cdk8s CLI
// passes in CDK8S_OUTDIR. Failures are caught here once, as in the CLI (README, "Exit codes").
import { FleetsynthError, describeError } from './errors';
import { reportSynth, runSynth } from './run-synth';
import { openSettingsSource, resolveSettings } from './settings';
import type { Source } from './source';
import { cacheOptionsFromEnv } from './synth/cache';

async function run(env: NodeJS.ProcessEnv): Promise<number> {
  let source: Source | undefined;
  try {
    // The same settings as `fleetsynth synth`: env, then fleetsynth.config.* (or FLEETSYNTH_CONFIG).
    const settings = await resolveSettings({}, env);
    source = openSettingsSource(settings.source);
    const r = await runSynth({
      source,
      outDir: env.CDK8S_OUTDIR ?? 'dist',
      settings: settings.render,
      allowEmpty: env.ALLOW_EMPTY === 'true',
      cache: cacheOptionsFromEnv(env),
    });
    return reportSynth(r, (s) => console.log(s), (s) => console.error(s));
  } catch (e) {
    if (!(e instanceof FleetsynthError)) throw e;
    for (const line of describeError(e)) console.error(line);
    return e.exitCode;
  } finally {
    await source?.close();
  }
}

run(process.env).then((code) => (process.exitCode = code));
