import type { ZodIssue } from 'zod';
import type { BotFacts, BotPlatform } from '../config/resolve';
import { convertSchedule } from './cron';
import { botDocument, Collection, Runtime } from './document';
import { DocumentError } from './errors';
import { configHash, sortedJson } from './gojson';
import { MAX_REALTIME_ID, MAX_SCHEDULE_ID, objectNameOf, sanitizeLabel } from './names';
import { parseQuantity } from './quantity';
import { printable } from './printable';
import { SecretValue, splitSecrets } from './secrets';

/** Largest `BOT_CONFIG` JSON a container env var can carry through exec (SPEC §1.4). */
export const MAX_CONFIG_JSON_BYTES = 128 * 1024;

/** CPU and memory of one container. */
export interface ResourceList {
  readonly cpu: string;
  readonly memory: string;
}

/** Requests and limits of one container. */
export interface Resources {
  readonly requests: ResourceList;
  readonly limits: ResourceList;
}

/** Defaults of the `bot` container (SPEC §2.6). */
export const BOT_RESOURCES: Resources = {
  requests: { memory: '256Mi', cpu: '100m' },
  limits: { memory: '768Mi', cpu: '500m' },
};

/** A validated bot, ready to render: everything the constructs need and nothing they must compute. */
export interface BotSpec {
  /** `realtime` (Deployment) or `scheduled` (CronJob). */
  readonly kind: 'realtime' | 'scheduled';
  /** The bot id. */
  readonly id: string;
  /** Name of the main object: `bot-<id>` or the CronJob name. */
  readonly objectName: string;
  /** File name inside the shard directory: `bot-<id>.yaml` or `schedule-<id>.yaml`. */
  readonly fileName: string;
  /** Language runtime (`RUNTIME` env, `the0.app/runtime` label). */
  readonly runtime: Runtime;
  /** Bot entrypoint inside the code zip. */
  readonly entrypoint: string;
  /** Query entrypoint; undefined when the bot answers no queries. */
  readonly queryEntrypoint?: string;
  /** Object key of the code zip in the code bucket. */
  readonly filePath: string;
  /** `the0.app/custom-bot-id` label value. */
  readonly customBotId: string;
  /** `the0.app/custom-bot-version` label value. */
  readonly customBotVersion: string;
  /** the0-compatible config hash (SPEC §2.3). */
  readonly configHash: string;
  /** Compact JSON of the config with secret values redacted, keys sorted. */
  readonly redactedConfig: string;
  /** Full config JSON as the bot receives it in `BOT_CONFIG` (secret: never rendered). */
  readonly configJson: string;
  /** Secret scalars of the config, for the leak scan (never rendered). */
  readonly secrets: readonly SecretValue[];
  /** `bot` container resources after overrides. */
  readonly resources: Resources;
  /** Kubernetes cron expression (scheduled only). */
  readonly schedule?: string;
  /** Remarks about kept defaults or odd values. */
  readonly warnings: readonly string[];
  /** Hash of the source document, when the output cache asked for it (never rendered). */
  readonly sourceHash?: string;
  /** What the platform config gives this bot (pod options, image, sidecar resources); absent without one. */
  readonly platform?: BotPlatform;
}

/** Options of the model step. */
export interface ModelOptions {
  /** Decides whether a config key holds a secret. */
  readonly isSecretKey: (key: string) => boolean;
  /** Key of the keyed config hash (HMAC); undefined gives the0's plain hash. */
  readonly configHashKey?: string;
  /** The platform config's resolution for one bot (its `bot` resources are the defaults the bot's own overrides replace). */
  readonly platform?: (bot: BotFacts) => BotPlatform;
}

