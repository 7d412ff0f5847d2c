// A generation is everything that shapes the rendered manifests besides the bots' own documents:
// the render settings, the platform config and fleetsynth's version. A change of generation is a
// fleet-wide change, the thing a rollout rolls out in waves.
import { createHash } from 'node:crypto';
import type { RenderSettings } from '../../settings';

/** Render settings as plain data: what `rollout.json` stores so old-generation bots render as before. */
export type RenderInputs = Record<string, unknown>;

/**
 * Fields of RenderSettings that do not shape a bot's manifest (where the config came from), that
 * cannot be stored as data (a customization hook: a hook edited in place is not a rollout,
 * documented), or that are secret: the config-hash key never goes into `rollout.json`. Its
 * fingerprint does (see renderInputs), so a key rotation is still a generation change.
 */
const NOT_INPUTS = new Set(['configFile', 'customize', 'configHashKey', 'previousConfigHashKey']);

/** A key's fingerprint, as `rollout.json` stores it: tells keys apart, reveals nothing of them. */
export function configHashKeyId(key: string): string {
  return createHash('sha256').update('fleetsynth-key-id\0').update(key).digest('hex').slice(0, 12);
}

/** The render inputs of a settings object, as JSON-safe data with keys sorted. */
export function renderInputs(settings: RenderSettings): RenderInputs {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(settings).sort()) {
    if (NOT_INPUTS.has(k)) continue;
    const v = (settings as unknown as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    out[k] = sortKeys(v);
  }
  const key = (settings as unknown as Record<string, unknown>).configHashKey;
  if (typeof key === 'string' && key !== '') out.configHashKeyId = configHashKeyId(key);
  return out;
}

/** 16 hex characters naming a generation: the inputs and fleetsynth's version. */
export function generationOf(inputs: RenderInputs, version: string): string {
  return createHash('sha256').update(`fleetsynth@${version}\0`).update(JSON.stringify(sortKeys(inputs))).digest('hex').slice(0, 16);
}

/**
 * Settings to render old-generation bots with: the stored inputs over the current settings (for
 * what is not stored). The config-hash key is never stored, only its fingerprint: the bots hash
 * with whichever of the current and the previous key (`previousConfigHashKey`) has that
 * fingerprint, with none when their generation had none, and with the current key when neither
 * matches (they then restart when rendered: see {@link missingConfigHashKey}).
 */
export function settingsFromInputs(inputs: RenderInputs, current: RenderSettings): RenderSettings {
  const { customize, configFile, configHashKey, previousConfigHashKey } = current;
  const { configHashKeyId: id, ...stored } = inputs;
  const key = id === undefined ? undefined : [configHashKey, previousConfigHashKey].find((k) => k !== undefined && configHashKeyId(k) === id) ?? configHashKey;
  return {
    ...(stored as unknown as RenderSettings),
    ...(customize ? { customize } : {}),
    ...(configFile ? { configFile } : {}),
    ...(key !== undefined ? { configHashKey: key } : {}),
    ...(previousConfigHashKey !== undefined ? { previousConfigHashKey } : {}),
  };
}

/** True when a generation was hashed with a key that neither the current nor the previous key is. */
export function missingConfigHashKey(inputs: RenderInputs, current: RenderSettings): boolean {
  const id = inputs.configHashKeyId;
  if (id === undefined) return false;
  return ![current.configHashKey, current.previousConfigHashKey].some((k) => k !== undefined && configHashKeyId(k) === id);
}

/**
 * The render inputs that differ between two generations, as `key a → b` lines for the commit
 * message, the PR comment and `rollout status` (values shortened; nested blocks named by key).
 */
export function describeChange(from: RenderInputs, to: RenderInputs, max = 6): string[] {
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
  const lines: string[] = [];
  for (const k of keys) {
    const a = JSON.stringify(from[k]);
    const b = JSON.stringify(to[k]);
    if (a === b) continue;
    const scalar = (v: unknown) => v === undefined || v === null || typeof v !== 'object';
    lines.push(scalar(from[k]) && scalar(to[k]) ? `${k} ${short(a)} → ${short(b)}` : `${k} changed`);
  }
  if (lines.length > max) return [...lines.slice(0, max), `… and ${lines.length - max} more`];
  return lines;
}

function short(json: string | undefined): string {
  if (json === undefined) return '(unset)';
  return json.length > 80 ? json.slice(0, 77) + '…' : json;
}

/** A copy with object keys sorted at every depth (undefined and functions dropped): stable JSON bytes. */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined && typeof x !== 'function') out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}
