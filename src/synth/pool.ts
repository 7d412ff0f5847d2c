import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchItem, BatchTask } from './batch';

/** Fleets smaller than this render in the calling thread: starting workers would cost more. */
export const WORKER_THRESHOLD = 1500;

/** Default number of render threads: one per core, at most 8. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

function workerFile(): string {
  // Compiled: lib/src/synth/worker.js beside this file. Under ts-jest/tsx (a .ts file), use the
  // compiled copy that `npm run build` produced.
  const here = path.join(__dirname, 'worker.js');
  if (fs.existsSync(here)) return here;
  const built = path.resolve(__dirname, '../../lib/src/synth/worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`render worker not found (looked for ${here} and ${built}); run "npm run build"`);
}

/** Runs batch tasks on worker threads, one task per worker at a time. */
export async function runOnWorkers(tasks: BatchTask[], workers: number): Promise<BatchItem[][]> {
  const file = workerFile();
  const results: BatchItem[][] = new Array(tasks.length);
  let next = 0;
  const pool = Array.from({ length: Math.min(workers, tasks.length) }, () => new Worker(file));
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const give = () => {
              if (next >= tasks.length) return resolve();
              const i = next++;
              w.once('message', (m: { ok: boolean; items?: BatchItem[]; error?: string }) => {
                if (!m.ok) return reject(new Error(`render worker failed: ${m.error}`));
                results[i] = m.items!;
                give();
              });
              w.postMessage(tasks[i]);
            };
            w.once('error', reject);
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
