// `passerelle serve`: load the configuration, open the store, listen, and close cleanly on SIGINT/SIGTERM.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { startServer } from '../../api/app.js';
import { mountDomainRoutes } from '../../api/domain-routes.js';
import { mountPathwayRoutes } from '../../api/pathway-routes.js';
import { mountReportRoutes } from '../../api/report-routes.js';
import { mountIdentityRoutes } from '../../api/identity-routes.js';
import { ConfigError, loadConfig } from '../../config.js';
import { validateResource } from '../../fhir/validate.js';
import { openStore, storeTarget } from '../../store/open.js';
import { identityServiceFor } from '../../services/patient-identity.js';
import { metrics } from '../../observability/metrics.js';
import { MappingRegistry } from '../../mappings/registry.js';
import { attachmentMapper } from '../../mappings/attachments.js';
import { packagedMappingFile } from '../../mapping-files.js';
import { configureAccessAudit } from '../../services/audit/access.js';
import type { OutboxConfig } from '../../outbox/config.js';
import { startDispatcher, type RunningDispatcher } from '../../services/outbox-dispatch.js';
import { loadDocumentSettings, withCodeMaps } from '../../documents/settings.js';
import { rebuildReports } from '../../services/reports/rebuild.js';
import { submissionSourceId } from '../../documents/ids.js';
import { startGatewaySandbox, type GatewaySandbox } from '../../sandbox/dmp/with-gateway.js';
import { startGatewayOidcSandbox, type GatewayOidcSandbox } from '../../sandbox/oidc/with-gateway.js';
import { startGatewayMssanteSandbox, type GatewayMssanteSandbox } from '../../sandbox/mssante/with-gateway.js';
import { dovecotInstalled } from '../../sandbox/mssante/dovecot.js';
import { checkPeopleSignIn, mountPages } from '../../pages/index.js';
import { smtpSender, type MailSender } from '../../connectors/mssante/transport.js';
import { loadMailTls, startMssanteIntake, type IntakeCheckpoint, type RunningIntake } from '../../services/mssante-intake.js';
import { startPathwayScheduler, type RunningScheduler } from '../../services/pathway/scheduler.js';

function circuitsOf(outbox: RunningDispatcher | undefined, config: OutboxConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(config.destinations)) out[name] = outbox?.dispatcher.circuitState(name) ?? 'no dispatcher in this process';
  return out;
}

