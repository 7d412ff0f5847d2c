import { createHash } from 'node:crypto';
import type pino from 'pino';
import type { BotSpec } from '../model/bot';
import { configSecretName } from '../model/names';
import type { KubeAccess } from './kube';
import type { ServeMetrics } from './metrics';

/** Label every Secret fleetsynth writes carries; nothing without it is ever touched. */
export const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'fleetsynth' } as const;
/** Selector of the Secrets fleetsynth owns. */
export const MANAGED_SELECTOR = `${MANAGED_BY.key}=${MANAGED_BY.value}`;
/** Key of the full config in each bot's Secret (SPEC §2.8). */
export const CONFIG_KEY = 'BOT_CONFIG';

/** Consecutive failures after which the rest of a sync is queued for retry without trying. */
const GIVE_UP_AFTER = 10;

const SECRET_NAME = /^bot-([a-z0-9]([-a-z0-9]*[a-z0-9])?)-config$/;

/** Labels of a bot's config Secret. */
export function secretLabels(id: string): Record<string, string> {
  return { 'the0.app/bot-id': id, [MANAGED_BY.key]: MANAGED_BY.value };
}

/** What one sync did (names and ids only; never values). */
export interface SecretsReport {
  /** Secrets created or updated. */
  applied: number;
  /** Secrets already up to date (same content applied earlier by this process). */
  unchanged: number;
  /** Secrets deleted because their bot is gone. */
  deleted: number;
  /** Secrets skipped because a Secret of that name exists without our label. */
  foreign: string[];
  /** Ids whose Secret could not be written or deleted (retried on the next sync). */
  failed: string[];
}

/** Options of {@link SecretsSync}. */
export interface SecretsSyncOptions {
  /** Logger (names, ids, errors; never values). */
  readonly logger: pino.Logger;
  /** Counters. */
  readonly metrics?: ServeMetrics;
  /** Parallel API requests (default 8). */
  readonly concurrency?: number;
}

/**
 * Keeps one Secret `bot-<id>-config` per enabled bot with its full config (the only place the
 * secret values go; Git never sees them), and removes it once the bot is gone. Only Secrets with
 * `app.kubernetes.io/managed-by: fleetsynth` are ever updated or deleted.
 */
export class SecretsSync {
  /** Content hash of what this process last applied, by Secret name: unchanged Secrets are not re-sent. */
  private readonly applied = new Map<string, string>();
  /** Names of Secrets that exist without our label (from the last full sync). */
  private foreign = new Set<string>();
  private listed = false;
  /** Work that failed: spec to apply, or null to delete. Retried on the next sync. */
  private readonly retry = new Map<string, BotSpec | null>();
  private lastError?: string;
  private lastOk?: Date;

  constructor(
    private readonly kube: KubeAccess,
    private readonly opts: SecretsSyncOptions,
  ) {}

  /** True when some Secret work failed and waits for a retry. */
  hasRetries(): boolean {
    return this.retry.size > 0;
  }

  /** For /readyz: the last error, if the last sync failed. */
  status(): { ok: boolean; detail: string } {
    if (this.lastError) return { ok: false, detail: `error: ${this.lastError}` };
    return { ok: true, detail: this.lastOk ? `ok (namespace ${this.kube.namespace})` : `ok (namespace ${this.kube.namespace}, no sync yet)` };
  }

  /** Applies the Secrets of these bots and deletes those of `goneIds` (after a partial render). */
  async syncSome(specs: readonly BotSpec[], goneIds: Iterable<string>): Promise<SecretsReport> {
    const work = new Map(this.retry);
    this.retry.clear();
    for (const id of goneIds) work.set(id, null);
    for (const s of specs) work.set(s.id, s);
    const report = emptyReport();
    if (!this.listed) {
      // Which Secrets of our names are someone else's is known only after one listing.
      try {
        await this.list();
      } catch (e) {
        this.lastError = (e as Error).message;
        for (const [id, spec] of work) {
          this.retry.set(id, spec);
          report.failed.push(id);
        }
        this.opts.logger.error({ err: this.lastError, queued: work.size }, 'cannot list Secrets; Secret work queued for retry');
        return report;
      }
    }
    const deletes: string[] = [];
    const applies: BotSpec[] = [];
    for (const [id, spec] of work) (spec ? applies.push(spec) : deletes.push(id));
    await this.applyAll(applies, report);
    await this.pool(deletes, async (id) => {
      // Only a Secret carrying our label for this bot is deleted.
      const names = await this.kube.listSecrets(`${MANAGED_SELECTOR},the0.app/bot-id=${id}`);
      if (names.includes(configSecretName(id))) await this.delete(id, report);
    }, report);
    return this.finish(report);
  }

