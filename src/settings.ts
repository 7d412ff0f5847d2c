import * as fs from 'node:fs';
import type { BotCustomizer } from './constructs/customize';
import { DEFAULT_ROLLOUT, RolloutSettings } from './gitops/rollout/state';
// Settings: the option table of src/config/options.ts, bound to commander flags, read from env
// and from the platform config file. Precedence: flags > env > file > defaults.
import { Command, InvalidArgumentError } from 'commander';
import type { ConfigFile, NetworkPolicyBlock, PlatformBlock } from './config/schema';
import type { PodConfig } from './config/resolve';
import { credentialProblems } from './config/credentials';
import { ConfigError } from './config/errors';
import { findConfigFile, keyPath, loadConfigFile } from './config/load';
import { LEADER_OPTIONS, OPTION_GROUPS, OptionDef, OptionGroup, RENDER_OPTIONS, SOURCE_OPTIONS } from './config/options';
import { DEFAULT_MONGO_NAMES, MongoNames, Source, openSource } from './source';

/** Everything that shapes the rendered manifests besides the bot documents themselves. */
export interface RenderSettings {
  /** Namespace of every bot object (`NAMESPACE`, `--namespace`). */
  readonly namespace: string;
  /** The one runtime image of every bot container (`RUNTIME_IMAGE`, `--runtime-image`). */
  readonly runtimeImage: string;
  /** Pull policy of the runtime image (`RUNTIME_IMAGE_PULL_POLICY`). */
  readonly imagePullPolicy: string;
  /** MinIO endpoint passed to pods (`MINIO_ENDPOINT`). */
  readonly minioEndpoint: string;
  /** Whether pods use TLS to MinIO (`MINIO_USE_SSL`). */
  readonly minioUseSsl: boolean;
  /** Platform Secret: `minio-access-key` / `minio-secret-key` (and `mongo-url` for serve) (`--minio-secret`). */
  readonly minioSecretName: string;
  /** Bucket of the bots' code zips, passed as `MINIO_CODE_BUCKET` (`MINIO_BUCKET`). */
  readonly minioCodeBucket: string;
  /** Optional bucket overrides passed to pods when set. */
  readonly minioStateBucket?: string;
  /** Optional logs bucket override passed to pods. */
  readonly minioLogsBucket?: string;
  /** Query results bucket (`MINIO_QUERY_RESULTS_BUCKET`). */
  readonly minioQueryResultsBucket: string;
  /** NATS URL passed to pods for live logs, when configured (`NATS_URL`); never with credentials unless `natsUrlSecret` is set. */
  readonly natsUrl?: string;
  /**
   * Secret (`name` or `name/key`, key default `nats-url`) pods read `NATS_URL` from instead of a
   * plain value (`--nats-url-secret`, `NATS_URL_SECRET`): for URLs that carry credentials.
   * @default undefined (NATS_URL rendered as a plain value)
   */
  readonly natsUrlSecret?: string;
  /** Extra config key names treated as secret (`--secret-keys`, `SECRET_KEYS`, comma-separated). */
  readonly secretKeys: readonly string[];
  /**
   * Key of the keyed config hash (`--config-hash-key`, `--config-hash-key-file`, `CONFIG_HASH_KEY`):
   * `the0.app/config-hash` becomes HMAC-SHA256 under it, so it cannot be brute-forced from Git.
   * Never rendered. Leave unset only when the0's controller must agree on the hash (README: Security).
   * @default undefined (the0's plain SHA-256 hash)
   */
  readonly configHashKey?: string;
  /**
   * The config hash key before a rotation (`--previous-config-hash-key[-file]`,
   * `PREVIOUS_CONFIG_HASH_KEY`): bots a rollout has not reached yet hash with the key their
   * generation was rendered with, so a rotation restarts bots wave by wave. Never rendered.
   * @default undefined
   */
  readonly previousConfigHashKey?: string;
  /** Number of shard directories bots are spread over (`--shards`, `SHARDS`). */
  readonly shards: number;
  /** Image of the live service in `platform/` (`FLEETSYNTH_IMAGE`). @default DEFAULT_FLEETSYNTH_IMAGE */
  readonly fleetsynthImage?: string;
  /**
   * Called with each bot (no secret values) and its cdk8s ApiObjects before they are rendered
   * (library `synthFleet({ customize })`, `customize` of fleetsynth.config.mjs). With a hook, bots
   * render in the calling thread without shape templates or the output cache. @default none
   */
  readonly customize?: BotCustomizer;
  /**
   * Rollout generation stamped on every bot object's metadata (`fleetsynth.io/generation`), so a
   * rollout can tell that Argo CD applied a wave. Set by publish and serve while rollouts are on,
   * never by hand. @default none
   */
  readonly generation?: string;
  /** The config file's `pod:` / `resources:` / `image:` / `rules:` blocks, when there are any. */
  readonly pods?: PodConfig;
  /** The config file's `networkPolicy:` block. */
  readonly networkPolicy?: NetworkPolicyBlock;
  /** The config file's `platform:` block (fleetsynth serve's own manifests). */
  readonly platform?: PlatformBlock;
  /** The config file these came from, for error messages. */
  readonly configFile?: string;
}

