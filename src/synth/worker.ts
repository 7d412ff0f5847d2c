import { parentPort } from 'node:worker_threads';
import type { RenderSettings } from '../settings';
import { BatchItem, BatchTask, runBatch } from './batch';
import type { HookedTaskMessage } from './pool';
import { BotRenderer } from './render';
import type { ShapeTemplate } from './template';

/** Templates the calling thread built, sent before the first task (see pool.ts). */
export interface SeedMessage {
  readonly seed: Array<[string, ShapeTemplate | null]>;
  readonly settings: RenderSettings;
}

// A worker keeps its renderer (templates, and one cdk8s App once needed) across tasks with the same settings.
let renderer: BotRenderer | undefined;
let rendererKey = '';

function rendererFor(settings: RenderSettings): BotRenderer {
  const key = JSON.stringify(settings);
  if (!renderer || key !== rendererKey) {
    renderer = new BotRenderer(settings);
    rendererKey = key;
  }
  return renderer;
}

// Chunks with a hook (see ChunkHook in pool.ts) are answered in the order they came, one at a time.
let hooked: Promise<void> = Promise.resolve();

function runHooked(m: HookedTaskMessage): Promise<void> {
  return (async () => {
    try {
      const items = runBatch(m.hooked, rendererFor(m.hooked.settings));
      const { chunkHook } = require(m.module) as { chunkHook: (items: BatchItem[], input: unknown) => Promise<unknown> };
      const out = await chunkHook(items, m.input);
      parentPort!.postMessage({ ok: true, items: items.map(({ text: _text, ...item }) => item), out });
    } catch (e) {
      parentPort!.postMessage({ ok: false, error: (e as Error).stack ?? String(e) });
    }
  })();
}

parentPort!.on('message', (m: BatchTask | SeedMessage | HookedTaskMessage) => {
  if ('seed' in m) {
    rendererFor(m.settings).templates?.seed(m.seed);
    return;
  }
  if ('hooked' in m) {
    hooked = hooked.then(() => runHooked(m));
    return;
  }
  try {
    parentPort!.postMessage({ ok: true, items: runBatch(m, rendererFor(m.settings)) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: (e as Error).stack ?? String(e) });
  }
});
