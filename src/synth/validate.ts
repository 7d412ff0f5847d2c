import { convertSchedule } from '../model/cron';

// The API server's own validation of the objects fleetsynth renders (k8s.io/apimachinery
// validation + the kinds' ValidateX functions), for what the OpenAPI schema cannot say: names per
// kind, label and annotation syntax and size, pod-spec names, selector against template labels,
// CronJob name and schedule. An object that fails here would be refused by `kubectl apply` /
// Argo CD for its whole shard; fleetsynth refuses it first, as that bot's error.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])*$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** apimachinery's TotalAnnotationSizeLimitB. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
/** CronJob names leave 11 characters for the Job suffix the controller adds. */
export const MAX_CRONJOB_NAME = 52;

/** The rules a value can be checked against; plain data, so checks can travel with templates. */
export type Rule =
  | 'dns1123Label'
  | 'dns1123Subdomain'
  | 'dns1035Label'
  | 'cronJobName'
  | 'qualifiedName'
  | 'labelValue'
  | 'portName'
  | 'envName'
  | 'cronSchedule'
  | 'annotationsSize';

/** Why `value` breaks `rule`, or undefined when it does not. */
export function ruleProblem(rule: Rule, value: string): string | undefined {
  // Most values pass: the cheap test first, the message only for a failure.
  if (passes(rule, value)) return undefined;
  const show = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  switch (rule) {
    case 'dns1123Label':
      if (value.length > 63) return `${show} is longer than 63 characters`;
      return DNS1123_LABEL.test(value) ? undefined : `${show} is not a DNS-1123 label (lowercase a-z, 0-9, '-', alphanumeric at both ends)`;
    case 'dns1123Subdomain':
      if (value.length > 253) return `${show} is longer than 253 characters`;
      return DNS1123_SUBDOMAIN.test(value) ? undefined : `${show} is not a DNS-1123 subdomain (lowercase a-z, 0-9, '-', '.', alphanumeric at both ends)`;
    case 'dns1035Label':
      if (value.length > 63) return `${show} is longer than 63 characters`;
      return DNS1035_LABEL.test(value) ? undefined : `${show} is not a DNS-1035 label (starts with a letter; lowercase a-z, 0-9, '-')`;
    case 'cronJobName':
      if (value.length > MAX_CRONJOB_NAME) return `${show} is longer than ${MAX_CRONJOB_NAME} characters`;
      return ruleProblem('dns1123Subdomain', value);
    case 'qualifiedName': {
      const slash = value.lastIndexOf('/');
      const [prefix, name] = slash >= 0 ? [value.slice(0, slash), value.slice(slash + 1)] : [undefined, value];
      if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return `${show}: prefix is not a DNS-1123 subdomain`;
      if (name.length > 63) return `${show}: name part is longer than 63 characters`;
      return QUALIFIED_NAME.test(name) ? undefined : `${show} is not a qualified name (alphanumeric, '-', '_', '.', alphanumeric at both ends, optional DNS prefix and '/')`;
    }
    case 'labelValue':
      if (value.length > 63) return `${show} is longer than 63 characters`;
      return LABEL_VALUE.test(value) ? undefined : `${show} is not a valid label value (alphanumeric, '-', '_', '.', alphanumeric at both ends)`;
    case 'portName':
      if (value.length > 15) return `${show} is longer than 15 characters`;
      if (!IANA_SVC_NAME.test(value) || value.includes('--') || !/[a-z]/.test(value)) return `${show} is not an IANA service name (lowercase a-z, 0-9, '-', at least one letter)`;
      return undefined;
    case 'envName':
      return ENV_VAR_NAME.test(value) ? undefined : `${show} is not a valid environment variable name`;
    case 'cronSchedule': {
      const r = convertSchedule(value);
      return r.ok && r.schedule === value.trim().split(/\s+/).join(' ') ? undefined : `${show} is not a valid cron schedule${r.ok ? '' : `: ${r.reason}`}`;
    }
    case 'annotationsSize':
      return Buffer.byteLength(value, 'utf8') > MAX_ANNOTATIONS_BYTES ? `annotations total ${Buffer.byteLength(value, 'utf8')} bytes; at most ${MAX_ANNOTATIONS_BYTES}` : undefined;
  }
}

