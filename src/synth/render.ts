import type { App, Chart } from 'cdk8s';
import type { IConstruct } from 'constructs';
import type { CustomizeCheck } from '../constructs/customize';
import type { BotSpec } from '../model/bot';
import { findLeaks } from '../model/secrets';
import type { RenderSettings } from '../settings';
import { botFilePath } from './shard';
import { TemplateCache } from './template';
import { validateObjects } from './validate';
import { stringifyDocuments } from './yaml';

/** One bot's file: where it goes and its exact bytes. */
export interface RenderedBot {
  /** Bot id. */
  readonly id: string;
  /** `realtime` or `scheduled`. */
  readonly kind: BotSpec['kind'];
  /** Path under the output root, e.g. `bots/shard-07/bot-<id>.yaml`. */
  readonly relPath: string;
  /** File content. */
  readonly text: string;
  /** Number of Kubernetes objects in the file. */
  readonly objects: number;
  /** Secret key paths whose values were found in the text (must be empty). */
  readonly leaks: string[];
}

/**
 * cdk8s and the constructs, loaded on first use: a render worker that only fills templates the
 * calling thread built never loads them (cdk8s-plus-28 alone takes ~0.3 s to load).
 */
function cdk8sParts() {
  /* eslint-disable @typescript-eslint/no-require-imports */
  return (loaded ??= {
    cdk8s: require('cdk8s') as typeof import('cdk8s'),
    RealtimeBot: (require('../constructs/realtime-bot') as typeof import('../constructs/realtime-bot')).RealtimeBot,
    ScheduledBot: (require('../constructs/scheduled-bot') as typeof import('../constructs/scheduled-bot')).ScheduledBot,
    props: require('../constructs/from-spec') as typeof import('../constructs/from-spec'),
    applyCustomizer: (require('../constructs/customize') as typeof import('../constructs/customize')).applyCustomizer,
  });
  /* eslint-enable @typescript-eslint/no-require-imports */
}
let loaded:
  | {
      cdk8s: typeof import('cdk8s');
      RealtimeBot: typeof import('../constructs/realtime-bot').RealtimeBot;
      ScheduledBot: typeof import('../constructs/scheduled-bot').ScheduledBot;
      props: typeof import('../constructs/from-spec');
      applyCustomizer: typeof import('../constructs/customize').applyCustomizer;
    }
  | undefined;

/**
 * Adds the construct of one bot to a chart, then runs `settings.customize` on it (the chart is the
 * hook's scope: objects it adds go into the bot's file). With a hook it returns the check to run
 * on the rendered objects: a changed protected field throws a ProtectedFieldError, which fails
 * that bot only.
 */
export function addBot(chart: Chart, spec: BotSpec, settings: RenderSettings): CustomizeCheck | undefined {
  const { RealtimeBot, ScheduledBot, props, applyCustomizer } = cdk8sParts();
  if (spec.kind === 'realtime') new RealtimeBot(chart, 'Bot', props.realtimeBotProps(spec, settings));
  else new ScheduledBot(chart, 'Bot', props.scheduledBotProps(spec, settings));
  return settings.customize ? applyCustomizer(settings.customize, spec, chart) : undefined;
}

/**
 * Renders bots one at a time, each in its own Chart of one long-lived App. A Chart is removed
 * after it is rendered: cdk8s walks the whole App on every `Chart.toJson()` (dependency
 * resolution and validation), so an App holding thousands of Charts is quadratic, while a new
 * App per bot pays the App's setup each time. This keeps cdk8s's own semantics (validation,
 * token resolution, key sorting) and linear cost.
 */
export class BotRenderer {
  private app?: App;
  private seq = 0;
  /**
   * Per-shape templates of this renderer's output (see template.ts); null renders every bot
   * directly. A customization hook is arbitrary code the shape check cannot prove pure (it may
   * branch on any value), so with one every bot is rendered directly.
   */
  readonly templates: TemplateCache | null;

  constructor(
    /** The settings every bot is rendered with. */
    readonly settings: RenderSettings,
    opts: { templates?: boolean; validate?: boolean } = {},
  ) {
    this.validate = opts.validate ?? true;
    this.templates = opts.templates === false || settings.customize ? null : new TemplateCache((spec) => this.toJson(spec), this.validate);
  }

  /** Whether every object is checked as the API server does before it is returned (default true). */
  readonly validate: boolean;

  /** The API objects of one bot, as cdk8s's `Chart.toJson()` returns them. */
  toJson(spec: BotSpec): unknown[] {
    const { App, Chart } = cdk8sParts().cdk8s;
    const app = (this.app ??= new App({ outdir: 'unused' }));
    const id = `bot${this.seq++}`;
    const chart = new Chart(app, id);
    try {
      const check = addBot(chart, spec, this.settings);
      const rendered = new Map<IConstruct, unknown>();
      const objects = this.synthChart(app, chart, check && rendered);
      check?.((o) => (rendered.has(o) ? rendered.get(o) : o.toJson()));
      return objects;
    } finally {
      app.node.tryRemoveChild(id);
    }
  }

  /**
   * `chart.toJson()` (cdk8s `App._synthChart`) for the one chart this App holds, without its
   * bookkeeping when it cannot matter: with no construct dependency and no nested chart,
   * cdk8s's dependency resolution adds nothing and its topological order is the constructs'
   * pre-order, so what remains is validating every construct (same errors, same message) and
   * each ApiObject's own `toJson()` (resolution, sanitizing, key sorting, JSON patches) in that
   * order. Anything else is left to cdk8s.
   */
  private synthChart(app: App, chart: Chart, rendered?: Map<IConstruct, unknown>): unknown[] {
    const { ApiObject, Chart } = cdk8sParts().cdk8s;
    const constructs = chart.node.findAll();
    for (const c of constructs) {
      if ((c !== chart && c instanceof Chart) || c.node.dependencies.length > 0) return chart.toJson();
    }
    const errors: string[] = [];
    const validate = (c: IConstruct) => {
      for (const e of c.node.validate()) errors.push(`[${c.node.path}] ${e}`);
    };
    validate(app);
    constructs.forEach(validate);
    if (errors.length > 0) throw new Error(`Validation failed with the following errors:\n  ${errors.join('\n  ')}`);
    const objects: unknown[] = [];
    for (const c of constructs) {
      if (!(c instanceof ApiObject)) continue;
      const json = c.toJson();
      objects.push(json);
      rendered?.set(c, json);
    }
    return objects;
  }

  /** One bot's file, leak-scanned. */
  render(spec: BotSpec): RenderedBot {
    const { text, objects } = this.templates ? this.templates.text(spec) : directText(this.toJson(spec), this.validate);
    return {
      id: spec.id,
      kind: spec.kind,
      relPath: botFilePath(spec.id, spec.fileName, this.settings.shards),
      text,
      objects,
      leaks: spec.secrets.length > 0 ? findLeaks(text, spec.secrets) : [],
    };
  }
}

function directText(objects: unknown[], validate: boolean): { text: string; objects: number } {
  if (validate) validateObjects(objects);
  return { text: stringifyDocuments(objects), objects: objects.length };
}
