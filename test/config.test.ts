import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

function yamlFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'passerelle-config-')), 'passerelle.yaml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('defaults: port 8080, ./var, database under dataDir, auth off', () => {
    const c = loadConfig({ env: {} });
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('./var');
    expect(c.database).toBe(path.join('./var', 'passerelle.sqlite'));
    expect(c.baseUrl).toBe('http://localhost:8080');
    expect(c.bodyLimit).toBe('5mb');
    expect(c.auth.enabled).toBe(false);
  });

  it('file < environment < overrides', () => {
    const file = yamlFile('port: 9000\ndataDir: /from/file\nlog:\n  level: debug\n');
    const c = loadConfig({ file, env: { PORT: '9100', LOG_LEVEL: 'warn' }, overrides: { port: '9200' } });
    expect(c.port).toBe(9200);
    expect(c.dataDir).toBe('/from/file');
    expect(c.log.level).toBe('warn');
    expect(c.database).toBe(path.join('/from/file', 'passerelle.sqlite'));
    expect(loadConfig({ env: { PASSERELLE_CONFIG: file } }).port).toBe(9000);
  });

  it('PostgreSQL from DATABASE_URL (over the file), SQLite when absent; refuses another scheme', () => {
    expect(loadConfig({ env: {} }).databaseUrl).toBeUndefined();
    const file = yamlFile('databaseUrl: postgres://file@db/passerelle\n');
    expect(loadConfig({ file, env: {} }).databaseUrl).toBe('postgres://file@db/passerelle');
    expect(loadConfig({ file, env: { DATABASE_URL: 'postgresql://env:pw@db:5433/p?sslmode=require' } }).databaseUrl).toBe(
      'postgresql://env:pw@db:5433/p?sslmode=require',
    );
    expect(() => loadConfig({ env: { DATABASE_URL: 'mysql://db/p' } })).toThrow(/databaseUrl: expected a postgres:\/\/ or postgresql:\/\/ URL/);
  });

  it('names the bad field', () => {
    const file = yamlFile('auth:\n  enabled: true\n  clients:\n    - id: dpi\n      tokenSha256: nothex\n      scopes: [fhir.read]\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file, env: {} })).toThrow(/auth\.clients\.0\.tokenSha256: expected 64 hexadecimal characters/);
    expect(() => loadConfig({ env: { PORT: 'eighty' } })).toThrow(/port:/);
    expect(() => loadConfig({ file: yamlFile('prot: 80\n'), env: {} })).toThrow(/prot/);
  });
});

describe("README's production configuration", () => {
  it('is valid and secure by default: auth on, TLS on, an explicit bind address, no secret in clear, no dev tokens', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    const start = readme.indexOf('```yaml\nhost: 0.0.0.0');
    expect(start, 'the production example in README.md').toBeGreaterThan(0);
    const yaml = readme.slice(start + '```yaml\n'.length, readme.indexOf('```', start + 7));
    const c = loadConfig({ file: yamlFile(yaml), env: {} });
    expect(c.auth.enabled).toBe(true);
    expect(c.auth.devTokens).toBe(false);
    expect(c.tls?.cert).toBeTruthy();
    expect(c.tls?.ca).toBeTruthy();
    expect(c.baseUrl.startsWith('https://')).toBe(true);
    expect(c.auth.clients.every((cl) => cl.tenant && !cl.token && !cl.tokenSha256)).toBe(true);
    expect(yaml).not.toMatch(/passphrase:|clientSecret:|token:/);
  });
});
