import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Outcome of one NATS event, as counted in `fleetsynth_events_total`. */
export type EventOutcome = 'applied' | 'noop' | 'invalid' | 'rejected' | 'failed' | 'ignored' | 'poison';

/** Statuses of a rollout (see gitops/rollout/state.ts). */
const ROLLOUT_STATUSES = ['rolling', 'paused', 'halted', 'done', 'aborted'] as const;

/** Kind of a query, as counted in `fleetsynth_query_seconds`. */
export type QueryKind = 'realtime' | 'scheduled' | 'none';

/**
 * The service's Prometheus metrics, on a registry of their own (no global state: a test can
 * run several services in one process).
 */
export class ServeMetrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  /** NATS events by subject (without test prefix) and outcome. */
  readonly events: Counter<'subject' | 'outcome'>;
  /** Time from the first queued event of a batch (or a reconcile start) to its pushed commit. */
  readonly resyncSeconds: Histogram<'mode'>;
  /** Commits pushed. */
  readonly commits: Counter<'mode'>;
  /** Publish attempts that failed (push rejected, remote unreachable, render error). */
  readonly pushFailures: Counter;
  /** Bot ids waiting for a render and publish. */
  readonly pending: Gauge;
  /** Secret writes by operation (apply, delete) and outcome. */
  readonly secretOps: Counter<'op' | 'outcome'>;
  /** Query API latency by kind and HTTP status. */
  readonly querySeconds: Histogram<'kind' | 'status'>;
  /** The rollout recorded in Git: 1 for its status, 0 for the others (all 0: none recorded). */
  readonly rolloutStatus: Gauge<'status'>;
  /** The rollout's current wave, 1-based (0: none recorded). */
  readonly rolloutWave: Gauge;
  /** Bots failing in a halted rollout's wave. */
  readonly rolloutFailingBots: Gauge;
  /** 1 while this replica holds the Lease (or runs alone), else 0. */
  readonly leader: Gauge;
  /** Changes of the Lease holder this replica observed (its own acquisitions included). */
  readonly leaseTransitions: Counter;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.events = new Counter({ name: 'fleetsynth_events_total', help: 'NATS events received, by subject and outcome', labelNames: ['subject', 'outcome'], registers });
    this.resyncSeconds = new Histogram({
      name: 'fleetsynth_resync_seconds',
      help: 'Latency from queued change to pushed commit (mode: events or reconcile)',
      labelNames: ['mode'],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    this.commits = new Counter({ name: 'fleetsynth_commits_total', help: 'Commits pushed to the GitOps repository', labelNames: ['mode'], registers });
    this.pushFailures = new Counter({ name: 'fleetsynth_push_failures_total', help: 'Failed publish attempts (render, commit or push)', registers });
    this.pending = new Gauge({ name: 'fleetsynth_pending_bots', help: 'Bot ids waiting to be rendered and published', registers });
    this.secretOps = new Counter({ name: 'fleetsynth_secret_operations_total', help: 'Kubernetes Secret writes, by operation and outcome', labelNames: ['op', 'outcome'], registers });
    this.querySeconds = new Histogram({
      name: 'fleetsynth_query_seconds',
      help: 'Query API latency by bot kind and HTTP status',
      labelNames: ['kind', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.rolloutStatus = new Gauge({ name: 'fleetsynth_rollout_status', help: 'Status of the rollout recorded in Git (1 for the current status)', labelNames: ['status'], registers });
    this.rolloutWave = new Gauge({ name: 'fleetsynth_rollout_wave', help: 'Current wave of the rollout recorded in Git, 1-based (0: none)', registers });
    this.rolloutFailingBots = new Gauge({ name: 'fleetsynth_rollout_failing_bots', help: 'Bots failing in the halted wave of the rollout', registers });
    this.leader = new Gauge({ name: 'fleetsynth_leader', help: '1 while this replica is the leader (consumes events, writes, commits and pushes), else 0', registers });
    this.leaseTransitions = new Counter({ name: 'fleetsynth_lease_transitions_total', help: 'Changes of the leader Lease holder observed by this replica', registers });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'fleetsynth_' });
  }

  /** Sets the rollout gauges (undefined: no rollout recorded). */
  setRollout(r: { readonly status: string; readonly wave: number; readonly failures: readonly unknown[] } | undefined): void {
    for (const st of ROLLOUT_STATUSES) this.rolloutStatus.set({ status: st }, r?.status === st ? 1 : 0);
    this.rolloutWave.set(r?.wave ?? 0);
    this.rolloutFailingBots.set(r?.status === 'halted' ? r.failures.length : 0);
  }

  /** The query server's `observe` callback. */
  observeQuery = (kind: QueryKind, status: number, seconds: number): void => {
    this.querySeconds.observe({ kind, status: String(status) }, seconds);
  };

  /** The leader elector's view of these metrics. */
  readonly leaderMetrics = {
    setLeader: (leading: boolean): void => this.leader.set(leading ? 1 : 0),
    transition: (): void => this.leaseTransitions.inc(),
  };

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
