// The customization hook: a function called with each bot (without secret values) and its cdk8s
// ApiObjects, for escape hatches such as `addJsonPatch`. What SPEC.md makes a contract (labels,
// selectors, names, hardening, secret references) is checked after the hook: a change there is
// that bot's error, named, and the other bots still render.
import { ApiObject } from 'cdk8s';
import type { Construct, IConstruct } from 'constructs';
import type { BotSpec, Resources } from '../model/bot';
import { ANNOTATIONS, FLEETSYNTH_LABEL, LABELS } from '../model/labels';

/** A bot as a customization hook sees it: what the manifests show, never a secret value. */
export interface BotView {
  /** `realtime` (Deployment, maybe a headless Service) or `scheduled` (CronJob). */
  readonly kind: 'realtime' | 'scheduled';
  /** The bot id. */
  readonly id: string;
  /** Name of the main object: `bot-<id>` or the CronJob name. */
  readonly objectName: string;
  /** Language runtime (`python3.11`, `nodejs20`, …). */
  readonly runtime: string;
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
  /** The0-compatible config hash (SPEC §2.3). */
  readonly configHash: string;
  /** The bot's config with every secret value replaced by `"<secret>"` (what `fleetsynth.io/config` shows). */
  readonly config: unknown;
  /** `bot` container resources after the per-bot overrides. */
  readonly resources: Resources;
  /** Kubernetes cron expression (scheduled bots only). */
  readonly schedule?: string;
}

/**
 * Called once per bot after its constructs are built, before they are rendered. `objects` are the
 * bot's cdk8s ApiObjects in file order (Deployment then Service, or CronJob): patch them with
 * `addJsonPatch`, `metadata.addLabel`/`addAnnotation`, or add objects to `scope` (they go into
 * the bot's file). It must be a pure function of its arguments: the output stays deterministic.
 */
export type BotCustomizer = (bot: BotView, objects: readonly ApiObject[], scope: Construct) => void;

/** The customization hook broke a field SPEC.md fixes; the message names the bot, object and field. */
export class ProtectedFieldError extends Error {
  constructor(
    /** The bot id. */
    readonly botId: string,
    /** `<kind>/<name>` of the object. */
    readonly object: string,
    /** Path of the protected field, e.g. `spec.selector`. */
    readonly field: string,
  ) {
    super(`customize hook changed protected field ${field} of ${object} (labels, selectors, names and hardening of SPEC.md stay as fleetsynth renders them)`);
    this.name = 'ProtectedFieldError';
  }
}

/** The view of a spec a hook gets: no configJson, no secret values, no cache fields. */
export function botView(spec: BotSpec): BotView {
  let config: unknown;
  let parsed = false;
  return {
    kind: spec.kind,
    id: spec.id,
    objectName: spec.objectName,
    runtime: spec.runtime,
    entrypoint: spec.entrypoint,
    ...(spec.queryEntrypoint !== undefined ? { queryEntrypoint: spec.queryEntrypoint } : {}),
    filePath: spec.filePath,
    customBotId: spec.customBotId,
    customBotVersion: spec.customBotVersion,
    configHash: spec.configHash,
    // Parsed on first use: most hooks never read the config.
    get config(): unknown {
      if (!parsed) {
        config = deepFreeze(JSON.parse(spec.redactedConfig));
        parsed = true;
      }
      return config;
    },
    resources: deepFreeze(JSON.parse(JSON.stringify(spec.resources)) as Resources),
    ...(spec.schedule !== undefined ? { schedule: spec.schedule } : {}),
  };
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** The bot's ApiObjects under a scope, in construct (file) order. */
export function apiObjectsOf(scope: IConstruct): ApiObject[] {
  return scope.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject);
}

/**
 * Runs the hook on one bot and checks that every protected field of the objects fleetsynth built
 * is unchanged (and that none of them was removed). Throws ProtectedFieldError otherwise.
 */
