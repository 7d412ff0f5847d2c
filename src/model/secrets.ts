/** Key names that hold secrets, at any depth, case-insensitive (SPEC §2.8): anywhere in the name. */
export const SECRET_KEY_PATTERN = /secret|password|passwd|passphrase|token|private[_-]?key|api[_-]?key|credential|mnemonic/i;

/**
 * Words that make a key secret when the name holds them as a whole word (`exchange.key`,
 * `accessKey`, `private key`, `wallet_seed`, `db-pwd`, `auth`), split at `_ - . space` and
 * camelCase: as substrings they would hit ordinary names (`monkey`, `author`, `seedling`).
 */
export const SECRET_KEY_WORDS: ReadonlySet<string> = new Set([
  'key', 'keys', 'auth', 'oauth', 'seed', 'pwd', 'pass', 'pin', 'otp', 'totp', 'mfa', '2fa', 'jwt', 'bearer', 'cookie', 'wif', 'xprv', 'signature', 'sig', 'hmac', 'cert', 'pem',
]);

/** One word that is a secret name on its own, though written without separators (`apikey`, `privkey`). */
const COMPOUND_SECRET_WORD = /^(?:api|access|private|priv|secret|signing|sign|wallet|master|encryption|enc|client|app|auth|consumer|shared|hmac|seed|session)keys?$|^(?:seedphrase|authkey|passcode|pincode)$/;

/** A key name's words, lowercase: `accessKey` → access key, `API_KEY` → api key, `private key` → private key. */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** Whether a key name is secret by the built-in rules (pattern, words, compound words). */
export function isBuiltinSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key) || keyWords(key).some((w) => SECRET_KEY_WORDS.has(w) || COMPOUND_SECRET_WORD.test(w));
}

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
  // Configs of one fleet repeat the same few key names: decide each name once.
  const memo = new Map<string, boolean>();
  return (key) => {
    let v = memo.get(key);
    if (v === undefined) {
      v = isBuiltinSecretKey(key) || extra.has(key.toLowerCase());
      if (memo.size < 100_000) memo.set(key, v);
    }
    return v;
  };
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
        // defineProperty: a `__proto__` key stays a key (assignment would set the prototype).
        if (isSecret(k)) {
          collectScalars(child, p, secrets);
          secretPaths.push(p);
          Object.defineProperty(out, k, { value: REDACTED, enumerable: true, writable: true, configurable: true });
        } else {
          Object.defineProperty(out, k, { value: walk(child, p), enumerable: true, writable: true, configurable: true });
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

/**
 * Returns, per leaked secret, its key path and the rendered field its value was found in
 * (`exchange.key in env CODE_FILE`), never the value.
 */
export function findLeaks(text: string, secrets: readonly SecretValue[]): string[] {
  const hits = new Map<string, string>();
  for (const s of secrets) {
    if (hits.has(s.path)) continue;
    for (const f of leakForms(s.value)) {
      const at = text.indexOf(f);
      if (at >= 0) {
        hits.set(s.path, `${s.path} in ${renderedFieldAt(text, at)}`);
        break;
      }
    }
  }
  return [...hits.values()];
}

/** The YAML key of the line holding offset `at` (`env CODE_FILE` for an env entry's value). */
function renderedFieldAt(text: string, at: number): string {
  const start = text.lastIndexOf('\n', at) + 1;
  const line = text.slice(start, text.indexOf('\n', at) === -1 ? undefined : text.indexOf('\n', at));
  const key = /^\s*(?:- )?([^\s:'"][^:]*?):(?:\s|$)/.exec(line)?.[1];
  if (key === 'value') {
    const prev = text.slice(text.lastIndexOf('\n', start - 2) + 1, start - 1);
    const env = /^\s*- name: (\S+)$/.exec(prev)?.[1];
    if (env) return `env ${env}`;
  }
  return key ? `field "${key}"` : `line ${text.slice(0, at).split('\n').length}`;
}
