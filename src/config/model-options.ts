// The model options every caller of the model step uses for given settings: the secret-key rule
// and the platform config's per-bot resolution. One resolver per settings object, so every bot of
// a run shares its memoized results.
import type { ModelOptions } from '../model/bot';
import { secretKeyMatcher } from '../model/secrets';
import type { RenderSettings } from '../settings';
import { PlatformResolver } from './resolve';

const cache = new WeakMap<RenderSettings, ModelOptions>();

/** `{ isSecretKey, platform, configHashKey }` for these settings (memoized per settings object). */
export function modelOptions(settings: RenderSettings): ModelOptions {
  let o = cache.get(settings);
  if (!o) {
    const isSecretKey = secretKeyMatcher(settings.secretKeys);
    const resolver = settings.pods ? new PlatformResolver(settings.pods, settings.runtimeImage, settings.configFile ?? 'config', isSecretKey) : undefined;
    o = { isSecretKey, platform: resolver ? (bot) => resolver.resolve(bot) : undefined, configHashKey: settings.configHashKey };
    cache.set(settings, o);
  }
  return o;
}
