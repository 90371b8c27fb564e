import type { Express } from 'express';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import request from 'supertest';
import type { AuthService } from '../../src/auth/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { assertion, assertionForm, authApp, basic, clientKey, ISSUER, TOKEN_URL, type ClientKey } from './harness.ts';

let t: TestDatabase;
let app: Express;
let auth: AuthService;
let rsKey: ClientKey;
let esKey: ClientKey;

const SECRET = 'correct horse battery staple';

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'auth' });
  ({ app, auth } = await authApp(t.db));
  rsKey = await clientKey('RS384');
  esKey = await clientKey('ES384');
  await auth.registerClient({
    clientId: 'hap-vechtdal', organizationUra: '90001234', organizationName: 'Huisartsenpost Vechtdal',
    roles: [], scopes: ['system/Task.cruds', 'system/Patient.rs', 'system/Encounter.read'], secret: SECRET,
  });
  await auth.registerClient({
    clientId: 'rav-noordoost', organizationUra: '90004567', organizationName: 'RAV Noordoost',
    roles: [], scopes: ['system/*.cruds'], jwks: { keys: [rsKey.publicJwk, esKey.publicJwk] },
  });
});
afterAll(async () => {
  await t.drop();
});

const token = (form: Record<string, string>, authorization?: string) => {
  const r = request(app).post('/oauth2/token').type('form');
  if (authorization) r.set('Authorization', authorization);
  return r.send(form);
};

function expectOAuthError(res: request.Response, status: number, error: string): void {
  expect(res.status).toBe(status);
  expect(res.body.error).toBe(error);
  expect(typeof res.body.error_description).toBe('string');
  expect(res.headers['cache-control']).toBe('no-store');
}

describe('client_secret_basic', () => {
  test('issues an access token', async () => {
    const res = await token({ grant_type: 'client_credentials' }, basic('hap-vechtdal', SECRET));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'system/Task.cruds system/Patient.rs system/Encounter.rs' });
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({ iss: ISSUER, aud: `${ISSUER}/fhir`, sub: 'hap-vechtdal', organization: '90001234', roles: [] });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(300);
    expect(typeof claims.jti).toBe('string');
    expect(decodeProtectedHeader(res.body.access_token)).toMatchObject({ alg: 'ES384', typ: 'at+jwt' });
  });

  test('wrong secret is invalid_client 401', async () => {
    const res = await token({ grant_type: 'client_credentials' }, basic('hap-vechtdal', 'wrong-secret'));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    expect(res.body.access_token).toBeUndefined();
  });

  test('unknown client is invalid_client 401', async () => {
    expectOAuthError(await token({ grant_type: 'client_credentials' }, basic('nobody', SECRET)), 401, 'invalid_client');
  });

  test('a client with keys only cannot use a secret', async () => {
    expectOAuthError(await token({ grant_type: 'client_credentials' }, basic('rav-noordoost', SECRET)), 401, 'invalid_client');
  });

  test('the secret is stored hashed, never plain', async () => {
    const { rows } = await t.db.query<{ secret_hash: string }>("SELECT secret_hash FROM oauth_clients WHERE client_id = 'hap-vechtdal'");
    expect(rows[0].secret_hash).toMatch(/^scrypt\$/);
    expect(rows[0].secret_hash).not.toContain(SECRET);
  });
});

describe('request shape', () => {
  test('no client authentication is invalid_client', async () => {
    expectOAuthError(await token({ grant_type: 'client_credentials' }), 401, 'invalid_client');
  });
  test('other grant types are unsupported_grant_type', async () => {
    expectOAuthError(await token({ grant_type: 'password' }, basic('hap-vechtdal', SECRET)), 400, 'unsupported_grant_type');
  });
  test('missing grant_type is invalid_request', async () => {
    expectOAuthError(await token({}, basic('hap-vechtdal', SECRET)), 400, 'invalid_request');
  });
  test('JSON body is invalid_request', async () => {
    const res = await request(app).post('/oauth2/token').set('Authorization', basic('hap-vechtdal', SECRET)).send({ grant_type: 'client_credentials' });
    expectOAuthError(res, 400, 'invalid_request');
  });
  test('a parameter sent twice is invalid_request', async () => {
    const res = await request(app).post('/oauth2/token').type('form').set('Authorization', basic('hap-vechtdal', SECRET))
      .send('grant_type=client_credentials&grant_type=client_credentials');
    expectOAuthError(res, 400, 'invalid_request');
  });
  test('an oversized body is invalid_request as OAuth JSON', async () => {
    const res = await request(app).post('/oauth2/token').type('form').set('Authorization', basic('hap-vechtdal', SECRET))
      .send(`grant_type=client_credentials&scope=${'x'.repeat(40_000)}`);
    expectOAuthError(res, 400, 'invalid_request');
  });
  test('client_secret_post is refused', async () => {
    expectOAuthError(await token({ grant_type: 'client_credentials', client_id: 'hap-vechtdal', client_secret: SECRET }), 401, 'invalid_client');
  });
  test('two authentication methods at once is invalid_request', async () => {
    const jwt = await assertion(rsKey, 'rav-noordoost');
    expectOAuthError(await token(assertionForm(jwt), basic('hap-vechtdal', SECRET)), 400, 'invalid_request');
  });
});

