// Rollout waves, the rollout state file and the rollout's decisions (pure parts; no I/O).
import { abortRollout, generationFor, waveOfBot, pauseRollout, resumeRollout, startRollout, stepRollout, BotHealth } from '../src/gitops/rollout/controller';
import { DEFAULT_ROLLOUT, RolloutStateError, parseRolloutState, serializeRolloutState } from '../src/gitops/rollout/state';
import { DEFAULT_WAVES, checkWaves, naturalBounds, planWaves, rolloutBucket, waveBounds, waveOf } from '../src/gitops/rollout/waves';
import { shardOf } from '../src/synth/shard';

const ids = (n: number, prefix = 'bot') => Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36).padStart(6, '0')}`);
const gen = (g: string) => ({ generation: g.repeat(16).slice(0, 16), inputs: { runtimeImage: `rt:${g}` } });
const T0 = new Date('2026-12-03T10:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe('waves', () => {
  test('a wave is a pure function of the id, independent of the fleet size', () => {
    const small = ids(100);
    const large = [...ids(10_000), ...ids(5_000, 'x')];
    const inSmall = new Map(small.map((id) => [id, waveOf(id)]));
    for (const id of small) expect(waveOf(id)).toBe(inSmall.get(id));
    const plan = planWaves(large);
    const idx = new Map<string, number>();
    for (const p of plan) for (const id of p.ids) idx.set(id, p.wave);
    for (const id of small) expect(idx.get(id)).toBe(inSmall.get(id));
  });

  test('default waves take about 1 %, 9 %, 40 % and 50 % of a 10,000-bot fleet', () => {
    const plan = planWaves(ids(10_000), DEFAULT_WAVES);
    const counts = plan.map((p) => p.ids.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(counts[0]).toBeGreaterThanOrEqual(70);
    expect(counts[0]).toBeLessThanOrEqual(100); // the canary: ≤ 1 % plus rounding
    expect(counts[1]).toBeGreaterThan(750);
    expect(counts[1]).toBeLessThan(1050);
    expect(counts[2]).toBeGreaterThan(3700);
    expect(counts[2]).toBeLessThan(4300);
  });

  test('no wave reaches more than its share of the fleet, rounded up; a cap only ever moves a bot to a later wave', () => {
    let capped = 0;
    for (const [n, prefix] of [[9008, 'a'], [10_000, 'b'], [2_345, 'c'], [50_000, 'd'], [150, 'e']] as const) {
      const fleet = ids(n, prefix);
      const natural = new Map(fleet.map((id) => [id, waveOf(id)]));
      const plan = planWaves(fleet);
      let cumulative = 0;
      for (const p of plan) {
        cumulative += p.ids.length;
        expect(cumulative).toBeLessThanOrEqual(Math.max(1, Math.ceil((p.share / 100) * n)));
        for (const id of p.ids) if (p.wave !== 0 || natural.get(id) === 0) expect(p.wave).toBeGreaterThanOrEqual(natural.get(id)!);
      }
      expect(cumulative).toBe(n);
      const bounds = waveBounds(fleet);
      if (bounds.some((b, i) => b !== naturalBounds(DEFAULT_WAVES)[i])) capped++;
    }
    expect(capped).toBeGreaterThan(0); // the cap is not vacuous: some of these fleets crowd a natural bound
  });

  test('waves are spread over every shard, not a shard of their own', () => {
    const canary = planWaves(ids(10_000))[0].ids;
    expect(new Set(canary.map((id) => shardOf(id, 16))).size).toBe(16);
  });

  test('an empty canary takes the lowest-positioned bot, so a rollout always starts with one bot to watch', () => {
    const few = ids(5, 'few');
    const plan = planWaves(few);
    expect(plan[0].ids).toHaveLength(1);
    const lowest = [...few].sort((a, b) => rolloutBucket(a) - rolloutBucket(b))[0];
    expect(plan[0].ids).toEqual([lowest]);
    expect(plan.flatMap((p) => p.ids).sort()).toEqual([...few].sort());
    expect(planWaves(few)).toEqual(plan); // same set, same plan
  });

  test('bad wave lists are named', () => {
    expect(checkWaves([1, 10, 50, 100])).toEqual([]);
    expect(checkWaves([])).toEqual([expect.stringMatching(/at least one/)]);
    expect(checkWaves([10, 5, 100])).toEqual([expect.stringMatching(/waves\[1\].*cumulative/)]);
    expect(checkWaves([1, 50])).toEqual([expect.stringMatching(/last wave must be 100/)]);
    expect(checkWaves([0, 100])).toEqual([expect.stringMatching(/waves\[0\]: 0 is not a share/)]);
    expect(checkWaves([0.001, 100])).toEqual([expect.stringMatching(/two decimals/)]);
  });
});

describe('rollout state file', () => {
  const started = () => startRollout({ change: 'runtime image rt:a → rt:b', from: gen('a'), to: gen('b'), changedIds: ids(1000), now: T0 });

  test('round-trips byte for byte, keys sorted', () => {
    const { state } = started();
    const text = serializeRolloutState(state);
    expect(serializeRolloutState(parseRolloutState(text))).toBe(text);
    expect(text.endsWith('\n')).toBe(true);
    const keys = Object.keys(JSON.parse(text));
    expect(keys).toEqual([...keys].sort());
  });

  test('a damaged file is an error naming the field, never a restarted rollout', () => {
    const { state } = started();
    expect(() => parseRolloutState('{')).toThrow(RolloutStateError);
    expect(() => parseRolloutState('{')).toThrow(/rollout.json: not JSON/);
    const bad = JSON.parse(serializeRolloutState(state));
    bad.status = 'sideways';
    expect(() => parseRolloutState(JSON.stringify(bad))).toThrow(/rollout.json: status:/);
    const past = JSON.parse(serializeRolloutState(state));
    past.current = 9;
    expect(() => parseRolloutState(JSON.stringify(past))).toThrow(/current: 9 is past the last wave/);
    const extra = JSON.parse(serializeRolloutState(state));
    extra.surprise = 1;
    expect(() => parseRolloutState(JSON.stringify(extra))).toThrow(/Unrecognized key/);
  });
});

describe('rollout decisions', () => {
  const fleet = ids(1000);
  const healthyAll = (list: readonly string[]): BotHealth[] => list.map((id) => ({ id, state: 'healthy' }));
  const inWave = (s: ReturnType<typeof startRollout>['state'], w: number) => fleet.filter((id) => waveOfBot(s, id) === w);

  test('healthy waves advance after the bake time, one at a time, to done', () => {
    let { state } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const waves: number[] = [];
    let t = 0;
    for (let guard = 0; guard < 20 && state.status === 'rolling'; guard++) {
      const rolled = inWave(state, state.current);
      const first = stepRollout(state, healthyAll(rolled), at(t));
      expect(first.action.type).toBe('wait'); // healthy, bake starts
      t += DEFAULT_ROLLOUT.bakeSeconds;
      const second = stepRollout(first.state, healthyAll(rolled), at(t));
      state = second.state;
      if (second.action.type === 'commit-wave') waves.push(second.action.wave);
      else expect(second.action.type).toBe('done');
      t += 1;
    }
    expect(waves).toEqual([1, 2, 3]);
    expect(state.status).toBe('done');
    expect(fleet.every((id) => generationFor(state, id) === 'to')).toBe(true);
  });

  test('a bad image halts after the canary: every later wave stays on the old generation', () => {
    const { state, plan } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const canary = plan[0].ids;
    expect(fleet.filter((id) => generationFor(state, id) === 'to').sort()).toEqual([...canary].sort());
    const health: BotHealth[] = canary.map((id, i) => (i === 0 ? { id, state: 'unhealthy', reason: 'ImagePullBackOff' } : { id, state: 'pending', reason: 'ContainerCreating' }));
    const r = stepRollout(state, health, at(30));
    expect(r.action).toEqual({ type: 'halt', why: expect.stringMatching(/wave 1 of 4: 1 bot\(s\) unhealthy/) });
    expect(r.state.status).toBe('halted');
    expect(r.state.failures).toEqual([{ id: canary[0], reason: 'ImagePullBackOff' }]);
    expect(fleet.filter((id) => generationFor(r.state, id) === 'to').length).toBe(canary.length);
    // Halted: later steps commit nothing.
    expect(stepRollout(r.state, healthyAll(canary), at(10_000)).action.type).toBe('wait');
  });

  test('a wave not healthy within the timeout halts and names the pending bots', () => {
    const { state, plan } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const pending: BotHealth[] = plan[0].ids.map((id) => ({ id, state: 'pending', reason: 'Pending' }));
    expect(stepRollout(state, pending, at(60)).action.type).toBe('wait');
    const r = stepRollout(state, pending, at(DEFAULT_ROLLOUT.timeoutSeconds + 1));
    expect(r.action.type).toBe('halt');
    expect(r.state.failures?.map((f) => f.id)).toEqual(plan[0].ids.slice(0, 50));
  });

  test('maxUnhealthy tolerates that many failing bots', () => {
    const settings = { ...DEFAULT_ROLLOUT, maxUnhealthy: 1, bakeSeconds: 0 };
    const { state, plan } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, settings, now: T0 });
    const health: BotHealth[] = plan[0].ids.map((id, i) => ({ id, state: i === 0 ? 'unhealthy' : 'healthy', reason: i === 0 ? 'CrashLoopBackOff' : undefined }));
    expect(stepRollout(state, health, at(5)).action).toEqual({ type: 'commit-wave', wave: 1 });
  });

  test('a pod that fails during the bake restarts the bake', () => {
    const { state, plan } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const ok = healthyAll(plan[0].ids);
    const s1 = stepRollout(state, ok, at(10)).state;
    const s2 = stepRollout(s1, [{ ...ok[0], state: 'pending' }, ...ok.slice(1)], at(200)).state;
    const s3 = stepRollout(s2, ok, at(320));
    expect(s3.action.type).toBe('wait'); // the bake started again at 320 s, not at 10 s
    expect(stepRollout(s3.state, ok, at(320 + 300)).action).toEqual({ type: 'commit-wave', wave: 1 });
  });

  test('pause, resume and abort', () => {
    const { state } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const paused = pauseRollout(state, at(1));
    expect(stepRollout(paused, [], at(2000)).action).toEqual({ type: 'wait', why: 'rollout is paused' });
    const resumed = resumeRollout(paused, at(3));
    expect(resumed.status).toBe('rolling');
    const aborted = abortRollout(resumed, at(4));
    expect(fleet.every((id) => generationFor(aborted, id) === 'from')).toBe(true);
    expect(() => abortRollout(aborted, at(5))).toThrow(/aborted/);
    expect(() => pauseRollout(aborted, at(5))).toThrow(/aborted/);
  });

  test('a bot added mid-rollout is on its wave\'s generation at once', () => {
    const { state } = startRollout({ change: 'c', from: gen('a'), to: gen('b'), changedIds: fleet, now: T0 });
    const newcomers = ids(2000, 'new');
    for (const id of newcomers) expect(generationFor(state, id)).toBe(waveOf(id, state.waves) === 0 ? 'to' : 'from');
    expect(newcomers.some((id) => generationFor(state, id) === 'to')).toBe(true);
  });
});

describe('generations', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DEFAULT_SETTINGS } = require('../src/settings') as typeof import('../src/settings');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const g = require('../src/gitops/rollout/generation') as typeof import('../src/gitops/rollout/generation');

  test('same settings, same generation; any render input or the version changes it', () => {
    const a = g.generationOf(g.renderInputs(DEFAULT_SETTINGS), '1.0.0');
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(g.generationOf(g.renderInputs({ ...DEFAULT_SETTINGS }), '1.0.0')).toBe(a);
    expect(g.generationOf(g.renderInputs({ ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' }), '1.0.0')).not.toBe(a);
    expect(g.generationOf(g.renderInputs(DEFAULT_SETTINGS), '1.0.1')).not.toBe(a);
    // Where the config came from and a hook are not inputs.
    expect(g.generationOf(g.renderInputs({ ...DEFAULT_SETTINGS, configFile: '/x/fleetsynth.config.yaml', customize: () => undefined } as never), '1.0.0')).toBe(a);
  });

  test('the config-hash key never reaches the stored inputs; its fingerprint does', () => {
    const key = 'a-very-secret-hash-key-of-32-bytes!!';
    const inputs = g.renderInputs({ ...DEFAULT_SETTINGS, configHashKey: key } as never);
    expect(JSON.stringify(inputs)).not.toContain(key);
    expect(inputs.configHashKeyId).toMatch(/^[0-9a-f]{12}$/);
    const back = g.settingsFromInputs(inputs, { ...DEFAULT_SETTINGS, configHashKey: key } as never) as unknown as Record<string, unknown>;
    expect(back.configHashKey).toBe(key);
    expect(back.configHashKeyId).toBeUndefined();
  });

  test('stored inputs render old-generation bots with the old values', () => {
    const old = g.renderInputs({ ...DEFAULT_SETTINGS, runtimeImage: 'rt:1', namespace: 'bots' });
    const back = g.settingsFromInputs(JSON.parse(JSON.stringify(old)), { ...DEFAULT_SETTINGS, runtimeImage: 'rt:2' });
    expect(back.runtimeImage).toBe('rt:1');
    expect(back.namespace).toBe('bots');
    expect(g.describeChange(old, g.renderInputs({ ...DEFAULT_SETTINGS, runtimeImage: 'rt:2', namespace: 'bots' }))).toEqual(['runtimeImage "rt:1" → "rt:2"']);
  });
});