function passes(rule: Rule, value: string): boolean {
  switch (rule) {
    case 'dns1123Label':
      return value.length <= 63 && DNS1123_LABEL.test(value);
    case 'dns1123Subdomain':
      return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
    case 'dns1035Label':
      return value.length <= 63 && DNS1035_LABEL.test(value);
    case 'cronJobName':
      return value.length <= MAX_CRONJOB_NAME && DNS1123_SUBDOMAIN.test(value);
    case 'labelValue':
      return value.length <= 63 && LABEL_VALUE.test(value);
    case 'envName':
      return ENV_VAR_NAME.test(value);
    case 'annotationsSize':
      // UTF-8 takes at most 3 bytes per UTF-16 unit: short strings pass without counting.
      return value.length * 3 <= MAX_ANNOTATIONS_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_ANNOTATIONS_BYTES;
    default:
      return false; // decided in full by ruleProblem
  }
}

/** Receives every check an object needs: `where` names the object and field. */
export type CheckSink = (rule: Rule, value: string, where: string) => void;

/** Checks that need no value of their own: problems found in the structure. */
export type ProblemSink = (where: string, message: string) => void;

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(asObj).filter((x): x is Obj => x !== undefined) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The rule of `metadata.name` per kind (Services are DNS-1035 labels, CronJobs at most 52 chars). */
function nameRule(kind: string): Rule {
  if (kind === 'Service' || kind === 'Namespace') return kind === 'Service' ? 'dns1035Label' : 'dns1123Label';
  if (kind === 'CronJob') return 'cronJobName';
  return 'dns1123Subdomain';
}

/**
 * Walks rendered objects and reports each value to check (`check`) and each structural problem
 * (`problem`). Values are reported, not judged, so a template with holes can defer the checks of
 * its per-bot values (see template.ts).
 */
export function walkObjects(objects: readonly unknown[], check: CheckSink, problem: ProblemSink): void {
  for (const raw of objects) {
    const o = asObj(raw);
    if (!o) continue;
    const kind = str(o.kind) ?? '?';
    const meta = asObj(o.metadata) ?? {};
    const label = `${kind} ${str(meta.name) ?? '?'}`;
    const name = str(meta.name);
    if (name === undefined || name === '') problem(label, 'metadata.name is required');
    else check(nameRule(kind), name, `${label}: metadata.name`);
    const ns = str(meta.namespace);
    if (ns !== undefined) check('dns1123Label', ns, `${label}: metadata.namespace`);
    walkMeta(meta, `${label}: metadata`, check);
    const spec = asObj(o.spec) ?? {};
    if (kind === 'Deployment' || kind === 'Job' || kind === 'StatefulSet' || kind === 'DaemonSet' || kind === 'ReplicaSet') {
      walkWorkload(spec, `${label}: spec`, check, problem);
    } else if (kind === 'CronJob') {
      const schedule = str(spec.schedule);
      if (schedule === undefined) problem(label, 'spec.schedule is required');
      else check('cronSchedule', schedule, `${label}: spec.schedule`);
      const job = asObj(spec.jobTemplate) ?? {};
      walkMeta(asObj(job.metadata) ?? {}, `${label}: spec.jobTemplate.metadata`, check);
      walkWorkload(asObj(job.spec) ?? {}, `${label}: spec.jobTemplate.spec`, check, problem);
    } else if (kind === 'Service') {
      for (const [k, v] of Object.entries(asObj(spec.selector) ?? {})) {
        check('qualifiedName', k, `${label}: spec.selector`);
        check('labelValue', String(v), `${label}: spec.selector[${JSON.stringify(k)}]`);
      }
      const ports = asList(spec.ports);
      ports.forEach((p, i) => {
        const pn = str(p.name);
        if (pn !== undefined) check('dns1123Label', pn, `${label}: spec.ports[${i}].name`);
        else if (ports.length > 1) problem(`${label}: spec.ports[${i}].name`, 'is required when a Service has several ports');
        portNumber(p.port, `${label}: spec.ports[${i}].port`, problem);
        if (typeof p.targetPort === 'string') check('portName', p.targetPort, `${label}: spec.ports[${i}].targetPort`);
      });
    }
  }
}

