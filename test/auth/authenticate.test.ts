import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { createAuth, demoClients, hasScope, type AuthService } from '../../src/auth/index.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { authApp, basic, ISSUER } from './harness.ts';

let t: TestDatabase;
let app: Express;
let auth: AuthService;
let gatewayKey: { kid: string; key: CryptoKey };

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'auth' });
  ({ app, auth } = await authApp(t.db));
  for (const c of demoClients('demo-secret')) await auth.registerClient(c);
  const { rows } = await t.db.query<{ kid: string; private_jwk: JWK }>('SELECT kid, private_jwk FROM signing_keys');
  gatewayKey = { kid: rows[0].kid, key: (await importJWK(rows[0].private_jwk, 'ES384')) as CryptoKey };
});
afterAll(async () => {
  await t.drop();
});

async function tokenFor(clientId: string, scope?: string, target: Express = app): Promise<string> {
  const form: Record<string, string> = { grant_type: 'client_credentials' };
  if (scope) form.scope = scope;
  const res = await request(target).post('/oauth2/token').type('form').set('Authorization', basic(clientId, 'demo-secret')).send(form);
  expect(res.status).toBe(200);
  return res.body.access_token;
}

interface Forged {
  key?: CryptoKey;
  kid?: string;
  alg?: string;
  typ?: string;
  iss?: string;
  aud?: string;
  sub?: string;
  iat?: number;
  exp?: number;
  claims?: Record<string, unknown>;
}

/** A token as the gateway would sign it, with one thing changed. */
async function forge(f: Forged = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: 'system/*.cruds', organization: '90001234', roles: [], ...f.claims })
    .setProtectedHeader({ alg: f.alg ?? 'ES384', kid: f.kid ?? gatewayKey.kid, typ: f.typ ?? 'at+jwt' })
    .setIssuer(f.iss ?? ISSUER)
    .setAudience(f.aud ?? `${ISSUER}/fhir`)
    .setSubject(f.sub ?? 'hap-vechtdal')
    .setIssuedAt(f.iat ?? now)
    .setExpirationTime(f.exp ?? now + 120)
    .setJti(randomUUID())
    .sign(f.key ?? gatewayKey.key);
}

const whoami = (authorization?: string) => {
  const r = request(app).get('/whoami');
  return authorization === undefined ? r : r.set('Authorization', authorization);
};

async function expect401(authorization: string | undefined, reason: RegExp): Promise<void> {
  const res = await whoami(authorization);
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  const body = JSON.parse(res.text);
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue[0]).toMatchObject({ severity: 'error', code: 'login' });
  expect(body.issue[0].diagnostics).toMatch(reason);
}

