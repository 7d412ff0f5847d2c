import { parentPort } from 'node:worker_threads';
import type { RenderSettings } from '../settings';
import { BatchTask, runBatch } from './batch';
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

parentPort!.on('message', (m: BatchTask | SeedMessage) => {
  if ('seed' in m) {
    rendererFor(m.settings).templates?.seed(m.seed);
    return;
  }
  try {
    parentPort!.postMessage({ ok: true, items: runBatch(m, rendererFor(m.settings)) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: (e as Error).stack ?? String(e) });
  }
});
