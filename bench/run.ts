/**
 * fleetsynth benchmark (issue 8): full synth, baseline (naive cdk8s-plus), floor, no-op resynth
 * and single-bot re-render, each measured program in its own child process.
 *
 *   npm run bench                          sizes 1000, 10000, 50000
 *   npm run bench -- --sizes 1000,10000    other sizes
 *   npm run bench -- --reps 5              repetitions of full synth and floor (median reported)
 *   npm run bench -- --naive-50k           also run the baseline at 50,000 (minutes, GBs of RAM)
 *   npm run bench -- --workers 0           full synth with this many render threads
 *
 * Prints a table and writes it as JSON to bench/results/latest.json. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { DiskState, prepareWorkDir, probeDisk, removeWorkDir } from './disk';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

interface Args {
  sizes: number[];
  reps: number;
  naive50k: boolean;
  naiveMaxN: number;
  workers?: number;
  changes: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [1000, 10000, 50000], reps: 3, naive50k: false, naiveMaxN: 10000, changes: 200 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--sizes': a.sizes = v.split(',').map(Number); i++; break;
      case '--reps': a.reps = Number(v); i++; break;
      case '--naive-50k': a.naive50k = true; break;
      case '--workers': a.workers = Number(v); i++; break;
      case '--changes': a.changes = Number(v); i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

type Json = Record<string, number>;
type Run = Json & { wallMs: number; load1: number };

/** Runs one program in a child node process; returns its JSON line plus the process wall time. */
function runChild(script: string, args: string[], timeoutMs = 30 * 60_000): Run {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', 'tsx/cjs', path.join('bench', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    timeout: timeoutMs,
  });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  // Other processes on the machine show in wall times: keep the 1-minute load with each run.
  return { ...(JSON.parse(line) as Json), wallMs, load1: os.loadavg()[0] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmtMs = (ms: number | undefined) => (ms === undefined ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtRatio = (r: number | undefined) => (r === undefined ? '—' : r < 1 ? `${r.toFixed(3)} (${(1 / r).toFixed(1)}× faster)` : `${r.toFixed(2)}×`);

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const { dir: work, disk } = prepareWorkDir('run');
  let seq = 0;
  const fresh = (label: string) => path.join(work, `${label}-${seq++}`);
  if (!disk.quiet) console.warn(`warning: creating files is slow on ${work} (${disk.usPerCreate.toFixed(0)} µs each): results include it`);
  let diskAfter: DiskState | undefined;

  const rows: Array<Record<string, unknown>> = [];
  let single: Json | undefined;
  let noop: { ms: number; cpuMs: number; runsMs: number[]; written: number; touched: number; unchanged: number; fullMs: number } | undefined;
  try {
    for (const n of args.sizes) {
      const reps = n > 10000 ? 1 : args.reps;
      const full: Run[] = [];
      const withConfig: Run[] = [];
      const floor: Run[] = [];
      let firstOut = '';
      for (let r = 0; r < reps; r++) {
        const outDir = fresh(`fleetsynth-${n}`);
        if (r === 0) firstOut = outDir;
        const wargs = args.workers === undefined ? [] : [String(args.workers)];
        full.push(runChild('child.ts', ['full', String(n), outDir, ...wargs]));
        // Same run, alternated with the plain one: load on the machine falls on both alike.
        if (n === 10000) withConfig.push(runChild('child.ts', ['config', String(n), fresh(`config-${n}`), ...wargs]));
        floor.push(runChild('floor.ts', [String(n), fresh(`floor-${n}`)]));
        process.stderr.write(`  ${n}: fleetsynth ${fmtMs(full[r].ms)}, floor ${fmtMs(floor[r].ms)}\n`);
      }
      let naive: Run | undefined;
      if (n <= args.naiveMaxN || (args.naive50k && n <= 50000)) {
        naive = runChild('naive.ts', [String(n), fresh(`naive-${n}`)], 60 * 60_000);
        process.stderr.write(`  ${n}: baseline ${fmtMs(naive.ms)}\n`);
      }
      const fsMs = median(full.map((x) => x.ms));
      const floorMs = median(floor.map((x) => x.ms));
      rows.push({
        documents: n,
        bots: full[0].files,
        objects: full[0].objects,
        fleetsynthMs: fsMs,
        fleetsynthRuns: full.map((x) => x.ms),
        fleetsynthCpuMs: median(full.map((x) => x.cpuMs)),
        fleetsynthSysMs: median(full.map((x) => x.sysMs)),
        fleetsynthMinMs: Math.min(...full.map((x) => x.ms)),
        fleetsynthRssMb: Math.max(...full.map((x) => x.maxRssMb)),
        objectsPerSec: (full[0].objects / fsMs) * 1000,
        loadMs: median(full.map((x) => x.loadMs)),
        baselineMs: naive?.ms,
        baselineCpuMs: naive?.cpuMs,
        baselineRssMb: naive?.maxRssMb,
        baselineSkipped: naive === undefined ? 'too slow: ~5 min and several GB at 50,000 (run with --naive-50k)' : undefined,
        floorMs,
        floorRuns: floor.map((x) => x.ms),
        floorCpuMs: median(floor.map((x) => x.cpuMs)),
        floorSysMs: median(floor.map((x) => x.sysMs)),
        load1: full.map((x) => x.load1),
        fleetsynthOverBaseline: naive ? fsMs / naive.ms : undefined,
        fleetsynthOverFloor: fsMs / floorMs,
        configMs: withConfig.length ? median(withConfig.map((x) => x.ms)) : undefined,
        configRuns: withConfig.length ? withConfig.map((x) => x.ms) : undefined,
        configOverPlain: withConfig.length ? median(withConfig.map((x) => x.ms)) / fsMs : undefined,
        configCpuOverPlain: withConfig.length ? median(withConfig.map((x) => x.cpuMs)) / median(full.map((x) => x.cpuMs)) : undefined,
        errors: full[0].errors + (withConfig[0]?.errors ?? 0),
      });
      if (n === 10000) {
        // Three no-ops in a row: the first one after a full synth also re-checks the files written
        // in its last 100 ms (racy cache entries, see src/synth/cache.ts); the median is reported.
        const runs = [0, 1, 2].map(() => runChild('child.ts', ['noop', String(n), firstOut]));
        noop = {
          ms: median(runs.map((x) => x.ms)),
          cpuMs: median(runs.map((x) => x.cpuMs)),
          runsMs: runs.map((x) => x.ms),
          written: Math.max(...runs.map((x) => x.written)),
          touched: Math.max(...runs.map((x) => x.touched)),
          unchanged: runs[0].unchanged,
          fullMs: fsMs,
        };
        process.stderr.write(`  ${n}: no-op ${fmtMs(noop.ms)}, ${noop.touched} files touched\n`);
        single = runChild('child.ts', ['single', String(n), firstOut, String(args.changes)]);
        process.stderr.write(`  ${n}: single-bot median ${single.medianMs.toFixed(1)} ms, p99 ${single.p99Ms.toFixed(1)} ms\n`);
      }
    }
    diskAfter = probeDisk(fresh('probe-end'));
  } finally {
    removeWorkDir(work);
  }

  const r10k = rows.find((r) => r.documents === 10000) as Record<string, number> | undefined;
  const r50k = rows.find((r) => r.documents === 50000) as Record<string, number> | undefined;
  const targets = {
    '10k full ≥ 3× faster than baseline': r10k?.fleetsynthOverBaseline !== undefined ? r10k.fleetsynthOverBaseline <= 1 / 3 : undefined,
    '10k full ≤ 2.5× floor': r10k ? r10k.fleetsynthOverFloor <= 2.5 : undefined,
    '10k peak RSS ≤ 400 MB': r10k ? r10k.fleetsynthRssMb <= 400 : undefined,
    '50k time ≤ 5.5× 10k': r10k && r50k ? r50k.fleetsynthMs / r10k.fleetsynthMs <= 5.5 : undefined,
    '50k peak RSS ≤ 1 GB': r50k ? r50k.fleetsynthRssMb <= 1024 : undefined,
    'single-bot median ≤ 20 ms': single ? single.medianMs <= 20 : undefined,
    'single-bot p99 ≤ 50 ms': single ? single.p99Ms <= 50 : undefined,
    'no-op ≤ 25 % of full': noop ? noop.ms <= 0.25 * noop.fullMs : undefined,
    'no-op rewrites no file': noop ? noop.touched === 0 && noop.written === 0 : undefined,
    '10k with a platform config ≤ 1.15× without': r10k?.configOverPlain !== undefined ? r10k.configOverPlain <= 1.15 : undefined,
  };

  const lines: string[] = [];
  lines.push('| documents | bots | objects | fleetsynth | objects/s | peak RSS | baseline (naive cdk8s-plus) | baseline RSS | floor | fleetsynth/baseline | fleetsynth/floor |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows as Array<Record<string, number>>) {
    lines.push(
      `| ${r.documents} | ${r.bots} | ${r.objects} | ${fmtMs(r.fleetsynthMs)} | ${Math.round(r.objectsPerSec)} | ${Math.round(r.fleetsynthRssMb)} MB | ` +
        `${r.baselineMs === undefined ? 'skipped' : fmtMs(r.baselineMs)} | ${r.baselineRssMb === undefined ? '—' : `${Math.round(r.baselineRssMb)} MB`} | ` +
        `${fmtMs(r.floorMs)} | ${fmtRatio(r.fleetsynthOverBaseline)} | ${fmtRatio(r.fleetsynthOverFloor)} |`,
    );
  }
  lines.push('', 'CPU time, all threads (of which system time: file system work):');
  for (const r of rows as Array<Record<string, number>>) {
    lines.push(
      `  ${r.documents}: fleetsynth ${fmtMs(r.fleetsynthCpuMs)} (${fmtMs(r.fleetsynthSysMs)}), floor ${fmtMs(r.floorCpuMs)} (${fmtMs(r.floorSysMs)})` +
        (r.baselineCpuMs === undefined ? '' : `, baseline ${fmtMs(r.baselineCpuMs)}`),
    );
  }
  if (r10k && r50k) lines.push('', `50k / 10k time: ${(r50k.fleetsynthMs / r10k.fleetsynthMs).toFixed(2)}×`);
  if (r10k?.configMs !== undefined) {
    lines.push(
      `10k with the platform config of bench/config.ts (pod: block, 5 rules, one on a config value): ${fmtMs(r10k.configMs)} = ` +
        `${r10k.configOverPlain.toFixed(3)}× without, CPU ${r10k.configCpuOverPlain.toFixed(3)}× (runs ${(r10k.configRuns as unknown as number[]).map((x) => fmtMs(x)).join(', ')})`,
    );
  }
  if (noop) {
    lines.push(
      `no-op resynth of 10k: ${fmtMs(noop.ms)} = ${((100 * noop.ms) / noop.fullMs).toFixed(1)} % of full ` +
        `(runs ${noop.runsMs.map((x) => fmtMs(x)).join(', ')}); ${noop.written} written, ${noop.touched} files with a new mtime`,
    );
  }
  if (single) {
    lines.push(
      `single-bot re-render in the 10k fleet (${single.changes} changes after ${single.warmup} warm-up): ` +
        `median ${single.medianMs.toFixed(1)} ms, p99 ${single.p99Ms.toFixed(1)} ms, max ${single.maxMs.toFixed(1)} ms` +
        (single.wrong ? `, ${single.wrong} WRONG` : ''),
    );
  }
  lines.push(
    '',
    `file creation: ${disk.usPerCreate.toFixed(0)} µs before, ${diskAfter?.usPerCreate.toFixed(0) ?? '?'} µs after the runs` +
      (disk.quiet && diskAfter?.quiet ? ' (quiet disk)' : ' (SLOW: file writes were slowed by other deletions; rerun)'),
    `1-minute load during the runs: ${[...new Set(rows.flatMap((r) => r.load1 as number[]))].map((x) => x.toFixed(1)).join(', ')}`,
  );
  lines.push('', 'targets:');
  for (const [name, ok] of Object.entries(targets)) lines.push(`  ${ok === undefined ? 'n/a ' : ok ? 'PASS' : 'FAIL'}  ${name}`);
  console.log(lines.join('\n'));

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg(), memGb: os.totalmem() / 2 ** 30 },
    disk,
    diskAfter,
    args,
    rows,
    noop,
    single,
    targets,
    table: lines.join('\n'),
  };
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten: ${path.relative(process.cwd(), path.join(dir, 'latest.json'))}`);
}

main();
