// Cost of a customization hook (README, "Customize the bots"): with a hook every bot is rendered
// directly by cdk8s in the calling thread (no shape templates, no render workers, no output cache),
// since arbitrary code cannot be proven to be a pure substitution of values.
//
//   node -r tsx/cjs bench/customize.ts [documents=10000] [reps=3]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JsonPatch } from 'cdk8s';
import { BotCustomizer, synthFleet } from '../src';
import { generateFleet } from '../src/testing/fleet-gen';

const n = Number(process.argv[2] ?? 10000);
const reps = Number(process.argv[3] ?? 3);
const docs = generateFleet(n, 42);

const noop: BotCustomizer = () => undefined;
const priority: BotCustomizer = (_bot, objects) => {
  for (const o of objects) {
    o.metadata.addLabel('example.com/team', 'trading');
    if (o.kind === 'Deployment') o.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', 'trading-bots'));
    if (o.kind === 'CronJob') o.addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/priorityClassName', 'trading-bots'));
  }
};

async function time(label: string, opts: { customize?: BotCustomizer; workers?: number }): Promise<void> {
  const runs: number[] = [];
  let files = 0;
  for (let i = 0; i < reps; i++) {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-bench-hook-'));
    const t0 = performance.now();
    const r = await synthFleet({ documents: JSON.parse(JSON.stringify(docs)), outDir, cache: { off: true }, ...opts });
    runs.push(performance.now() - t0);
    files = r.written.length;
    if (r.errors.length > 0) throw new Error(r.errors[0]);
    fs.rmSync(outDir, { recursive: true, force: true });
  }
  runs.sort((a, b) => a - b);
  console.log(`| ${label} | ${files} | ${(runs[Math.floor(runs.length / 2)] / 1000).toFixed(2)} s | ${runs.map((r) => (r / 1000).toFixed(2)).join(', ')} |`);
}

async function main(): Promise<void> {
  console.log(`${n} documents, ${reps} runs each, output cache off, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  console.log('| run | files | median | runs |');
  console.log('|---|---:|---:|---|');
  await time('no hook (templates, default threads)', {});
  await time('no hook, one thread (workers: 0)', { workers: 0 });
  await time('no-op hook (direct render, one thread)', { customize: noop });
  await time('hook: label + priorityClassName patch', { customize: priority });
}

void main();
