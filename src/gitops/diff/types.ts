// The data of a diff: what a report shows and what publish's guards count.
import { FleetsynthError } from '../../errors';
import type { RolloutPreview } from '../rollout/preview';

/** Directory under the output root with the live service's own manifests. */
export const PLATFORM_DIR = 'platform';

/** What a file holds: a realtime bot, a schedule or a platform manifest. */
export type EntryKind = 'bot' | 'schedule' | 'platform';
/** What happened to it. */
export type EntryStatus = 'added' | 'removed' | 'changed';
/** The reviewable aspects of a bot; `other` is any remaining YAML difference. */
export type ChangeField = 'path' | 'image' | 'runtime' | 'version' | 'schedule' | 'resources' | 'pod' | 'entrypoints' | 'config' | 'secret' | 'other';

/** One change of one field. Values are display text taken from the rendered files, which hold no secret. */
export interface FieldChange {
  readonly field: ChangeField;
  /** Which part: container resource, entrypoint, config key path, object path. */
  readonly key?: string;
  /** Old value; absent when there was none or it must not be shown. */
  readonly from?: string;
  /** New value; absent when there is none or it must not be shown. */
  readonly to?: string;
  /** Instead of or beside values: `added`, `removed`, `secret changed`, `secret added`, … */
  readonly note?: string;
}

/** One file's change. */
export interface DiffEntry {
  /** Path under the output root (the base path when removed). */
  readonly path: string;
  /** Previous path when the file moved (shard count changed). */
  readonly basePath?: string;
  readonly kind: EntryKind;
  /** Bot or schedule id. */
  readonly id?: string;
  readonly status: EntryStatus;
  /** For changed files: what changed; for added/removed ones: their key facts. */
  readonly changes: FieldChange[];
}

/** Everything that differs between a base tree and a render. */
export interface FleetDiff {
  /** What was compared against, e.g. `HEAD:dist` (credentials redacted). */
  readonly base: string;
  /** Changed files, sorted by path. */
  readonly entries: DiffEntry[];
  /** Files of failed bots that stay as they are (never reported as removed). */
  readonly kept: string[];
  readonly summary: { readonly added: number; readonly changed: number; readonly removed: number; readonly unchanged: number; readonly kept: number };
  /** A fleet-wide change, as its rollout plan (absent when no rollout is under way). */
  readonly rollout?: RolloutPreview;
}

/** Options of `diffTrees`. */
export interface DiffOptions {
  /** Label of the base in reports. */
  readonly base?: string;
  /** Ids whose documents failed: their base files are kept, not removed. */
  readonly failedIds?: ReadonlySet<string>;
  /** Every base bot file missing from the render is kept, not removed (a document of unknown owner). */
  readonly keepAll?: boolean;
  /** Only these bot ids are compared (a partial render); platform files are then skipped. */
  readonly onlyIds?: ReadonlySet<string>;
  /** Compare platform files; default: when the current tree has any. */
  readonly platform?: boolean;
}

/** Raised when the base cannot be read. */
export class DiffBaseError extends FleetsynthError {
  constructor(message: string, opts: { readonly hint?: string } = {}) {
    super(message, { hint: opts.hint ?? 'pass --base <git ref> of the repository in the current directory, or --base <dir>' });
  }
}
