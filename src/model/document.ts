import { z } from 'zod';
import { BOT_ID_PATTERN } from './names';

/** Runtimes the0's runtime image can execute (SPEC §1.4). */
export const RUNTIMES = ['python3.11', 'nodejs20', 'rust-stable', 'dotnet8', 'gcc13', 'cpp-gcc13', 'scala3', 'ghc96'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Which MongoDB collection (or fleet-file list) a document came from. */
export type Collection = 'bots' | 'bot_schedules';

const FILE_PATH = /^[A-Za-z0-9/._-]+$/;

// Unknown fields anywhere are ignored (passthrough keeps them out of our way, never rejects).
const entrypoints = z
  .object({
    bot: z.string({ required_error: 'is required', invalid_type_error: 'must be a string' }).min(1, 'must not be empty'),
    query: z.string({ invalid_type_error: 'must be a string' }).nullish(),
  })
  .passthrough();

const customConfig = z
  .object({
    name: z.string({ invalid_type_error: 'must be a string' }).nullish(),
    runtime: z.enum(RUNTIMES, {
      errorMap: (issue, ctx) => ({
        message:
          issue.code === 'invalid_type' && ctx.data === undefined
            ? 'is required'
            : `must be one of ${RUNTIMES.join(', ')} (got ${JSON.stringify(ctx.data)})`,
      }),
    }),
    entrypoints: entrypoints.optional(),
  })
  .passthrough();

const custom = z
  .object(
    {
    version: z.string({ invalid_type_error: 'must be a string' }).nullish(),
    filePath: z
      .string({ required_error: 'is required', invalid_type_error: 'must be a string' })
      .min(1, 'must not be empty')
      .regex(FILE_PATH, 'may only contain A-Z a-z 0-9 / . _ -'),
    config: customConfig,
    },
    { required_error: 'is required', invalid_type_error: 'must be an object' },
  )
  .passthrough();

/** A bot or schedule document as stored in MongoDB (SPEC §1.1). */
export const botDocument = z
  .object({
    id: z
      .string({ required_error: 'is required', invalid_type_error: 'must be a string' })
      .regex(BOT_ID_PATTERN, 'must be a Kubernetes name: lowercase a-z, 0-9 and "-", starting and ending alphanumeric'),
    config: z.record(z.unknown(), { invalid_type_error: 'must be an object' }).nullish(),
    custom,
    enabled: z.unknown().optional(),
  })
  .passthrough();

export type BotDocument = z.infer<typeof botDocument>;

/** The desired state in the shape of the two collections, as a fleet file holds it. */
export interface FleetDocuments {
  bots: unknown[];
  bot_schedules: unknown[];
}

/** SPEC §1.2: enabled unless `config.enabled` is the boolean false. */
export function isEnabled(doc: unknown): boolean {
  const config = (doc as { config?: unknown } | null)?.config;
  if (config === null || typeof config !== 'object') return true;
  return (config as { enabled?: unknown }).enabled !== false;
}