/** Defaults of SPEC §6. */
export const DEFAULT_SETTINGS: RenderSettings = {
  namespace: 'the0',
  runtimeImage: 'ghcr.io/alexanderwanyoike/the0/runtime:latest',
  imagePullPolicy: 'IfNotPresent',
  minioEndpoint: 'minio:9000',
  minioUseSsl: false,
  minioSecretName: 'the0-secrets',
  minioCodeBucket: 'custom-bots',
  minioQueryResultsBucket: 'query-results',
  secretKeys: [],
  shards: 16,
};

/** Where the bot documents come from. */
export interface SourceSettings {
  /** `mongodb://` URI or fleet file; undefined = the embedded example fleet. */
  readonly ref?: string;
  /** Database and collection names. */
  readonly names: MongoNames;
}

/** Everything a command gets from flags, env and the config file. */
export interface Settings {
  readonly render: RenderSettings;
  readonly source: SourceSettings;
  /** The `customize` export of a `fleetsynth.config.mjs`, unvalidated. */
  readonly customize?: unknown;
  /** The config file used, if any. */
  readonly configFile?: string;
  /** `rollout:` of the config file over the defaults (not a render input: changing it starts no rollout). */
  readonly rollout: RolloutSettings;
  /** Leader election of serve (unset fields: serve's defaults). */
  readonly leader: LeaderElectionSettings;
}

/** Leader election settings as given (durations in ms); serve applies the defaults. */
export interface LeaderElectionSettings {
  /** False: no Lease, this process writes alone. @default true */
  readonly enabled: boolean;
  readonly name?: string;
  readonly durationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly identity?: string;
}

/** RenderSettings field of a render option whose file key differs. */
const RENDER_FIELD: Record<string, keyof RenderSettings> = { minioSecret: 'minioSecretName', minioBucket: 'minioCodeBucket' };

const CONFIG_FLAG = '--config <file>';

/** Adds `--config` and every flag of the groups to a command (each group binds its own flags). */
export function addSettingsOptions(cmd: Command, groups: readonly OptionGroup[] = OPTION_GROUPS): Command {
  cmd.option(CONFIG_FLAG, `platform config file (env FLEETSYNTH_CONFIG; default: ${'fleetsynth.config.{yaml,yml,json,mjs}'} in the working directory)`);
  for (const g of groups) {
    for (const o of g.options) {
      cmd.option(o.flag, `${o.doc} (env ${o.env.join(', ')}; config key ${o.key})`, (raw: string) => {
        const r = parseValue(o, raw);
        if (!r.ok) throw new InvalidArgumentError(r.message);
        return r.value;
      });
    }
  }
  return cmd;
}

/** The render and source flags shared by synth, validate, diff, publish and serve. */
export const addRenderOptions = (cmd: Command): Command => addSettingsOptions(cmd, [SOURCE_OPTIONS, RENDER_OPTIONS]);

/** serve's flags: render, source and leader election. */
export const addServeOptions = (cmd: Command): Command => addSettingsOptions(cmd, [SOURCE_OPTIONS, RENDER_OPTIONS, LEADER_OPTIONS]);

function parseValue(o: OptionDef, raw: string): { ok: true; value: unknown } | { ok: false; message: string } {
  const r = o.file.safeParse(o.parse ? o.parse(raw) : raw);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, message: r.error.issues.map((i) => (i.code === 'invalid_type' ? `must be ${i.expected}` : i.message)).join('; ') };
}

/**
 * Resolves every setting: flags (commander's parsed options) > env > config file > defaults.
 * A bad env value or config file is a ConfigError; nothing has been read or written yet.
 */
