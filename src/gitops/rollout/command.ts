// `fleetsynth rollout status|pause|resume|abort`, and what `publish` needs to take part in
// rollouts (the health reader from the standard kubeconfig / in-cluster credentials, the version).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { FleetsynthError } from '../../errors';
import { addRenderOptions, openSettingsSource, resolveSettings } from '../../settings';
import { publish } from '../publish';
import { GitWorkspace } from '../workspace';
import { rolloutPollMs } from './controller';
import { describeChange } from './generation';
import { healthFromCredentials } from './health';
import type { RolloutOptions } from './plan';
import { ROLLOUT_FILE, RolloutSettings, RolloutState, parseRolloutState } from './state';

type Io = { out: (s: string) => void; err: (s: string) => void };

let version: string | undefined;
/** fleetsynth's own version (package.json above this file, compiled or not). */
export function fleetsynthVersion(): string {
  if (version) return version;
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'fleetsynth') return (version = pkg.version ?? '0.0.0');
  }
  return (version = '0.0.0');
}

/** Rollout options of a publish from its settings and flags. */
export function rolloutOptions(settings: RolloutSettings, o: { kubeconfig?: string; supersede?: boolean; namespace: string; command?: RolloutOptions['command'] }): RolloutOptions {
  return {
    settings,
    version: fleetsynthVersion(),
    health: healthFromCredentials(o.kubeconfig, o.namespace),
    ...(o.supersede ? { supersede: true } : {}),
    ...(o.command ? { command: o.command } : {}),
  };
}

/** The lines `rollout status` prints. */
export function describeRollout(state: RolloutState | undefined): string[] {
  if (!state) return ['rollout: none recorded yet (the first publish with rollouts records the generation)'];
  const lines = [
    `rollout: ${state.status} — ${state.change}`,
    `  generation ${state.from.generation} → ${state.to.generation}; wave ${state.current + 1} of ${state.waves.length} (${state.waves.join('/')} %), bake ${state.bakeSeconds}s, timeout ${state.timeoutSeconds}s, max unhealthy ${state.maxUnhealthy}`,
    `  started ${state.startedAt}, updated ${state.updatedAt}`,
  ];
  for (const h of state.history) {
    lines.push(`  wave ${h.wave + 1}: ${h.bots} bots committed ${h.committedAt}${h.healthySince ? `, healthy since ${h.healthySince}` : ''}${h.doneAt ? `, done ${h.doneAt}` : ''}`);
  }
  if (state.from.generation !== state.to.generation) for (const c of describeChange(state.from.inputs, state.to.inputs)) lines.push(`  change: ${c}`);
  for (const f of state.failures ?? []) lines.push(`  failing: ${f.id}: ${f.reason}`);
  return lines;
}

/** Reads `rollout.json` of the remote branch (through a working copy; a temporary one is removed after). */
async function remoteState(o: Record<string, unknown>): Promise<RolloutState | undefined> {
  const given = o.workDir as string | undefined;
  const workDir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-rollout-'));
  try {
    const ws = new GitWorkspace({ repo: String(o.repo), branch: String(o.branch), workDir, path: String(o.path) });
    await ws.sync();
    const file = path.join(ws.outDir, ROLLOUT_FILE);
    return fs.existsSync(file) ? parseRolloutState(fs.readFileSync(file, 'utf8')) : undefined;
  } finally {
    if (!given) fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** Adds `fleetsynth rollout status|pause|resume|abort`. */
export function registerRolloutCommands(program: Command, io: Io, setExit: (code: number) => void, env: NodeJS.ProcessEnv): void {
  const rollout = program.command('rollout').description('the rollout of a fleet-wide change: status, pause, resume, abort (state in <path>/rollout.json of the repo)');
  const repoOptions = (c: Command) =>
    c
      .requiredOption('--repo <url|path>', 'repository Argo CD watches (URL or local path)')
      .option('--branch <name>', 'branch Argo CD watches', 'main')
      .option('--path <dir>', 'output root inside the repository', 'dist')
      .option('--work-dir <dir>', 'local working copy');

  repoOptions(rollout.command('status').description('print the rollout recorded in the repository')).action(async (o: Record<string, unknown>) => {
    for (const line of describeRollout(await remoteState(o))) io.out(line);
    setExit(0);
  });

  for (const command of ['pause', 'resume', 'abort'] as const) {
    const what =
      command === 'pause' ? 'commit no further wave until resume' : command === 'resume' ? 'carry a paused or halted rollout on' : 'return every rolled bot to the old generation in one commit';
    addRenderOptions(repoOptions(rollout.command(command).description(`${what} (renders with the same source and settings as publish)`)))
      .option('--kubeconfig <file>', 'kubeconfig for wave health (default: in-cluster, KUBECONFIG, ~/.kube/config)')
      .action(async (o: Record<string, unknown>) => {
        const settings = await resolveSettings(o, env);
        const source = openSettingsSource(settings.source);
        try {
          const r = await publish({
            source,
            settings: settings.render,
            repo: String(o.repo),
            branch: String(o.branch),
            path: String(o.path),
            workDir: o.workDir as string | undefined,
            rollout: rolloutOptions(settings.rollout, { kubeconfig: o.kubeconfig as string | undefined, namespace: settings.render.namespace, command }),
          });
          for (const n of r.rollout?.notes ?? []) io.out(n);
          if (r.outcome?.pushed) io.out(`fleetsynth: pushed ${r.outcome.commit}`);
          for (const e of r.errors) io.err(`error: ${e}`);
          setExit(r.errors.length > 0 ? 1 : 0);
        } finally {
          await source.close();
        }
      });
  }
}

/** Runs publish until the rollout is done or halted (`publish --wait`); each round as a plain publish. */
export async function waitForRollout<T extends { rollout?: { state: RolloutState; notes: readonly string[] } }>(
  once: () => Promise<T>,
  opts: { sleep?: (ms: number) => Promise<void>; log: (s: string) => void; maxRounds?: number },
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let r = await once();
  for (let round = 0; round < (opts.maxRounds ?? 10_000); round++) {
    const st = r.rollout?.state;
    if (!st || st.status !== 'rolling') return r;
    await sleep(rolloutPollMs(st));
    r = await once();
    for (const n of r.rollout?.notes ?? []) opts.log(n);
  }
  throw new FleetsynthError('publish --wait: the rollout did not end within the allowed rounds');
}
