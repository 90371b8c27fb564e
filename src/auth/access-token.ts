import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { GATEWAY_ALG, type GatewayKeys } from './keys.ts';

// RFC 9068: a distinct `typ` keeps any other JWT the gateway might sign from passing as an access token.
const ACCESS_TOKEN_TYP = 'at+jwt';
const CLOCK_TOLERANCE_SECONDS = 5;
export const MAX_TOKEN_LIFETIME_SECONDS = 300;

export interface AccessTokenClaims {
  clientId: string;
  organizationUra: string;
  scopes: string[];
  roles: string[];
}

export interface TokenAudience {
  issuer: string;
  /** `<issuer>/fhir`: the resource server the tokens are for. */
  audience: string;
}

export async function issueAccessToken(keys: GatewayKeys, where: TokenAudience, claims: AccessTokenClaims, lifetimeSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: claims.scopes.join(' '), organization: claims.organizationUra, roles: claims.roles, client_id: claims.clientId })
    .setProtectedHeader({ alg: GATEWAY_ALG, kid: keys.signing.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(where.issuer)
    .setAudience(where.audience)
    .setSubject(claims.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .setJti(randomUUID())
    .sign(keys.signing.privateKey);
}

/** Why a token was refused, worded for the client (never the token itself). */
export class InvalidAccessToken extends Error {}

class UnknownKey extends Error {}

function explain(err: unknown): string {
  if (err instanceof UnknownKey) return err.message;
  if (err instanceof errors.JWTExpired) return 'Access token has expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return `Access token algorithm not accepted (only ${GATEWAY_ALG})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'Access token signature is invalid';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud': return 'Access token is not meant for this server (wrong audience)';
      case 'iss': return 'Access token was not issued by this server (wrong issuer)';
      case 'typ': return `Access token has the wrong type (expected ${ACCESS_TOKEN_TYP})`;
      default: return `Access token claim '${err.claim}' is invalid (${err.reason})`;
    }
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'Access token is malformed';
  return 'Access token could not be verified';
}

const stringArray = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined);

/**
 * Tokens whose signature and claims were checked, until they expire: a client sends the same token with every
 * request for up to five minutes, and checking an ES256 signature each time was a few per cent of the gateway's
 * CPU. Only the token's own checks are kept; whether its client is still registered is asked at every request
 * (authenticate.ts). Bounded, so a flood of distinct tokens cannot grow it.
 */
const VERIFIED_LIMIT = 10_000;
const verified = new WeakMap<GatewayKeys, Map<string, { claims: AccessTokenClaims; until: number }>>();

const verifiedKey = (where: TokenAudience, token: string): string => `${where.issuer} ${where.audience} ${token}`;
/** A copy the caller may change without changing what is kept. */
const copyOf = (claims: AccessTokenClaims): AccessTokenClaims => ({ ...claims, scopes: [...claims.scopes], roles: [...claims.roles] });

function verifiedBefore(keys: GatewayKeys, where: TokenAudience, token: string): AccessTokenClaims | undefined {
  const key = verifiedKey(where, token);
  const hit = verified.get(keys)?.get(key);
  if (!hit) return undefined;
  if (Date.now() < hit.until) return hit.claims;
  verified.get(keys)?.delete(key);
  return undefined;
}

function remember(keys: GatewayKeys, where: TokenAudience, token: string, claims: AccessTokenClaims, exp: unknown): void {
  if (typeof exp !== 'number') return;
  let cache = verified.get(keys);
  if (!cache) verified.set(keys, (cache = new Map()));
  if (cache.size >= VERIFIED_LIMIT) {
    const now = Date.now();
    for (const [k, v] of cache) if (v.until <= now) cache.delete(k);
    // Still full: forget the oldest (a Map iterates in insertion order).
    if (cache.size >= VERIFIED_LIMIT) cache.delete(cache.keys().next().value as string);
  }
  // Valid as long as jwtVerify would accept it: until exp, plus the clock tolerance it allows.
  cache.set(verifiedKey(where, token), { claims, until: (exp + CLOCK_TOLERANCE_SECONDS) * 1000 });
}

export async function verifyAccessToken(keys: GatewayKeys, where: TokenAudience, token: string): Promise<AccessTokenClaims> {
  const known = verifiedBefore(keys, where, token);
  if (known) return copyOf(known);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header) => {
        if (typeof header.kid !== 'string') throw new UnknownKey('Access token header has no kid');
        const key = await keys.verificationKey(header.kid);
        if (!key) throw new UnknownKey('Access token was signed with a key this server does not know');
        return key;
      },
      {
        algorithms: [GATEWAY_ALG],
        issuer: where.issuer,
        audience: where.audience,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS,
      },
    ));
  } catch (err) {
    throw new InvalidAccessToken(explain(err), { cause: err });
  }
  const { sub, organization, scope } = payload;
  const roles = stringArray(payload.roles);
  if (typeof sub !== 'string' || typeof organization !== 'string' || typeof scope !== 'string' || !roles) {
    throw new InvalidAccessToken('Access token lacks the gateway claims (sub, organization, scope, roles)');
  }
  // Defence in depth: a valid signature with a lifetime the gateway never issues means a misconfigured or leaked key.
  if (typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp - payload.iat > MAX_TOKEN_LIFETIME_SECONDS) {
    throw new InvalidAccessToken('Access token lifetime exceeds 300 seconds');
  }
  const claims = { clientId: sub, organizationUra: organization, scopes: scope.split(' ').filter((s) => s.length > 0), roles };
  remember(keys, where, token, claims, payload.exp);
  return copyOf(claims);
}
