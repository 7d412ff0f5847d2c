const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
  question?: boolean;
}

// The ranges of robfig/cron's standard parser, which the Kubernetes CronJob controller uses.
const FIELDS: FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31, question: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 6, names: DAYS, nameBase: 0, question: true },
];

/** Result of converting a the0 schedule into a Kubernetes CronJob schedule. */
export type CronResult = { ok: true; schedule: string } | { ok: false; reason: string };

/**
 * Converts the0's schedule to the 5-field form Kubernetes accepts (SPEC §3.2): 6 fields drop
 * the leading seconds, 5 fields are whitespace-normalized, descriptors pass through.
 */
export function convertSchedule(expr: string): CronResult {
  const trimmed = expr.trim();
  if (trimmed.startsWith('@')) {
    return DESCRIPTORS.has(trimmed) ? { ok: true, schedule: trimmed } : { ok: false, reason: `unsupported descriptor "${trimmed}"` };
  }
  let fields = trimmed.split(/\s+/).filter((f) => f !== '');
  if (fields.length === 6) {
    const seconds = checkField(fields[0], { name: 'second', min: 0, max: 59 });
    if (seconds) return { ok: false, reason: seconds };
    fields = fields.slice(1);
  }
  if (fields.length !== 5) return { ok: false, reason: `expected 5 or 6 fields, got ${fields.length}` };
  for (let i = 0; i < 5; i++) {
    const problem = checkField(fields[i], FIELDS[i]);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, schedule: fields.join(' ') };
}

function checkField(field: string, rule: FieldRule): string | undefined {
  for (const part of field.split(',')) {
    const problem = checkPart(part, rule);
    if (problem) return `${rule.name} "${field}": ${problem}`;
  }
  return undefined;
}

function checkPart(part: string, rule: FieldRule): string | undefined {
  if (part === '') return 'empty list item';
  const [range, step, extra] = part.split('/');
  if (extra !== undefined) return 'more than one "/"';
  if (step !== undefined && !/^\d+$/.test(step)) return `step "${step}" is not a number`;
  if (step !== undefined && Number(step) === 0) return 'step must be positive';
  if (range === '*' || (rule.question && range === '?')) return undefined;
  const bounds = range.split('-');
  if (bounds.length > 2) return `bad range "${range}"`;
  const values: number[] = [];
  for (const b of bounds) {
    const v = value(b, rule);
    if (v === undefined) return `"${b}" is not a valid value`;
    if (v < rule.min || v > rule.max) return `${v} is out of range ${rule.min}-${rule.max}`;
    values.push(v);
  }
  if (values.length === 2 && values[0] > values[1]) return `range "${range}" is backwards`;
  return undefined;
}

function value(token: string, rule: FieldRule): number | undefined {
  if (/^\d+$/.test(token)) return Number(token);
  if (rule.names) {
    const i = rule.names.indexOf(token.toUpperCase());
    if (i >= 0) return i + (rule.nameBase ?? 0);
  }
  return undefined;
}
