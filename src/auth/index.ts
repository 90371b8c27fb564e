import express from 'express';
import type { Database } from '../store/database.ts';
import { MAX_TOKEN_LIFETIME_SECONDS } from './access-token.ts';
import { createAuthenticate } from './authenticate.ts';
import { upsertClient } from './clients.ts';
import { discoveryRouter } from './discovery.ts';
import { loadGatewayKeys } from './keys.ts';
import { TOKEN_PATH, tokenRouter } from './token-endpoint.ts';
import type { AuthConfig, AuthService } from './types.ts';

export type { AuthConfig, AuthService, ClientRegistration } from './types.ts';
export { hasScope, requireScope, type Interaction } from './scopes.ts';
export { loadClientsFile } from './clients-file.ts';
export { demoClients } from './demo-clients.ts';
export { InvalidRegistration } from './clients.ts';
export { ClientDirectory } from './client-directory.ts';

/** Needs the auth migration (002) applied to `db`. */
export async function createAuth(db: Database, config: AuthConfig): Promise<AuthService> {
  const lifetime = config.tokenLifetimeSeconds;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
    throw new Error(`tokenLifetimeSeconds must be an integer from 1 to ${MAX_TOKEN_LIFETIME_SECONDS}`);
  }
  let issuer: string;
  try {
    issuer = new URL(config.issuer).toString().replace(/\/+$/, '');
  } catch {
    throw new Error(`issuer must be an absolute URL, got '${config.issuer}'`);
  }
  const tokenUrl = `${issuer}${TOKEN_PATH}`;
  const tokens = { issuer, audience: `${issuer}/fhir` };
  const keys = await loadGatewayKeys(db);

  const router = express.Router();
  router.use(discoveryRouter({ issuer, tokenUrl, keys }));
  router.use(tokenRouter({ db, keys, tokens, tokenUrl, lifetimeSeconds: lifetime, audit: config.audit }));

  return {
    router,
    authenticate: createAuthenticate(db, keys, tokens, tokenUrl, config.clients),
    registerClient: (client, q = db) => upsertClient(q, client),
  };
}
