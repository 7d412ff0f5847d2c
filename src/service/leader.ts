// Leader election for `fleetsynth serve` with several replicas: every replica serves queries and
// health; only the holder of a coordination.k8s.io/v1 Lease consumes events and writes (MongoDB or
// the fleet file, Git, Secrets). The algorithm is client-go's (tools/leaderelection):
//
// - a candidate GETs the Lease; a Lease held by someone else counts as expired only when this
//   replica has seen no change of it (resourceVersion) for leaseDuration, measured on its OWN clock
//   from when it observed the last change, so no two clocks are ever compared;
// - acquiring and renewing are a replace with the resourceVersion read (optimistic concurrency):
//   a 409 means another replica won the race;
// - the leader renews every retryPeriod; when it has not renewed successfully for renewDeadline
//   (< leaseDuration) it stops leading. Another replica can take over only leaseDuration after it
//   observed the last renewal, which is later than the leader's own view of it: the deposed
//   leader has stopped writing at least leaseDuration − renewDeadline before anyone else starts.
//
// Fencing: every write path calls `assertLeading()` right before it writes, which checks the
// leader's own clock against its last successful renewal (not just a flag set by the loop).
import { EventEmitter } from 'node:events';
import { CoordinationV1Api, HttpError, KubeConfig, V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type pino from 'pino';
import { FleetsynthError } from '../errors';

export { DEFAULT_LEASE_DURATION_MS, DEFAULT_LEASE_NAME, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, LeaseSettings, defaultIdentity, leaseProblems } from './lease-settings';
import type { LeaseSettings } from './lease-settings';

/** A write was attempted by a replica that does not (or no longer) hold the Lease. */
export class NotLeaderError extends FleetsynthError {
  constructor(what: string, holder: string | undefined) {
    super(`not the leader: refusing to ${what}${holder ? ` (the Lease is held by ${holder})` : ''}`);
  }
}

/**
 * The one gate of every leader-only write and loop. `started` is emitted when this replica becomes
 * leader, `stopped` when it stops (lost the Lease, missed its renew deadline, released it).
 */
export interface LeaderGate {
  /** This replica's identity. */
  readonly identity: string;
  /** True while this replica holds a Lease it renewed within the renew deadline (own clock). */
  isLeader(): boolean;
  /** Throws NotLeaderError unless isLeader(); call right before each write. */
  assertLeading(what: string): void;
  /** Holder last observed (this replica when leading); undefined when none is known. */
  holder(): string | undefined;
  /** `lease` (Kubernetes Lease) or `solo` (no API server: this process is its own leader). */
  readonly mode: 'lease' | 'solo';
  on(event: 'started' | 'stopped', listener: () => void): this;
  off(event: 'started' | 'stopped', listener: () => void): this;
}

/** Metrics the elector updates. */
export interface LeaderMetrics {
  /** 1 while leading, else 0. */
  setLeader(leading: boolean): void;
  /** A change of the Lease holder observed (including this replica's own acquisitions). */
  transition(): void;
}

/** Without API server access: this process is the only writer, as before leader election. */
export class SoloLeader extends EventEmitter implements LeaderGate {
  readonly mode = 'solo' as const;
  private leading = false;
  constructor(
    readonly identity: string,
    private readonly metrics?: LeaderMetrics,
  ) {
    super();
  }
  /** Becomes leader at once (synchronously emits `started`). */
  start(): void {
    if (this.leading) return;
    this.leading = true;
    this.metrics?.setLeader(true);
    this.emit('started');
  }
  isLeader(): boolean {
    return this.leading;
  }
  assertLeading(what: string): void {
    if (!this.leading) throw new NotLeaderError(what, undefined);
  }
  holder(): string | undefined {
    return this.leading ? this.identity : undefined;
  }
  async stop(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metrics?.setLeader(false);
    this.emit('stopped');
  }
}

/** The Lease calls the elector makes (client-node in production; a fake in unit tests). */
export interface LeaseClient {
  /** The Lease, or null when it does not exist. */
  read(): Promise<V1Lease | null>;
  /** Creates it; 'conflict' when it exists already (409). */
  create(lease: V1Lease): Promise<V1Lease | 'conflict'>;
  /** Replaces it (metadata.resourceVersion set); 'conflict' on a stale resourceVersion (409). */
  replace(lease: V1Lease): Promise<V1Lease | 'conflict'>;
}

/** A Lease client through @kubernetes/client-node, each request limited to `timeoutMs`. */
export function kubeLeaseClient(kc: KubeConfig, namespace: string, name: string, timeoutMs: number): LeaseClient {
  const api = kc.makeApiClient(CoordinationV1Api);
  api.addInterceptor((opts: { timeout?: number; forever?: boolean }) => {
    opts.timeout = timeoutMs;
  });
  const status = (e: unknown) => (e instanceof HttpError ? e.statusCode : undefined);
  const fail = (e: unknown, what: string): never => {
    if (e instanceof HttpError) {
      const body = (e.body ?? {}) as { reason?: unknown; message?: unknown };
      throw new FleetsynthError(`${what} Lease ${namespace}/${name}: HTTP ${e.statusCode ?? '?'}${typeof body.reason === 'string' ? ` ${body.reason}` : ''}${typeof body.message === 'string' ? `: ${body.message}` : ''}`);
    }
    const err = e as { message?: unknown; code?: unknown };
    throw new FleetsynthError(`${what} Lease ${namespace}/${name}: ${typeof err?.message === 'string' && err.message ? err.message : String(err?.code ?? 'request failed')}`);
  };
  return {
    async read() {
      try {
        return (await api.readNamespacedLease(name, namespace)).body;
      } catch (e) {
        if (status(e) === 404) return null;
        return fail(e, 'read');
      }
    },
    async create(lease) {
      try {
        return (await api.createNamespacedLease(namespace, lease)).body;
      } catch (e) {
        if (status(e) === 409) return 'conflict';
        return fail(e, 'create');
      }
    },
    async replace(lease) {
      try {
        return (await api.replaceNamespacedLease(name, namespace, lease)).body;
      } catch (e) {
        if (status(e) === 409) return 'conflict';
        return fail(e, 'update');
      }
    },
  };
}

/** Options of {@link LeaseElector}. */
export interface LeaseElectorOptions {
  readonly client: LeaseClient;
  readonly namespace: string;
  readonly settings: LeaseSettings;
  readonly logger: pino.Logger;
  readonly metrics?: LeaderMetrics;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** What this replica last saw of the Lease. */
interface Observed {
  readonly resourceVersion: string;
  readonly holder: string;
  /** Own clock, when this version was first seen. */
  readonly at: number;
  readonly durationMs: number;
}

const timeOf = (t: unknown): V1MicroTime | undefined => (t === undefined || t === null ? undefined : new V1MicroTime(t as string));

/** Lease-based election (see the file comment). */
export class LeaseElector extends EventEmitter implements LeaderGate {
  readonly mode = 'lease' as const;
  readonly identity: string;
  private leading = false;
  /** Own clock: start of the last successful acquire or renew. */
  private lastRenew = 0;
  private observed?: Observed;
  private timer?: NodeJS.Timeout;
  private deadline?: NodeJS.Timeout;
  private running = false;
  private tick?: Promise<void>;
  private lastError?: string;
  private readonly now: () => number;

  constructor(private readonly opts: LeaseElectorOptions) {
    super();
    this.identity = opts.settings.identity;
    this.now = opts.now ?? Date.now;
  }

  /** Starts trying to acquire (first attempt at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  isLeader(): boolean {
    return this.leading && this.now() - this.lastRenew < this.opts.settings.renewDeadlineMs;
  }

  assertLeading(what: string): void {
    if (!this.isLeader()) {
      // The clock says the deadline passed before the loop noticed: stop now.
      if (this.leading) this.stepDown('renew deadline passed');
      throw new NotLeaderError(what, this.holder());
    }
  }

  holder(): string | undefined {
    if (this.isLeader()) return this.identity;
    const h = this.observed?.holder;
    return h && h !== this.identity ? h : undefined;
  }

  /** Last error talking to the API server, for /readyz (undefined after a successful attempt). */
  error(): string | undefined {
    return this.lastError;
  }

  /**
   * Stops the loop; when leading, releases the Lease (empty holder) so another replica takes over
   * at its next attempt instead of waiting for the Lease to expire. Call after the leader-only work
   * has stopped (the gate says "not leader" from the first line on).
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.tick;
    const wasLeading = this.isLeader();
    if (this.leading) this.stepDown('stopping');
    if (wasLeading) await this.release().catch((e) => this.opts.logger.warn({ err: (e as Error).message }, 'releasing the Lease failed; it expires on its own'));
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.tick = this.attempt().finally(() => (this.tick = undefined));
    }, Math.max(0, ms));
  }

  private async attempt(): Promise<void> {
    const s = this.opts.settings;
    const started = this.now();
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(started);
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.logger.warn({ err: this.lastError, leading: this.leading }, this.leading ? 'renewing the Lease failed' : 'acquiring the Lease failed');
    }
    if (!this.running) return;
    if (ok) {
      this.lastRenew = started;
      if (!this.leading) {
        this.leading = true;
        this.opts.metrics?.setLeader(true);
        this.opts.logger.info({ identity: this.identity, lease: s.name }, 'leading: acquired the Lease');
        this.emit('started');
      }
      this.armDeadline();
    } else if (this.leading && (this.now() - this.lastRenew >= s.renewDeadlineMs || (this.observed && this.observed.holder !== this.identity))) {
      this.stepDown(this.observed && this.observed.holder !== this.identity ? `the Lease is held by ${this.observed.holder}` : 'renew deadline passed');
    }
    // A follower tries again at the retry period, or right when the holder's Lease expires.
    let next = s.retryPeriodMs;
    if (!this.leading && this.observed && this.observed.holder !== '' && this.observed.holder !== this.identity) {
      const expiresIn = this.observed.at + this.observed.durationMs - this.now();
      if (expiresIn > 0 && expiresIn < next) next = expiresIn + 5;
    }
    // Jitter keeps replicas from colliding on every attempt.
    if (!this.leading) next += Math.floor(Math.random() * Math.min(200, s.retryPeriodMs / 10));
    this.schedule(next - (this.now() - started));
  }

  /** Steps down when the renew deadline passes even if a request hangs. */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    const left = this.lastRenew + this.opts.settings.renewDeadlineMs - this.now();
    this.deadline = setTimeout(() => {
      if (this.leading && !this.isLeader()) this.stepDown('renew deadline passed');
    }, Math.max(0, left) + 1);
    this.deadline.unref();
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    if (this.deadline) clearTimeout(this.deadline);
    this.opts.metrics?.setLeader(false);
    this.opts.logger.warn({ identity: this.identity, reason }, 'stopped leading');
    this.emit('stopped');
  }

  private observe(lease: V1Lease, at: number): void {
    const rv = lease.metadata?.resourceVersion ?? '';
    const holder = lease.spec?.holderIdentity ?? '';
    if (this.observed?.resourceVersion === rv) return;
    if (this.observed === undefined || this.observed.holder !== holder) {
      // A change of holder (the first look at a Lease is no transition).
      if (this.observed !== undefined && holder !== '') this.opts.metrics?.transition();
      if (holder !== this.identity) this.opts.logger.info({ holder: holder || '(released)' }, 'Lease holder observed');
    }
    const seconds = lease.spec?.leaseDurationSeconds;
    this.observed = { resourceVersion: rv, holder, at, durationMs: typeof seconds === 'number' && seconds > 0 ? seconds * 1000 : this.opts.settings.durationMs };
  }

  private spec(now: number, previous?: V1Lease) {
    const s = this.opts.settings;
    const prev = previous?.spec;
    const mine = prev?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.round(s.durationMs / 1000)),
      acquireTime: mine ? timeOf(prev?.acquireTime) ?? new V1MicroTime(now) : new V1MicroTime(now),
      renewTime: new V1MicroTime(now),
      // As client-go: counted whenever the holder changes.
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (prev && !mine ? 1 : 0),
    };
  }

  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const { client, namespace, settings } = this.opts;
    const lease = await client.read();
    if (!lease) {
      const created = await client.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: settings.name, namespace }, spec: { ...this.spec(now), leaseTransitions: 0 } });
      if (created === 'conflict') return false;
      this.opts.metrics?.transition();
      this.observe(created, now);
      return true;
    }
    this.observe(lease, now);
    const o = this.observed!;
    if (o.holder !== '' && o.holder !== this.identity && now - o.at < o.durationMs) return false;
    if (this.leading && o.holder !== this.identity) return false;
    const replaced = await client.replace({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease.metadata, name: settings.name, namespace, resourceVersion: lease.metadata?.resourceVersion },
      spec: this.spec(now, lease),
    });
    if (replaced === 'conflict') return false;
    this.observe(replaced, now);
    return true;
  }

  /** Empty holder, 1 s duration: the next replica to try takes it at once. */
  private async release(): Promise<void> {
    const lease = await this.opts.client.read();
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = this.now();
    const r = await this.opts.client.replace({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease.metadata, resourceVersion: lease.metadata?.resourceVersion },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(now), acquireTime: new V1MicroTime(now), leaseTransitions: lease.spec?.leaseTransitions ?? 0 },
    });
    if (r !== 'conflict') this.opts.logger.info({ lease: this.opts.settings.name }, 'released the Lease');
  }
}
