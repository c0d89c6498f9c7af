// Generates the test PKI (see README.md beside this file):
//   npx tsx certs.example/generate.ts [--out <dir>] [--force] [--passphrase <p>] [--finess <9 digits>] [--name <raison sociale>]
// The output directory (default ./var/certs) is git-ignored; nothing it holds is valid outside a test bench.
import { parseArgs } from 'node:util';
import { DEFAULT_TEST_PASSPHRASE, TestPkiExistsError, generateTestPki } from '../src/sandbox/pki.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'var/certs' },
    force: { type: 'boolean', default: false },
    passphrase: { type: 'string', default: DEFAULT_TEST_PASSPHRASE },
    finess: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'usage: npx tsx certs.example/generate.ts [--out <dir>] [--force] [--passphrase <p>] [--finess <9 digits>] [--name <raison sociale>]\n',
  );
  process.exit(0);
}

try {
  const started = Date.now();
  const pki = await generateTestPki({
    dir: values.out,
    force: values.force,
    passphrase: values.passphrase,
    organisation: { finess: values.finess, name: values.name },
  });
  const f = pki.files;
  process.stdout.write(
    [
      `TEST PKI written to ${pki.dir} in ${Date.now() - started} ms — NOT for production.`,
      `  trust store (intermediate + root)  ${f.ca}`,
      `  server (localhost, 127.0.0.1, ::1) ${f.server} + ${f.serverKey}`,
      `  organisation                       ${f.org} + ${f.orgKey}`,
      `                                     ${f.orgP12} (passphrase "${pki.passphrase}")`,
      `  subject                            ${pki.organisation.subject}`,
      `  intruder CA (untrusted) + client   ${f.intruderCa}, ${f.intruder} + ${f.intruderKey}, ${f.intruderP12}`,
      '',
    ].join('\n'),
  );
} catch (err) {
  if (!(err instanceof TestPkiExistsError)) throw err;
  process.stderr.write(`${err.message} (--force)\n`);
  process.exitCode = 1;
}
