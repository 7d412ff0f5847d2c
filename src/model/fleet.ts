import { BotSpec, ModelOptions, toBotSpec } from './bot';
import { Collection, FleetDocuments, isEnabled } from './document';
import { DocumentError, DocumentWarning } from './errors';

/** The model of a whole fleet: what renders, what is wrong, what must be kept. */
export interface Fleet {
  /** Valid, enabled bots and schedules, in source order. */
  readonly specs: BotSpec[];
  /** One entry per problem; a document may have several. */
  readonly errors: DocumentError[];
  /** Remarks that did not stop a document. */
  readonly warnings: DocumentWarning[];
  /** Ids of enabled documents that failed: their previous files must be kept as they are. */
  readonly failedIds: Set<string>;
  /** Number of documents read, per collection. */
  readonly counts: { readonly bots: number; readonly bot_schedules: number; readonly disabled: number };
}

/**
 * Validates every document on its own: one bad document never stops the others (the0 decoded the
 * whole collection at once, so one bad shape stopped every bot: SPEC §9 #27).
 */
export function buildFleet(docs: FleetDocuments, opts: ModelOptions): Fleet {
  const specs: BotSpec[] = [];
  const errors: DocumentError[] = [];
  const warnings: DocumentWarning[] = [];
  const failedIds = new Set<string>();
  let disabled = 0;

  const take = (list: unknown[], collection: Collection) => {
    const byName = new Map<string, { spec: BotSpec; index: number }[]>();
    list.forEach((raw, index) => {
      if (!isEnabled(raw)) {
        disabled++;
        return;
      }
      const r = toBotSpec(raw, collection, index, opts);
      if (r.errors) {
        errors.push(...r.errors);
        const id = r.errors[0].id;
        if (id !== undefined) failedIds.add(id);
        return;
      }
      const entries = byName.get(r.spec.objectName) ?? [];
      entries.push({ spec: r.spec, index });
      byName.set(r.spec.objectName, entries);
    });
    // Two documents for one object (same id, or CronJob names equal after truncation): neither
    // can win silently, so both are errors and both keep their previous files.
    for (const [name, entries] of byName) {
      if (entries.length === 1) continue;
      const ids = entries.map((e) => e.spec.id);
      for (const e of entries) {
        const others = ids.filter((i) => i !== e.spec.id);
        const message = others.length > 0
          ? `object name ${name} collides with ${others.join(', ')}`
          : `duplicate id: ${entries.length} documents have this id`;
        errors.push(new DocumentError(collection, e.spec.id, e.index, 'id', message));
        failedIds.add(e.spec.id);
      }
    }
    for (const entries of byName.values()) {
      if (entries.length !== 1) continue;
      const { spec } = entries[0];
      specs.push(spec);
      for (const message of spec.warnings) warnings.push({ collection, id: spec.id, message });
    }
  };
  take(docs.bots, 'bots');
  take(docs.bot_schedules, 'bot_schedules');
  return { specs, errors, warnings, failedIds, counts: { bots: docs.bots.length, bot_schedules: docs.bot_schedules.length, disabled } };
}
