/**
 * One measured fleetsynth program, run by bench/run.ts in its own process so that peak RSS is
 * this run's. Prints one JSON line on stdout.
 *
 *   full   <n> <outDir> [workers]   synthesize a generated fleet into an empty directory
 *   config <n> <outDir>             the same with the realistic platform config of bench/config.ts
 *   noop   <n> <outDir>             synthesize the same fleet again over its own output
 *   single <n> <outDir> <changes>   change one bot at a time and re-render only it
 *
 * Times cover `synthesize()` (validation, render, write, prune) with the documents already in
 * memory, as the CLI and the live service have them after reading the source; module loading is
 * reported separately (`loadMs`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const loadStart = performance.now();
const { generateFleet, buildFleet, secretKeyMatcher, DEFAULT_SETTINGS, synthesize, synthesizeFleet, BotRenderer, settingsFromValues, validateConfig } =
  require('./compiled') as typeof import('./compiled');
const { BENCH_CONFIG } = require('./config') as typeof import('./config');
const loadMs = performance.now() - loadStart;

const settings = DEFAULT_SETTINGS;
const maxRssMb = () => process.resourceUsage().maxRSS / 1024;
/** CPU time of this process, all threads (workers included), in ms. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** System CPU time (file system work shows here), in ms. */
const sysMs = () => process.cpuUsage().system / 1000;
const out = (o: object) => process.stdout.write(JSON.stringify({ loadMs, ...o }) + '\n');

/** Every file under `dir` with its mtime (ns), to prove a no-op rewrote nothing. */
function mtimes(dir: string): Map<string, bigint> {
  const m = new Map<string, bigint>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else m.set(p, fs.statSync(p, { bigint: true }).mtimeNs);
    }
  };
  walk(dir);
  return m;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const [mode, nArg, outDir, extra] = process.argv.slice(2);
  const n = Number(nArg);
  const docs = generateFleet(n, 42);

  if (mode === 'full' || mode === 'config') {
    const workers = extra === undefined ? undefined : Number(extra);
    // Config validation is part of what a run with a config pays.
    const c0 = cpuMs();
    const s0 = sysMs();
    const t0 = performance.now();
    const runSettings = mode === 'config' ? settingsFromValues({}, {}, validateConfig('bench/config.ts', BENCH_CONFIG)).render : settings;
    const r = await synthesize(docs, { outDir, settings: runSettings, workers });
    const ms = performance.now() - t0;
    out({ ms, cpuMs: cpuMs() - c0, sysMs: sysMs() - s0, objects: r.objects, files: r.written.length, errors: r.errors.length, maxRssMb: maxRssMb() });
    return;
  }

  if (mode === 'noop') {
    const before = mtimes(outDir);
    const c0 = cpuMs();
    const t0 = performance.now();
    const r = await synthesize(docs, { outDir, settings });
    const ms = performance.now() - t0;
    const cpu = cpuMs() - c0;
    const after = mtimes(outDir);
    let touched = 0;
    for (const [p, t] of before) if (after.get(p) !== t) touched++;
    touched += [...after.keys()].filter((p) => !before.has(p)).length;
    out({ ms, cpuMs: cpu, objects: r.objects, written: r.written.length, removed: r.removed.length, unchanged: r.unchanged, touched, maxRssMb: maxRssMb() });
    return;
  }

  if (mode === 'single') {
    // What the live service does on a bot event: validate the one document, render it, write it.
    const changes = Number(extra ?? 200);
    const warmup = 20;
    const isSecretKey = secretKeyMatcher(settings.secretKeys);
    const fleet = buildFleet(docs, { isSecretKey });
    const enabled = new Set(fleet.specs.map((s) => s.id));
    const candidates: Array<{ doc: Record<string, unknown>; collection: 'bots' | 'bot_schedules' }> = [];
    for (const collection of ['bots', 'bot_schedules'] as const) {
      for (const d of docs[collection] as Array<Record<string, unknown>>) {
        if (enabled.has(d.id as string)) candidates.push({ doc: d, collection });
      }
    }
    const renderer = new BotRenderer(settings);
    const times: number[] = [];
    let wrong = 0;
    for (let k = 0; k < warmup + changes; k++) {
      const { doc, collection } = candidates[(k * 7919) % candidates.length];
      // A value no earlier run wrote, so every change really changes the file.
      const changed: Record<string, unknown> = { ...doc, config: { ...(doc.config as object), bench_revision: `${process.pid}-${Date.now()}-${k}` } };
      const one = { bots: [] as unknown[], bot_schedules: [] as unknown[] };
      one[collection].push(changed);
      const t0 = performance.now();
      const f = buildFleet(one, { isSecretKey });
      const r = await synthesizeFleet(f, { outDir, settings, onlyIds: new Set([changed.id as string]), renderer });
      const ms = performance.now() - t0;
      if (r.written.length !== 1 || r.removed.length !== 0 || r.errors.length !== 0) wrong++;
      if (k >= warmup) times.push(ms);
    }
    times.sort((a, b) => a - b);
    out({
      changes,
      warmup,
      medianMs: quantile(times, 0.5),
      p99Ms: quantile(times, 0.99),
      maxMs: times[times.length - 1],
      wrong,
      maxRssMb: maxRssMb(),
    });
    return;
  }

  throw new Error(`unknown mode ${mode}`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
