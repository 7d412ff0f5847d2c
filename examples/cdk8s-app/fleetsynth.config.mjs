// The platform config of this GitOps repo, read by `cdk8s synth` (main.ts) and by every fleetsynth
// command run here (`fleetsynth synth`, `diff`, `publish`, `serve`), so all of them render the same
// bots. Settings (namespace, shards, images, …) go here too; see fleetsynth's README.
import { JsonPatch } from 'cdk8s';

/**
 * Called for each bot with its objects; fleetsynth checks afterwards that labels, selectors and
 * hardening stay as it rendered them.
 * @type {import('fleetsynth').BotCustomizer}
 */
export function customize(_bot, objects) {
  for (const o of objects) {
    o.metadata.addLabel('example.com/team', 'trading');
    // `trading-bots` is the PriorityClass main.ts renders.
    if (o.kind === 'Deployment') o.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', 'trading-bots'));
    if (o.kind === 'CronJob') o.addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/priorityClassName', 'trading-bots'));
  }
}

export default { customize };
