import type { Router } from 'express';
import type { JSONWebKeySet } from 'jose';
import type { RequestContext } from '../context.ts';
import type { Queryable } from '../store/database.ts';
import type { ClientDirectory } from './client-directory.ts';

export interface AuthConfig {
  /** The gateway's public base URL, e.g. `http://localhost:8080`: token URL and token audience derive from it. */
  issuer: string;
  /** Access token lifetime; at most 300 (SMART Backend Services). */
  tokenLifetimeSeconds: number;
  /** Told of every token issued or refused, before the answer is sent (the audit trail). */
  audit?: (attempt: TokenAttempt) => Promise<void>;
  /** Client rows kept in memory, dropped on every change (the gateway's); without it, each request reads its client's row. */
  clients?: ClientDirectory;
}

/** A token request, issued or refused. */
export interface TokenAttempt {
  requestId: string;
  /** The client as authenticated, or as the request claimed it when authentication failed. */
  clientId?: string;
  organizationUra?: string;
  scopes?: string[];
  error?: { code: string; description: string; status: number };
}

export interface ClientRegistration {
  clientId: string;
  /** URA number (8 digits) of the organisation the client acts for. */
  organizationUra: string;
  organizationName: string;
  roles: string[];
  /** SMART `system/` scopes the client may ask for. */
  scopes: string[];
  /** Public keys for private_key_jwt. */
  jwks?: JSONWebKeySet;
  /** Shared secret for client_secret_basic; stored only as a scrypt hash. */
  secret?: string;
}

export interface AuthService {
  /** `POST /oauth2/token`, `GET /.well-known/smart-configuration`, `GET /.well-known/jwks.json`. */
  router: Router;
  /** Turns an `Authorization` header into who is acting, or throws a 401 HttpError. */
  authenticate(authorizationHeader: string | undefined, requestId: string): Promise<RequestContext>;
  /** Creates or replaces a client registration, in `q`'s transaction when given; true when the client is new. */
  registerClient(client: ClientRegistration, q?: Queryable): Promise<boolean>;
}
