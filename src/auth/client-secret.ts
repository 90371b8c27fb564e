import type { Queryable } from '../store/database.ts';
import { findClient, type StoredClient } from './clients.ts';
import { invalidClient } from './oauth-error.ts';
import { verifySecret } from './secrets.ts';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, '%20'));
}

export function isBasic(header: string | undefined): header is string {
  return header !== undefined && /^basic /i.test(header);
}

/** client_secret_basic. Every failure reads the same to the caller and takes as long. */
export async function authenticateBasic(db: Queryable, header: string): Promise<StoredClient> {
  const encoded = header.slice(6).trim();
  if (encoded.length > 4096 || !BASE64.test(encoded)) throw invalidClient('Malformed HTTP Basic credentials', true);
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) throw invalidClient('Malformed HTTP Basic credentials', true);
  let clientId: string;
  let secret: string;
  try {
    clientId = formDecode(decoded.slice(0, colon));
    secret = formDecode(decoded.slice(colon + 1));
  } catch {
    throw invalidClient('Malformed HTTP Basic credentials', true);
  }
  const client = await findClient(db, clientId);
  const ok = await verifySecret(secret, client?.secretHash);
  if (!client || !ok) throw invalidClient('Client authentication failed (unknown client or wrong secret)', true);
  return client;
}
