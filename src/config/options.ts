// Every setting declared once: its config-file key, its flag, its env variables, how a string
// (flag or env) is parsed, the schema of its file value and its doc. settings.ts binds the
// flags to commands and resolves flags > env > file > defaults from this table alone.
import { z } from 'zod/v4';

/** One setting. */
export interface OptionDef {
  /** Key in the config file, and the commander attribute of the flag. */
  readonly key: string;
  /** Commander flag spec, e.g. `--namespace <ns>`. */
  readonly flag: string;
  /** Env variables read, first set wins. */
  readonly env: readonly string[];
  /** One-line doc (flag help and JSON Schema description). */
  readonly doc: string;
  /** Schema of the value (file value as written; flag and env after `parse`). */
  readonly file: z.ZodType;
  /** Parses a flag or env string into a value `file` accepts. @default the string itself */
  readonly parse?: (raw: string) => unknown;
}

/** A group of settings that belong together (one per concern). */
export interface OptionGroup {
  readonly name: string;
  readonly options: readonly OptionDef[];
}

const bool = (raw: string): unknown => {
  const v = raw.trim().toLowerCase();
  return v === 'true' || v === '1' ? true : v === 'false' || v === '0' || v === '' ? false : raw;
};
const int = (raw: string): unknown => (/^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw);
const list = (raw: string): unknown => raw.split(',').map((k) => k.trim()).filter((k) => k !== '');
const str = z.string().min(1);
/** Plain seconds (`15`) or with a unit (`15s`, `1500ms`, `1m`), as seconds. */
const seconds = (raw: string): unknown => {
  const t = raw.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(t);
  return m ? Number(m[1]) * units[m[2]] : raw;
};

