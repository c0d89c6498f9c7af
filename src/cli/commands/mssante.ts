// `passerelle mssante read <address>`: what a mailbox of the local MSSanté peer (`npm start`, --sandbox-mssante) holds,
// read over IMAPS with the test PKI's organisation certificate — the demo's way to see what the gateway mailed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadTestPki } from '../../sandbox/pki.js';
import { DEFAULT_MAILBOX_PASSWORD } from '../../sandbox/mssante/mailboxes.js';
import { readMailbox } from '../../sandbox/mssante/peer.js';

interface ReadOptions {
  host: string;
  port: number;
  certs: string;
  data: string;
  folder: string;
  password?: string;
  raw?: number;
}

function integer(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > max) throw new InvalidArgumentError(`expected a whole number from 0 to ${max}`);
    return n;
  };
}

/** The mailbox's password from the peer's passwd-file (`<data>/mssante-sandbox/users.passwd`), else the default. */
function sandboxPassword(dataDir: string, address: string): string {
  const file = path.join(dataDir, 'mssante-sandbox', 'users.passwd');
  if (!existsSync(file)) return DEFAULT_MAILBOX_PASSWORD;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [user, password] = line.split(':');
    if (user?.toLowerCase() === address.toLowerCase() && password) return password.replace(/^\{PLAIN\}/, '');
  }
  return DEFAULT_MAILBOX_PASSWORD;
}

export function register(program: Command): void {
  const mssante = program.command('mssante').description('MSSanté mailboxes of the local sandbox (TEST only)');
  mssante
    .command('read <address>')
    .description('list the messages of a sandbox mailbox (uid, date, from, subject), or print one with --raw <uid>')
    .option('--host <address>', 'IMAPS host of the sandbox peer', '127.0.0.1')
    .option('-p, --port <number>', 'IMAPS port of the sandbox peer (sandbox.mssante.imapPort)', integer(65535), 8993)
    .option('--certs <dir>', 'test PKI directory (the organisation certificate is presented)', 'var/certs')
    .option('--data <dir>', 'data directory of the gateway (where mssante-sandbox/ holds the mailbox passwords)', 'var')
    .option('--folder <name>', 'IMAP folder', 'INBOX')
    .option('--password <password>', 'mailbox password (default: the sandbox one)')
    .option('--raw <uid>', 'print the message with this uid as received (RFC 5322 bytes)', integer(2 ** 32 - 1))
    .action(async (address: string, opts: ReadOptions) => {
      const pki = await loadTestPki(opts.certs);
      const password = opts.password ?? sandboxPassword(opts.data, address);
      const peer = { imap: { host: opts.host, port: opts.port }, ca: pki.pem.ca, passwordOf: () => password };
      let messages;
      try {
        messages = await readMailbox(peer, address, { folder: opts.folder, tls: { key: pki.pem.orgKey, cert: pki.pem.org } });
      } catch (err) {
        process.stderr.write(`passerelle mssante read: ${opts.host}:${opts.port}: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      if (opts.raw !== undefined) {
        const m = messages.find((x) => x.uid === opts.raw);
        if (!m) {
          process.stderr.write(`passerelle mssante read: no message with uid ${opts.raw} in ${address} ${opts.folder}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(m.raw);
        return;
      }
      if (messages.length === 0) {
        process.stdout.write(`${address} ${opts.folder}: no message\n`);
        return;
      }
      for (const m of messages) {
        process.stdout.write(`${m.uid}\t${m.date?.toISOString() ?? '-'}\t${m.from ?? '-'}\t${m.subject ?? '(no subject)'}\n`);
      }
    });
}
