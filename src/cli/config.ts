// The configuration as the store commands load it (`passerelle audit|db|identity|outbox`).
import { ConfigError, loadConfig, type Config } from '../config.js';

/** The options every store command takes: --data and --config. */
export interface ConfigOptions {
  data?: string;
  config?: string;
}

/**
 * The configuration (configuration file < environment < --data), or undefined after reporting why not: a
 * ConfigError is written as `passerelle <command>: <message>` with exit code 2. Other errors are thrown.
 */
export function configOf(command: string, opts: ConfigOptions): Config | undefined {
  try {
    return loadConfig({ file: opts.config, env: process.env, overrides: { dataDir: opts.data } });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`passerelle ${command}: ${err.message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}
