/**
 * The compiled library (`npm run build` → lib/), typed from the sources. Benchmarks measure what
 * `bin/fleetsynth` runs (the render workers are compiled JS too), not tsx's on-the-fly transform.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const lib = (p: string) => require(`../lib/src/${p}`);

export const { generateFleet } = lib('testing/fleet-gen') as typeof import('../src/testing/fleet-gen');
export const { buildFleet } = lib('model/fleet') as typeof import('../src/model/fleet');
export const { secretKeyMatcher } = lib('model/secrets') as typeof import('../src/model/secrets');
export const { DEFAULT_SETTINGS, settingsFromValues } = lib('settings') as typeof import('../src/settings');
export const { validateConfig } = lib('config/load') as typeof import('../src/config/load');
export const { synthesize, synthesizeFleet } = lib('synth/synth') as typeof import('../src/synth/synth');
export const { BotRenderer } = lib('synth/render') as typeof import('../src/synth/render');
export const { botFilePath } = lib('synth/shard') as typeof import('../src/synth/shard');
export const { startQueryServer } = lib('service/query/server') as typeof import('../src/service/query/server');
export const { lookupFromDocuments } = lib('service/query/lookup') as typeof import('../src/service/query/lookup');
