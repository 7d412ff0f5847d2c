// The public library API: what `import … from 'fleetsynth'` gives. Everything else under src/ is
// internal and may change without notice. Library code never reads process.env: settings are
// passed in (renderSettingsFromEnv/cacheOptionsFromEnv turn an env object into them for you).

// Reading a fleet from a source: a fleet file (YAML/JSON) or MongoDB.
export { EXAMPLE_FLEET, MongoSource, SourceError, openSource, mongoNamesFromEnv, parseFleetText, readFleetFile, writeFleetFile } from './source';
export type { MongoNames, Source } from './source';
export type { BotDocument, Collection, FleetDocuments, Runtime } from './model/document';
export { RUNTIMES, isEnabled } from './model/document';
export { buildFleet } from './model/fleet';
export type { Fleet, KnownBot } from './model/fleet';
export { toBotSpec, BOT_RESOURCES } from './model/bot';
export type { BotSpec, ResourceList, Resources } from './model/bot';
export { DocumentError } from './model/errors';
export type { DocumentWarning } from './model/errors';
export { secretKeyMatcher, REDACTED } from './model/secrets';

// Settings.
export { DEFAULT_SETTINGS, checkSettings, renderSettingsFromEnv } from './settings';
export type { RenderSettings } from './settings';

// The bot constructs (compose them in your own Chart) and the customization hook.
export * from './constructs';
export { ProtectedFieldError, botView, protectedFields } from './constructs/customize';
export type { BotCustomizer, BotView } from './constructs/customize';

// The whole fleet: fleetsynth's layout, guards and speed, into your cdk8s app's output.
export { synthFleet } from './synth/fleet';
export type { SynthFleetOptions } from './synth/fleet';
export { EmptySourceError, synthesize, synthesizeFleet } from './synth/synth';
export type { SynthOptions, SynthResult } from './synth/synth';
export { BotRenderer } from './synth/render';
export type { RenderedBot } from './synth/render';
export { cacheOptionsFromEnv } from './synth/cache';
export type { CacheOptions } from './synth/cache';
export { stringifyDocuments } from './synth/yaml';
export { BOTS_DIR, botFilePath, shardName } from './synth/shard';
export { reportSynth, runSynth } from './run-synth';
export type { RunSynthOptions } from './run-synth';

// GitOps: diff a render against a base, publish to the repository Argo CD watches.
export * from './gitops';

// Argo CD objects (AppProject, ApplicationSet over shards, platform Application).
export { ARGOCD_FILES, ArgoCdOptionsError, EXAMPLE_REPO_URL, renderArgoCd } from './argocd/argocd';
export type { ArgoCdFile, ArgoCdOptions } from './argocd/argocd';
export { writeArgoCd } from './argocd/generate';

// Errors and exit codes.
export * from './errors';
