// A platform config that cannot be used names the file and every key path at fault; nothing is
// written or deleted then. One class for all configuration errors (src/errors.ts): exit code 3.
export { ConfigError } from '../errors';
