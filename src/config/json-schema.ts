// `npm run schema`: writes fleetsynth.config.schema.json (the JSON Schema of the config file, for
// editor completion) from the one zod schema. Generated: checked by .ci/check-generated.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod/v4';
import { configFileSchema } from './schema';

/** File name of the generated schema, at the package root. */
export const CONFIG_SCHEMA_FILE = 'fleetsynth.config.schema.json';

/** The JSON Schema text (stable: same schema, same bytes). */
export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configFileSchema, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  return JSON.stringify({ ...schema, $id: 'https://fleetsynth.dev/fleetsynth.config.schema.json', title: 'fleetsynth platform config' }, null, 2) + '\n';
}

if (require.main === module) {
  const target = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', '..', CONFIG_SCHEMA_FILE));
  fs.writeFileSync(target, configJsonSchema());
  console.log(`wrote ${target}`);
}