export function applyCustomizer(customize: BotCustomizer, spec: BotSpec, scope: Construct): void {
  const objects = apiObjectsOf(scope);
  const before = objects.map((o) => protectedFields(o.toJson()));
  customize(botView(spec), objects, scope);
  const present = new Set(apiObjectsOf(scope));
  objects.forEach((o, i) => {
    const name = `${o.kind}/${o.name}`;
    if (!present.has(o)) throw new ProtectedFieldError(spec.id, name, '(the object itself was removed)');
    const after = protectedFields(o.toJson());
    for (const [field, value] of before[i]) {
      if (after.get(field) !== value) throw new ProtectedFieldError(spec.id, name, field);
    }
  });
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const at = (v: unknown, path: readonly string[]): unknown => path.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), v);

/** Label and annotation keys SPEC.md fixes (the0's labels, fleetsynth's ownership mark, the hashes, the redacted config). */
const PROTECTED_LABELS = [...Object.values(LABELS), ...Object.keys(FLEETSYNTH_LABEL)];
const PROTECTED_ANNOTATIONS = Object.values(ANNOTATIONS);
/** Pod fields of SPEC §2.1, §2.5 and §8.7. */
const POD_FIELDS = ['restartPolicy', 'enableServiceLinks', 'automountServiceAccountToken', 'securityContext', 'hostNetwork', 'hostPID', 'hostIPC'];
/** Env vars that must stay secret references (SPEC §2.7, §2.8). */
const SECRET_ENV = new Set(['BOT_CONFIG', 'MINIO_ACCESS_KEY', 'MINIO_SECRET_KEY']);

/** Protected field path → its JSON (`undefined` when absent), of one rendered object. */
export function protectedFields(obj: unknown): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const put = (field: string, v: unknown) => out.set(field, v === undefined ? undefined : JSON.stringify(v));
  const meta = (prefix: string, m: unknown) => {
    for (const k of PROTECTED_LABELS) put(`${prefix}labels[${JSON.stringify(k)}]`, at(m, ['labels', k]));
    for (const k of PROTECTED_ANNOTATIONS) put(`${prefix}annotations[${JSON.stringify(k)}]`, at(m, ['annotations', k]));
  };
  for (const f of ['apiVersion', 'kind']) put(f, at(obj, [f]));
  for (const f of ['name', 'namespace']) put(`metadata.${f}`, at(obj, ['metadata', f]));
  meta('metadata.', at(obj, ['metadata']));
  const kind = at(obj, ['kind']);
  let template: unknown;
  if (kind === 'Deployment') {
    for (const f of ['replicas', 'strategy', 'selector']) put(`spec.${f}`, at(obj, ['spec', f]));
    template = at(obj, ['spec', 'template']);
  } else if (kind === 'Service') {
    for (const f of ['selector', 'clusterIP']) put(`spec.${f}`, at(obj, ['spec', f]));
  } else if (kind === 'CronJob') {
    for (const f of ['schedule', 'timeZone', 'concurrencyPolicy']) put(`spec.${f}`, at(obj, ['spec', f]));
    put('spec.jobTemplate.spec.activeDeadlineSeconds', at(obj, ['spec', 'jobTemplate', 'spec', 'activeDeadlineSeconds']));
    template = at(obj, ['spec', 'jobTemplate', 'spec', 'template']);
  } else if (kind === 'Job') {
    template = at(obj, ['spec', 'template']);
  }
  if (template !== undefined) {
    const t = kind === 'CronJob' ? 'spec.jobTemplate.spec.template' : 'spec.template';
    meta(`${t}.metadata.`, at(template, ['metadata']));
    for (const f of POD_FIELDS) put(`${t}.spec.${f}`, at(template, ['spec', f]));
    for (const list of ['initContainers', 'containers']) {
      const containers = at(template, ['spec', list]);
      const items = Array.isArray(containers) ? containers.filter(isObj) : [];
      // No container may be added or removed (SPEC §2.4: "no other containers").
      put(`${t}.spec.${list}[*].name`, items.map((c) => c.name));
      for (const c of items) {
        const p = `${t}.spec.${list}[${String(c.name)}]`;
        put(`${p}.securityContext`, c.securityContext);
        put(`${p}.restartPolicy`, c.restartPolicy);
        const env = Array.isArray(c.env) ? c.env.filter(isObj) : [];
        for (const name of SECRET_ENV) put(`${p}.env[${name}]`, env.filter((e) => e.name === name));
      }
    }
  }
  return out;
}
