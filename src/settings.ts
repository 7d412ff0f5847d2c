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
  /** Number of shard directories bots are spread over (`--shards`, `SHARDS`). */
  readonly shards: number;
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
export function renderSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RenderSettings {
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
    natsUrlSecret: s('NATS_URL_SECRET'),
    configHashKey: s('CONFIG_HASH_KEY'),
    secretKeys: (s('SECRET_KEYS') ?? '').split(',').map((k) => k.trim()).filter((k) => k !== ''),
    shards: s('SHARDS') !== undefined ? Number(s('SHARDS')) : DEFAULT_SETTINGS.shards,
  };
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
  if (!['Always', 'IfNotPresent', 'Never'].includes(s.imagePullPolicy)) {
    problems.push(`image pull policy must be Always, IfNotPresent or Never, got "${s.imagePullPolicy}"`);
  }
  return problems;
}

/** Shortest config hash key accepted. */
export const MIN_CONFIG_HASH_KEY_BYTES = 16;

/** Key of the NATS URL in `natsUrlSecret` when the setting names no key. */
export const DEFAULT_NATS_URL_SECRET_KEY = 'nats-url';

/** `natsUrlSecret` as a secretKeyRef, or undefined when NATS_URL is rendered as a plain value. */
export function natsUrlSecretRef(s: RenderSettings): { name: string; key: string } | undefined {
  if (!s.natsUrlSecret) return undefined;
  const [name, key] = s.natsUrlSecret.split('/', 2);
  return { name, key: key || DEFAULT_NATS_URL_SECRET_KEY };
}

/** True when a URL (or `host:port`) carries user info: `scheme://user:pass@host`, `token@host`. */
export function hasCredentials(url: string): boolean {
  const authority = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/, 1)[0];
  return authority.includes('@');
}

/**
 * Settings that are rendered into manifests (Git) must not carry credentials: they are refused
 * with a message that names the setting, never the credential.
 */
function credentialProblems(s: RenderSettings): string[] {
  const problems: string[] = [];
  const ref = natsUrlSecretRef(s);
  if (ref && (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(ref.name) || !/^[-._a-zA-Z0-9]+$/.test(ref.key))) {
    problems.push(`NATS URL Secret "${s.natsUrlSecret}" is not <secret-name>[/<key>]`);
  }
  if (s.natsUrl && !ref && s.natsUrl.split(',').some((u) => hasCredentials(u.trim()))) {
    problems.push(
      'the NATS URL (--nats-url / NATS_URL) carries credentials, and it is passed to every bot pod, in Git: ' +
        'store the URL in a Secret and pass --nats-url-secret <secret>[/<key>] (NATS_URL_SECRET; pods then read NATS_URL by secretKeyRef), or use a URL without credentials',
    );
  }
  if (hasCredentials(s.minioEndpoint)) {
    problems.push(
      'the MinIO endpoint (--minio-endpoint / MINIO_ENDPOINT) carries credentials, and it is passed to every bot pod, in Git: ' +
        'give host:port only; MinIO credentials come from the Secret named by --minio-secret',
    );
  }
  return problems;
}
