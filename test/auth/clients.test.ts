import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { demoClients, InvalidRegistration, loadClientsFile, type ClientRegistration } from '../../src/auth/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { authApp, basic } from './harness.ts';

let t: TestDatabase;
let dir: string;

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'auth' });
  dir = await mkdtemp(join(tmpdir(), 'auth-clients-'));
});
afterAll(async () => {
  await t.drop();
  await rm(dir, { recursive: true, force: true });
});

const valid: ClientRegistration = {
  clientId: 'vvt-ijsseldelta', organizationUra: '90007890', organizationName: 'Thuiszorg IJsseldelta', roles: [], scopes: ['system/Task.read'], secret: 'long-enough-secret',
};

describe('demoClients', () => {
  test('the six demo clients, registered, can all get tokens', async () => {
    const { app, auth } = await authApp(t.db);
    const clients = demoClients('demo-secret');
    expect(clients.map((c) => [c.clientId, c.organizationUra, c.roles, c.scopes])).toEqual([
      ['hap-vechtdal', '90001234', [], ['system/*.cruds']],
      ['rav-noordoost', '90004567', [], ['system/*.cruds']],
      ['vvt-ijsseldelta', '90007890', [], ['system/*.cruds']],
      ['vvt-sallandse-heuvelrug', '90007891', [], ['system/*.cruds']],
      ['zcc-ijsselland', '90009999', ['zcc'], ['system/*.cruds']],
      ['auditor', '90009999', ['auditor'], ['system/*.rs']],
    ]);
    for (const c of clients) await auth.registerClient(c);
    for (const c of clients) {
      const res = await request(app).post('/oauth2/token').type('form').set('Authorization', basic(c.clientId, 'demo-secret')).send({ grant_type: 'client_credentials' });
      expect(res.status).toBe(200);
    }
  });

  test('re-registering replaces the registration (upsert)', async () => {
    const { app, auth } = await authApp(t.db);
    await auth.registerClient(valid);
    await auth.registerClient({ ...valid, scopes: ['system/Task.cruds'], secret: 'another-secret-value' });
    const old = await request(app).post('/oauth2/token').type('form').set('Authorization', basic(valid.clientId, valid.secret!)).send({ grant_type: 'client_credentials' });
    expect(old.status).toBe(401);
    const res = await request(app).post('/oauth2/token').type('form').set('Authorization', basic(valid.clientId, 'another-secret-value')).send({ grant_type: 'client_credentials' });
    expect(res.body.scope).toBe('system/Task.cruds');
    const { rows } = await t.db.query('SELECT 1 FROM oauth_clients WHERE client_id = $1', [valid.clientId]);
    expect(rows).toHaveLength(1);
  });
});

describe('registration checks', () => {
  let privateJwk: Record<string, unknown>;
  beforeAll(async () => {
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1' };
  });

  test.each<[string, () => Partial<ClientRegistration> & Record<string, unknown>]>([
    ['a bad URA', () => ({ organizationUra: '1234' })],
    ['a bad client id', () => ({ clientId: 'has spaces' })],
    ['an unsupported scope', () => ({ scopes: ['patient/Task.rs'] })],
    ['no credentials', () => ({ secret: undefined })],
    ['a short secret', () => ({ secret: 'short' })],
    ['a private key in the JWKS', () => ({ jwks: { keys: [privateJwk] } })],
    ['a JWKS key without kid', () => ({ jwks: { keys: [{ ...privateJwk, d: undefined, kid: undefined }] } })],
    ['an upper-case role', () => ({ roles: ['Admin'] })],
  ])('refuses %s', async (_why, change) => {
    const { auth } = await authApp(t.db);
    const input = JSON.parse(JSON.stringify({ ...valid, clientId: 'checked', ...change() }));
    await expect(auth.registerClient(input)).rejects.toBeInstanceOf(InvalidRegistration);
  });
});

describe('loadClientsFile', () => {
  test('the example file is valid and its clients register', async () => {
    const clients = await loadClientsFile(join(import.meta.dirname, '../../config/clients.example.json'));
    expect(clients.length).toBeGreaterThan(0);
    const { auth } = await authApp(t.db);
    for (const c of clients) await auth.registerClient(c);
    const { rows } = await t.db.query<{ client_id: string; jwks: unknown }>('SELECT client_id, jwks FROM oauth_clients WHERE client_id = $1', [clients[0].clientId]);
    expect(rows[0].jwks).toEqual(clients[0].jwks);
  });

  test('a bad entry names its position', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify([valid, { ...valid, clientId: 'x2', organizationUra: 'nope' }]));
    await expect(loadClientsFile(path)).rejects.toThrow(/entry 1.*organizationUra/);
  });

  test('a duplicate client id is refused', async () => {
    const path = join(dir, 'dup.json');
    await writeFile(path, JSON.stringify([valid, valid]));
    await expect(loadClientsFile(path)).rejects.toThrow(/twice/);
  });

  test('not an array is refused', async () => {
    const path = join(dir, 'obj.json');
    await writeFile(path, JSON.stringify(valid));
    await expect(loadClientsFile(path)).rejects.toThrow(/array/);
  });
});
