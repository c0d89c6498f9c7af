// `passerelle serve --sandbox-oidc` (and `npm start`): the local OpenID provider runs beside the gateway, and the
// gateway's people sign in against it — `auth.oidc` points at it (its client secret in a file of the data
// directory, as a production secret would be) and the declared demo people are added to `auth.people`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { demoAuthPeople } from './people.js';
import { startOidcSandbox, type OidcSandbox } from './provider.js';

export interface GatewayOidcSandbox {
  provider: OidcSandbox;
  /** The configuration with `auth.oidc` set to the sandbox and the demo people declared. */
  config: Config;
}

export async function startGatewayOidcSandbox(config: Config, logger: Logger): Promise<GatewayOidcSandbox> {
  const provider = await startOidcSandbox({ port: config.sandbox.oidc.port, gatewayBaseUrl: config.baseUrl });
  const dir = path.resolve(config.dataDir, 'oidc-sandbox');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secretFile = path.join(dir, 'client-secret');
  writeFileSync(secretFile, `${provider.clientSecret}\n`, { mode: 0o600 });
  logger.info({ issuer: provider.issuer }, `OpenID provider sandbox listening on ${provider.issuer} (demo people, TEST only)`);
  const known = new Set(config.auth.people.flatMap((p) => (p.sub ? [p.sub] : [])));
  return {
    provider,
    config: {
      ...config,
      auth: {
        ...config.auth,
        oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecretFile: secretFile, scopes: ['openid', 'profile'], rppsClaim: 'rpps' },
        people: [...config.auth.people, ...demoAuthPeople().filter((p) => !known.has(p.sub ?? ''))],
      },
    },
  };
}