describe('authenticate', () => {
  test('a valid token gives the request context', async () => {
    const res = await whoami(`Bearer ${await tokenFor('zcc-ijsselland')}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ organizationUra: '90009999', clientId: 'zcc-ijsselland', scopes: ['system/*.cruds'], roles: ['zcc'], requestId: 'req-1' });
  });

  test('the scheme is case-insensitive', async () => {
    expect((await whoami(`bearer ${await tokenFor('hap-vechtdal')}`)).status).toBe(200);
  });

  test('the token signed by the stored key as forged here is accepted (the forge helper is faithful)', async () => {
    expect((await whoami(`Bearer ${await forge()}`)).status).toBe(200);
  });

  test('no token', () => expect401(undefined, /Missing Authorization/));
  test('another scheme', () => expect401(basic('hap-vechtdal', 'demo-secret'), /scheme must be Bearer/));
  test('malformed bearer value', () => expect401('Bearer not a token', /Malformed/));
  test('not a JWT', () => expect401('Bearer abc.def', /malformed/));
  test('empty bearer', () => expect401('Bearer ', /Malformed/));

  test('alg none', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: ISSUER, aud: `${ISSUER}/fhir`, sub: 'hap-vechtdal', organization: '90001234', roles: [], scope: 'system/*.cruds', iat: now, exp: now + 60, jti: 'x' })}.`;
    await expect401(`Bearer ${unsigned}`, /algorithm/);
  });

  test('HS384 with the public key as secret (alg confusion)', async () => {
    const jwks = (await request(app).get('/.well-known/jwks.json')).body;
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ scope: 'system/*.cruds', organization: '90001234', roles: [] })
      .setProtectedHeader({ alg: 'HS384', kid: gatewayKey.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(`${ISSUER}/fhir`).setSubject('hap-vechtdal').setIssuedAt(now).setExpirationTime(now + 60).setJti('y')
      .sign(secret);
    await expect401(`Bearer ${token}`, /algorithm/);
  });

  test('expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(`Bearer ${await forge({ iat: now - 400, exp: now - 100 })}`, /expired/);
  });

  test('a token accepted before is refused once it expires (what was verified is not kept beyond exp and the clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    // Expired two seconds ago: still within the five seconds of clock tolerance until now + 3 (`now` is rounded down,
    // so 2 to 3 seconds from here: a first request on a loaded machine still gets in; one second was too tight).
    const token = await forge({ iat: now - 60, exp: now - 2 });
    expect((await whoami(`Bearer ${token}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (now + 3) * 1000 - Date.now()) + 200));
    await expect401(`Bearer ${token}`, /expired/);
  });

  test('wrong audience', () => forge({ aud: 'https://elsewhere.example/fhir' }).then((tk) => expect401(`Bearer ${tk}`, /audience/)));
  test('wrong issuer', () => forge({ iss: 'https://elsewhere.example' }).then((tk) => expect401(`Bearer ${tk}`, /issuer/)));
  test('wrong typ (e.g. a client assertion replayed as access token)', () => forge({ typ: 'JWT' }).then((tk) => expect401(`Bearer ${tk}`, /type/)));

  test('a lifetime over 300 seconds', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(`Bearer ${await forge({ iat: now, exp: now + 3600 })}`, /lifetime/);
  });

  test('signed by another key claiming the gateway kid', async () => {
    const { privateKey } = await generateKeyPair('ES384');
    await expect401(`Bearer ${await forge({ key: privateKey })}`, /signature/);
  });

  test('signed by another key with its own kid', async () => {
    const { privateKey } = await generateKeyPair('ES384');
    await expect401(`Bearer ${await forge({ key: privateKey, kid: 'attacker' })}`, /key this server does not know/);
  });

  test('a tampered payload', async () => {
    const [h, , s] = (await tokenFor('hap-vechtdal')).split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'zcc-ijsselland', organization: '90009999' })).toString('base64url');
    await expect401(`Bearer ${h}.${payload}.${s}`, /signature|malformed/);
  });

  test('a client that is no longer registered', async () => {
    await expect401(`Bearer ${await forge({ sub: 'deleted-client' })}`, /no longer registered/);
  });

  test('an organisation that does not match the registration', async () => {
    await expect401(`Bearer ${await forge({ claims: { organization: '90009999' } })}`, /organisation/);
  });

  test('scopes and roles taken away since issue no longer count', async () => {
    const token = await forge({ sub: 'auditor', claims: { organization: '90009999', scope: 'system/*.cruds system/AuditEvent.rs', roles: ['auditor', 'zcc'] } });
    const res = await whoami(`Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body.scopes).toEqual(['system/AuditEvent.rs']);
    expect(res.body.roles).toEqual(['auditor']);
  });

  test('authenticate throws an HttpError directly, too', async () => {
    await expect(auth.authenticate('Bearer x.y.z', 'r')).rejects.toBeInstanceOf(HttpError);
  });
});

describe('scope checks', () => {
  test('the auditor can read and search but not write', async () => {
    const bearer = `Bearer ${await tokenFor('auditor')}`;
    for (const i of ['r', 's']) expect((await request(app).get(`/fhir/AuditEvent/${i}`).set('Authorization', bearer)).status).toBe(200);
    for (const i of ['c', 'u', 'd']) {
      const res = await request(app).get(`/fhir/Task/${i}`).set('Authorization', bearer);
      expect(res.status).toBe(403);
      const body = JSON.parse(res.text);
      expect(body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
    }
  });

  test('a token narrowed to Task cannot touch Patient', async () => {
    const bearer = `Bearer ${await tokenFor('hap-vechtdal', 'system/Task.cruds')}`;
    expect((await request(app).get('/fhir/Task/c').set('Authorization', bearer)).status).toBe(200);
    expect((await request(app).get('/fhir/Patient/r').set('Authorization', bearer)).status).toBe(403);
  });

  test('an unauthenticated scope check is 401, not 403', async () => {
    expect((await request(app).get('/fhir/Task/r')).status).toBe(401);
  });

  test('hasScope on a context', () => {
    expect(hasScope({ scopes: ['system/*.rs'] }, 'Task', 'r')).toBe(true);
    expect(hasScope({ scopes: ['system/*.rs'] }, 'Task', 'u')).toBe(false);
  });
});

describe('several instances on one database', () => {
  test('share one signing key: a token from one verifies at the other', async () => {
    const other = await authApp(t.db);
    const fromOther = await tokenFor('rav-noordoost', undefined, other.app);
    const res = await whoami(`Bearer ${fromOther}`);
    expect(res.status).toBe(200);
    expect(res.body.clientId).toBe('rav-noordoost');
    await expect(other.auth.authenticate(`Bearer ${await tokenFor('rav-noordoost')}`, 'r')).resolves.toMatchObject({ organizationUra: '90004567' });
    expect((await t.db.query('SELECT kid FROM signing_keys')).rows).toHaveLength(1);
  });

  test('instances starting at the same moment still end up with one key', async () => {
    const fresh = await createTestDatabase({ prefix: 'auth' });
    try {
      const services = await Promise.all(Array.from({ length: 4 }, () => createAuth(fresh.db, { issuer: ISSUER, tokenLifetimeSeconds: 60 })));
      expect(services).toHaveLength(4);
      expect((await fresh.db.query('SELECT kid FROM signing_keys')).rows).toHaveLength(1);
    } finally {
      await fresh.drop();
    }
  });

  test('a token for another issuer does not verify', async () => {
    const elsewhere = await createAuth(t.db, { issuer: 'http://other-gateway.test', tokenLifetimeSeconds: 60 });
    await expect(elsewhere.authenticate(`Bearer ${await tokenFor('hap-vechtdal')}`, 'r')).rejects.toMatchObject({ status: 401 });
  });
});

describe('configuration', () => {
  test.each([0, 301, 1.5])('tokenLifetimeSeconds %p is refused', async (lifetime) => {
    await expect(createAuth(t.db, { issuer: ISSUER, tokenLifetimeSeconds: lifetime })).rejects.toThrow(/tokenLifetimeSeconds/);
  });
  test('a relative issuer is refused', async () => {
    await expect(createAuth(t.db, { issuer: '/gateway', tokenLifetimeSeconds: 60 })).rejects.toThrow(/issuer/);
  });
});
