// Kubernetes value syntax the API server would reject, checked when the config is read so a bad
// value is an error naming the key path, not 10,000 objects Argo CD cannot apply.
import { z } from 'zod/v4';
import { parseQuantity } from '../model/quantity';

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a qualified name (`[prefix/]name`, label and annotation keys), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `prefix "${prefix}" is not a DNS subdomain`;
  if (name.length === 0 || name.length > 63) return 'name part must be 1-63 characters';
  if (!LABEL_NAME.test(name)) return 'name part must be alphanumerics, "-", "_" or "." and start and end alphanumeric';
  return undefined;
}

/** A label or annotation key. */
export const qualifiedName = z.string().superRefine((v, ctx) => {
  const p = qualifiedNameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid Kubernetes key: ${p}` });
});

/** A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric. */
export const labelValue = z
  .string()
  .refine((v) => v === '' || (v.length <= 63 && LABEL_NAME.test(v)), { message: 'is not a valid label value (at most 63 alphanumerics, "-", "_", "."; starts and ends alphanumeric)' });

/** A DNS subdomain name (Secrets, PriorityClasses, RuntimeClasses). */
export const dnsSubdomain = z
  .string()
  .refine((v) => v.length <= 253 && DNS_SUBDOMAIN.test(v), { message: 'is not a valid Kubernetes name (lowercase alphanumerics, "-" and ".", at most 253)' });

/** A DNS label name (Services). */
export const dnsLabel = z.string().refine((v) => v.length <= 63 && DNS_LABEL.test(v), { message: 'is not a valid DNS label (lowercase alphanumerics and "-", at most 63)' });

/** A positive Kubernetes quantity such as `250m`, `1`, `512Mi`. */
export const quantity = z.string().refine((v) => (parseQuantity(v) ?? 0) > 0, { message: 'is not a positive Kubernetes quantity (e.g. 250m, 1, 512Mi)' });

/** Label key -> label value. */
export const labelMap = z.record(qualifiedName, labelValue);

const selectorOperator = z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const labelSelectorRequirement = z.strictObject({ key: qualifiedName, operator: selectorOperator, values: z.array(labelValue).optional() });

/** A label selector (matchLabels / matchExpressions). */
export const labelSelector = z.strictObject({
  matchLabels: labelMap.optional(),
  matchExpressions: z.array(labelSelectorRequirement).optional(),
});

/** A toleration (operator Exists or Equal; Exists takes no value). */
export const toleration = z
  .strictObject({
    key: qualifiedName.optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: labelValue.optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .superRefine((t, ctx) => {
    if (t.operator === 'Exists' && t.value !== undefined && t.value !== '') ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be empty when operator is Exists' });
    if (t.key === undefined && t.operator !== 'Exists') ctx.addIssue({ code: 'custom', path: ['operator'], message: 'must be Exists when key is empty' });
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') ctx.addIssue({ code: 'custom', path: ['tolerationSeconds'], message: 'applies only to effect NoExecute' });
  });

const nodeSelectorRequirement = z.strictObject({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']), values: z.array(z.string()).optional() });
const nodeSelectorTerm = z.strictObject({ matchExpressions: z.array(nodeSelectorRequirement).optional(), matchFields: z.array(nodeSelectorRequirement).optional() });
const weight = z.number().int().min(1).max(100);
const podAffinityTerm = z.strictObject({
  topologyKey: z.string().min(1),
  labelSelector: labelSelector.optional(),
  namespaceSelector: labelSelector.optional(),
  namespaces: z.array(z.string()).optional(),
  matchLabelKeys: z.array(z.string()).optional(),
  mismatchLabelKeys: z.array(z.string()).optional(),
});
const podAffinity = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTerm).optional(),
  preferredDuringSchedulingIgnoredDuringExecution: z.array(z.strictObject({ weight, podAffinityTerm })).optional(),
});

/** Node, pod and pod-anti affinity. */
export const affinity = z.strictObject({
  nodeAffinity: z
    .strictObject({
      requiredDuringSchedulingIgnoredDuringExecution: z.strictObject({ nodeSelectorTerms: z.array(nodeSelectorTerm).min(1) }).optional(),
      preferredDuringSchedulingIgnoredDuringExecution: z.array(z.strictObject({ weight, preference: nodeSelectorTerm })).optional(),
    })
    .optional(),
  podAffinity: podAffinity.optional(),
  podAntiAffinity: podAffinity.optional(),
});

/** One topology spread constraint. */
export const topologySpreadConstraint = z.strictObject({
  maxSkew: z.number().int().min(1),
  topologyKey: z.string().min(1),
  whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']),
  labelSelector: labelSelector.optional(),
  minDomains: z.number().int().min(1).optional(),
  nodeAffinityPolicy: z.enum(['Honor', 'Ignore']).optional(),
  nodeTaintsPolicy: z.enum(['Honor', 'Ignore']).optional(),
  matchLabelKeys: z.array(z.string()).optional(),
});

/** Pod DNS config. */
export const dnsConfig = z.strictObject({
  nameservers: z.array(z.string()).max(3).optional(),
  searches: z.array(z.string()).max(32).optional(),
  options: z.array(z.strictObject({ name: z.string().min(1), value: z.string().optional() })).optional(),
});
