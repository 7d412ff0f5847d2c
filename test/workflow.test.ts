import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';

const FILE = path.join(__dirname, '..', 'examples', 'github-actions', 'gitops.yml');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}

const text = fs.readFileSync(FILE, 'utf8');
const wf: Json = YAML.parse(text); // YAML 1.2: `on` stays the string key "on", not `true`
const plan = () => wf.jobs.plan as { if: string; permissions: Json; steps: Step[] };
const publish = () => wf.jobs.publish as { if: string; permissions: Json; steps: Step[]; concurrency: Json };
const stepRunning = (steps: Step[], command: string) => {
  const s = steps.find((x) => x.run?.includes(command));
  if (!s) throw new Error(`no step runs "${command}"`);
  return s;
};

const tmpDirs: string[] = [];

/** Runs a step's script the way GitHub's ubuntu runners do (bash -eo pipefail), with fakes on PATH. */
function runStep(step: Step, fakes: Record<string, string>, env: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-wf-'));
  tmpDirs.push(dir);
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const [name, body] of Object.entries(fakes)) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  }
  const output = path.join(dir, 'github_output');
  fs.writeFileSync(output, '');
  const res = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}`, GITHUB_OUTPUT: output, CALLS: path.join(dir, 'calls'), ...env },
  });
  const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, output: read('github_output'), calls: read('calls'), read };
}

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('examples/github-actions/gitops.yml', () => {
  test('triggers: pull_request and push on main, manual dispatch; never pull_request_target', () => {
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push', 'workflow_dispatch']);
    expect(wf.on.pull_request.branches).toEqual(['main']);
    expect(wf.on.push.branches).toEqual(['main']);
    expect(wf.on.push['paths-ignore']).toContain('dist/**'); // publish's commits do not re-trigger
    expect(text).not.toMatch(/pull_request_target/);
    expect(wf.permissions).toEqual({ contents: 'read' });
  });

  test('two jobs: plan on pull requests, publish on pushes', () => {
    expect(Object.keys(wf.jobs).sort()).toEqual(['plan', 'publish']);
    expect(plan().if).toBe("github.event_name == 'pull_request'");
    expect(publish().if).toMatch(/github.event_name == 'push'/);
    expect(publish().if).not.toMatch(/pull_request/);
    expect(plan().permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(publish().concurrency).toEqual({ group: 'fleetsynth-publish', 'cancel-in-progress': false });
  });

  test("plan: full checkout, npm ci, the repo's own synth, diff of dist/ against origin/main into diff.md, comment with diff.md", () => {
    const steps = plan().steps;
    const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with).toMatchObject({ 'fetch-depth': 0 });
    const idx = (cmd: string) => steps.indexOf(stepRunning(steps, cmd));
    const order = ['npm ci', 'npm run synth', 'npx fleetsynth diff --base origin/main --current dist --format markdown > diff.md', 'gh pr comment'].map(idx);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(stepRunning(steps, 'npm run synth').env).toEqual({ MONGO_URI: '${{ secrets.MONGO_URI }}' });
    const comment = stepRunning(steps, 'gh pr comment');
    expect(comment.env).toMatchObject({ GH_TOKEN: '${{ github.token }}', PR_NUMBER: '${{ github.event.pull_request.number }}' });
    expect(comment.run).toMatch(/diff\.md/);
  });

  test('the example GitOps repo (examples/cdk8s-app) has what the workflow runs: npm ci on a package depending on fleetsynth, a synth script', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'examples', 'cdk8s-app', 'package.json'), 'utf8'));
    expect(pkg.dependencies.fleetsynth).toBeDefined();
    expect(pkg.scripts.synth).toBe('cdk8s synth');
  });

  test('publish: the publish command with MONGO_URI, GITOPS_REPO and ARGOCD_WEBHOOK from secrets', () => {
    const steps = publish().steps;
    const p = stepRunning(steps, 'npx fleetsynth publish');
    expect(p.run).toBe('npx fleetsynth publish --repo "$GITOPS_REPO" --branch main --path dist --argocd-webhook "$ARGOCD_WEBHOOK"');
    expect(p.env).toEqual({
      MONGO_URI: '${{ secrets.MONGO_URI }}',
      GITOPS_REPO: '${{ secrets.GITOPS_REPO }}',
      ARGOCD_WEBHOOK: '${{ secrets.ARGOCD_WEBHOOK }}',
    });
    expect(steps.indexOf(stepRunning(steps, 'npm ci'))).toBeLessThan(steps.indexOf(p));
    expect(steps.indexOf(stepRunning(steps, 'git config --global user.name'))).toBeLessThan(steps.indexOf(p));
    expect(publish().permissions).toEqual({ contents: 'write' });
  });

  test('no ${{ }} expression inside a run script (values reach scripts through env, not code)', () => {
    for (const job of Object.values(wf.jobs) as Array<{ steps: Step[] }>) {
      for (const s of job.steps) if (s.run) expect({ step: s.name ?? s.run, run: s.run }).not.toMatchObject({ run: expect.stringContaining('${{') });
    }
  });

  test('every action is pinned to a major version', () => {
    for (const job of Object.values(wf.jobs) as Array<{ steps: Step[] }>) {
      for (const s of job.steps) if (s.uses) expect(s.uses).toMatch(/^[\w-]+\/[\w-]+@v\d+$/);
    }
  });

  describe('the diff step, executed', () => {
    const diffStep = () => stepRunning(plan().steps, 'npx fleetsynth diff');
    const fakeNpx = (code: number) => ({ npx: `echo "$*" >> "$CALLS"; echo '### fleetsynth diff'; exit ${code}` });

    test('exit 0: no changes, step succeeds', () => {
      const r = runStep(diffStep(), fakeNpx(0));
      expect(r.status).toBe(0);
      expect(r.output).toBe('changes=false\n');
      expect(r.calls).toBe('fleetsynth diff --base origin/main --current dist --format markdown\n');
      expect(r.read('diff.md')).toBe('### fleetsynth diff\n');
    });

    test('exit 2 means "changes", not failure', () => {
      const r = runStep(diffStep(), fakeNpx(2));
      expect(r.status).toBe(0);
      expect(r.output).toBe('changes=true\n');
    });

    test('any other exit code fails the job; 3 is named a configuration error', () => {
      const r = runStep(diffStep(), fakeNpx(1));
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/::error::fleetsynth diff failed with exit code 1/);
      const c = runStep(diffStep(), fakeNpx(3));
      expect(c.status).toBe(3);
      expect(c.stdout).toMatch(/::error::fleetsynth diff: bad configuration \(exit 3\)/);
    });
  });

  describe('the comment step, executed', () => {
    const commentStep = () => stepRunning(plan().steps, 'gh pr comment');
    const fakeGh = (failEdit: boolean) => ({
      gh: `echo "$*" >> "$CALLS"; for a in "$@"; do [ "$prev" = --body-file ] && cp "$a" posted.md; prev=$a; done; ${
        failEdit ? 'case " $* " in *" --edit-last "*) exit 1;; esac;' : ''
      } exit 0`,
    });

    /** The step's script, after writing `diff` to diff.md in its working directory. */
    function run(diff: string, failEdit: boolean) {
      const step = { ...commentStep(), run: `cat > diff.md <<'EOF_DIFF'\n${diff}\nEOF_DIFF\n${commentStep().run}` };
      return runStep(step, fakeGh(failEdit), { PR_NUMBER: '42', CHANGES: 'true', GH_TOKEN: 'x' });
    }

    test('posts diff.md, editing the previous comment', () => {
      const r = run('### 1 bot changed', false);
      expect(r.status).toBe(0);
      expect(r.calls).toBe('pr comment 42 --edit-last --body-file comment.md\n');
      expect(r.read('posted.md')).toBe('### 1 bot changed\n');
    });

    test('falls back to a new comment when there is none to edit', () => {
      const r = run('### 1 bot changed', true);
      expect(r.status).toBe(0);
      expect(r.calls.trim().split('\n')).toEqual(['pr comment 42 --edit-last --body-file comment.md', 'pr comment 42 --body-file comment.md']);
    });

    test('truncates a diff too large for a GitHub comment', () => {
      const r = run('x'.repeat(70_000), false);
      expect(r.status).toBe(0);
      const posted = r.read('posted.md');
      expect(posted.length).toBeLessThan(65_536);
      expect(posted).toMatch(/Diff truncated/);
    });
  });
});
