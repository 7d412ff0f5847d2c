/** Kubernetes object-name rule for bot ids (RFC 1123 label). */
export const BOT_ID_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Max id length for realtime bots, so `bot-<id>` stays within 63 chars. */
export const MAX_REALTIME_ID = 59;
/** Max id length for schedules. */
export const MAX_SCHEDULE_ID = 63;

/**
 * the0's label-value sanitizer: keep `A-Za-z0-9-_.`, cut to 63, trim non-alphanumerics at
 * both ends; `bot` when nothing is left (SPEC §2.2).
 */
export function sanitizeLabel(s: string): string {
  const kept = s.replace(/[^A-Za-z0-9\-_.]/g, '').slice(0, 63);
  const trimmed = kept.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return trimmed === '' ? 'bot' : trimmed;
}

/** `bot-<id>`: Deployment, Service and (with `-config`) Secret name of a realtime bot. */
export function deploymentName(id: string): string {
  return `bot-${id}`;
}

/** Name of the per-bot Secret the live service writes and every bot references. */
export function configSecretName(id: string): string {
  return `bot-${id}-config`;
}

/** CronJob name: `schedule-<id>` cut to 52 chars, trailing `-` stripped (SPEC §3.1). */
export function cronJobName(id: string): string {
  return `schedule-${id}`.slice(0, 52).replace(/-+$/, '');
}

/** Name of a bot's main object: its Deployment, or its CronJob for a schedule. */
export function objectNameOf(kind: 'realtime' | 'scheduled', id: string): string {
  return kind === 'realtime' ? deploymentName(id) : cronJobName(id);
}
