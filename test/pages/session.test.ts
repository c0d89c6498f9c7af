// People's sessions over a real SQLite file: only the cookie's SHA-256 is stored, the id changes at sign-in, the
// idle and absolute lifetimes hold, a person removed from `auth.people` loses access at once.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthPerson } from '../../src/config.js';
import { PeopleSessions, SESSION_COOKIE } from '../../src/pages/session.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { ResourceStore } from '../../src/store/repository.js';

const PEOPLE: AuthPerson[] = [{ sub: 'demo-0002', rpps: '10000000029', tenant: 'region:28', roles: ['identitovigilance'] }];
const TTL = 3600;

let dir: string;
let store: ResourceStore;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-sessions-'));
  store = await openSqliteStore({ file: path.join(dir, 'p.sqlite') });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A browser of one cookie. */
function browser() {
  let cookie: string | undefined;
  const req = () => ({ headers: cookie ? { cookie: `other=1; ${SESSION_COOKIE}=${cookie}` } : {} }) as unknown as Request;
  const res = {
    cookie: (name: string, value: string, options: Record<string, unknown>) => {
      expect(name).toBe(SESSION_COOKIE);
      expect(options).toMatchObject({ httpOnly: true, secure: true, sameSite: 'lax', path: '/' });
      cookie = value;
    },
    clearCookie: () => {
      cookie = undefined;
    },
  } as unknown as Response;
  return { req, res, cookie: () => cookie };
}

describe('PeopleSessions', () => {
  let clock = Date.parse('2026-12-05T08:00:00Z');
  const now = () => new Date(clock);

  it('stores the hash only, rotates the id at sign-in, and makes a principal of the declared person', async () => {
    const sessions = new PeopleSessions(store.security, PEOPLE, TTL, now);
    const b = browser();
    await sessions.beginSignIn(b.req(), b.res, { state: 's', nonce: 'n', verifier: 'v', retour: '/accueil' });
    const pending = b.cookie() as string;
    expect(pending).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessions.person(b.req())).toBeUndefined();
    expect((await sessions.signIn(b.req()))?.data.retour).toBe('/accueil');
    expect(await store.security.sessionGet(pending, now())).toBeUndefined();
    expect(await store.security.sessionGet(createHash('sha256').update(pending).digest('hex'), now())).toBeDefined();

    await sessions.completeSignIn(b.req(), b.res, { sub: 'demo-0002', name: 'Paul Lefèvre' });
    expect(b.cookie()).not.toBe(pending);
    expect(await store.security.sessionGet(createHash('sha256').update(pending).digest('hex'), now())).toBeUndefined();
    const s = await sessions.person(b.req());
    expect(s?.principal).toMatchObject({
      id: 'person:demo-0002',
      method: 'session',
      roles: ['identitovigilance'],
      scopes: ['fhir.read', 'identity.review'],
      tenant: { kind: 'region', code: '28' },
      person: { sub: 'demo-0002', rpps: '10000000029', name: 'Paul Lefèvre' },
    });
    // Removed from the configuration: the same cookie no longer signs anyone in.
    expect(await new PeopleSessions(store.security, [], TTL, now).person(b.req())).toBeUndefined();
  });

  it('expires after sessionTtl without activity, and 12 hours after sign-in however active', async () => {
    const sessions = new PeopleSessions(store.security, PEOPLE, TTL, now);
    const idle = browser();
    await sessions.completeSignIn(idle.req(), idle.res, { sub: 'demo-0002' });
    clock += (TTL - 10) * 1000;
    expect(await sessions.person(idle.req())).toBeDefined(); // activity pushes the expiry
    clock += (TTL - 10) * 1000;
    expect(await sessions.person(idle.req())).toBeDefined();
    clock += (TTL + 10) * 1000;
    expect(await sessions.person(idle.req())).toBeUndefined();

    const busy = browser();
    await sessions.completeSignIn(busy.req(), busy.res, { sub: 'demo-0002' });
    for (let h = 1; h <= 12; h++) {
      clock += 3600_000 - 60_000;
      expect(await sessions.person(busy.req()), `hour ${h}`).toBeDefined();
    }
    clock += 3600_000;
    expect(await sessions.person(busy.req())).toBeUndefined();
  });

  it('sign-out deletes the row and clears the cookie; a malformed cookie is no session', async () => {
    const sessions = new PeopleSessions(store.security, PEOPLE, TTL, now);
    const b = browser();
    await sessions.completeSignIn(b.req(), b.res, { sub: 'demo-0002' });
    const old = b.cookie() as string;
    await sessions.end(b.req(), b.res);
    expect(b.cookie()).toBeUndefined();
    const replay = { headers: { cookie: `${SESSION_COOKIE}=${old}` } } as unknown as Request;
    expect(await sessions.person(replay)).toBeUndefined();
    for (const bad of ['x', `${old}x`, `${old.slice(0, 42)};`, '%00'.repeat(20)]) {
      expect(await sessions.person({ headers: { cookie: `${SESSION_COOKIE}=${bad}` } } as unknown as Request)).toBeUndefined();
    }
  });
});
