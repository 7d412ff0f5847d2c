import * as path from 'node:path';
import type { BotSpec } from '../model/bot';
import type { RenderSettings } from '../settings';
import { BotRenderer } from './render';
import { WriteStatus, writeIfChanged } from './writer';

/** A slice of the fleet to render (and write) in one thread. */
export interface BatchTask {
  /** Render settings. */
  readonly settings: RenderSettings;
  /** Bots to render. */
  readonly specs: readonly BotSpec[];
  /** Output root; files are written under it unless `write` is false. */
  readonly outDir?: string;
  /** Relative paths that exist in the output tree (so missing files skip the read). */
  readonly existing: readonly string[];
  /** Write changed files. */
  readonly write: boolean;
  /** Return each file's text (for diff and publish). */
  readonly collect: boolean;
}

/** What happened to one bot. */
export interface BatchItem {
  readonly id: string;
  readonly kind: BotSpec['kind'];
  readonly relPath: string;
  readonly objects: number;
  /** `leak` when a secret value was found: the file is not written. */
  readonly status: WriteStatus | 'leak' | 'rendered';
  /** Secret key paths that leaked. */
  readonly leaks: string[];
  /** File text, when collected. */
  readonly text?: string;
  /** Render failure (a bug or an unexpected value), named by bot. */
  readonly error?: string;
}

/** Renders a slice of the fleet in this thread. */
export function runBatch(task: BatchTask, renderer = new BotRenderer(task.settings)): BatchItem[] {
  const existing = new Set(task.existing);
  const out: BatchItem[] = [];
  for (const spec of task.specs) {
    let r;
    try {
      r = renderer.render(spec);
    } catch (e) {
      out.push({ id: spec.id, kind: spec.kind, relPath: '', objects: 0, status: 'rendered', leaks: [], error: (e as Error).message });
      continue;
    }
    let status: BatchItem['status'] = 'rendered';
    if (r.leaks.length > 0) status = 'leak';
    else if (task.write && task.outDir) status = writeIfChanged(path.join(task.outDir, r.relPath), r.text, existing.has(r.relPath));
    out.push({
      id: r.id,
      kind: r.kind,
      relPath: r.relPath,
      objects: r.objects,
      status,
      leaks: r.leaks,
      text: task.collect && status !== 'leak' ? r.text : undefined,
    });
  }
  return out;
}
