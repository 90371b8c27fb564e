import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import type { Database } from '../store/database.ts';

export const GATEWAY_ALG = 'ES384';
// Serialises key creation across instances; any constant works as long as every instance uses it.
const KEY_CREATION_LOCK = 7_513_2027;
// An unknown kid triggers a reload (another instance may have rotated), but at most this often,
// so tokens with made-up kids cannot turn into a query per request.
const RELOAD_INTERVAL_MS = 10_000;

interface SigningKey {
  kid: string;
  alg: typeof GATEWAY_ALG;
  privateKey: CryptoKey;
}

export interface GatewayKeys {
  /** The key new tokens are signed with: the newest in the database. */
  readonly signing: SigningKey;
  /** The public half of every stored key (for /.well-known/jwks.json). */
  publicJwks(): JSONWebKeySet;
  /** The key to verify a token with `kid`, or undefined when no stored key has that kid. */
  verificationKey(kid: string): Promise<CryptoKey | undefined>;
}

interface KeyRow {
  kid: string;
  public_jwk: JWK;
}

async function createKeyIfNone(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_CREATION_LOCK]);
    const existing = await tx.query('SELECT 1 FROM signing_keys LIMIT 1');
    if (existing.rows.length > 0) return;
    const { privateKey, publicKey } = await generateKeyPair(GATEWAY_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: GATEWAY_ALG };
    await tx.query(
      'INSERT INTO signing_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING',
      [kid, JSON.stringify(privateJwk), JSON.stringify({ ...publicJwk, kid, alg: GATEWAY_ALG, use: 'sig' })],
    );
  });
}

const NEWEST_FIRST = 'ORDER BY created_at DESC, kid';

async function readPublicKeys(db: Database): Promise<KeyRow[]> {
  return (await db.query<KeyRow>(`SELECT kid, public_jwk FROM signing_keys ${NEWEST_FIRST}`)).rows;
}

/**
 * The first instance on a database creates the key pair; every instance then signs with the newest
 * stored key, so a token from one instance verifies at any other.
 */
export async function loadGatewayKeys(db: Database): Promise<GatewayKeys> {
  await createKeyIfNone(db);
  const newest = (await db.query<{ kid: string; private_jwk: JWK }>(`SELECT kid, private_jwk FROM signing_keys ${NEWEST_FIRST} LIMIT 1`)).rows[0];
  if (!newest) throw new Error('No gateway signing key in the database');
  const signing: SigningKey = { kid: newest.kid, alg: GATEWAY_ALG, privateKey: (await importJWK(newest.private_jwk, GATEWAY_ALG)) as CryptoKey };
  let rows = await readPublicKeys(db);

  const verification = new Map<string, CryptoKey>();
  const importPublic = async (list: KeyRow[]): Promise<void> => {
    for (const row of list) {
      if (!verification.has(row.kid)) verification.set(row.kid, (await importJWK(row.public_jwk, GATEWAY_ALG)) as CryptoKey);
    }
  };
  await importPublic(rows);
  let lastReload = Date.now();

  return {
    signing,
    publicJwks: () => ({ keys: rows.map((r) => ({ ...r.public_jwk })) }),
    async verificationKey(kid) {
      const known = verification.get(kid);
      if (known || Date.now() - lastReload < RELOAD_INTERVAL_MS) return known;
      lastReload = Date.now();
      rows = await readPublicKeys(db);
      await importPublic(rows);
      return verification.get(kid);
    },
  };
}
