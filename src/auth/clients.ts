import type { JSONWebKeySet, JWK } from 'jose';
import type { Queryable } from '../store/database.ts';
import { normaliseScope } from './scopes.ts';
import { hashSecret } from './secrets.ts';
import type { ClientRegistration } from './types.ts';

export interface StoredClient {
  clientId: string;
  organizationUra: string;
  organizationName: string;
  roles: string[];
  scopes: string[];
  jwks: JSONWebKeySet | null;
  secretHash: string | null;
}

export class InvalidRegistration extends Error {}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const URA = /^\d{8}$/;
const ROLE = /^[a-z][a-z0-9-]{0,63}$/;
const SIGNING_ALGS = new Set(['RS384', 'ES384']);
// Private members of RSA and EC JWKs: a client's registration must never hold its private key.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function fail(clientId: unknown, why: string): never {
  throw new InvalidRegistration(`Client ${typeof clientId === 'string' ? `'${clientId.slice(0, 128)}'` : '(no id)'}: ${why}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function validateJwks(clientId: string, jwks: unknown): JSONWebKeySet {
  if (!isRecord(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0) fail(clientId, 'jwks must be { "keys": [ ... ] } with at least one key');
  const kids = new Set<string>();
  const keys: JWK[] = jwks.keys.map((key: unknown) => {
    if (!isRecord(key)) fail(clientId, 'every JWKS key must be an object');
    if (key.kty !== 'RSA' && key.kty !== 'EC') fail(clientId, 'JWKS keys must be RSA or EC');
    if (typeof key.kid !== 'string' || key.kid.length === 0) fail(clientId, 'every JWKS key needs a kid (assertions are matched by kid)');
    if (kids.has(key.kid)) fail(clientId, `duplicate kid '${key.kid}'`);
    kids.add(key.kid);
    if (key.alg !== undefined && !SIGNING_ALGS.has(String(key.alg))) fail(clientId, `key '${key.kid}': alg must be RS384 or ES384`);
    if (key.kty === 'EC' && key.crv !== 'P-384') fail(clientId, `key '${key.kid}': EC keys must use P-384 (ES384)`);
    if (PRIVATE_MEMBERS.some((m) => m in key)) fail(clientId, `key '${key.kid}' contains private key material; register the public key only`);
    return { ...key } as JWK;
  });
  return { keys };
}

/** Checks a registration from any source (config file, CLI, code) and returns it with scopes normalised. */
export function validateRegistration(input: unknown): ClientRegistration {
  if (!isRecord(input)) fail(undefined, 'a registration must be an object');
  const { clientId, organizationUra, organizationName, roles, scopes, jwks, secret } = input;
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) fail(clientId, 'clientId must be 1-128 characters of A-Z a-z 0-9 . _ ~ -');
  if (typeof organizationUra !== 'string' || !URA.test(organizationUra)) fail(clientId, 'organizationUra must be 8 digits');
  if (typeof organizationName !== 'string' || organizationName.trim().length === 0) fail(clientId, 'organizationName is required');
  if (!isStringArray(roles) || !roles.every((r) => ROLE.test(r))) fail(clientId, 'roles must be an array of lower-case names');
  if (!isStringArray(scopes)) fail(clientId, 'scopes must be an array of strings');
  const normalScopes: string[] = [];
  for (const s of scopes) {
    const n = normaliseScope(s);
    if (!n) fail(clientId, `unsupported scope '${s.slice(0, 100)}'`);
    if (!normalScopes.includes(n)) normalScopes.push(n);
  }
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 8 || secret.length > 512)) fail(clientId, 'secret must be 8-512 characters');
  if (jwks === undefined && secret === undefined) fail(clientId, 'needs jwks (private_key_jwt) or a secret (client_secret_basic)');
  const registration: ClientRegistration = {
    clientId,
    organizationUra,
    organizationName: organizationName.trim(),
    roles: [...new Set(roles)],
    scopes: normalScopes,
  };
  if (jwks !== undefined) registration.jwks = validateJwks(clientId, jwks);
  if (secret !== undefined) registration.secret = secret;
  return registration;
}

/** Creates or replaces a registration: the given one is the whole truth (no secret given → none kept). */
/** Creates or replaces a registration; true when the client is new (`xmax = 0`: the row was inserted, not updated). */
export async function upsertClient(db: Queryable, input: ClientRegistration): Promise<boolean> {
  const c = validateRegistration(input);
  const secretHash = c.secret === undefined ? null : await hashSecret(c.secret);
  const r = await db.query<{ created: boolean }>(
    `INSERT INTO oauth_clients (client_id, organization_ura, organization_name, roles, scopes, jwks, secret_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (client_id) DO UPDATE SET organization_ura = EXCLUDED.organization_ura,
       organization_name = EXCLUDED.organization_name, roles = EXCLUDED.roles, scopes = EXCLUDED.scopes,
       jwks = EXCLUDED.jwks, secret_hash = EXCLUDED.secret_hash, updated_at = now()
     RETURNING (xmax = 0) AS created`,
    [c.clientId, c.organizationUra, c.organizationName, c.roles, c.scopes, c.jwks === undefined ? null : JSON.stringify(c.jwks), secretHash],
  );
  return r.rows[0]?.created === true;
}

interface ClientRow {
  client_id: string;
  organization_ura: string;
  organization_name: string;
  roles: string[];
  scopes: string[];
  jwks: JSONWebKeySet | null;
  secret_hash: string | null;
}

export async function findClient(db: Queryable, clientId: string): Promise<StoredClient | undefined> {
  if (!CLIENT_ID.test(clientId)) return undefined;
  const { rows } = await db.query<ClientRow>(
    'SELECT client_id, organization_ura, organization_name, roles, scopes, jwks, secret_hash FROM oauth_clients WHERE client_id = $1',
    [clientId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    clientId: r.client_id,
    organizationUra: r.organization_ura,
    organizationName: r.organization_name,
    roles: r.roles,
    scopes: r.scopes,
    jwks: r.jwks,
    secretHash: r.secret_hash,
  };
}
