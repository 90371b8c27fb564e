import express, { type Router } from 'express';
import { ASSERTION_ALGS } from './client-assertion.ts';
import type { GatewayKeys } from './keys.ts';

export interface DiscoveryOptions {
  issuer: string;
  tokenUrl: string;
  keys: GatewayKeys;
}

export function discoveryRouter({ issuer, tokenUrl, keys }: DiscoveryOptions): Router {
  const router = express.Router();
  const configuration = {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: tokenUrl,
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    grant_types_supported: ['client_credentials'],
    scopes_supported: ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write', 'system/*.*'],
    capabilities: ['client-confidential-asymmetric', 'permission-v2'],
  };
  // SMART puts the document at `[fhir base]/.well-known/…`; the root copy serves tools that look there.
  router.get(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'], (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(configuration);
  });
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(keys.publicJwks());
  });
  return router;
}
