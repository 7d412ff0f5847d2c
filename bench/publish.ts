/**
 * fleetsynth benchmark (issue 17): Git work proportional to what changed. Every row is one whole
 * `node bin/fleetsynth …` process on a generated fleet, timed from spawn to exit, with that
 * process's peak RSS (main thread and render workers; git's own processes are not in it).
 *
 *   npm run bench:publish                        sizes 1000, 10000
 *   npm run bench:publish -- --sizes 1000,10000,50000
 *   npm run bench:publish -- --50k               adds 50,000 (a first publish took 34 s before issue 17)
 *   npm run bench:publish -- --100k              adds 100,000 (opt-in: minutes, GBs)
 *   npm run bench:publish -- --reps 3            repetitions of every row up to 10,000 documents (median reported; 50,000+: one run)
 *   npm run bench:publish -- --serve             also runs bench:serve at each size (event → pushed commit)
 *
 * Rows (the table of issue 17):
 *   synth, empty output dir        `fleetsynth synth --out <new dir>`: the same-run baseline (median of --reps, each into a new dir),
 *                                  run by turns with the first publishes; the diff's ratio divides by
 *                                  another such median, run by turns with the diffs
 *   synth, nothing changed         the same synth again over its output
 *   publish, first publish         `fleetsynth publish` of the whole fleet into an empty bare repository (each repetition a new one)
 *   publish, one bot changed       one bot's document changed (another bot each repetition)
 *   publish, nothing changed       the same source again
 *   diff --base HEAD, runtime image `fleetsynth diff --base HEAD --runtime-image <new>` in a clone of
 *                                  the published repository: every bot file differs (rollouts off, so
 *                                  the diff is the whole fleet-wide change, not its first wave; the
 *                                  clone's HEAD holds the fleet as rendered with rollouts off too, so
 *                                  the change is the image alone)
 *
 * Targets from the issue are checked against the synth of the same run. Writes
 * bench/results/publish.json.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateFleet } from '../src/testing/fleet-gen';
import { prepareWorkDir, removeWorkDir, waitForQuietDisk } from './disk';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'fleetsynth');

interface Args {
  sizes: number[];
  reps: number;
  serve: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [1000, 10000], reps: 3, serve: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--sizes': a.sizes = v.split(',').map(Number); i++; break;
      case '--50k': a.sizes.push(50000); break;
      case '--100k': a.sizes.push(100000); break;
      case '--reps': a.reps = Number(v); i++; break;
      case '--serve': a.serve = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  a.sizes = [...new Set(a.sizes)].sort((x, y) => x - y);
  if (a.sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error('--sizes: positive integers');
  return a;
}

/** One CLI process: wall time, peak RSS of the node process, exit code, stdout lines. */
interface Measure {
  ms: number;
  rssMb: number;
  code: number;
  stdoutLines: number;
  stderrLines: number;
  /** Last stdout lines, for the log. */
  tail: string;
}

/** Written into every measured process with `-r`: its own peak RSS at exit, into a file. */
const RSS_HOOK = `const f = process.env.FLEETSYNTH_BENCH_RSS_FILE;
process.on('exit', () => { if (f) require('fs').writeFileSync(f, String(process.resourceUsage().maxRSS)); });
`;

