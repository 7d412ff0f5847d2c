import { parentPort } from 'node:worker_threads';
import { BatchTask, runBatch } from './batch';
import { BotRenderer } from './render';

// A worker keeps its renderer (one cdk8s App) across tasks with the same settings.
let renderer: BotRenderer | undefined;
let rendererKey = '';

parentPort!.on('message', (task: BatchTask) => {
  try {
    const key = JSON.stringify(task.settings);
    if (!renderer || key !== rendererKey) {
      renderer = new BotRenderer(task.settings);
      rendererKey = key;
    }
    parentPort!.postMessage({ ok: true, items: runBatch(task, renderer) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: (e as Error).stack ?? String(e) });
  }
});