function walkMeta(meta: Obj, where: string, check: CheckSink): void {
  for (const [k, v] of Object.entries(asObj(meta.labels) ?? {})) {
    check('qualifiedName', k, `${where}.labels`);
    check('labelValue', String(v), `${where}.labels[${JSON.stringify(k)}]`);
  }
  const annotations = Object.entries(asObj(meta.annotations) ?? {});
  for (const [k] of annotations) check('qualifiedName', k.toLowerCase(), `${where}.annotations`);
  if (annotations.length > 0) check('annotationsSize', annotations.map(([k, v]) => k + String(v)).join(''), `${where}.annotations`);
}

function walkWorkload(spec: Obj, where: string, check: CheckSink, problem: ProblemSink): void {
  const template = asObj(spec.template) ?? {};
  const tmeta = asObj(template.metadata) ?? {};
  walkMeta(tmeta, `${where}.template.metadata`, check);
  const selector = asObj(asObj(spec.selector)?.matchLabels);
  if (selector) {
    const labels = asObj(tmeta.labels) ?? {};
    for (const [k, v] of Object.entries(selector)) {
      check('qualifiedName', k, `${where}.selector.matchLabels`);
      check('labelValue', String(v), `${where}.selector.matchLabels[${JSON.stringify(k)}]`);
      if (labels[k] !== v) problem(`${where}.selector.matchLabels[${JSON.stringify(k)}]`, 'does not match the template labels (`selector` does not match template `labels`)');
    }
  }
  walkPod(asObj(template.spec) ?? {}, `${where}.template.spec`, check, problem);
}

function walkPod(pod: Obj, where: string, check: CheckSink, problem: ProblemSink): void {
  const volumes = new Set<string>();
  asList(pod.volumes).forEach((v, i) => {
    const n = str(v.name) ?? '';
    check('dns1123Label', n, `${where}.volumes[${i}].name`);
    if (volumes.has(n)) problem(`${where}.volumes[${i}].name`, `${JSON.stringify(n)} is used twice`);
    volumes.add(n);
  });
  const containerNames = new Set<string>();
  const portNames = new Set<string>();
  for (const group of ['initContainers', 'containers'] as const) {
    asList(pod[group]).forEach((c, i) => {
      const at = `${where}.${group}[${i}]`;
      const n = str(c.name) ?? '';
      check('dns1123Label', n, `${at}.name`);
      if (containerNames.has(n)) problem(`${at}.name`, `${JSON.stringify(n)} is used twice`);
      containerNames.add(n);
      asList(c.ports).forEach((p, j) => {
        portNumber(p.containerPort, `${at}.ports[${j}].containerPort`, problem);
        const pn = str(p.name);
        if (pn === undefined) return;
        check('portName', pn, `${at}.ports[${j}].name`);
        if (portNames.has(pn)) problem(`${at}.ports[${j}].name`, `${JSON.stringify(pn)} is used twice in the pod`);
        portNames.add(pn);
      });
      asList(c.env).forEach((e, j) => {
        check('envName', str(e.name) ?? '', `${at}.env[${j}].name`);
        const ref = asObj(asObj(e.valueFrom)?.secretKeyRef);
        if (ref) check('dns1123Subdomain', str(ref.name) ?? '', `${at}.env[${j}].valueFrom.secretKeyRef.name`);
      });
      asList(c.volumeMounts).forEach((m, j) => {
        const n = str(m.name) ?? '';
        if (!volumes.has(n)) problem(`${at}.volumeMounts[${j}].name`, `${JSON.stringify(n)} is not a volume of the pod`);
        if (!str(m.mountPath)) problem(`${at}.volumeMounts[${j}].mountPath`, 'is required');
      });
    });
  }
  if (containerNames.size === 0) problem(`${where}.containers`, 'at least one container is required');
}

