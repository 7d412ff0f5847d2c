import pino from 'pino';

/**
 * Log fields that may hold bot configs or credentials. Configs carry exchange keys (SPEC §2.8,
 * §9 #3), so they are censored wherever they appear, even if a caller passes a whole document.
 */
export const REDACT_PATHS = [
  'config',
  '*.config',
  'data',
  '*.data',
  'body',
  '*.body',
  'payload',
  '*.payload',
  'custom.config',
  'BOT_CONFIG',
  '*.BOT_CONFIG',
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'headers.authorization',
  '*.headers.authorization',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level (the CLI passes `LOG_LEVEL`). @default 'info' */
  readonly level?: string;
  /** Where JSON lines go (default stdout); tests pass a stream to inspect them. */
  readonly destination?: pino.DestinationStream;
}

/** The service logger: JSON lines with bot ids, never with config values. */
export function createLogger(opts: LoggerOptions = {}): pino.Logger {
  const options: pino.LoggerOptions = {
    name: 'fleetsynth',
    level: opts.level || 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'fleetsynth' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything (library use without a logger). */
export function silentLogger(): pino.Logger {
  return pino({ level: 'silent' });
}
