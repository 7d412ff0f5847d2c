/**
 * The floor: the least work that produces one file per bot with the same content.
 *
 * The API objects are fleetsynth's own (rendered once, untimed). The timed part is only what
 * no renderer can avoid: build the plain objects of every bot (a deep copy of the rendered
 * ones), `JSON.stringify` them, and write one file per bot into the same shard tree (one
 * mkdir per shard directory). No validation, no cdk8s, no YAML, no comparison with old files.
 *
 * Usage: node -r tsx/cjs bench/floor.ts <fleet size> <outdir>   (prints one JSON line)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A deep copy of plain JSON data: stands in for building the objects. */
export function clonePlain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = clonePlain(v[i]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) out[k] = clonePlain((v as Record<string, unknown>)[k]);
  return out;
}

/** Writes every bot's objects as JSON, one file per bot; returns the number of objects. */
export function writeFloor(outDir: string, bots: ReadonlyArray<{ relPath: string; objects: unknown[] }>): number {
  const dirs = new Set<string>();
  let objects = 0;
  for (const b of bots) {
    const abs = path.join(outDir, b.relPath);
    const dir = path.dirname(abs);
    if (!dirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    const copy = clonePlain(b.objects) as unknown[];
    fs.writeFileSync(abs, JSON.stringify(copy));
    objects += copy.length;
  }
  return objects;
}

if (require.main === module) {
  const { generateFleet, buildFleet, secretKeyMatcher, DEFAULT_SETTINGS, BotRenderer, botFilePath } =
    require('./compiled') as typeof import('./compiled');
  const n = Number(process.argv[2]);
  const outDir = process.argv[3];
  const fleet = buildFleet(generateFleet(n, 42), { isSecretKey: secretKeyMatcher(DEFAULT_SETTINGS.secretKeys) });
  const renderer = new BotRenderer(DEFAULT_SETTINGS);
  const bots = fleet.specs.map((s) => ({
    relPath: botFilePath(s.id, s.fileName, DEFAULT_SETTINGS.shards),
    objects: renderer.toJson(s),
  }));
  (globalThis as { gc?: () => void }).gc?.();
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const objects = writeFloor(outDir, bots);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  process.stdout.write(
    JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000, sysMs: c.system / 1000, objects, files: bots.length, rssBeforeMb, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + '\n',
  );
}
