// The per-bot result of the platform config: the top-level `pod:` / `resources:` / `image:`
// blocks, then every matching rule in order (later rules win; maps merge, lists replace).
// Bots that match the same rules share one resolved object, and its `key` (the matched rules)
// is what the shape templates count by.
import type { BotPodOptions } from '../constructs/pod';
import { BOT_RESOURCES, Resources } from '../model/bot';
import { parseQuantity } from '../model/quantity';
import { ConfigError } from './errors';
import type { ImageBlock, PodBlock, ResourcesBlock, RuleBlock } from './schema';

/** The config blocks that shape bot pods (part of RenderSettings, plain data). */
export interface PodConfig {
  readonly pod?: PodBlock;
  readonly resources?: ResourcesBlock;
  readonly image?: ImageBlock;
  readonly rules?: readonly RuleBlock[];
}

/** What the platform config gives one bot. */
export interface BotPlatform {
  /** Which rules matched (`base` plus rule indexes): equal keys, equal everything else. */
  readonly key: string;
  /** Pod options of every pod of the bot. */
  readonly pod?: BotPodOptions;
  /** Runtime image, when the config changes it. */
  readonly image?: string;
  /** Default `bot` container resources (the bot's own overrides apply on top). */
  readonly botResources: Resources;
  /** `sync` sidecar resources, when the config changes them. */
  readonly syncResources?: Resources;
  /** `query-server` sidecar resources, when the config changes them. */
  readonly queryServerResources?: Resources;
}

/** The facts about a bot a rule can match on. */
export interface BotFacts {
  readonly kind: 'realtime' | 'scheduled';
  readonly id: string;
  readonly runtime: string;
  /** The bot's config (rules may only name non-secret keys). */
  readonly config: Readonly<Record<string, unknown>> | null;
}

type Json = unknown;

/** Maps merge key by key (recursively); lists and scalars replace. */
export function mergeBlocks<T>(base: T | undefined, over: T | undefined): T | undefined {
  if (over === undefined) return base;
  if (base === undefined || !isMap(base) || !isMap(over)) return over;
  const out: Record<string, Json> = { ...(base as Record<string, Json>) };
  for (const [k, v] of Object.entries(over as Record<string, Json>)) out[k] = mergeBlocks(out[k], v);
  return out as T;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `repo[:tag][@digest]` with the image block applied; a digest wins over a tag. */
export function applyImage(ref: string, block: ImageBlock | undefined): string {
  if (!block) return ref;
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = noDigest.lastIndexOf(':');
  const hasTag = colon > noDigest.lastIndexOf('/');
  const repo = block.repository ?? (hasTag ? noDigest.slice(0, colon) : noDigest);
  if (block.digest) return `${repo}@${block.digest}`;
  if (block.tag) return `${repo}:${block.tag}`;
  return repo + (hasTag ? noDigest.slice(colon) : '') + (at >= 0 ? ref.slice(at) : '');
}

function fullResources(base: Resources, block: ResourcesBlock['bot'], where: string, problems: string[]): Resources {
  const r: Resources = { requests: { ...base.requests, ...block?.requests }, limits: { ...base.limits, ...block?.limits } };
  for (const res of ['cpu', 'memory'] as const) {
    if (parseQuantity(r.requests[res])! > parseQuantity(r.limits[res])!) problems.push(`${where}: ${res} request ${r.requests[res]} is larger than limit ${r.limits[res]}`);
  }
  return r;
}

const SYNC: Resources = { requests: { memory: '64Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '100m' } };
const QUERY_SERVER: Resources = { requests: { memory: '32Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '200m' } };

/** Resolves the platform config per bot; one instance per settings. */
export class PlatformResolver {
  private readonly byKey = new Map<string, BotPlatform>();
  private readonly paths: ReadonlyArray<ReadonlyArray<readonly [string, unknown]>>;

  constructor(
    private readonly config: PodConfig,
    private readonly runtimeImage: string,
    /** Where the config came from, for errors. */
    private readonly origin: string,
    isSecretKey: (key: string) => boolean,
  ) {
    const problems: string[] = [];
    this.paths = (config.rules ?? []).map((rule, i) =>
      Object.entries(rule.match.config ?? {}).map(([dotted, want]) => {
        if (dotted.split('.').some(isSecretKey)) problems.push(`rules[${i}].match.config.${dotted}: names a secret config key; rules match only on the non-secret config`);
        return [dotted, want] as const;
      }),
    );
    if (problems.length > 0) throw new ConfigError(origin, problems);
    // Each rule alone over the top-level blocks: a bad combination is reported when the config is read.
    this.build('base');
    (config.rules ?? []).forEach((_, i) => this.build(`base,${i}`));
  }

  /** What the config gives this bot. */
  resolve(bot: BotFacts): BotPlatform {
    let key = 'base';
    const rules = this.config.rules ?? [];
    for (let i = 0; i < rules.length; i++) if (this.matches(rules[i], i, bot)) key += `,${i}`;
    return this.byKey.get(key) ?? this.build(key);
  }

  private matches(rule: RuleBlock, i: number, bot: BotFacts): boolean {
    const m = rule.match;
    if (m.kind !== undefined && m.kind !== bot.kind) return false;
    if (m.runtimes && !m.runtimes.includes(bot.runtime)) return false;
    if (m.ids && !m.ids.includes(bot.id)) return false;
    for (const [dotted, want] of this.paths[i]) {
      let v: unknown = bot.config;
      for (const seg of dotted.split('.')) v = isMap(v) ? v[seg] : undefined;
      if (v !== want) return false;
    }
    return true;
  }

  private build(key: string): BotPlatform {
    const rules = this.config.rules ?? [];
    const blocks = key.split(',').map((k) => (k === 'base' ? { pod: this.config.pod, resources: this.config.resources, image: this.config.image } : rules[Number(k)]));
    let pod: PodBlock | undefined;
    let resources: ResourcesBlock | undefined;
    let image: ImageBlock | undefined;
    for (const b of blocks) {
      pod = mergeBlocks(pod, b.pod);
      resources = mergeBlocks(resources, b.resources);
      image = mergeBlocks(image, b.image);
    }
    const where = key === 'base' ? 'resources' : `resources (top level and rules ${key.slice(5)})`;
    const problems: string[] = [];
    const platform: BotPlatform = {
      key,
      pod: pod && Object.keys(pod).length > 0 ? pod : undefined,
      image: image ? applyImage(this.runtimeImage, image) : undefined,
      botResources: fullResources(BOT_RESOURCES, resources?.bot, `${where}.bot`, problems),
      syncResources: resources?.sync ? fullResources(SYNC, resources.sync, `${where}.sync`, problems) : undefined,
      queryServerResources: resources?.queryServer ? fullResources(QUERY_SERVER, resources.queryServer, `${where}.queryServer`, problems) : undefined,
    };
    if (problems.length > 0) throw new ConfigError(this.origin, problems);
    this.byKey.set(key, platform);
    return platform;
  }
}
