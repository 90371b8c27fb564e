import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Database } from '../store/database.ts';
import { issueAccessToken, type TokenAudience } from './access-token.ts';
import { createAssertionVerifier } from './client-assertion.ts';
import { authenticateBasic, isBasic } from './client-secret.ts';
import type { StoredClient } from './clients.ts';
import type { GatewayKeys } from './keys.ts';
import { databaseFault } from '../fhir/outcomes.ts';
import { invalidClient, invalidRequest, noStore, OAuthError, sendOAuthError } from './oauth-error.ts';
import { grantScopes } from './scopes.ts';
import type { TokenAttempt } from './types.ts';

export const TOKEN_PATH = '/oauth2/token';

export interface TokenEndpointOptions {
  db: Database;
  keys: GatewayKeys;
  tokens: TokenAudience;
  tokenUrl: string;
  lifetimeSeconds: number;
  audit?: (attempt: TokenAttempt) => Promise<void>;
}

/** Who the request says it is, for the audit of a refusal (nothing here is trusted). */
function claimedClient(req: Request): string | undefined {
  const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
  if (typeof body.client_id === 'string') return body.client_id.slice(0, 128);
  const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(req.get('authorization') ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : '';
  try {
    return decodeURIComponent(user).slice(0, 128) || undefined;
  } catch {
    return undefined;
  }
}

// RFC 6749 §3.2: a parameter sent twice is an error, not a choice.
function param(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidRequest(`Parameter '${name}' must appear once`);
  return v;
}

export function tokenRouter(options: TokenEndpointOptions): Router {
  const { db, keys, tokens, tokenUrl, lifetimeSeconds, audit } = options;
  const assertions = createAssertionVerifier(db, tokenUrl);
  const router = express.Router();

  async function authenticateClient(req: Request, body: Record<string, unknown>): Promise<StoredClient> {
    const assertion = param(body, 'client_assertion');
    const assertionType = param(body, 'client_assertion_type');
    const authorization = req.get('authorization');
    if (param(body, 'client_secret') !== undefined) throw invalidClient('client_secret_post is not supported: use private_key_jwt or client_secret_basic');
    if (assertion !== undefined || assertionType !== undefined) {
      // RFC 6749 §2.3: one client authentication method per request.
      if (authorization !== undefined) throw invalidRequest('Use either a client assertion or HTTP Basic, not both');
      if (assertion === undefined) throw invalidRequest('client_assertion is missing');
      return assertions.verify(assertionType, assertion, param(body, 'client_id'));
    }
    if (isBasic(authorization)) {
      const client = await authenticateBasic(db, authorization);
      const formClientId = param(body, 'client_id');
      if (formClientId !== undefined && formClientId !== client.clientId) throw invalidClient('client_id does not match the HTTP Basic credentials', true);
      return client;
    }
    throw invalidClient('Client authentication required: private_key_jwt (client_assertion) or client_secret_basic', true);
  }

  router.post(TOKEN_PATH, express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 20 }), async (req: Request, res: Response) => {
    const requestId = String(res.locals.requestId ?? '');
    try {
      if (!req.is('application/x-www-form-urlencoded') || typeof req.body !== 'object' || req.body === null) {
        throw invalidRequest('The token request must be application/x-www-form-urlencoded');
      }
      const body = req.body as Record<string, unknown>;
      const grantType = param(body, 'grant_type');
      if (grantType === undefined) throw invalidRequest('grant_type is missing');
      if (grantType !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported');
      const client = await authenticateClient(req, body);
      const grant = grantScopes(client.scopes, param(body, 'scope'));
      if (!grant.ok) throw new OAuthError('invalid_scope', grant.reason);
      if (grant.scopes.length === 0) throw new OAuthError('invalid_scope', 'This client has no scopes registered');
      const accessToken = await issueAccessToken(
        keys,
        tokens,
        { clientId: client.clientId, organizationUra: client.organizationUra, scopes: grant.scopes, roles: client.roles },
        lifetimeSeconds,
      );
      // Audited before the token is handed out; no audit, no token.
      await audit?.({ requestId, clientId: client.clientId, organizationUra: client.organizationUra, scopes: grant.scopes });
      noStore(res).json({ access_token: accessToken, token_type: 'Bearer', expires_in: lifetimeSeconds, scope: grant.scopes.join(' ') });
    } catch (err) {
      const error = err instanceof OAuthError ? err : (unavailable(err) ?? new OAuthError('server_error', 'The token could not be issued'));
      try {
        await audit?.({ requestId, clientId: claimedClient(req), error: { code: error.error, description: error.message, status: error.status } });
        sendOAuthError(res, error);
      } catch (auditErr) {
        // Not audited, no answer but a failure: 503 when the database is what failed (try again later), else 500.
        sendOAuthError(res, unavailable(auditErr) ?? new OAuthError('server_error', 'The token could not be issued'));
      }
    }
  });

  // Body parser failures (too large, bad charset) are the client's fault and get an OAuth answer, not a FHIR one.
  router.use(TOKEN_PATH, (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = typeof err === 'object' && err !== null && 'status' in err ? Number(err.status) : 500;
    const error = status >= 400 && status < 500 ? invalidRequest('The request body could not be read') : new OAuthError('server_error', 'The token could not be issued');
    const attempt = { requestId: String(res.locals.requestId ?? ''), clientId: claimedClient(req), error: { code: error.error, description: error.message, status: error.status } };
    (audit?.(attempt) ?? Promise.resolve()).then(
      () => sendOAuthError(res, error),
      () => sendOAuthError(res, new OAuthError('server_error', 'The token could not be issued')),
    );
  });

  return router;
}

/** The database cannot serve the request now (restarting, unreachable, too slow): 503 with Retry-After, in OAuth's terms. */
function unavailable(err: unknown): OAuthError | undefined {
  const fault = databaseFault(err);
  return fault ? new OAuthError('temporarily_unavailable', 'The token could not be issued now; try again later', { 'Retry-After': fault.headers['Retry-After'] ?? '5' }) : undefined;
}
