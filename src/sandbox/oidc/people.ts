// The demo people of the local OpenID provider: who can sign in at the sandbox (login + the demo password), their
// claims (sub, names, RPPS) and, for the gateway's `auth.people`, the tenant and roles `npm start` gives them.
// All numbers are fake: RPPS in the 10000000xxx range, FINESS of the test fixtures, region 28 (Normandie).
import type { AuthPerson } from '../../config.js';

export interface DemoPerson {
  /** What the person types in the sandbox's login form. */
  login: string;
  sub: string;
  givenName: string;
  familyName: string;
  /** 11 digits (fake). */
  rpps: string;
  /** How the gateway declares them (`auth.people`); absent: a real account at the provider the gateway does not know. */
  declared?: Pick<AuthPerson, 'tenant' | 'roles'>;
}

/** Every demo person signs in with this password at the sandbox (it says so on its login page). */
export const DEMO_PASSWORD = 'demo';

export const DEMO_PEOPLE: readonly DemoPerson[] = [
  {
    login: 'claire.martin',
    sub: 'demo-0001',
    givenName: 'Claire',
    familyName: 'Martin',
    rpps: '10000000011',
    declared: { tenant: 'establishment:760000018', roles: ['case-manager'] },
  },
  {
    login: 'paul.lefevre',
    sub: 'demo-0002',
    givenName: 'Paul',
    familyName: 'Lefèvre',
    rpps: '10000000029',
    declared: { tenant: 'region:28', roles: ['identitovigilance'] },
  },
  {
    login: 'sophie.bernard',
    sub: 'demo-0003',
    givenName: 'Sophie',
    familyName: 'Bernard',
    rpps: '10000000037',
    declared: { tenant: 'establishment:760000018', roles: ['pharmacist'] },
  },
  {
    login: 'luc.moreau',
    sub: 'demo-0004',
    givenName: 'Luc',
    familyName: 'Moreau',
    rpps: '10000000045',
    declared: { tenant: 'region:28', roles: ['regional'] },
  },
  // Known to the provider, not declared to the gateway: signing in must end on "Compte non autorisé".
  { login: 'nina.inconnue', sub: 'demo-0009', givenName: 'Nina', familyName: 'Inconnue', rpps: '10000000094' },
];

/** The `auth.people` entries of the declared demo people (matched by `sub`). */
export function demoAuthPeople(): AuthPerson[] {
  return DEMO_PEOPLE.flatMap((p) => (p.declared ? [{ sub: p.sub, rpps: p.rpps, tenant: p.declared.tenant, roles: [...p.declared.roles] }] : []));
}
