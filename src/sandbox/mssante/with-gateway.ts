// `passerelle serve --sandbox-mssante` (and `npm start`): the local MSSanté peer runs beside the gateway with the three
// demo mailboxes, and — unless the configuration has its own `mssante` section — the gateway's mailbox points to it
// (SMTP and IMAP over mutual TLS with the test PKI's organisation certificate) and PPPs are mailed there. The local
// directory is seeded so the demo PPPs' médecin traitant and pharmacien d'officine resolve to the demo mailboxes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { mssanteConfigSchema } from '../../connectors/mssante/config.js';
import { outboxConfigSchema } from '../../outbox/config.js';
import type { DirectoryRepository, DirectoryRow } from '../../store/directory-repository.js';
import { ensureTestPki } from '../pki.js';
import { DEMO_MAILBOXES } from './mailboxes.js';
import { startMssantePeer, type MssantePeer } from './peer.js';

const DEMO_PPP_DIR = fileURLToPath(new URL('../../../test/fixtures/ppp/', import.meta.url));
/** The roles of the demo fixtures that get a demo mailbox. */
const ROLE_MAILBOX = { 'medecin-traitant': DEMO_MAILBOXES.mt, 'pharmacien-officine': DEMO_MAILBOXES.pho } as const;

export interface GatewayMssanteSandbox {
  peer: MssantePeer;
  /** The configuration with `mssante` pointing to the peer and an `mssante` destination routed on `ppp.stored`. */
  config: Config;
  /** Seeds the local MSSanté directory with the demo practitioners, when it is empty (call once the store is open). */
  seed(store: { directory: DirectoryRepository }): Promise<number>;
}

export async function startGatewayMssanteSandbox(config: Config, logger: Logger): Promise<GatewayMssanteSandbox> {
  const certsDir = path.resolve(config.sandbox.dmp.certs ?? path.join(config.dataDir, 'certs'));
  const pki = await ensureTestPki({ dir: certsDir });
  if (pki.generated) logger.info({ certs: certsDir }, 'MSSanté sandbox: test PKI generated (TEST certificates, never for production)');
  const dir = path.resolve(config.dataDir, 'mssante-sandbox');
  const peer = await startMssantePeer({
    dir,
    pki,
    // The demo mailboxes, and those the demo PPPs write in their team (so a fixture that names its own MT and PHO
    // addresses is delivered too: the peer refuses unknown mailboxes with 550).
    mailboxes: [...new Set([DEMO_MAILBOXES.gateway, DEMO_MAILBOXES.mt, DEMO_MAILBOXES.pho, ...demoFixtureAddresses()])].map((address) => ({ address })),
    smtpPort: config.sandbox.mssante.smtpPort,
    imapPort: config.sandbox.mssante.imapPort,
    logger: logger.child({ component: 'mssante-sandbox' }),
  });
  logger.info({ smtp: `${peer.smtp.host}:${peer.smtp.port}`, imap: `${peer.imap.host}:${peer.imap.port}`, mailboxes: peer.mailboxes }, 'MSSanté sandbox listening');

  let next = config;
  if (!config.mssante) {
    const passwordFile = path.join(dir, 'gateway-imap.password');
    await writeFile(passwordFile, `${peer.passwordOf(DEMO_MAILBOXES.gateway)}\n`, { mode: 0o600 });
    const mssante = mssanteConfigSchema.parse({
      address: DEMO_MAILBOXES.gateway,
      tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
      smtp: { host: peer.smtp.host, port: peer.smtp.port, security: 'implicit' },
      imap: { host: peer.imap.host, port: peer.imap.port, security: 'implicit', passwordFile, pollMs: 5000 },
    });
    next = { ...next, mssante };
  }
  if (!Object.values(next.outbox.destinations).some((d) => d.kind === 'mssante') && !next.outbox.destinations.mssante) {
    const outbox = outboxConfigSchema.parse({
      ...next.outbox,
      destinations: { ...next.outbox.destinations, mssante: { kind: 'mssante', baseDelayMs: 500, maxDelayMs: 30_000 } },
      routes: [...next.outbox.routes, { on: 'ppp.stored', destination: 'mssante' }],
    });
    next = { ...next, outbox };
  }
  return { peer, config: next, seed: (store) => seedDemoDirectory(store.directory, logger) };
}

/** The MSSanté addresses the demo PPPs write in their team (test domains only: `*.mssante.fr` of the fixtures). */
export function demoFixtureAddresses(fixturesDir = DEMO_PPP_DIR): string[] {
  if (!existsSync(fixturesDir)) return [];
  const out = new Set<string>();
  for (const file of readdirSync(fixturesDir).sort()) {
    if (!file.endsWith('.json') || file.endsWith('.expected.json')) continue;
    const ppp = JSON.parse(readFileSync(path.join(fixturesDir, file), 'utf8')) as { team?: { practitioner?: { email?: unknown } }[] };
    for (const member of ppp.team ?? []) {
      const email = member.practitioner?.email;
      if (typeof email === 'string' && /^[a-z0-9._-]+@[a-z0-9.-]+\.mssante\.fr$/i.test(email)) out.add(email.toLowerCase());
    }
  }
  return [...out];
}

/** The demo PPPs' médecins traitants and pharmaciens d'officine, each with the demo mailbox of the role. */
export function demoDirectoryRows(fixturesDir = DEMO_PPP_DIR): DirectoryRow[] {
  if (!existsSync(fixturesDir)) return [];
  const rows: DirectoryRow[] = [];
  const seen = new Set<string>();
  for (const file of readdirSync(fixturesDir).sort()) {
    if (!file.endsWith('.json') || file.endsWith('.expected.json')) continue;
    const ppp = JSON.parse(readFileSync(path.join(fixturesDir, file), 'utf8')) as {
      team?: { role?: string; practitioner?: { rpps?: string; family?: string; given?: string; profession?: string } }[];
    };
    for (const member of ppp.team ?? []) {
      const address = ROLE_MAILBOX[member.role as keyof typeof ROLE_MAILBOX] as string | undefined;
      const p = member.practitioner;
      if (!address || !p?.rpps || seen.has(`${p.rpps} ${address}`)) continue;
      seen.add(`${p.rpps} ${address}`);
      rows.push({
        line: rows.length + 1,
        address,
        balType: 'PER',
        ppId: p.rpps,
        ppIdKind: 'RPPS',
        ...(p.family ? { family: p.family } : {}),
        ...(p.given ? { given: p.given } : {}),
        ...(p.profession ? { profession: p.profession } : {}),
      });
    }
  }
  return rows;
}

/** Writes the demo rows as one directory import, only when the directory is empty (a real import is never replaced). */
export async function seedDemoDirectory(directory: DirectoryRepository, logger?: Logger): Promise<number> {
  if ((await directory.count()) > 0) return 0;
  const rows = demoDirectoryRows();
  if (rows.length === 0) {
    logger?.warn({ fixtures: DEMO_PPP_DIR }, 'MSSanté sandbox: no demo fixtures, the directory is left empty');
    return 0;
  }
  const generation = await directory.beginImport('mssante-sandbox (demo practitioners)');
  try {
    await directory.addBatch(generation, rows);
    const records = await directory.finishImport(generation);
    logger?.info({ records }, 'MSSanté sandbox: demo practitioners added to the local directory');
    return records;
  } catch (err) {
    await directory.abortImport(generation).catch(() => undefined);
    throw err;
  }
}