interface ServeOptions {
  port?: string;
  data?: string;
  config?: string;
  /** `--no-migrate`: refuse to start while migrations are pending instead of applying them. */
  migrate: boolean;
  /** Run the local DMP peer beside the gateway and send documents to it. */
  sandboxDmp?: boolean;
  /** Run the local OpenID provider beside the gateway and let its demo people sign in. */
  sandboxOidc?: boolean;
  /** Run the local MSSanté peer (SMTP + Dovecot) beside the gateway and mail documents to its demo mailboxes. */
  sandboxMssante?: boolean;
  /** `--no-scheduler`: do not run the pathway's due work in this process (another process does, or the CLI). */
  scheduler: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway (FHIR REST at /fhir)')
    .option('-p, --port <number>', 'port to listen on (env PORT; default 8080)')
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)')
    .option('--no-migrate', 'do not apply pending database migrations: refuse to start until `passerelle db migrate` ran')
    .option('--sandbox-dmp', 'also run the local DMP peer (test PKI in <data>/certs) and send PPP, CTM and BPM documents to it')
    .option('--sandbox-mssante', 'also run the local MSSanté peer (SMTP 8465, IMAP 8993, Dovecot) with the demo mailboxes and mail PPPs to it (TEST only)')
    .option('--sandbox-oidc', 'also run a local OpenID provider (port 8444) whose demo people sign in to the pages (TEST only)')
    .option('--no-scheduler', 'do not run the pathway scheduler (D45/D90 windows, decisions deadline) in this process, whatever pathway.scheduler.enabled says')
    .addHelpText(
      'after',
      '\nPrecedence: configuration file < environment (PORT, PASSERELLE_DATA, DATABASE_URL, PASSERELLE_BASE_URL, LOG_LEVEL) < options.\n' +
        'DATABASE_URL=postgres://user:password@host:5432/db stores everything in PostgreSQL instead of the SQLite file.',
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
      // The Docker image sets PASSERELLE_REQUIRE_AUTH=1: a gateway reachable from the network does not start open.
      if (config.requireAuth && !config.auth.enabled && !config.insecureDev) {
        process.stderr.write(
          'passerelle: authentication is off (auth.enabled: false) and PASSERELLE_REQUIRE_AUTH is set (as in the Docker image): refusing to start.\n' +
            '  Declare clients and set auth.enabled: true (docs/security.md), or set PASSERELLE_INSECURE_DEV=1 for a throw-away development instance.\n',
        );
        process.exitCode = 2;
        return;
      }
      const logger = pino({ level: config.log.level });
      if (config.auth.enabled && config.auth.devTokens) {
        logger.warn('auth.devTokens is on: static bearer tokens from the configuration are accepted — for local development only, never in production');
      }
      if (!config.auth.enabled) logger.warn({ host: config.host }, 'authentication is off: every request acts with every scope (local development only)');
      if (!config.tls && !['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
        logger.warn({ host: config.host }, 'listening in plain HTTP on a non-loopback address: set tls (or terminate TLS in front) so tokens and data do not travel in clear');
      }
      const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
      if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
      let store;
      try {
        store = await openStore({ databaseUrl: config.databaseUrl, file: config.database, migrate: opts.migrate });
      } catch (err) {
        logger.fatal({ dialect: target.dialect, database: target.location, err: (err as Error).message }, 'cannot open the database');
        process.exitCode = 1;
        return;
      }
      logger.info({ dialect: target.dialect, database: target.location }, `database: ${target.dialect}`);
      // Reads and searches are audited in groups (one transaction every few ms, docs/security.md "Audit trail"), or each
      // in its own transaction before the answer with `audit.reads: sync`.
      configureAccessAudit(store, { mode: config.audit.reads });
      // The report rows of PPPs stored before they existed (issue 20): written once, at the first start after the upgrade.
      const rebuilt = await rebuildReports(store, { missingOnly: true });
      if (rebuilt > 0) logger.info({ cases: rebuilt }, 'report rows written for PPPs stored before the reports existed');
      // Compile the profiles now rather than on the first request (it takes a second or two).
      validateResource({ resourceType: 'Patient' });
      // Vendor formats and code maps (issue 19): this process's copy of mappings/, reloaded on change (docs/mappings.md).
      const mappings = await MappingRegistry.open({
        dir: config.mappings.dir ?? path.dirname(packagedMappingFile('documents.yaml')),
        watch: config.mappings.watch,
        debounceMs: config.mappings.debounceMs,
        logger,
        metrics,
      });
      let documents;
      try {
        // Document metadata may read code maps (documents.yaml `codeMaps`): the registry's, reloaded with them.
        const settings = withCodeMaps(loadDocumentSettings(config.documents.settings), mappings.metadataCodeMaps());
        documents = { settings, sourceId: submissionSourceId(config.documents) };
      } catch (err) {
        logger.fatal({ err: (err as Error).message }, 'cannot load the document settings');
        process.exitCode = 2;
        await mappings.close();
        await store.close();
        return;
      }
      let sandbox: GatewaySandbox | undefined;
      if (opts.sandboxDmp || config.sandbox.dmp.enabled) {
        sandbox = await startGatewaySandbox(config, logger);
        config = { ...config, outbox: sandbox.outbox };
      }
      let mssanteSandbox: GatewayMssanteSandbox | undefined;
      if ((opts.sandboxMssante || config.sandbox.mssante.enabled) && !dovecotInstalled()) {
        // `npm start` passes --sandbox-mssante: on a machine without Dovecot the rest of the demo still runs.
        logger.warn('MSSanté sandbox skipped: Dovecot is not installed (Debian: apt-get install dovecot-imapd dovecot-lmtpd)');
      } else if (opts.sandboxMssante || config.sandbox.mssante.enabled) {
        try {
          mssanteSandbox = await startGatewayMssanteSandbox(config, logger);
        } catch (err) {
          logger.fatal({ err: (err as Error).message }, 'cannot start the MSSanté sandbox (Dovecot: Debian packages dovecot-imapd and dovecot-lmtpd)');
          process.exitCode = 1;
          await sandbox?.peer.close();
          await store.close();
          return;
        }
        config = mssanteSandbox.config;
        await mssanteSandbox.seed(store).catch((err: unknown) => logger.warn({ err }, 'MSSanté sandbox: seeding the directory failed'));
      }
      let oidcSandbox: GatewayOidcSandbox | undefined;
      if (opts.sandboxOidc || config.sandbox.oidc.enabled) {
        oidcSandbox = await startGatewayOidcSandbox(config, logger);
        config = oidcSandbox.config;
      }
      const outbox = config.outbox.dispatcher ? startDispatcher(store, config.outbox, { logger, metrics, documents, ...(config.mssante ? { mssante: { config: config.mssante } } : {}) }) : undefined;
      let running: Awaited<ReturnType<typeof startServer>>;
      try {
        checkPeopleSignIn(config);
        running = await startServer({
          store,
          config,
          logger,
          metrics,
          mappings,
          circuits: () => circuitsOf(outbox, config.outbox),
          mounts: [mountDomainRoutes, mountIdentityRoutes, mountPathwayRoutes, mountReportRoutes],
          pages: [mountPages],
        });
      } catch (err) {
        // TLS files, the passphrase, client keys or tokens, the access-token signing key: a configuration error.
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`passerelle: ${err.message}\n`);
        process.exitCode = 2;
        await outbox?.stop(0);
        await mappings.close();
        await sandbox?.peer.close();
        await mssanteSandbox?.peer.close();
        await oidcSandbox?.provider.close();
        await store.close();
        return;
      }
      logger.info({ url: running.url, fhir: `${running.baseUrl}/fhir`, database: target.location, auth: config.auth.enabled }, `passerelle listening on ${running.url}`);
      // MSSanté intake: the BAL APP's folder polled over IMAP (docs/mssante.md "Incoming mail").
      let intake: RunningIntake | undefined;
      let mdnSender: MailSender | undefined;
      const mssante = config.mssante;
      if (mssante?.imap?.enabled) {
        try {
          const tls = await loadMailTls(mssante);
          try {
            mdnSender = smtpSender(mssante, tls);
          } catch (err) {
            logger.warn({ err: (err as Error).message }, 'mssante: no SMTP sender, the MDNs asked for are not sent');
          }
          // Crash tests only: PASSERELLE_CRASH_AT=mssante-intake-before-commit kills the process at that point.
          const crashAt = process.env.PASSERELLE_CRASH_AT;
          const checkpoint = crashAt?.startsWith('mssante-intake-')
            ? (point: IntakeCheckpoint) => {
                if (`mssante-intake-${point}` === crashAt) process.kill(process.pid, 'SIGKILL');
              }
            : undefined;
          intake = await startMssanteIntake(store, mssante, {
            logger,
            metrics,
            tls,
            ...(mdnSender ? { sender: mdnSender } : {}),
            submission: { fhirBase: `${config.baseUrl}/fhir`, outbox: config.outbox, documents: config.documents },
            ...(checkpoint ? { checkpoint } : {}),
            attachments: attachmentMapper(mappings),
          });
        } catch (err) {
          logger.fatal({ err: (err as Error).message }, 'mssante: cannot take mail in');
          process.exitCode = 2;
          await outbox?.stop(0);
          await running.close();
          await mappings.close();
          await sandbox?.peer.close();
          await mssanteSandbox?.peer.close();
          await oidcSandbox?.provider.close();
          await store.close();
          return;
        }
      }
      // The pathway's due work (D45/D90 windows, decisions deadline, documents): claimed once across processes.
      let scheduler: RunningScheduler | undefined;
      if (config.pathway.scheduler.enabled && opts.scheduler !== false) {
        scheduler = startPathwayScheduler({ store, config, logger });
        logger.info({ worker: scheduler.workerId, pollMs: config.pathway.scheduler.pollMs }, 'pathway scheduler started');
      }
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

      let stopping = false;
      const shutdown = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: no new claims, finishing deliveries in flight');
        // Stop claiming and finish (or release) deliveries, then stop accepting requests, then close the store.
        (intake ? intake.stop() : Promise.resolve())
          .then(() => scheduler?.stop())
          .then(() => mdnSender?.close())
          .then(() => (outbox ? outbox.stop(config.outbox.leaseMs / 2) : undefined))
          .then(() => running.close())
          .then(() => mappings.close())
          .then(() => sandbox?.peer.close())
          .then(() => mssanteSandbox?.peer.close())
          .then(() => oidcSandbox?.provider.close())
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
