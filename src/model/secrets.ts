/** Key names that hold secrets, at any depth, case-insensitive (SPEC §2.8). */
export const SECRET_KEY_PATTERN = /secret|password|passwd|passphrase|token|private[_-]?key|api[_-]?key|credential/i;

/** What reviewers see instead of a secret value. */
export const REDACTED = '<secret>';

/**
 * Secret values shorter than this are not searched for in the output: a 3-character
 * "secret" matches ordinary text everywhere. They are still never rendered (redaction is by
 * key, not by value); only the leak scan's safety net skips them.
 */
export const MIN_SCANNED_SECRET_LENGTH = 6;

/** One secret scalar and the dotted path of the secret key it sits under. */
export interface SecretValue {
  readonly path: string;
  readonly value: string;
}

/** A config split into what Git may show and the values it must never show. */
export interface SecretSplit {
  /** The config with every secret key's value replaced by `"<secret>"`. */
  readonly redacted: unknown;
  /** Every scalar found under a secret key, as text, with the key's path (for the leak scan). */
  readonly secrets: SecretValue[];
  /** Dotted paths of the secret keys (safe to show: names, not values). */
  readonly secretPaths: string[];
}

/** Builds a matcher for secret key names: the built-in pattern plus user-listed exact names. */
export function secretKeyMatcher(extraKeys: readonly string[] = []): (key: string) => boolean {
  const extra = new Set(extraKeys.map((k) => k.toLowerCase()));
  return (key) => SECRET_KEY_PATTERN.test(key) || extra.has(key.toLowerCase());
}

/** Splits a bot config into its redacted form and its secret values. */
export function splitSecrets(config: unknown, isSecret: (key: string) => boolean): SecretSplit {
  const secrets: SecretValue[] = [];
  const secretPaths: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}[${i}]`));
    if (v !== null && typeof v === 'object' && !isScalarObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        const p = path ? `${path}.${k}` : k;
        if (isSecret(k)) {
          collectScalars(child, p, secrets);
          secretPaths.push(p);
          out[k] = REDACTED;
        } else {
          out[k] = walk(child, p);
        }
      }
      return out;
    }
    return v;
  };
  const redacted = walk(config, '');
  return { redacted, secrets, secretPaths };
}

function isScalarObject(v: object): boolean {
  return typeof (v as { toJSON?: unknown }).toJSON === 'function';
}

function collectScalars(v: unknown, path: string, into: SecretValue[]): void {
  if (v === null || v === undefined) return;
  if (Array.isArray(v)) {
    v.forEach((item) => collectScalars(item, path, into));
  } else if (typeof v === 'object' && !isScalarObject(v)) {
    Object.values(v as Record<string, unknown>).forEach((item) => collectScalars(item, path, into));
  } else {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    if (s !== undefined && s.length >= MIN_SCANNED_SECRET_LENGTH) into.push({ path, value: s });
  }
}

/**
 * The forms a secret value could take in rendered bytes: plain, JSON-escaped (as inside a
 * JSON annotation) and base64 (as in a Secret's data).
 */
export function leakForms(value: string): string[] {
  const forms = new Set<string>([value, JSON.stringify(value).slice(1, -1), Buffer.from(value, 'utf8').toString('base64')]);
  return [...forms];
}

/** Returns the key paths of this bot's secret values that appear in `text` (never the values). */
export function findLeaks(text: string, secrets: readonly SecretValue[]): string[] {
  const hits = new Set<string>();
  for (const s of secrets) {
    if (leakForms(s.value).some((f) => text.includes(f))) hits.add(s.path);
  }
  return [...hits];
}
