// Settings that are rendered into manifests (Git) must not carry credentials: a URL with user info
// is refused (the message names the setting, never the credential), or, for NATS, read by pods
// from a Secret (`natsUrlSecret`).

/** The settings these checks read (a subset of RenderSettings, so this module stays light). */
interface UrlSettings {
  readonly natsUrl?: string;
  readonly natsUrlSecret?: string;
  readonly minioEndpoint: string;
}

/** Key of the NATS URL in `natsUrlSecret` when the setting names no key. */
export const DEFAULT_NATS_URL_SECRET_KEY = 'nats-url';

/** `natsUrlSecret` as a secretKeyRef, or undefined when NATS_URL is rendered as a plain value. */
export function natsUrlSecretRef(s: Pick<UrlSettings, 'natsUrlSecret'>): { name: string; key: string } | undefined {
  if (!s.natsUrlSecret) return undefined;
  const [name, key] = s.natsUrlSecret.split('/', 2);
  return { name, key: key || DEFAULT_NATS_URL_SECRET_KEY };
}

/** True when a URL (or `host:port`) carries user info: `scheme://user:pass@host`, `token@host`. */
export function hasCredentials(url: string): boolean {
  const authority = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/, 1)[0];
  return authority.includes('@');
}

/**
 * Settings that are rendered into manifests (Git) must not carry credentials: they are refused
 * with a message that names the setting, never the credential.
 */
export function credentialProblems(s: UrlSettings): string[] {
  const problems: string[] = [];
  const ref = natsUrlSecretRef(s);
  if (ref && (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(ref.name) || !/^[-._a-zA-Z0-9]+$/.test(ref.key))) {
    problems.push(`NATS URL Secret "${s.natsUrlSecret}" is not <secret-name>[/<key>]`);
  }
  if (s.natsUrl && !ref && s.natsUrl.split(',').some((u) => hasCredentials(u.trim()))) {
    problems.push(
      'the NATS URL (--nats-url / NATS_URL) carries credentials, and it is passed to every bot pod, in Git: ' +
        'store the URL in a Secret and pass --nats-url-secret <secret>[/<key>] (NATS_URL_SECRET; pods then read NATS_URL by secretKeyRef), or use a URL without credentials',
    );
  }
  if (hasCredentials(s.minioEndpoint)) {
    problems.push(
      'the MinIO endpoint (--minio-endpoint / MINIO_ENDPOINT) carries credentials, and it is passed to every bot pod, in Git: ' +
        'give host:port only; MinIO credentials come from the Secret named by --minio-secret',
    );
  }
  return problems;
}