/** Settings of the rendered bot objects (RenderSettings). */
export const RENDER_OPTIONS: OptionGroup = {
  name: 'render',
  options: [
    { key: 'namespace', flag: '--namespace <ns>', env: ['NAMESPACE'], doc: 'namespace of the bot objects', file: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a valid Kubernetes namespace name (lowercase alphanumerics and "-", at most 63)').max(63) },
    { key: 'shards', flag: '--shards <n>', env: ['SHARDS'], doc: 'number of shard directories', file: z.number().int().min(1).max(1000), parse: int },
    { key: 'runtimeImage', flag: '--runtime-image <image>', env: ['RUNTIME_IMAGE'], doc: 'runtime image of every bot container', file: str },
    { key: 'imagePullPolicy', flag: '--image-pull-policy <policy>', env: ['RUNTIME_IMAGE_PULL_POLICY'], doc: 'pull policy of the runtime image', file: z.enum(['Always', 'IfNotPresent', 'Never']) },
    { key: 'minioSecret', flag: '--minio-secret <name>', env: ['MINIO_SECRET_NAME'], doc: "platform Secret: minio-access-key, minio-secret-key, mongo-url (the0 chart: <release>-secrets)", file: str },
    { key: 'minioEndpoint', flag: '--minio-endpoint <host:port>', env: ['MINIO_ENDPOINT'], doc: 'MinIO endpoint passed to pods', file: str },
    { key: 'minioUseSsl', flag: '--minio-use-ssl <bool>', env: ['MINIO_USE_SSL'], doc: 'whether pods use TLS to MinIO', file: z.boolean(), parse: bool },
    { key: 'minioBucket', flag: '--minio-bucket <bucket>', env: ['MINIO_BUCKET', 'MINIO_CODE_BUCKET'], doc: 'code bucket passed to pods as MINIO_CODE_BUCKET', file: str },
    { key: 'minioStateBucket', flag: '--minio-state-bucket <bucket>', env: ['MINIO_STATE_BUCKET'], doc: 'state bucket override passed to pods', file: str },
    { key: 'minioLogsBucket', flag: '--minio-logs-bucket <bucket>', env: ['MINIO_LOGS_BUCKET'], doc: 'logs bucket override passed to pods', file: str },
    { key: 'minioQueryResultsBucket', flag: '--minio-query-results-bucket <bucket>', env: ['MINIO_QUERY_RESULTS_BUCKET'], doc: 'query results bucket', file: str },
    { key: 'natsUrl', flag: '--nats-url <url>', env: ['NATS_URL'], doc: 'NATS URL passed to pods for live logs (with credentials only together with natsUrlSecret)', file: str },
    { key: 'natsUrlSecret', flag: '--nats-url-secret <secret[/key]>', env: ['NATS_URL_SECRET'], doc: 'Secret pods read NATS_URL from (key default nats-url) instead of a plain value', file: str },
    { key: 'configHashKey', flag: '--config-hash-key <key>', env: ['CONFIG_HASH_KEY'], doc: "key of a keyed (HMAC) config hash instead of the0's plain one (at least 16 bytes; prefer the env or --config-hash-key-file: flags show in ps)", file: str },
    { key: 'configHashKeyFile', flag: '--config-hash-key-file <file>', env: ['CONFIG_HASH_KEY_FILE'], doc: 'file holding the config hash key, e.g. a mounted Secret (trailing newline ignored)', file: str },
    { key: 'previousConfigHashKey', flag: '--previous-config-hash-key <key>', env: ['PREVIOUS_CONFIG_HASH_KEY'], doc: 'the config hash key before a rotation: bots a rollout has not reached yet keep hashing with it, so the rotation restarts bots wave by wave (prefer the env or the file)', file: str },
    { key: 'previousConfigHashKeyFile', flag: '--previous-config-hash-key-file <file>', env: ['PREVIOUS_CONFIG_HASH_KEY_FILE'], doc: 'file holding the previous config hash key (trailing newline ignored)', file: str },
    { key: 'fleetsynthImage', flag: '--fleetsynth-image <image>', env: ['FLEETSYNTH_IMAGE'], doc: 'image of fleetsynth serve in platform/', file: str },
    { key: 'secretKeys', flag: '--secret-keys <keys>', env: ['SECRET_KEYS'], doc: 'extra config key names treated as secret (comma-separated on the command line)', file: z.array(z.string().min(1)), parse: list },
  ],
};

/** Where the bot documents come from. */
export const SOURCE_OPTIONS: OptionGroup = {
  name: 'source',
  options: [
    { key: 'source', flag: '--source <uri|path>', env: ['FLEET_SOURCE', 'MONGO_URI'], doc: 'mongodb:// URI or fleet file (YAML/JSON); default: the embedded example fleet', file: str },
    { key: 'botsDb', flag: '--bots-db <db>', env: ['BOTS_DB'], doc: 'database of realtime bots', file: str },
    { key: 'botsCollection', flag: '--bots-collection <name>', env: ['BOTS_COLLECTION'], doc: 'collection of realtime bots', file: str },
    { key: 'schedulesDb', flag: '--schedules-db <db>', env: ['SCHEDULES_DB'], doc: 'database of schedules', file: str },
    { key: 'schedulesCollection', flag: '--schedules-collection <name>', env: ['SCHEDULES_COLLECTION'], doc: 'collection of schedules', file: str },
  ],
};

/** Leader election of `fleetsynth serve` with several replicas (coordination.k8s.io/v1 Lease; serve only). */
export const LEADER_OPTIONS: OptionGroup = {
  name: 'leader',
  options: [
    { key: 'leaderElection', flag: '--leader-election <bool>', env: ['LEADER_ELECTION'], doc: 'elect one writer among serve replicas through a Lease when the API server is reachable (default true; false: this process writes alone)', file: z.boolean(), parse: bool },
    { key: 'leaseName', flag: '--lease-name <name>', env: ['LEASE_NAME'], doc: 'name of the leader Lease in the namespace (default fleetsynth)', file: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'not a valid Kubernetes object name').max(253) },
    { key: 'leaseDuration', flag: '--lease-duration <seconds>', env: ['LEASE_DURATION'], doc: 'seconds a Lease stays valid without renewal: the longest wait before a survivor takes over from a dead leader (default 12: with the sync, reconcile and push a failover stays under 15 s; 12, 12s, 1500ms)', file: z.number().min(1).max(3600), parse: seconds },
    { key: 'leaseRenewDeadline', flag: '--lease-renew-deadline <seconds>', env: ['LEASE_RENEW_DEADLINE'], doc: 'seconds the leader may go without renewing before it stops writing; shorter than the lease duration (default 8)', file: z.number().gt(0).max(3600), parse: seconds },
    { key: 'leaseRetryPeriod', flag: '--lease-retry-period <seconds>', env: ['LEASE_RETRY_PERIOD'], doc: 'seconds between attempts to acquire or renew the Lease; shorter than the renew deadline (default 2)', file: z.number().gt(0).max(3600), parse: seconds },
    { key: 'leaderIdentity', flag: '--leader-identity <id>', env: ['POD_NAME', 'LEADER_IDENTITY'], doc: 'this replica\'s holderIdentity in the Lease (default the pod name from POD_NAME, else <hostname>-<pid>)', file: z.string().min(1).max(253) },
  ],
};

/** Every group, in help order. */
export const OPTION_GROUPS: readonly OptionGroup[] = [SOURCE_OPTIONS, RENDER_OPTIONS, LEADER_OPTIONS];
