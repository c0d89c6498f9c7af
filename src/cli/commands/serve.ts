// `passerelle serve`: load the configuration, open the store, listen, and close cleanly on SIGINT/SIGTERM.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startServer } from '../../api/app.js';
import { mountDomainRoutes } from '../../api/domain-routes.js';
import { mountIdentityRoutes } from '../../api/identity-routes.js';
import { ConfigError, loadConfig } from '../../config.js';
import { validateResource } from '../../fhir/validate.js';
import { openSqliteStore } from '../../store/sqlite-store.js';
import { identityServiceFor } from '../../services/patient-identity.js';

interface ServeOptions {
  port?: string;
  data?: string;
  config?: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway (FHIR REST at /fhir)')
    .option('-p, --port <number>', 'port to listen on (env PORT; default 8080)')
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)')
    .addHelpText(
      'after',
      '\nPrecedence: configuration file < environment (PORT, PASSERELLE_DATA, PASSERELLE_BASE_URL, LOG_LEVEL) < options.',
    )
    .action(async (opts: ServeOptions) => {
      let config;
      try {
        config = loadConfig({ file: opts.config, env: process.env, overrides: { port: opts.port, dataDir: opts.data } });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`passerelle: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      const logger = pino({ level: config.log.level });
      if (config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
      const store = await openSqliteStore({ file: config.database });
      // Compile the profiles now rather than on the first request (it takes a second or two).
      validateResource({ resourceType: 'Patient' });
      const running = await startServer({ store, config, logger, mounts: [mountDomainRoutes, mountIdentityRoutes] });
      logger.info({ url: running.url, fhir: `${running.baseUrl}/fhir`, database: config.database, auth: config.auth.enabled }, `passerelle listening on ${running.url}`);
      // In the background: load the matcher's index (else the first registration waits for it) and write the FHIR
      // Patients a bulk import left pending (an import stopped before its end).
      const identity = identityServiceFor(store);
      const started = Date.now();
      identity
        .warm()
        .then(async (indexed) => {
          logger.info({ indexed, ms: Date.now() - started }, 'identity index loaded');
          const projected = await identity.drainProjections();
          if (projected > 0) logger.info({ projected }, 'pending FHIR Patients of imported identities written');
        })
        .catch((err: unknown) => logger.error({ err }, 'identity index: loading or pending projections failed'));

      const shutdown = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        running
          .close()
          .then(() => store.close())
          .then(
            () => process.exit(0),
            (err: unknown) => {
              logger.error({ err }, 'error while shutting down');
              process.exit(1);
            },
          );
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
