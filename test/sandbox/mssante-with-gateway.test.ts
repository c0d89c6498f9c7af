// `serve --sandbox-mssante`'s wiring: the peer under <data>/mssante-sandbox, the gateway's `mssante` section and
// destination pointing to it, the demo practitioners seeded in the local directory, and `passerelle mssante read`.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { DEMO_MAILBOXES } from '../../src/sandbox/mssante/mailboxes.js';
import { sendToPeer } from '../../src/sandbox/mssante/peer.js';
import { startGatewayMssanteSandbox, type GatewayMssanteSandbox } from '../../src/sandbox/mssante/with-gateway.js';
import { loadTestPki } from '../../src/sandbox/pki.js';
import { openStore } from '../../src/store/open.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { available } from '../support/shared.js';

const haveDovecot = available('Dovecot (/usr/sbin/dovecot with dovecot-imapd and dovecot-lmtpd)', dovecotInstalled(), 'the MSSanté sandbox wiring test');

describe.skipIf(!haveDovecot)('serve --sandbox-mssante wiring', () => {
  let dir: string;
  let config: Config;
  let sandbox: GatewayMssanteSandbox;
  let store: ResourceStore;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mssante-sandbox-test-'));
    await chmod(dir, 0o755);
    const file = path.join(dir, 'passerelle.yaml');
    await writeFile(file, `dataDir: ${JSON.stringify(path.join(dir, 'var'))}\nsandbox:\n  mssante:\n    enabled: true\n    smtpPort: 0\n    imapPort: 0\n`);
    config = loadConfig({ file, env: {} });
    sandbox = await startGatewayMssanteSandbox(config, pino({ level: 'silent' }));
    store = await openStore({ file: path.join(dir, 'var', 'passerelle.sqlite') });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.peer.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('points the gateway mailbox to the peer, with the test PKI and a password file only its owner reads', async () => {
    const m = sandbox.config.mssante;
    expect(m?.address).toBe(DEMO_MAILBOXES.gateway);
    expect(m?.smtp).toMatchObject({ host: '127.0.0.1', port: sandbox.peer.smtp.port, security: 'implicit' });
    expect(m?.imap).toMatchObject({ host: '127.0.0.1', port: sandbox.peer.imap.port, security: 'implicit' });
    expect(m?.tls.pkcs12).toBe(path.join(dir, 'var', 'certs', 'org.p12'));
    const passwordFile = m?.imap?.passwordFile ?? '';
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    expect(sandbox.config.outbox.destinations.mssante?.kind).toBe('mssante');
    expect(sandbox.config.outbox.routes).toContainEqual({ on: 'ppp.stored', destination: 'mssante' });
  });

  it('seeds the directory with the demo médecin traitant and pharmacien d’officine, once', async () => {
    expect(await sandbox.seed(store)).toBeGreaterThan(0);
    expect((await store.directory.byRpps('10100512341')).map((e) => e.address)).toEqual([DEMO_MAILBOXES.mt]);
    expect(await sandbox.seed(store)).toBe(0);
  });

  it('lists and prints a sandbox mailbox with `passerelle mssante read`', async () => {
    const pki = await loadTestPki(path.join(dir, 'var', 'certs'));
    const raw = Buffer.from(`From: ${DEMO_MAILBOXES.gateway}\r\nTo: ${DEMO_MAILBOXES.pho}\r\nSubject: PPP demo\r\nMessage-ID: <cli@demo>\r\n\r\nBonjour\r\n`);
    await sendToPeer(sandbox.peer, raw, { from: DEMO_MAILBOXES.gateway, to: [DEMO_MAILBOXES.pho] }, { key: pki.pem.orgKey, cert: pki.pem.org });
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mssante', 'read', DEMO_MAILBOXES.pho, '--port', String(sandbox.peer.imap.port), '--certs', path.join(dir, 'var', 'certs'), '--data', path.join(dir, 'var'), ...args]);
    const list = await cli();
    expect(list.stdout).toMatch(/^1\t\S+\t.*passerelle@passerelle\.demo\.mssante\.fr\tPPP demo$/m);
    const one = await cli('--raw', '1');
    expect(one.stdout.endsWith(raw.toString())).toBe(true);
  }, 30_000);
});
