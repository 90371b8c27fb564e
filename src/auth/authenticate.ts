import type { RequestContext } from '../context.ts';
import { unauthorized, type HttpError } from '../fhir/outcomes.ts';
import type { Queryable } from '../store/database.ts';
import { InvalidAccessToken, verifyAccessToken, type TokenAudience } from './access-token.ts';
import { clientLookup, type ClientDirectory } from './client-directory.ts';
import type { GatewayKeys } from './keys.ts';
import { covers } from './scopes.ts';

const MAX_HEADER_LENGTH = 8192;
// RFC 6750 §2.1 b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** RFC 6750 §3.1: a presented but unusable token is `invalid_token`; a missing one gets no error code. */
function invalidToken(reason: string): HttpError {
  const err = unauthorized(reason);
  err.headers['WWW-Authenticate'] = 'Bearer error="invalid_token"';
  return err;
}

export type Authenticate = (authorizationHeader: string | undefined, requestId: string) => Promise<RequestContext>;

export function createAuthenticate(db: Queryable, keys: GatewayKeys, tokens: TokenAudience, tokenUrl: string, directory?: ClientDirectory): Authenticate {
  const findClient = clientLookup(db, directory);
  return async (header, requestId) => {
    if (header === undefined || header.trim() === '') {
      throw unauthorized(`Missing Authorization header: send 'Authorization: Bearer <access token>' (tokens from ${tokenUrl})`);
    }
    if (header.length > MAX_HEADER_LENGTH) throw invalidToken('Authorization header is too long');
    const m = BEARER.exec(header);
    if (!m) {
      throw /^bearer\b/i.test(header) ? invalidToken('Malformed Bearer token') : unauthorized('Authorization scheme must be Bearer');
    }
    // The directory's round trip (see client-directory.ts) runs beside the signature check; a refused token
    // leaves it unused (caught: nobody waits on it then).
    const caughtUp = directory?.catchUp();
    caughtUp?.catch(() => undefined);
    let claims;
    try {
      claims = await verifyAccessToken(keys, tokens, m[1]);
    } catch (err) {
      if (err instanceof InvalidAccessToken) throw invalidToken(err.message);
      throw err;
    }
    // A token outlives nothing: a client removed or moved to another organisation loses access at once,
    // and scopes or roles taken away since issue no longer count. The directory (when given) keeps the rows
    // and drops one as soon as it changes, on every instance (src/auth/client-directory.ts).
    const client = await findClient(claims.clientId, caughtUp);
    if (!client) throw invalidToken('The client of this access token is no longer registered');
    if (client.organizationUra !== claims.organizationUra) throw invalidToken("The client's organisation changed since this token was issued");
    return {
      organizationUra: claims.organizationUra,
      clientId: claims.clientId,
      scopes: claims.scopes.filter((s) => covers(client.scopes, s)),
      roles: claims.roles.filter((r) => client.roles.includes(r)),
      requestId,
    };
  };
}
