// One base class for every failure a user can act on. The CLI catches it once (cli.ts `runCli`)
// and prints the message and hint; anything else is a bug and keeps its stack trace.

/** Exit codes of every command (documented in README, "Exit codes"). */
export const ExitCode = {
  /** Everything rendered (and was written or published). */
  OK: 0,
  /** A document failed, the source is empty or unreadable, git or the API server failed, a guard refused. */
  FAILED: 1,
  /** `fleetsynth diff` only: the render differs from the base. */
  CHANGES: 2,
  /** Bad configuration: an invalid flag, env var or setting value, an unknown option, a missing required one. */
  CONFIG: 3,
} as const;

/** One of the exit codes above. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Options of a FleetsynthError. */
export interface FleetsynthErrorOptions {
  /** Exit code of the process when this error ends a command. @default ExitCode.FAILED */
  readonly exitCode?: ExitCodeValue;
  /** What to do next, printed on its own line after the message. @default none */
  readonly hint?: string;
  /** The underlying error. @default none */
  readonly cause?: unknown;
}

/** A failure a user can act on: a message without secret values, an exit code and a hint. */
export class FleetsynthError extends Error {
  /** Exit code of the process when this error ends a command. */
  readonly exitCode: ExitCodeValue;
  /** What to do next, when there is something to say. */
  readonly hint?: string;

  constructor(message: string, opts: FleetsynthErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? ExitCode.FAILED;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

/**
 * Bad configuration: invalid settings, flags, env values or a platform config file. Always exit
 * code 3, and nothing has been written or deleted. `new ConfigError(problems)` for flags and env,
 * `new ConfigError(file, problems)` for a config file (each problem names its key path).
 */
export class ConfigError extends FleetsynthError {
  /** One line per problem, each naming the flag, env var, setting or key path. */
  readonly problems: readonly string[];
  /** The config file (or `environment`), when the problems are in one. */
  readonly file?: string;

  constructor(problems: readonly string[], opts?: { readonly hint?: string });
  constructor(file: string, problems: readonly string[], opts?: { readonly hint?: string });
  constructor(a: string | readonly string[], b?: readonly string[] | { readonly hint?: string }, c?: { readonly hint?: string }) {
    const file = typeof a === 'string' ? a : undefined;
    const problems = typeof a === 'string' ? (b as readonly string[]) : a;
    const opts = (typeof a === 'string' ? c : (b as { readonly hint?: string } | undefined)) ?? {};
    const head = file ? `${file}: ` : 'invalid configuration: ';
    super(problems.length === 1 ? `${head}${problems[0]}` : `${head}${problems.length} problems:\n  ${problems.join('\n  ')}`, {
      exitCode: ExitCode.CONFIG,
      hint:
        opts.hint ??
        (file ? 'fix the key paths above (the JSON Schema fleetsynth.config.schema.json helps in an editor); nothing was written' : 'run `fleetsynth <command> --help` for the flags and the env vars they read'),
    });
    this.problems = problems;
    if (file) this.file = file;
  }
}

/** Throws a ConfigError when there is any problem. */
export function assertNoProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new ConfigError(problems);
}

/** The lines `fleetsynth: <message>` and `hint: <hint>` for stderr. */
export function describeError(e: FleetsynthError): string[] {
  return [`fleetsynth: ${e.message}`, ...(e.hint ? [`hint: ${e.hint}`] : [])];
}
