import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Database } from '../store/database.ts';
import { findClient, type StoredClient } from './clients.ts';
import { invalidClient, invalidRequest } from './oauth-error.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGS = ['RS384', 'ES384'];
const CLOCK_TOLERANCE_SECONDS = 5;
// SMART Backend Services: the assertion's exp is at most five minutes in the future.
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const JTI_CLEANUP_INTERVAL_MS = 60_000;

class MissingKid extends Error {}

function explain(err: unknown): string {
  if (err instanceof MissingKid) return 'Client assertion header must name the signing key (kid)';
  if (err instanceof errors.JWTExpired) return 'Client assertion has expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return `Client assertion algorithm not accepted (use ${ASSERTION_ALGS.join(' or ')})`;
  if (err instanceof errors.JWKSNoMatchingKey) return "No key in the client's registered JWKS matches the assertion's kid and alg";
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'Client assertion signature is invalid';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud': return 'Client assertion aud must be the token endpoint URL';
      case 'iss':
      case 'sub': return 'Client assertion iss and sub must both be the client_id';
      default: return `Client assertion claim '${err.claim}' is invalid (${err.reason})`;
    }
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'Client assertion is malformed';
  return 'Client assertion could not be verified';
}

export interface AssertionVerifier {
  /** Authenticates the client by its signed assertion and consumes the assertion's jti. */
  verify(assertionType: string | undefined, assertion: string, formClientId: string | undefined): Promise<StoredClient>;
}

export function createAssertionVerifier(db: Database, tokenUrl: string): AssertionVerifier {
  let lastCleanup = 0;
  const cleanup = async (): Promise<void> => {
    if (Date.now() - lastCleanup < JTI_CLEANUP_INTERVAL_MS) return;
    lastCleanup = Date.now();
    await db.query('DELETE FROM oauth_jti WHERE expires_at < now()');
  };

  return {
    async verify(assertionType, assertion, formClientId) {
      if (assertionType !== JWT_BEARER) throw invalidRequest(`client_assertion_type must be ${JWT_BEARER}`);
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(assertion);
      } catch {
        throw invalidClient('Client assertion is malformed');
      }
      const clientId = unverified.iss;
      if (typeof clientId !== 'string' || unverified.sub !== clientId) throw invalidClient('Client assertion iss and sub must both be the client_id');
      if (formClientId !== undefined && formClientId !== clientId) throw invalidClient('client_id does not match the client assertion');
      const client = await findClient(db, clientId);
      if (!client?.jwks) throw invalidClient('Unknown client, or the client has no registered keys');
      const registeredKeys = createLocalJWKSet(client.jwks);

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(
          assertion,
          async (header, token) => {
            // Matching by kid is what SMART requires; without it the choice of key would be a guess.
            if (typeof header.kid !== 'string') throw new MissingKid();
            return registeredKeys(header, token);
          },
          {
            algorithms: ASSERTION_ALGS,
            issuer: clientId,
            subject: clientId,
            audience: tokenUrl,
            requiredClaims: ['exp', 'jti'],
            clockTolerance: CLOCK_TOLERANCE_SECONDS,
          },
        ));
      } catch (err) {
        throw invalidClient(explain(err));
      }
      const now = Math.floor(Date.now() / 1000);
      const exp = payload.exp as number;
      if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) throw invalidClient('Client assertion exp is more than 5 minutes in the future');
      const jti = payload.jti;
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalidClient('Client assertion jti must be a string of at most 256 characters');

      await cleanup();
      // The unique key makes the check and the record one atomic step, on every instance at once.
      const inserted = await db.query(
        'INSERT INTO oauth_jti (client_id, jti, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING',
        [clientId, jti, exp + CLOCK_TOLERANCE_SECONDS],
      );
      if (inserted.rowCount !== 1) throw invalidClient('Client assertion jti was already used (replay)');
      return client;
    },
  };
}