function fleetsynth(work: string, cwd: string, args: string[], okCodes: readonly number[] = [0]): Measure {
  const hook = path.join(work, 'rss-hook.js');
  if (!fs.existsSync(hook)) fs.writeFileSync(hook, RSS_HOOK);
  const rssFile = path.join(work, 'rss.txt');
  const outFile = path.join(work, 'stdout.txt');
  const errFile = path.join(work, 'stderr.txt');
  fs.rmSync(rssFile, { force: true });
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const env: NodeJS.ProcessEnv = { ...process.env, FLEETSYNTH_BENCH_RSS_FILE: rssFile, FLEETSYNTH_CACHE_DIR: path.join(work, 'cache') };
  delete env.FLEET_SOURCE;
  delete env.MONGO_URI;
  delete env.FLEETSYNTH_CONFIG;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['-r', hook, BIN, ...args], { cwd, env, stdio: ['ignore', out, err], timeout: 60 * 60_000 });
  const ms = performance.now() - t0;
  fs.closeSync(out);
  fs.closeSync(err);
  const stdout = fs.readFileSync(outFile, 'utf8');
  const stderr = fs.readFileSync(errFile, 'utf8');
  const code = r.status ?? -1;
  if (!okCodes.includes(code)) throw new Error(`fleetsynth ${args.join(' ')} exited ${r.status ?? r.signal}:\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  const lines = (s: string) => (s === '' ? 0 : s.replace(/\n$/, '').split('\n').length);
  return {
    ms,
    rssMb: Number(fs.readFileSync(rssFile, 'utf8')) / 1024,
    code,
    stdoutLines: lines(stdout),
    stderrLines: lines(stderr),
    tail: stdout.replace(/\n$/, '').split('\n').slice(-2).join(' | ').slice(0, 300),
  };
}

function git(cwd: string, ...args: string[]): string {
  return spawnSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmtMs = (ms: number | undefined) => (ms === undefined ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const fmtMb = (mb: number | undefined) => (mb === undefined ? '—' : mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${Math.round(mb)} MB`);

type RowKey = 'synthEmpty' | 'synthNoop' | 'publishFirst' | 'publishOne' | 'publishNoop' | 'diffImage';
const ROWS: [RowKey, string][] = [
  ['synthEmpty', '`fleetsynth synth`, empty output dir (baseline)'],
  ['synthNoop', '`fleetsynth synth`, nothing changed'],
  ['publishFirst', '`fleetsynth publish`, first publish'],
  ['publishOne', '`fleetsynth publish`, one bot changed'],
  ['publishNoop', '`fleetsynth publish`, nothing changed'],
  ['diffImage', '`fleetsynth diff --base HEAD` after a runtime-image change'],
];

interface SizeResult {
  documents: number;
  botFiles: number;
  rows: Record<RowKey, Measure & { runsMs?: number[] }>;
  /** The synth baseline measured by turns with the diff rows (the diff's ratio divides by it). */
  synthBesideDiff: Measure & { runsMs: number[] };
  diffedFiles: number;
  serve?: { p50: number; p99: number; breakdown: Record<string, number>; burstCommits: number; burstEvents: number };
  load1: number[];
}