export async function resolveSettings(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Promise<Settings> {
  const file = findConfigFile({ explicit: flags.config as string | undefined, env, cwd });
  const loaded = file ? await loadConfigFile(file) : undefined;
  return settingsFromValues(flags, env, loaded?.config ?? {}, file, loaded?.customize);
}

/** The same, from an already validated config object (tests, the library). */
export function settingsFromValues(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, config: ConfigFile, configFile?: string, customize?: unknown): Settings {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const g of OPTION_GROUPS) {
    for (const o of g.options) {
      if (flags[o.key] !== undefined) {
        values[o.key] = flags[o.key];
        continue;
      }
      const name = o.env.find((n) => env[n] !== undefined && env[n] !== '');
      if (name !== undefined) {
        const r = parseValue(o, env[name]!);
        if (r.ok) values[o.key] = r.value;
        else problems.push(`${name}: ${r.message}`);
        continue;
      }
      const fromFile = (config as Record<string, unknown>)[o.key];
      if (fromFile !== undefined) values[o.key] = fromFile;
    }
  }
  if (problems.length > 0) throw new ConfigError('environment', problems);

  const render: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const o of RENDER_OPTIONS.options) if (values[o.key] !== undefined) render[RENDER_FIELD[o.key] ?? o.key] = values[o.key];
  // The hash key from a file (a mounted Secret) when not given itself; the file's name is no setting.
  const keyFile = render.configHashKeyFile as string | undefined;
  delete render.configHashKeyFile;
  if (keyFile !== undefined && values.configHashKey === undefined) render.configHashKey = readKeyFile(keyFile);
  const previousFile = render.previousConfigHashKeyFile as string | undefined;
  delete render.previousConfigHashKeyFile;
  if (previousFile !== undefined && values.previousConfigHashKey === undefined) render.previousConfigHashKey = readKeyFile(previousFile);
  const pods: PodConfig = { pod: config.pod, resources: config.resources, image: config.image, rules: config.rules };
  if (pods.pod || pods.resources || pods.image || (pods.rules && pods.rules.length > 0)) render.pods = stripUndefined(pods);
  if (config.networkPolicy) render.networkPolicy = config.networkPolicy;
  if (config.platform) render.platform = config.platform;
  if (configFile) render.configFile = configFile;
  if (typeof customize === 'function') render.customize = customize;

  const names: MongoNames = {
    botsDb: (values.botsDb as string) ?? DEFAULT_MONGO_NAMES.botsDb,
    botsCollection: (values.botsCollection as string) ?? DEFAULT_MONGO_NAMES.botsCollection,
    schedulesDb: (values.schedulesDb as string) ?? DEFAULT_MONGO_NAMES.schedulesDb,
    schedulesCollection: (values.schedulesCollection as string) ?? DEFAULT_MONGO_NAMES.schedulesCollection,
  };
  const rollout: RolloutSettings = { ...DEFAULT_ROLLOUT, ...stripUndefined(config.rollout ?? {}) };
  const ms = (k: string) => (typeof values[k] === 'number' ? Math.round((values[k] as number) * 1000) : undefined);
  const leader: LeaderElectionSettings = stripUndefined({
    enabled: values.leaderElection !== false,
    name: values.leaseName as string | undefined,
    durationMs: ms('leaseDuration'),
    renewDeadlineMs: ms('leaseRenewDeadline'),
    retryPeriodMs: ms('leaseRetryPeriod'),
    identity: values.leaderIdentity as string | undefined,
  });
  return { render: render as unknown as RenderSettings, source: { ref: values.source as string | undefined, names }, customize, configFile, rollout, leader };
}

function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError([`--config-hash-key-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Opens the source the settings name (the embedded example fleet when none). */
export function openSettingsSource(s: SourceSettings): Source {
  // The env was already folded into `ref` by resolveSettings; pass none so it is not read twice.
  return openSource(s.ref, {}, s.names);
}

/** Render settings from env alone (defaults for the rest): for callers with no flags and no config file. */
export function renderSettingsFromEnv(env: NodeJS.ProcessEnv): RenderSettings {
  return settingsFromValues({}, env, {}).render;
}

/** Checks settings a user can get wrong; returns one message per problem. */
export function checkSettings(s: RenderSettings): string[] {
  const problems: string[] = [];
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s.namespace) || s.namespace.length > 63) {
    problems.push(`namespace "${s.namespace}" is not a valid Kubernetes namespace name`);
  }
  if (!Number.isInteger(s.shards) || s.shards < 1 || s.shards > 1000) problems.push(`shards must be an integer 1-1000, got ${s.shards}`);
  problems.push(...credentialProblems(s));
  if (s.configHashKey !== undefined && Buffer.byteLength(s.configHashKey, 'utf8') < MIN_CONFIG_HASH_KEY_BYTES) {
    problems.push(`the config hash key must be at least ${MIN_CONFIG_HASH_KEY_BYTES} bytes (a short key can be guessed offline from the hashes in Git); use e.g. openssl rand -hex 32`);
  }
  if (s.previousConfigHashKey !== undefined && Buffer.byteLength(s.previousConfigHashKey, 'utf8') < MIN_CONFIG_HASH_KEY_BYTES) {
    problems.push(`the previous config hash key must be at least ${MIN_CONFIG_HASH_KEY_BYTES} bytes, like the key`);
  }
  if (!['Always', 'IfNotPresent', 'Never'].includes(s.imagePullPolicy)) {
    problems.push(`image pull policy must be Always, IfNotPresent or Never, got "${s.imagePullPolicy}"`);
  }
  return problems;
}

/** Shortest config hash key accepted. */
export const MIN_CONFIG_HASH_KEY_BYTES = 16;

export { ConfigError, keyPath };
