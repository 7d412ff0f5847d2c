import type { BotCustomizer } from './constructs/customize';

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
  /** Secret holding `minio-access-key` / `minio-secret-key` (`--minio-secret`). */
  readonly minioSecretName: string;
  /** Bucket of the bots' code zips, passed as `MINIO_CODE_BUCKET` (`MINIO_BUCKET`). */
  readonly minioCodeBucket: string;
  /** Optional bucket overrides passed to pods when set. */
  readonly minioStateBucket?: string;
  /** Optional logs bucket override passed to pods. */
  readonly minioLogsBucket?: string;
  /** Query results bucket (`MINIO_QUERY_RESULTS_BUCKET`). */
  readonly minioQueryResultsBucket: string;
  /** NATS URL passed to pods for live logs, when configured (`NATS_URL`). */
  readonly natsUrl?: string;
  /** Extra config key names treated as secret (`--secret-keys`, `SECRET_KEYS`, comma-separated). */
  readonly secretKeys: readonly string[];
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

/** Reads render settings from the environment (SPEC §6 names); flags override later. */
export function renderSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): RenderSettings {
  const s = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  return {
    namespace: s('NAMESPACE') ?? DEFAULT_SETTINGS.namespace,
    runtimeImage: s('RUNTIME_IMAGE') ?? DEFAULT_SETTINGS.runtimeImage,
    imagePullPolicy: s('RUNTIME_IMAGE_PULL_POLICY') ?? DEFAULT_SETTINGS.imagePullPolicy,
    minioEndpoint: s('MINIO_ENDPOINT') ?? DEFAULT_SETTINGS.minioEndpoint,
    minioUseSsl: (s('MINIO_USE_SSL') ?? 'false').toLowerCase() === 'true',
    minioSecretName: s('MINIO_SECRET_NAME') ?? DEFAULT_SETTINGS.minioSecretName,
    minioCodeBucket: s('MINIO_BUCKET') ?? s('MINIO_CODE_BUCKET') ?? DEFAULT_SETTINGS.minioCodeBucket,
    minioStateBucket: s('MINIO_STATE_BUCKET'),
    minioLogsBucket: s('MINIO_LOGS_BUCKET'),
    minioQueryResultsBucket: s('MINIO_QUERY_RESULTS_BUCKET') ?? DEFAULT_SETTINGS.minioQueryResultsBucket,
    natsUrl: s('NATS_URL'),
    secretKeys: (s('SECRET_KEYS') ?? '').split(',').map((k) => k.trim()).filter((k) => k !== ''),
    shards: s('SHARDS') !== undefined ? Number(s('SHARDS')) : DEFAULT_SETTINGS.shards,
    ...(s('FLEETSYNTH_IMAGE') !== undefined ? { fleetsynthImage: s('FLEETSYNTH_IMAGE') } : {}),
  };
}

/** Checks settings a user can get wrong; returns one message per problem. */
export function checkSettings(s: RenderSettings): string[] {
  const problems: string[] = [];
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s.namespace) || s.namespace.length > 63) {
    problems.push(`namespace "${s.namespace}" is not a valid Kubernetes namespace name`);
  }
  if (!Number.isInteger(s.shards) || s.shards < 1 || s.shards > 1000) problems.push(`shards must be an integer 1-1000, got ${s.shards}`);
  if (!['Always', 'IfNotPresent', 'Never'].includes(s.imagePullPolicy)) {
    problems.push(`image pull policy must be Always, IfNotPresent or Never, got "${s.imagePullPolicy}"`);
  }
  return problems;
}
