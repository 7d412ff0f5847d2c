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
  /**
   * Valid, enabled documents not validated again: the output cache vouches that the same
   * document was rendered into a file that is still exactly as written (see `FleetReuse`).
   */
  readonly known: KnownBot[];
}

/** A document the output cache knows: same bytes as when its (untouched) file was written. */
export interface KnownBot {
  readonly id: string;
  readonly kind: BotSpec['kind'];
  /** Name of its main object (for the collision check). */
  readonly objectName: string;
  /** Its file under the output root. */
  readonly relPath: string;
  /** Objects in that file. */
  readonly objects: number;
  /** The document's warnings when it was validated. */
  readonly warnings: readonly string[];
}

/**
 * Skipping validation of documents already rendered: `key` hashes a document, `known` answers
 * for a key whose file the cache vouches for. A document that is not known is validated and its
 * spec carries the key (`sourceHash`), so the cache can record it.
 */
export interface FleetReuse {
  key(raw: unknown, collection: Collection): string;
  known(key: string): KnownBot | undefined;
}

/**
 * Validates every document on its own: one bad document never stops the others (the0 decoded the
 * whole collection at once, so one bad shape stopped every bot: SPEC §9 #27).
 */
export function buildFleet(docs: FleetDocuments, opts: ModelOptions & { reuse?: FleetReuse }): Fleet {
  const specs: BotSpec[] = [];
  const known: KnownBot[] = [];
  const reuse = opts.reuse;
  const errors: DocumentError[] = [];
  const warnings: DocumentWarning[] = [];
  const failedIds = new Set<string>();
  let disabled = 0;

  const take = (list: unknown[], collection: Collection) => {
    const byName = new Map<string, Array<{ spec: BotSpec | KnownBot; index: number }>>();
    const add = (spec: BotSpec | KnownBot, index: number) => {
      const entries = byName.get(spec.objectName);
      if (entries) entries.push({ spec, index });
      else byName.set(spec.objectName, [{ spec, index }]);
    };
    list.forEach((raw, index) => {
      if (!isEnabled(raw)) {
        disabled++;
        return;
      }
      const key = reuse?.key(raw, collection);
      const k = key === undefined ? undefined : reuse!.known(key);
      if (k) return add(k, index);
      const r = toBotSpec(raw, collection, index, opts);
      if (r.errors) {
        errors.push(...r.errors);
        const id = r.errors[0].id;
        if (id !== undefined) failedIds.add(id);
        return;
      }
      add(key === undefined ? r.spec : { ...r.spec, sourceHash: key }, index);
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
      if ('relPath' in spec) known.push(spec);
      else specs.push(spec);
      for (const message of spec.warnings) warnings.push({ collection, id: spec.id, message });
    }
  };
  take(docs.bots, 'bots');
  take(docs.bot_schedules, 'bot_schedules');
  return { specs, errors, warnings, failedIds, counts: { bots: docs.bots.length, bot_schedules: docs.bot_schedules.length, disabled }, known };
}
