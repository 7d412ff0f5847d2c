// compareFiles reads two versions of a file that differ only in values by parsing one and deriving
// the other (fastLoadPair): the same documents and the same changes as parsing both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareFiles, setPairedReading } from '../src/gitops/diff/compare';
import { fastLoadAll, fastLoadPair, fastLoadTraced } from '../src/gitops/diff/fast-yaml';
import { DEFAULT_SETTINGS } from '../src/settings';
import { synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';

let files: string[] = [];
beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsynth-paired-'));
  try {
    const r = await synthesize(generateFleet(60, 13), { outDir: dir, settings: DEFAULT_SETTINGS, write: false, collect: true });
    files = [...r.files!.values()];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
afterEach(() => setPairedReading(true));

const VALUES = ['x', '1', '"2"', 'true', 'null', '[]', '{}', "'q'", '- a', 'a: b', '~', '1.5', '0x1F', 'ghcr.io/a:b', '"x: y"', "'it''s'", '', '  ', '---', '#c', '-1', '.inf', '<secret>'];

function mutate(text: string, seed: number): string {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const lines = text.slice(0, -1).split('\n');
  const n = 1 + Math.floor(rnd() * 4);
  for (let j = 0; j < n; j++) {
    const i = Math.floor(rnd() * lines.length);
    const m = /^(\s*(?:- )*)([^:]*: )?(.*)$/.exec(lines[i])!;
    lines[i] = rnd() < 0.8 ? m[1] + (m[2] ?? '') + VALUES[Math.floor(rnd() * VALUES.length)] : lines[i] + ' z';
  }
  return lines.join('\n') + '\n';
}

test('paired reading gives the documents and changes of parsing both texts', () => {
  let paired = 0;
  let pairs = 0;
  files.forEach((text, f) => {
    for (let r = 0; r < 6; r++) {
      const other = mutate(text, f * 31 + r + 1);
      if (other === text) continue;
      for (const [x, y] of [[text, other], [other, text]]) {
        pairs++;
        const pair = fastLoadPair(x, y);
        if (pair) {
          paired++;
          expect(JSON.stringify(pair.a)).toBe(JSON.stringify(fastLoadAll(x)));
          expect(JSON.stringify(pair.b)).toBe(JSON.stringify(fastLoadAll(y)));
        }
        setPairedReading(true);
        const fast = compareFiles(x, y);
        setPairedReading(false);
        expect(fast).toEqual(compareFiles(x, y));
      }
    }
  });
  expect(pairs).toBeGreaterThan(400);
  expect(paired).toBeGreaterThan(pairs / 4);
});

test('a fleet-wide image change is read paired; a changed key or line count is not', () => {
  const text = files.find((t) => t.includes('kind: Deployment'))!;
  const image = /image: (\S+)/.exec(text)![1];
  const next = text.split(`image: ${image}`).join('image: ghcr.io/the0/runtime:new');
  expect(fastLoadPair(text, next)).toBeDefined();
  expect(compareFiles(text, next)[0]).toEqual({ field: 'image', from: image, to: 'ghcr.io/the0/runtime:new' });
  expect(fastLoadPair(text, text.replace('replicas: 1', 'replicaz: 1'))).toBeUndefined();
  expect(fastLoadPair(text, text.replace('replicas: 1\n', 'replicas: 1\n  paused: true\n'))).toBeUndefined();
});

test('files of one shape are derived from each other: the documents of parsing each', () => {
  let n = 0;
  for (const [i, text] of files.entries()) {
    for (const t of [text, mutate(text, i + 7)]) {
      const traced = fastLoadTraced(t);
      const all = fastLoadAll(t);
      expect(traced === undefined).toBe(all === undefined);
      if (traced) expect(JSON.stringify(traced.docs)).toBe(JSON.stringify(all));
      n++;
    }
  }
  expect(n).toBeGreaterThan(100);
});
