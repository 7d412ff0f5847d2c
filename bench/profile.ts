/**
 * CPU profile of one full synth, everything in one thread (`--workers 0`) so the profile shows
 * the whole picture, then a summary of the .cpuprofile: top functions by self time and self
 * time per package / fleetsynth file.
 *
 *   node -r tsx/cjs bench/profile.ts [documents=10000] [top=25]
 *   node -r tsx/cjs bench/profile.ts --summarize <file.cpuprofile> [top=25]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareWorkDir, removeWorkDir } from './disk';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = path.resolve(__dirname, '..');

/** Where a frame's code lives: an npm package, a fleetsynth file, or the runtime. */
function owner(url: string, fn: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('file://') || url.startsWith('/')) return `fleetsynth ${path.relative(ROOT, url.replace(/^file:\/\//, ''))}`;
  if (url.startsWith('node:')) return 'node internals';
  return fn.startsWith('(') ? fn : `native ${fn}`;
}

/** Top self-time functions and self time per owner. */
export function summarize(file: string, top = 25): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const owners = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    const where = owner(cf.url, cf.functionName);
    const file = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}  [${where.replace(/^fleetsynth /, '')}${file && !where.startsWith('fleetsynth') ? ` ${file}` : `:${cf.lineNumber + 1}`}]`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    owners.set(where, (owners.get(where) ?? 0) + us);
  }
  const row = (us: number, label: string) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${label}`;
  const lines = [`total sampled: ${(total / 1000).toFixed(0)} ms`, '', 'top functions by self time:'];
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(row(us, k));
  lines.push('', 'self time by package / fleetsynth file:');
  for (const [k, us] of [...owners].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(row(us, k));
  return lines.join('\n');
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--summarize') {
    console.log(summarize(argv[1], Number(argv[2] ?? 25)));
    return;
  }
  const n = argv[0] ?? '10000';
  const top = Number(argv[1] ?? 25);
  const { dir, disk } = prepareWorkDir('profile');
  if (!disk.quiet) console.warn(`warning: creating files is slow (${disk.usPerCreate.toFixed(0)} µs each): the profile shows it`);
  const profDir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(profDir, { recursive: true });
  const name = `synth-${n}-inline.cpuprofile`;
  try {
    const r = spawnSync(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', name, '-r', 'tsx/cjs', 'bench/child.ts', 'full', n, path.join(dir, 'out'), '0'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    console.log(`synth (inline, under the profiler): ${r.stdout.trim()}`);
  } finally {
    removeWorkDir(dir);
  }
  console.log(`profile: ${path.relative(ROOT, path.join(profDir, name))}\n`);
  console.log(summarize(path.join(profDir, name), top));
}

if (require.main === module) main();