  /**
   * Full sync: every enabled bot's Secret is applied, and every managed Secret whose bot is
   * neither rendered nor kept (an invalid bot keeps its last good manifest, so its Secret stays)
   * is deleted. Never called with an empty or unreadable source.
   */
  async syncAll(specs: readonly BotSpec[], keepIds: ReadonlySet<string>): Promise<SecretsReport> {
    const report = emptyReport();
    const managed = await this.list().catch((e) => {
      this.lastError = (e as Error).message;
      throw e;
    });
    this.retry.clear();
    await this.applyAll(specs, report);
    const wanted = new Set([...specs.map((s) => s.id), ...keepIds]);
    const gone: string[] = [];
    for (const name of managed) {
      const m = SECRET_NAME.exec(name);
      if (m && !wanted.has(m[1])) gone.push(m[1]);
    }
    await this.pool(gone, (id) => this.delete(id, report), report);
    return this.finish(report);
  }

  /** Lists the namespace's Secrets: ours (by label) and foreign ones that carry a bot Secret's name. */
  private async list(): Promise<string[]> {
    const [all, managed] = await Promise.all([this.kube.listSecrets(''), this.kube.listSecrets(MANAGED_SELECTOR)]);
    const managedSet = new Set(managed);
    this.foreign = new Set(all.filter((n) => SECRET_NAME.test(n) && !managedSet.has(n)));
    for (const name of this.applied.keys()) if (!managedSet.has(name)) this.applied.delete(name);
    this.listed = true;
    return managed;
  }

  private async applyAll(specs: readonly BotSpec[], report: SecretsReport): Promise<void> {
    const todo: BotSpec[] = [];
    for (const s of specs) {
      const name = configSecretName(s.id);
      if (this.foreign.has(name)) {
        report.foreign.push(name);
        continue;
      }
      if (this.applied.get(name) === contentHash(s)) report.unchanged++;
      else todo.push(s);
    }
    if (report.foreign.length > 0) {
      this.opts.logger.warn({ secrets: report.foreign.slice(0, 20), count: report.foreign.length }, 'Secrets exist without the fleetsynth managed-by label; not touched');
    }
    const byId = new Map(todo.map((s) => [s.id, s]));
    await this.pool([...byId.keys()], (id) => this.apply(byId.get(id)!, report), report, byId);
  }

  private async apply(spec: BotSpec, report: SecretsReport): Promise<void> {
    const name = configSecretName(spec.id);
    await this.kube.applySecret(name, { [CONFIG_KEY]: spec.configJson }, secretLabels(spec.id));
    this.applied.set(name, contentHash(spec));
    report.applied++;
    this.opts.metrics?.secretOps.inc({ op: 'apply', outcome: 'ok' });
  }

  private async delete(id: string, report: SecretsReport): Promise<void> {
    const name = configSecretName(id);
    await this.kube.deleteSecret(name);
    this.applied.delete(name);
    report.deleted++;
    this.opts.metrics?.secretOps.inc({ op: 'delete', outcome: 'ok' });
    this.opts.logger.info({ botId: id, secret: name }, 'bot config Secret deleted');
  }

  /** Runs `fn` over ids with bounded parallelism; failures are recorded for retry, never thrown. */
  private async pool(ids: string[], fn: (id: string) => Promise<void>, report: SecretsReport, specs?: Map<string, BotSpec>): Promise<void> {
    let next = 0;
    let failedInARow = 0;
    const op = specs ? 'apply' : 'delete';
    const fail = (id: string) => {
      report.failed.push(id);
      this.retry.set(id, specs?.get(id) ?? null);
      this.opts.metrics?.secretOps.inc({ op, outcome: 'error' });
    };
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        // The API server is failing: queue the rest for the retry instead of hammering it.
        if (failedInARow >= GIVE_UP_AFTER) {
          fail(id);
          continue;
        }
        try {
          await fn(id);
          failedInARow = 0;
        } catch (e) {
          failedInARow++;
          fail(id);
          this.lastError = (e as Error).message;
          // KubeError messages never hold Secret data (see kube.ts).
          this.opts.logger.error({ botId: id, secret: configSecretName(id), op, err: (e as Error).message }, 'Secret sync failed; will retry');
        }
      }
    };
    const n = Math.max(1, Math.min(this.opts.concurrency ?? 8, ids.length));
    await Promise.all(Array.from({ length: n }, worker));
    if (failedInARow >= GIVE_UP_AFTER) {
      this.opts.logger.error({ op, queued: report.failed.length }, 'API server keeps failing; remaining Secrets queued for retry');
    }
  }

  private finish(report: SecretsReport): SecretsReport {
    if (report.failed.length === 0) {
      this.lastError = undefined;
      this.lastOk = new Date();
    }
    if (report.applied + report.deleted + report.failed.length > 0) {
      this.opts.logger.info(
        { applied: report.applied, unchanged: report.unchanged, deleted: report.deleted, failed: report.failed.length, foreign: report.foreign.length },
        'Secrets synced',
      );
    }
    return report;
  }
}

function emptyReport(): SecretsReport {
  return { applied: 0, unchanged: 0, deleted: 0, foreign: [], failed: [] };
}

function contentHash(spec: BotSpec): string {
  return createHash('sha256').update(spec.id).update('\0').update(spec.configJson).digest('hex');
}
