import { convertSchedule } from '../model/cron';

/**
 * Next fire time of a schedule, for the `next_execution_time` field the0's Docker mode reads
 * (SPEC §5.4). Same expression rules as the rendered CronJob (§3.2: 6 fields drop seconds,
 * descriptors), evaluated in UTC like the CronJob's `timeZone: Etc/UTC`, with robfig/cron
 * semantics: when both day-of-month and day-of-week are restricted, either one matches.
 */

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  readonly allowed: boolean[];
  /** `*` or `?` (robfig's star bit: this field does not restrict the day). */
  readonly star: boolean;
}

function parseField(text: string, min: number, max: number, names?: string[], nameBase = 0): Field {
  const allowed = new Array<boolean>(max + 1).fill(false);
  let star = false;
  const value = (t: string) => {
    if (/^\d+$/.test(t)) return Number(t);
    const i = names ? names.indexOf(t.toUpperCase()) : -1;
    if (i < 0) throw new Error(`bad value "${t}"`);
    return i + nameBase;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      lo = min;
      hi = max;
      if (stepText === undefined) star = true;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a);
      hi = value(b);
    } else {
      lo = value(range);
      // robfig: `a/n` means from a to the end of the range.
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) allowed[v] = true;
  }
  return { allowed, star };
}

/** A parsed 5-field expression. */
export interface CronSpec {
  readonly minute: Field;
  readonly hour: Field;
  readonly dom: Field;
  readonly month: Field;
  readonly dow: Field;
}

/** Parses the0's schedule (5 or 6 fields, or a descriptor); throws with the reason when invalid. */
export function parseCron(expr: string): CronSpec {
  const converted = convertSchedule(expr);
  if (!converted.ok) throw new Error(`invalid schedule: ${converted.reason}`);
  const five = DESCRIPTORS[converted.schedule] ?? converted.schedule;
  const [mi, h, dom, mo, dow] = five.split(' ');
  return {
    minute: parseField(mi, 0, 59),
    hour: parseField(h, 0, 23),
    dom: parseField(dom, 1, 31),
    month: parseField(mo, 1, 12, MONTHS, 1),
    dow: parseField(dow, 0, 6, DAYS, 0),
  };
}

function dayMatches(c: CronSpec, d: Date): boolean {
  const domOk = c.dom.allowed[d.getUTCDate()];
  const dowOk = c.dow.allowed[d.getUTCDay()];
  return c.dom.star || c.dow.star ? domOk && dowOk : domOk || dowOk;
}

/**
 * The first fire time strictly after `after`, in unix seconds (UTC). Throws when the expression
 * is invalid or never fires (e.g. `0 0 31 2 *`) within five years.
 */
export function nextFireTime(expr: string, after: Date = new Date()): number {
  const c = parseCron(expr);
  const t = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  const limit = after.getTime() + 5 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!c.month.allowed[t.getUTCMonth() + 1]) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(c, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!c.hour.allowed[t.getUTCHours()]) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!c.minute.allowed[t.getUTCMinutes()]) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return Math.floor(t.getTime() / 1000);
  }
  throw new Error(`schedule "${expr}" never fires`);
}