describe('private_key_jwt', () => {
  test.each(['RS384', 'ES384'] as const)('issues an access token for an %s assertion', async (alg) => {
    const key = alg === 'RS384' ? rsKey : esKey;
    const res = await token(assertionForm(await assertion(key, 'rav-noordoost')));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/*.cruds');
    expect(decodeJwt(res.body.access_token)).toMatchObject({ sub: 'rav-noordoost', organization: '90004567' });
  });

  test('wrong aud is refused', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { aud: `${ISSUER}/fhir` })));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/aud/);
  });

  test('exp more than 5 minutes ahead is refused', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { expIn: 600 })));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/5 minutes/);
  });

  test('an expired assertion is refused', async () => {
    const res = await token(assertionForm(await assertion(esKey, 'rav-noordoost', { expIn: -60 })));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/expired/);
  });

  test('a replayed jti is refused the second time', async () => {
    const jwt = await assertion(esKey, 'rav-noordoost');
    expect((await token(assertionForm(jwt))).status).toBe(200);
    const again = await token(assertionForm(jwt));
    expectOAuthError(again, 401, 'invalid_client');
    expect(again.body.error_description).toMatch(/replay/);
  });

  test('the same jti from a fresh assertion is still a replay', async () => {
    expect((await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { jti: 'fixed-jti' })))).status).toBe(200);
    expectOAuthError(await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { jti: 'fixed-jti' }))), 401, 'invalid_client');
  });

  test('concurrent uses of one assertion: exactly one wins', async () => {
    const jwt = await assertion(esKey, 'rav-noordoost');
    const results = await Promise.all(Array.from({ length: 5 }, () => token(assertionForm(jwt))));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  test('a missing jti is refused', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { jti: null })));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/jti/);
  });

  test('a missing kid is refused', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { kid: null })));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/kid/);
  });

  test('signed by a key that is not registered (same kid) is refused', async () => {
    const impostor = { ...(await clientKey('ES384')), kid: esKey.kid };
    const res = await token(assertionForm(await assertion(impostor, 'rav-noordoost')));
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.body.error_description).toMatch(/signature/);
  });

  test('signed by a key with an unregistered kid is refused', async () => {
    expectOAuthError(await token(assertionForm(await assertion(await clientKey('RS384'), 'rav-noordoost'))), 401, 'invalid_client');
  });

  test('iss differing from sub is refused', async () => {
    expectOAuthError(await token(assertionForm(await assertion(rsKey, 'rav-noordoost', { sub: 'hap-vechtdal' }))), 401, 'invalid_client');
  });

  test('an unknown client is refused', async () => {
    expectOAuthError(await token(assertionForm(await assertion(rsKey, 'nobody'))), 401, 'invalid_client');
  });

  test('client_id in the form must match the assertion', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost'), { client_id: 'hap-vechtdal' }));
    expectOAuthError(res, 401, 'invalid_client');
  });

  test('a wrong client_assertion_type is invalid_request', async () => {
    const res = await token({ ...assertionForm(await assertion(rsKey, 'rav-noordoost')), client_assertion_type: 'urn:other' });
    expectOAuthError(res, 400, 'invalid_request');
  });

  test('garbage as assertion is refused', async () => {
    expectOAuthError(await token(assertionForm('not.a.jwt')), 401, 'invalid_client');
  });

  test('an assertion with alg none is refused', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const jwt = `${b64({ alg: 'none' })}.${b64({ iss: 'rav-noordoost', sub: 'rav-noordoost', aud: TOKEN_URL, exp: now + 60, jti: 'x1' })}.`;
    expectOAuthError(await token(assertionForm(jwt)), 401, 'invalid_client');
  });
});

describe('scopes', () => {
  test('a requested subset is granted, v1 forms normalised', async () => {
    const res = await token({ grant_type: 'client_credentials', scope: 'system/Task.read system/Patient.r' }, basic('hap-vechtdal', SECRET));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Task.rs system/Patient.r');
    expect(decodeJwt(res.body.access_token).scope).toBe('system/Task.rs system/Patient.r');
  });

  test('a wildcard registration covers a specific request', async () => {
    const res = await token(assertionForm(await assertion(rsKey, 'rav-noordoost'), { scope: 'system/Task.cruds system/AuditEvent.rs' }));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Task.cruds system/AuditEvent.rs');
  });

  test('no scope requested grants all registered', async () => {
    const res = await token({ grant_type: 'client_credentials' }, basic('hap-vechtdal', SECRET));
    expect(res.body.scope.split(' ').sort()).toEqual(['system/Encounter.rs', 'system/Patient.rs', 'system/Task.cruds']);
  });

  test.each([
    ['an unregistered resource type', 'system/Observation.rs'],
    ['more permissions than registered', 'system/Patient.cruds'],
    ['a wildcard beyond the registration', 'system/*.rs'],
    ['a non-system scope', 'patient/Task.rs'],
    ['a malformed scope', 'system/Task.xyz'],
  ])('%s is invalid_scope', async (_why, scope) => {
    const res = await token({ grant_type: 'client_credentials', scope: `system/Task.rs ${scope}` }, basic('hap-vechtdal', SECRET));
    expectOAuthError(res, 400, 'invalid_scope');
  });
});

describe('discovery', () => {
  test('smart-configuration', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const res = await request(app).get(path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        token_endpoint: TOKEN_URL,
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
        token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
        grant_types_supported: ['client_credentials'],
        capabilities: ['client-confidential-asymmetric', 'permission-v2'],
      });
      expect(res.body.scopes_supported).toContain('system/*.cruds');
    }
  });

  test('jwks.json has the public key only', async () => {
    const res = await request(app).get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384', use: 'sig' });
    expect(res.body.keys[0].d).toBeUndefined();
  });
});
