// The fast reader of fleetsynth's own YAML gives what js-yaml (CORE_SCHEMA) gives, or nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jsyaml from 'js-yaml';
import { fastLoadAll } from '../src/gitops/diff/fast-yaml';
import { stringifyDocuments } from '../src/synth/yaml';

const slow = (t: string) => jsyaml.loadAll(t, undefined, { schema: jsyaml.CORE_SCHEMA });

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? yamlFiles(p) : p.endsWith('.yaml') ? [p] : [];
  });
}

// A small deterministic PRNG so a failure repeats.
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}
const PIECES = ['a', 'Z', '0', '1', '-', ':', ': ', ' ', '#', ' #', "'", '"', '\\', '\n', '\t', '{', '}', '[', ']', ',', '*', '&', '!', '|', '>', '%', '@', '`', '?', '.', '~', 'true', 'null', 'False', '0x1F', '0o7', '1e3', '.inf', '-.5', '1_000', '---', '...', '=', '/', 'é', '<secret>'];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}
function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 3 || x < 0.4) {
    const y = r();
    return y < 0.7 ? randomString(r) : y < 0.8 ? Math.floor(r() * 1000) - 500 : y < 0.85 ? r() * 10 : y < 0.9 ? r() < 0.5 : y < 0.95 ? null : '';
  }
  if (x < 0.7) {
    const o: Record<string, unknown> = {};
    const n = Math.floor(r() * 4);
    for (let i = 0; i < n; i++) o[randomString(r) || `k${i}`] = randomValue(r, depth + 1);
    return o;
  }
  return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
}

describe('fastLoadAll', () => {
  test('reads every rendered file of the repository as js-yaml does, without falling back', () => {
    const files = yamlFiles(path.join(__dirname, '..', 'dist'));
    expect(files.length).toBeGreaterThan(30);
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      const fast = fastLoadAll(text);
      expect({ f, fast: fast !== undefined }).toEqual({ f, fast: true });
      expect(fast).toEqual(slow(text));
    }
  });

  test("matches js-yaml on the writer's output of random documents (or falls back)", () => {
    const r = rng(17);
    let fastCount = 0;
    for (let i = 0; i < 3000; i++) {
      const docs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
        const o = randomValue(r, 0);
        return o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0 ? o : { kind: 'X', v: o };
      });
      const text = stringifyDocuments(docs);
      const fast = fastLoadAll(text);
      if (fast === undefined) continue;
      fastCount++;
      expect({ text, docs: fast }).toEqual({ text, docs: slow(text) });
    }
    expect(fastCount).toBeGreaterThan(1000);
  });

  test.each([
    ['a: 1\nb: true\nc: null\nd: ~\ne: 1.5\nf: 0x1F\ng: .inf\nh: 1.0.2\ni: 0 0 9 * * *\n'],
    ["a: 'it''s'\nb: \"8080\"\nc: {}\nd: []\ne: img:tag\n"],
    ['a:\n- x\n- y\nb:\n  - - 1\n    - 2\n  - k: v\n    l: w\n'],
    ['a: b\n---\nc: d\n'],
  ])('reads %j as js-yaml does', (text) => {
    expect(fastLoadAll(text)).toEqual(slow(text));
  });

  test.each([
    ['a: "x\\ny"\n'], ['a: |\n  x\n'], ['a: [1, 2]\n'], ['a: b # c\n'], ['a: b\n  c\n'], ['a: 1\na: 2\n'], ['a: &x 1\nb: *x\n'],
    ['a: !!str 1\n'], ['# c\na: 1\n'], ['a: 1\n\nb: 2\n'], ['a:\tb\n'], ['"q": 1\n'], ['a:\n'], ['a: b: c\n'], ['---\na: 1\n'], ['a: 1'],
  ])('leaves %j to js-yaml', (text) => {
    expect(fastLoadAll(text)).toBeUndefined();
  });
});
