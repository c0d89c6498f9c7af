// The key of the billing file's patient pseudonyms (issue 20, docs/reports.md "Billing extraction"): the configured
// one (`reports.pseudonymKey`, env PASSERELLE_REPORTS_PSEUDONYM_KEY), or else the one kept in
// `<dataDir>/reports-pseudonym.key` (mode 0600), generated at the first report so that the pseudonyms stay the same
// from one quarter to the next. Two processes generating it at once agree: the key is written to a private temporary
// file, then linked into place (which fails if the file exists), so the loser reads the winner's complete key.
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import { PSEUDONYM_KEY_MIN } from '../../domain/reports/pseudonym.js';

export const PSEUDONYM_KEY_FILE = 'reports-pseudonym.key';

function readKey(file: string): string {
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < PSEUDONYM_KEY_MIN) throw new Error(`${file}: the pseudonym key has at least ${PSEUDONYM_KEY_MIN} characters (found ${key.length})`);
  // A key file readable by others is tightened (the key protects the patients' pseudonyms).
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return key;
}

/** The pseudonym key: configured, or read from (or generated into) `<dataDir>/reports-pseudonym.key`. */
export function reportsPseudonymKey(config: Pick<Config, 'reports' | 'dataDir'>): string {
  if (config.reports.pseudonymKey !== undefined) return config.reports.pseudonymKey;
  const file = path.join(config.dataDir, PSEUDONYM_KEY_FILE);
  try {
    return readKey(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, `${key}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readKey(file);
  } finally {
    unlinkSync(tmp);
  }
}
