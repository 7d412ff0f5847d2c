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

/** Bad configuration: invalid settings, flags or env values. Always exit code 3. */
export class ConfigError extends FleetsynthError {
  constructor(
    /** One line per problem, each naming the flag, env var or setting. */
    readonly problems: readonly string[],
    opts: { readonly hint?: string } = {},
  ) {
    super(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  ${problems.join('\n  ')}`, {
      exitCode: ExitCode.CONFIG,
      hint: opts.hint ?? 'run `fleetsynth <command> --help` for the flags and the env vars they read',
    });
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