function portNumber(v: unknown, where: string, problem: ProblemSink): void {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) problem(where, `${JSON.stringify(v)} is not a port number 1-65535`);
}

/** Raised for an object the API server would refuse; the message names object, field and rule. */
export class ObjectValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the API server would refuse it: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; … ${problems.length - 5} more` : ''}`);
    this.name = 'ObjectValidationError';
  }
}

/** Every problem of fully rendered objects, one line each. */
export function objectProblems(objects: readonly unknown[]): string[] {
  const problems: string[] = [];
  walkObjects(
    objects,
    (rule, value, where) => {
      const p = ruleProblem(rule, value);
      if (p) problems.push(`${where}: ${p}`);
    },
    (where, message) => problems.push(`${where}: ${message}`),
  );
  return problems;
}

/** Throws an ObjectValidationError when the objects would be refused. */
export function validateObjects(objects: readonly unknown[]): void {
  const problems = objectProblems(objects);
  if (problems.length > 0) throw new ObjectValidationError(problems);
}

/** A check whose value holds template holes: run per bot once the holes are filled. */
export interface DeferredCheck {
  readonly rule: Rule;
  /** The value: literal text and hole numbers, in order. */
  readonly parts: ReadonlyArray<string | number>;
  /** Where the value is, with hole markers (filled for the message). */
  readonly where: string;
}

/**
 * The checks of a template's per-bot values: every checked value that holds a hole (`holes`
 * splits a value into literal text and hole numbers, or returns undefined when it holds none).
 * Values without holes are the same for every bot of the shape and were checked on the shape's
 * own bot; so were structural problems (they cannot depend on values, except a selector/label
 * pair, whose two templates must then be identical: reported as a problem).
 */
export function deferredChecks(
  marked: readonly unknown[],
  holes: (s: string) => Array<string | number> | undefined,
): { checks: DeferredCheck[]; problems: string[] } {
  const checks: DeferredCheck[] = [];
  const problems: string[] = [];
  // The same value under the same rule (a label on the object and on its pod template, the
  // selector) is checked once per bot.
  const seen = new Set<string>();
  walkObjects(
    marked,
    (rule, value, where) => {
      const key = `${rule}\u0000${value}`;
      if (seen.has(key)) return;
      const parts = holes(value);
      if (!parts) return;
      seen.add(key);
      checks.push({ rule, parts, where });
    },
    (where, message) => problems.push(`${where}: ${message}`),
  );
  return { checks, problems };
}

function join(parts: ReadonlyArray<string | number>, values: readonly string[]): string {
  if (parts.length === 1) return typeof parts[0] === 'number' ? values[parts[0]] : parts[0];
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? values[p] : p;
  return out;
}

/**
 * Runs deferred checks with the holes filled by `values`; throws when a value breaks its rule.
 * `fillWhere` fills the hole markers of a check's `where` (only for the message).
 */
export function runDeferredChecks(checks: readonly DeferredCheck[], values: readonly string[], fillWhere: (s: string) => string): void {
  let problems: string[] | undefined;
  for (const c of checks) {
    if (c.rule === 'annotationsSize') {
      // Counted, not joined: the reviewer config is most of it and nearly always far below the limit.
      let units = 0;
      for (const p of c.parts) units += typeof p === 'number' ? values[p].length : p.length;
      if (units * 3 <= MAX_ANNOTATIONS_BYTES) continue;
    }
    const p = ruleProblem(c.rule, join(c.parts, values));
    if (p) (problems ??= []).push(`${fillWhere(c.where)}: ${p}`);
  }
  if (problems) throw new ObjectValidationError(problems);
}
