/** A platform config that cannot be used: names the file and every key path at fault. Nothing is written or deleted then. */
export class ConfigError extends Error {
  constructor(
    /** The config file (or `flags`/`env` for a bad flag or variable). */
    readonly file: string,
    /** One `<key path>: <problem>` per problem. */
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.name = 'ConfigError';
  }
}