function runSize(n: number, args: Args, work: string): SizeResult {
  const dir = path.join(work, `n${n}`);
  fs.mkdirSync(dir);
  const quiet = (before: string) => {
    const disk = waitForQuietDisk(dir);
    if (!disk.quiet) console.warn(`warning: creating files is slow before the ${n} ${before} (${disk.usPerCreate.toFixed(0)} µs each): results include it`);
  };
  // The previous size's bench:serve removed its directory: its window passes before any row here.
  quiet('rows');
  const docs = generateFleet(n, 42);
  const fleetFile = path.join(dir, 'fleet.json');
  fs.writeFileSync(fleetFile, JSON.stringify(docs));
  // Rollouts off for the diff row: a fleet-wide change shows in full (see the header).
  const noRollout = path.join(dir, 'no-rollout.config.json');
  fs.writeFileSync(noRollout, JSON.stringify({ rollout: { enabled: false } }));
  const remote = path.join(dir, 'remote.git');
  fs.mkdirSync(remote);
  git(remote, 'init', '-q', '--bare', '-b', 'main');
  const wd = path.join(dir, 'work');
  const load1: number[] = [];
  const step = (label: string, m: Measure) => {
    load1.push(os.loadavg()[0]);
    process.stderr.write(`  ${n}: ${label.padEnd(22)} ${fmtMs(m.ms).padStart(8)}  ${fmtMb(m.rssMb).padStart(8)}  (exit ${m.code}, ${m.stdoutLines} stdout lines)\n`);
    return m;
  };
  const reps = n > 10000 ? 1 : args.reps;
  const summarize = (runs: Measure[]): Measure & { runsMs: number[] } => {
    const m = median(runs.map((r) => r.ms));
    const pick = runs.find((r) => r.ms === m)!;
    return { ...pick, rssMb: Math.max(...runs.map((r) => r.rssMb)), runsMs: runs.map((r) => r.ms) };
  };
  const label = (l: string, i: number) => `${l}${reps > 1 ? ` #${i + 1}` : ''}`;
  const repeat = (l: string, run: (i: number) => Measure) => summarize(Array.from({ length: reps }, (_, i) => step(label(l, i), run(i))));
  // A row and its baseline run by turns (A B A B …): this machine's speed drifts by 10–15 % over
  // minutes, and a ratio of two medians taken minutes apart measured the drift as well.
  const alternate = (la: string, a: (i: number) => Measure, lb: string, b: (i: number) => Measure) => {
    const ra: Measure[] = [];
    const rb: Measure[] = [];
    for (let i = 0; i < reps; i++) {
      ra.push(step(label(la, i), a(i)));
      rb.push(step(label(lb, i), b(i)));
    }
    return [summarize(ra), summarize(rb)] as const;
  };

  const source = ['--source', fleetFile];
  const out = path.join(dir, 'synth-out');
  const publish = (file: string) => ['publish', '--source', file, '--repo', remote, '--work-dir', wd, '--path', 'dist'];
  // The baseline every ratio divides by: a median too (one slow run would flatter every ratio),
  // each into a new directory, by turns with the first publishes.
  // A first publish into an empty bare repository and a fresh working copy each repetition; the
  // last one's repository is the one the rows below work on. The others' are left until the end:
  // removing 9,000 files here made the next repetition's file creation cost seconds of system
  // time (see disk.ts), which is the file system's, not fleetsynth's.
  const [synthEmpty, publishFirst] = alternate(
    'synth, empty dir',
    (i) => fleetsynth(work, dir, ['synth', ...source, '--out', i === reps - 1 ? out : `${out}-${i}`]),
    'publish, first',
    (i) => {
      if (i < reps - 1) {
        const r = path.join(dir, `remote-${i}.git`);
        fs.mkdirSync(r);
        git(r, 'init', '-q', '--bare', '-b', 'main');
        return fleetsynth(work, dir, ['publish', '--source', fleetFile, '--repo', r, '--work-dir', path.join(dir, `work-${i}`), '--path', 'dist']);
      }
      return fleetsynth(work, dir, publish(fleetFile));
    },
  );
  const synthNoop = repeat('synth, no change', () => fleetsynth(work, dir, ['synth', ...source, '--out', out]));
  const botFiles = git(remote, 'ls-tree', '-r', '--name-only', 'main').split('\n').filter((l) => /^dist\/bots\/.*\.yaml$/.test(l)).length;
  // One bot's document changes; another bot each repetition, every one enabled and realtime.
  const enabled = (docs.bots as { id: string; config: Record<string, unknown> }[]).filter((b) => b.config.enabled !== false);
  const publishOne = repeat('publish, one bot', (i) => {
    const bot = enabled[(i * 7919) % enabled.length];
    bot.config.threshold = 4242 + i;
    const file = path.join(dir, `fleet-one-${i}.json`);
    fs.writeFileSync(file, JSON.stringify(docs));
    const m = fleetsynth(work, dir, publish(file));
    fs.copyFileSync(file, fleetFile);
    return m;
  });
  const commitsBefore = git(remote, 'rev-list', '--count', 'main').trim();
  const publishNoop = repeat('publish, no change', () => fleetsynth(work, dir, publish(fleetFile)));
  if (git(remote, 'rev-list', '--count', 'main').trim() !== commitsBefore) throw new Error('a publish with nothing changed made a commit');

  const clone = path.join(dir, 'clone');
  spawnSync('git', ['clone', '-q', remote, clone]);
  // The base is the same fleet as a repository with rollouts off holds it (publish's files carry
  // the rollout's generation annotation): the diff then shows the image change alone, as its
  // reviewer sees it, not also that annotation removed from every bot. Not measured.
  // No automatic gc (it would run in the background during the rows); packed as a clone is.
  fleetsynth(work, clone, ['synth', ...source, '--out', 'dist', '--config', noRollout]);
  git(clone, 'add', '-A', 'dist');
  git(clone, '-c', 'gc.auto=0', '-c', 'maintenance.auto=false', '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'rollouts off');
  git(clone, 'repack', '-a', '-d', '-q');
  // That rewrote 9,000 files and removed as many loose objects: their window passes first.
  quiet('diff rows');
  // The diff's own baseline: synths of the same fleet (new directories) by turns with it.
  const [synthBesideDiff, diffImage] = alternate(
    'synth, empty dir',
    (i) => fleetsynth(work, dir, ['synth', ...source, '--out', `${out}-d${i}`]),
    'diff, runtime image',
    () => fleetsynth(work, clone, ['diff', ...source, '--base', 'HEAD', '--out', 'dist', '--runtime-image', 'ghcr.io/the0/runtime:bench-new', '--config', noRollout], [0, 2]),
  );
  const summary = fs.readFileSync(path.join(work, 'stdout.txt'), 'utf8').split('\n')[0];
  const counts = /(\d+) added, (\d+) changed, (\d+) removed/.exec(summary);
  const diffedFiles = counts ? Number(counts[1]) + Number(counts[2]) + Number(counts[3]) : NaN;

  let serve: SizeResult['serve'];
  if (args.serve) {
    process.stderr.write(`  ${n}: bench:serve …\n`);
    const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join('bench', 'serve.ts'), '--bots', String(n), '--events', '30'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`bench/serve.ts --bots ${n} failed:\n${r.stderr.slice(-3000)}`);
    const s = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'results', 'serve.json'), 'utf8'));
    serve = { p50: s.eventToPushMs.p50, p99: s.eventToPushMs.p99, breakdown: s.serverQueueToPushMs.p50Breakdown, burstCommits: s.burst.commits, burstEvents: s.burst.events };
  }
  return { documents: n, botFiles, rows: { synthEmpty, synthNoop, publishFirst, publishOne, publishNoop, diffImage }, synthBesideDiff, diffedFiles, serve, load1 };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const { dir: work, disk } = prepareWorkDir('publish');
  if (!disk.quiet) console.warn(`warning: creating files is slow on ${work} (${disk.usPerCreate.toFixed(0)} µs each): results include it`);
  const results: SizeResult[] = [];
  try {
    for (const n of args.sizes) results.push(runSize(n, args, work));
  } finally {
    removeWorkDir(work);
  }

  const lines: string[] = [];
  lines.push(`| | ${results.map((r) => `${r.documents.toLocaleString('en')} documents`).join(' | ')} |`);
  lines.push(`|---|${results.map(() => '---|').join('')}`);
  for (const [key, label] of ROWS) {
    const cell = (r: SizeResult) => {
      const m = r.rows[key];
      const extra = key === 'diffImage' && Number.isFinite(r.diffedFiles) ? ` (${r.diffedFiles.toLocaleString('en')} files differ)` : '';
      return `${fmtMs(m.ms)}, ${fmtMb(m.rssMb)}${extra}`;
    };
    lines.push(`| ${label} | ${results.map(cell).join(' | ')} |`);
  }
  if (results.some((r) => r.serve)) {
    lines.push(
      `| \`serve\`: NATS event → pushed commit (bench:serve, 200 ms window) | ${results
        .map((r) => (r.serve ? `p50 ${Math.round(r.serve.p50)} ms, p99 ${Math.round(r.serve.p99)} ms (git sync ${r.serve.breakdown.gitSyncMs} + commit/push ${r.serve.breakdown.commitPushMs} ms; burst of ${r.serve.burstEvents}: ${r.serve.burstCommits} commits)` : '—'))
        .join(' | ')} |`,
    );
  }
  lines.push('', 'stdout lines (a CI log): ' + results.map((r) => `${r.documents}: publish first ${r.rows.publishFirst.stdoutLines}, diff ${r.rows.diffImage.stdoutLines}`).join('; '));
  lines.push('', 'against the synth of the same run:');
  for (const r of results) {
    const s = r.rows;
    lines.push(
      `  ${r.documents}: first publish ${(s.publishFirst.ms / s.synthEmpty.ms).toFixed(2)}× synth, diff ${(s.diffImage.ms / r.synthBesideDiff.ms).toFixed(2)}× synth (${fmtMs(r.synthBesideDiff.ms)}, by turns with it), ` +
        `one-bot publish ${(s.publishOne.ms / s.synthNoop.ms).toFixed(2)}× no-op synth, no-op publish ${(s.publishNoop.ms / s.synthNoop.ms).toFixed(2)}× no-op synth` +
        (s.publishOne.runsMs ? ` (one-bot runs ${s.publishOne.runsMs.map(fmtMs).join(', ')}; no-op runs ${s.publishNoop.runsMs!.map(fmtMs).join(', ')})` : ''),
    );
  }
  const at = (n: number) => results.find((r) => r.documents === n);
  const r10 = at(10000);
  const r50 = at(50000);
  const r100 = at(100000);
  const targets: Record<string, boolean | undefined> = {
    'first publish ≤ 2× synth (every size)': results.every((r) => r.rows.publishFirst.ms <= 2 * r.rows.synthEmpty.ms),
    'one-bot publish ≤ 1.0 s at 10k': r10 && r10.rows.publishOne.ms <= 1000,
    'one-bot publish ≤ 1.5 s at 50k': r50 && r50.rows.publishOne.ms <= 1500,
    'no-op publish ≤ 0.8 s at 10k': r10 && r10.rows.publishNoop.ms <= 800,
    'no-op publish ≤ 2.0 s at 50k': r50 && r50.rows.publishNoop.ms <= 2000,
    'diff of a fleet-wide change ≤ 2× synth at 10k': r10 && r10.rows.diffImage.ms <= 2 * r10.synthBesideDiff.ms,
    'diff peak RSS ≤ 300 MB at 10k': r10 && r10.rows.diffImage.rssMb <= 300,
    'publish peak RSS ≤ 600 MB at 50k': r50 && Math.max(r50.rows.publishFirst.rssMb, r50.rows.publishOne.rssMb, r50.rows.publishNoop.rssMb) <= 600,
    '100k synth ≤ 11× 10k': r10 && r100 && r100.rows.synthEmpty.ms <= 11 * r10.rows.synthEmpty.ms,
    '100k synth peak RSS ≤ 1 GB': r100 && r100.rows.synthEmpty.rssMb <= 1024,
  };
  lines.push('', `1-minute load during the runs: ${results.map((r) => `${r.documents}: ${Math.min(...r.load1).toFixed(1)}–${Math.max(...r.load1).toFixed(1)}`).join(', ')}`);
  lines.push('', 'targets:');
  for (const [name, ok] of Object.entries(targets)) lines.push(`  ${ok === undefined ? 'n/a ' : ok ? 'PASS' : 'FAIL'}  ${name}`);
  console.log(lines.join('\n'));

  const file = path.join(ROOT, 'bench', 'results', 'publish.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, git: git(ROOT, '--version').trim() },
    disk,
    args,
    results,
    targets,
    table: lines.join('\n'),
  };
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
}

main();