/** Validates one document and turns it into a BotSpec, or into the errors that stop it. */
export function toBotSpec(
  raw: unknown,
  collection: Collection,
  index: number,
  opts: ModelOptions,
): { spec: BotSpec; errors?: undefined } | { spec?: undefined; errors: DocumentError[] } {
  const kind = collection === 'bots' ? 'realtime' : 'scheduled';
  const rawId = (raw as { id?: unknown } | null)?.id;
  const id = typeof rawId === 'string' && rawId !== '' ? rawId : undefined;
  const fail = (field: string, message: string) => new DocumentError(collection, id, index, field, message);

  const parsed = botDocument.safeParse(raw);
  if (!parsed.success) {
    return { errors: parsed.error.issues.map((i) => fail(issuePath(i), issueMessage(i))) };
  }
  const doc = parsed.data;
  const errors: DocumentError[] = [];
  const warnings: string[] = [];

  const maxId = kind === 'realtime' ? MAX_REALTIME_ID : MAX_SCHEDULE_ID;
  if (doc.id.length > maxId) errors.push(fail('id', `is ${doc.id.length} characters; at most ${maxId} for ${kind} bots`));

  // The document's own object, not zod's copy: a copy made by assignment turns a `__proto__` key
  // (valid JSON data) into a prototype, so the hash, BOT_CONFIG and the reviewer copy would lose it.
  const config = ((raw as { config?: Record<string, unknown> | null }).config ?? null) as Record<string, unknown> | null;
  const entry = doc.custom.config.entrypoints;
  if (!entry) errors.push(fail('custom.config.entrypoints', 'is required (with a non-empty "bot")'));

  const configJson = JSON.stringify(config);
  if (Buffer.byteLength(configJson, 'utf8') > MAX_CONFIG_JSON_BYTES) {
    errors.push(fail('config', `JSON is ${Buffer.byteLength(configJson, 'utf8')} bytes; at most ${MAX_CONFIG_JSON_BYTES}`));
  }

  let schedule: string | undefined;
  if (kind === 'scheduled') {
    const s = config?.schedule;
    if (typeof s !== 'string') {
      errors.push(fail('config.schedule', s === undefined ? 'is required for a scheduled bot' : 'must be a string'));
    } else {
      const converted = convertSchedule(s);
      if (converted.ok) schedule = converted.schedule;
      else errors.push(fail('config.schedule', `invalid cron expression: ${converted.reason}`));
    }
  }

  const enabledFlag = config?.enabled;
  if (enabledFlag !== undefined && typeof enabledFlag !== 'boolean') {
    warnings.push(`config.enabled is ${JSON.stringify(enabledFlag)}, not a boolean: treated as enabled (only false disables)`);
  }

  const platform = opts.platform?.({ kind, id: doc.id, runtime: doc.custom.config.runtime, config });
  const resources = botResources(config, platform?.botResources ?? BOT_RESOURCES, warnings, (field, message) => errors.push(fail(field, message)));
  if (errors.length > 0 || !entry) return { errors };

  const split = splitSecrets(config, opts.isSecretKey);
  const name = doc.custom.config.name ?? '';
  const version = doc.custom.version ?? '';
  const query = typeof entry.query === 'string' && entry.query !== '' ? entry.query : undefined;
  const objectName = objectNameOf(kind, doc.id);
  return {
    spec: {
      kind,
      id: doc.id,
      objectName,
      fileName: `${kind === 'realtime' ? 'bot' : 'schedule'}-${doc.id}.yaml`,
      runtime: doc.custom.config.runtime,
      entrypoint: entry.bot,
      queryEntrypoint: query,
      filePath: doc.custom.filePath,
      // SPEC §2.2's fallback is the id's first 8 characters; sanitized like every label value, so
      // an id like `abcdefg-h…` gives `abcdefg`, not the invalid label value `abcdefg-`.
      customBotId: name !== '' ? sanitizeLabel(name) : sanitizeLabel(doc.id.slice(0, 8)),
      customBotVersion: version !== '' ? sanitizeLabel(version) : '',
      configHash: configHash(config, version, doc.enabled, opts.configHashKey),
      redactedConfig: sortedJson(split.redacted),
      configJson,
      secrets: split.secrets,
      resources,
      schedule,
      warnings,
      ...(platform ? { platform } : {}),
    },
  };
}

/** Largest override accepted per resource: beyond it no node could run the pod. */
export const MAX_RESOURCE = {
  memory: { value: 2 ** 40, text: '1Ti' },
  cpu: { value: 256, text: '256 CPUs' },
} as const;

const OVERRIDES = [
  ['memory_request', 'requests', 'memory'],
  ['cpu_request', 'requests', 'cpu'],
  ['memory_limit', 'limits', 'memory'],
  ['cpu_limit', 'limits', 'cpu'],
] as const;

function botResources(
  config: Record<string, unknown> | null,
  defaults: Resources,
  warnings: string[],
  error: (field: string, message: string) => void,
): Resources {
  const r = {
    requests: { ...defaults.requests },
    limits: { ...defaults.limits },
  };
  for (const [key, group, res] of OVERRIDES) {
    const v = config?.[key];
    if (v === undefined || v === null) continue;
    const q = typeof v === 'string' && v !== '' ? parseQuantity(v) : undefined;
    if (q === undefined || !(q > 0)) {
      warnings.push(`config.${key} ${printable(JSON.stringify(v))} is not a positive Kubernetes quantity: default ${r[group][res]} kept`);
      continue;
    }
    if (q > MAX_RESOURCE[res].value) {
      // "1e400" parses (to Infinity) and "1Ei" is a quantity, but no node has it: the pod would never schedule.
      warnings.push(`config.${key} ${printable(JSON.stringify(v))} is above ${MAX_RESOURCE[res].text}, more than any node offers: default ${r[group][res]} kept`);
      continue;
    }
    r[group][res] = v as string;
  }
  for (const res of ['memory', 'cpu'] as const) {
    if (parseQuantity(r.requests[res])! > parseQuantity(r.limits[res])!) {
      error(`config.${res}_request`, `request ${r.requests[res]} is larger than limit ${r.limits[res]}`);
    }
  }
  return r;
}

function issuePath(issue: ZodIssue): string {
  return issue.path.length === 0 ? '(document)' : issue.path.join('.');
}

function issueMessage(issue: ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return 'is required';
  if (issue.code === 'invalid_type') return `must be ${article(issue.expected)}, got ${issue.received}`;
  return issue.message;
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
