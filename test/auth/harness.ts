// Shared by the auth tests: the auth router on a bare express app, and client assertions made the way a client makes them.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createAuth, requireScope, type AuthService, type Interaction } from '../../src/auth/index.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';
import type { Database } from '../../src/store/database.ts';

export const ISSUER = 'http://gateway.test';
export const TOKEN_URL = `${ISSUER}/oauth2/token`;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function authApp(db: Database, tokenLifetimeSeconds = 300): Promise<{ auth: AuthService; app: express.Express }> {
  const auth = await createAuth(db, { issuer: ISSUER, tokenLifetimeSeconds });
  const app = express();
  app.use(auth.router);
  app.get('/whoami', async (req, res) => {
    res.json(await auth.authenticate(req.get('authorization'), 'req-1'));
  });
  app.get('/fhir/:type/:interaction', async (req, res) => {
    const ctx = await auth.authenticate(req.get('authorization'), 'req-2');
    requireScope(ctx, req.params.type, req.params.interaction as Interaction);
    res.json({ ok: true });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) {
      next(err);
    } else if (err instanceof HttpError) {
      res.status(err.status).set(err.headers).type('application/fhir+json').send(JSON.stringify(err.outcome));
    } else {
      res.status(500).json({ error: 'unexpected' });
    }
  });
  return { auth, app };
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export interface ClientKey {
  alg: 'RS384' | 'ES384';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function clientKey(alg: 'RS384' | 'ES384', kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

export interface AssertionOptions {
  aud?: string;
  iss?: string;
  sub?: string;
  /** Seconds from now. */
  expIn?: number;
  jti?: string | null;
  kid?: string | null;
}

export async function assertion(key: ClientKey, clientId: string, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header: { alg: string; kid?: string; typ: string } = { alg: key.alg, typ: 'JWT' };
  if (o.kid !== null) header.kid = o.kid ?? key.kid;
  const jwt = new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? TOKEN_URL)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expIn ?? 240));
  if (o.jti !== null) jwt.setJti(o.jti ?? randomUUID());
  return jwt.sign(key.privateKey);
}

export function assertionForm(jwt: string, extra: Record<string, string> = {}): Record<string, string> {
  return { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt, ...extra };
}
