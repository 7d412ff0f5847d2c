import { BotSpec, ModelOptions, toBotSpec } from './bot';
import { Collection, FleetDocuments, isEnabled } from './document';
import { RawDocument } from './raw-document';
import { DocumentError, DocumentWarning } from './errors';
import { MAX_DOCUMENT_DEPTH, tooDeep } from './limits';
import { BOT_ID_PATTERN, configSecretName } from './names';
import { printable } from './printable';

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
  /**
   * Enabled documents whose owner is unknown (no usable bot id: a number, null, a malformed
   * string). Such a document may be any bot, so while there is one nothing may be removed.
   */
  readonly unowned: number;
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
  /** Id of the render settings its file was written with (see settingsId in synth/cache.ts). */
  readonly renderedWith?: string;
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
  let unowned = 0;
  // Every usable id seen per collection (valid or not), for the cross-collection check.
  const seen: Record<Collection, Map<string, number>> = { bots: new Map(), bot_schedules: new Map() };

  const take = (list: unknown[], collection: Collection) => {
    const byName = new Map<string, Array<{ spec: BotSpec | KnownBot; index: number }>>();
    const add = (spec: BotSpec | KnownBot, index: number) => {
      const entries = byName.get(spec.objectName);
      if (entries) entries.push({ spec, index });
      else byName.set(spec.objectName, [{ spec, index }]);
    };
    list.forEach((item, index) => {
      let raw = item;
      // A document still in its source's bytes: known by them (a known document was enabled and
      // owned, and validated when its file was written), else decoded now.
      const rawKey = item instanceof RawDocument ? reuse?.key(item, collection) : undefined;
      if (item instanceof RawDocument) {
        const k = rawKey === undefined ? undefined : reuse!.known(rawKey);
        if (k) {
          if (!seen[collection].has(k.id)) seen[collection].set(k.id, index);
          return add(k, index);
        }
        try {
          raw = item.value();
        } catch (e) {
          // Its owner is unknown, so nothing may be removed in this run (like any unowned document).
          unowned++;
          errors.push(new DocumentError(collection, undefined, index, '(document)', (e as Error).message));
          return;
        }
      }
      if (!isEnabled(raw)) {
        disabled++;
        return;
      }
      const owner = ownerOf(raw);
      if (owner === undefined) unowned++;
      else if (!seen[collection].has(owner)) seen[collection].set(owner, index);
      if (tooDeep(raw, MAX_DOCUMENT_DEPTH)) {
        // Before anything recursive (the cache key, the hash) sees it.
        errors.push(new DocumentError(collection, owner, index, '(document)', `is nested more than ${MAX_DOCUMENT_DEPTH} levels deep (MongoDB's own limit)`));
        if (owner !== undefined) failedIds.add(owner);
        return;
      }
      const key = item instanceof RawDocument ? rawKey : reuse?.key(raw, collection);
      const k = key === undefined || item instanceof RawDocument ? undefined : reuse!.known(key);
      if (k) return add(k, index);
      const r = safeBotSpec(raw, collection, index, opts);
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
      for (const message of spec.warnings) warnings.push({ collection, id: spec.id, message: printable(message) });
    }
  };
  take(docs.bots, 'bots');
  take(docs.bot_schedules, 'bot_schedules');
  // One id in both collections: both objects would reference Secret bot-<id>-config and the
  // Secrets sync keys its work by id, so one bot would run with the other's config. Neither wins.
  const both = new Set<string>();
  for (const [id, index] of seen.bots) {
    const other = seen.bot_schedules.get(id);
    if (other === undefined) continue;
    both.add(id);
    failedIds.add(id);
    errors.push(new DocumentError('bots', id, index, 'id', `the same id is also in bot_schedules (#${other}): both would use Secret ${configSecretName(id)}; rename one`));
    errors.push(new DocumentError('bot_schedules', id, other, 'id', `the same id is also in bots (#${index}): both would use Secret ${configSecretName(id)}; rename one`));
  }
  const unclaimed = <T extends { id: string }>(list: T[]) => (both.size === 0 ? list : list.filter((s) => !both.has(s.id)));
  const kept = { specs: unclaimed(specs), known: unclaimed(known), warnings: both.size === 0 ? warnings : warnings.filter((w) => !both.has(w.id)) };
  return {
    specs: kept.specs,
    errors,
    warnings: kept.warnings,
    failedIds,
    unowned,
    counts: { bots: docs.bots.length, bot_schedules: docs.bot_schedules.length, disabled },
    known: kept.known,
  };
}

/** The bot id a document claims, if it is one a file could be named after. */
function ownerOf(raw: unknown): string | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && BOT_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * toBotSpec, with anything it throws (a value no check foresaw) turned into that document's
 * error: one document must never stop the render of the others.
 */
function safeBotSpec(raw: unknown, collection: Collection, index: number, opts: ModelOptions): ReturnType<typeof toBotSpec> {
  try {
    return toBotSpec(raw, collection, index, opts);
  } catch (e) {
    const id = ownerOf(raw);
    const why = e instanceof RangeError ? 'is too deeply nested or too large to process' : `could not be processed (${(e as Error).name})`;
    return { errors: [new DocumentError(collection, id, index, '(document)', why)] };
  }
}

/** Whether a run over this fleet may remove files (and Secrets) of bots it does not render. */
export function mayRemove(fleet: Pick<Fleet, 'unowned'>): boolean {
  return fleet.unowned === 0;
}

/** The error line of a fleet whose unowned documents stop every removal. */
export function unownedProblem(fleet: Pick<Fleet, 'unowned'>): string | undefined {
  if (fleet.unowned === 0) return undefined;
  return `${fleet.unowned} enabled document(s) have no usable bot id, so any bot could be theirs: nothing is removed in this run (fix or delete those documents)`;
}

const botIds = new WeakMap<Fleet, ReadonlySet<string>>();

/** Every bot id of a fleet: valid, failed and known (validated earlier) alike. */
export function allBotIds(fleet: Fleet): ReadonlySet<string> {
  // Asked several times per publish of a large fleet; a Fleet is never changed once built.
  const memo = botIds.get(fleet);
  if (memo) return memo;
  const ids = new Set<string>();
  for (const s of fleet.specs) ids.add(s.id);
  for (const k of fleet.known) ids.add(k.id);
  for (const id of fleet.failedIds) ids.add(id);
  botIds.set(fleet, ids);
  return ids;
}
