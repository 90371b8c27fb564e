// Operators register a client organisation with its public keys through the CLI; the client then gets a
// token with private_key_jwt. The CLI runs as a real child process against a gateway on a loopback port.
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bundle } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient } from '../support/fhir-builders.ts';
import { uniqueBsn } from '../support/native.ts';

const run = promisify(execFile);
let gw: TestGateway;
let server: Server;
let url: string;

beforeAll(async () => {
  gw = await startTestGateway({ ADMIN_TOKEN: 'operator-secret', ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  server = gw.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await gw.stop();
});

function cli(args: string[], token = 'operator-secret') {
  return run(process.execPath, ['src/cli/main.ts', ...args], { env: { ...process.env, GATEWAY_URL: url, ADMIN_TOKEN: token } });
}

test('the operator endpoints refuse a wrong token', async () => {
  await request(gw.app).get('/admin/clients').expect(401);
  await request(gw.app).get('/admin/clients').set('Authorization', 'Bearer demo-admin').expect(401);
  await expect(cli(['clients'], 'wrong')).rejects.toMatchObject({ stderr: expect.stringContaining('HTTP 401') });
});

test('a client registered with the CLI gets a token with private_key_jwt and acts for its new organisation', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES384');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'ES384', use: 'sig' };
  const dir = mkdtempSync(join(tmpdir(), 'jwks-'));
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const out = await cli(['register-client', '--client-id', 'hap-nieuw', '--ura', '90001299', '--name', 'Huisartsenpost Nieuw', '--jwks', join(dir, 'jwks.json')]);
  expect(out.stdout).toContain('Registered client hap-nieuw for URA 90001299');

  const listed = await cli(['clients']);
  expect(listed.stdout).toMatch(/hap-nieuw\s+90001299\s+Huisartsenpost Nieuw/);

  const tokenUrl = 'http://gateway.test/oauth2/token';
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'key-1', typ: 'JWT' })
    .setIssuer('hap-nieuw')
    .setSubject('hap-nieuw')
    .setAudience(tokenUrl)
    .setJti(`jti-${Date.now()}`)
    .setExpirationTime('2m')
    .sign(privateKey);
  const token = await request(gw.app)
    .post('/oauth2/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion })
    .expect(200);
  const org = await request(gw.app)
    .get('/fhir/Organization')
    .query({ identifier: 'http://fhir.nl/fhir/NamingSystem/ura|90001299' })
    .set('Authorization', `Bearer ${token.body.access_token as string}`)
    .expect(200);
  expect(org.body.entry?.[0]?.resource?.name).toBe('Huisartsenpost Nieuw');
});

test('a bad registration is refused with the reason', async () => {
  await expect(cli(['register-client', '--client-id', 'x', '--ura', '123', '--name', 'X', '--secret', 's'])).rejects.toMatchObject({
    stderr: expect.stringContaining('organizationUra must be 8 digits'),
  });
});

test('operators list subscriptions, re-activate one in error, and read a verified audit head', async () => {
  const hap = await gw.auth('hap-vechtdal');
  const hapOrg = await gw.organizationRef('hap-vechtdal');
  // Nothing listens on this port: the handshake fails and the subscription goes to error.
  const sub = await request(gw.app)
    .post('/fhir/Subscription')
    .set('Authorization', hap)
    .set('Content-Type', 'application/fhir+json')
    .send(
      JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'operator test',
        criteria: 'http://gateway.test/fhir/SubscriptionTopic/handover',
        _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: `Task?requester=${hapOrg}` }] },
        channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/nobody-home', payload: 'application/fhir+json' },
      }),
    );
  expect(sub.status).toBe(201);
  const id = sub.body.id as string;
  const deadline = Date.now() + 15_000;
  let listed = '';
  while (Date.now() < deadline) {
    listed = (await cli(['subscriptions'])).stdout;
    if (new RegExp(`${id}\\s+90001234\\s+error`).test(listed)) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(listed).toMatch(new RegExp(`${id}\\s+90001234\\s+error`));

  const reactivated = await cli(['reactivate', id]);
  expect(reactivated.stdout).toContain(`Subscription ${id}: requested`);
  await expect(cli(['reactivate', 'no-such-subscription'])).rejects.toMatchObject({ stderr: expect.stringContaining('HTTP 404') });
  // The operator's change is audited with it, as the removal of a client is; the refused one as every refusal is.
  const audited = await gw.gateway.db.query<{ action: string; subtype: string; outcome: string; client_id: string; organization_ura: string; resource_type: string; resource_id: string; content: { outcome?: string } }>(
    `SELECT action, subtype, outcome, client_id, organization_ura, resource_type, resource_id, content FROM audit_events WHERE subtype = 'reactivate-subscription'`,
  );
  expect(audited.rows).toHaveLength(1);
  expect(audited.rows[0]).toMatchObject({ action: 'U', outcome: '0', client_id: 'operator', organization_ura: 'system', resource_type: 'Subscription', resource_id: id });
  expect(JSON.stringify(audited.rows[0]?.content)).toContain('subscription of URA 90001234 re-activated');

  await gw.gateway.audit.link();
  const head = JSON.parse((await cli(['audit-head'])).stdout) as { intact: boolean; linkedRecords: number; head?: { hash: string } };
  expect(head.intact).toBe(true);
  expect(head.linkedRecords).toBeGreaterThan(0);
  expect(head.head?.hash).toMatch(/^[0-9a-f]{64}$/);
});

test('reindex gives resources stored with an older index the index the gateway derives now, so searches find them', async () => {
  const hap = await gw.auth('hap-vechtdal');
  const bsn = uniqueBsn();
  const created = await request(gw.app)
    .post('/fhir/Patient')
    .set('Authorization', hap)
    .set('Content-Type', 'application/fhir+json')
    .send(buildPatient({ identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: bsn }], name: [{ family: 'Reindex' }] }))
    .expect(201);
  const find = () => request(gw.app).get('/fhir/Patient').query({ identifier: `http://fhir.nl/fhir/NamingSystem/bsn|${bsn}` }).set('Authorization', hap).expect(200);
  expect((await find()).body.entry).toHaveLength(1);

  // As an earlier version of the gateway left it: no tokens and no string index for this Patient.
  await gw.gateway.db.query(`UPDATE resources SET tokens = '{}' WHERE resource_type = 'Patient' AND id = $1`, [created.body.id]);
  await gw.gateway.db.query(`DELETE FROM search_string WHERE resource_type = 'Patient' AND id = $1`, [created.body.id]);
  expect((await find()).body.entry ?? []).toHaveLength(0);
  await request(gw.app).get('/fhir/Patient').query({ family: 'Reindex' }).set('Authorization', hap).expect(200).expect((res) => expect(res.body.entry ?? []).toHaveLength(0));

  // Small batches, so that the CLI follows `next` through several calls.
  const out = await cli(['reindex', '--batch', '7']);
  const m = /Reindexed ([\d,]+) resources; ([\d,]+) had an index that was out of date\./.exec(out.stdout);
  expect(m).not.toBeNull();
  const stored = await gw.gateway.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resources WHERE NOT deleted');
  expect(Number(m?.[1].replace(/,/g, ''))).toBe(Number(stored.rows[0]?.n));
  expect(Number(m?.[2].replace(/,/g, ''))).toBeGreaterThanOrEqual(1);
  expect((await find()).body.entry?.[0]?.resource?.id).toBe(created.body.id);
  await request(gw.app).get('/fhir/Patient').query({ family: 'Reindex' }).set('Authorization', hap).expect(200).expect((res) => expect(res.body.entry).toHaveLength(1));

  // A second pass finds nothing out of date, and writes no new versions.
  const again = await cli(['reindex']);
  expect(again.stdout).toMatch(/; 0 had an index that was out of date\./);
  const read = await request(gw.app).get(`/fhir/Patient/${created.body.id as string}`).set('Authorization', hap).expect(200);
  expect(read.body.meta.versionId).toBe('1');
});

test('an index of the form before each value was indexed once is still searched right, and a reindex drops what it no longer needs', async () => {
  const hap = await gw.auth('hap-vechtdal');
  const bsn = uniqueBsn();
  const BSN = 'http://fhir.nl/fhir/NamingSystem/bsn';
  const GENDER = 'http://hl7.org/fhir/administrative-gender';
  const created = await request(gw.app)
    .post('/fhir/Patient')
    .set('Authorization', hap)
    .set('Content-Type', 'application/fhir+json')
    .send(buildPatient({ identifier: [{ system: BSN, value: bsn }], gender: 'female' }))
    .expect(201);
  const id = created.body.id as string;
  const tokens = async (): Promise<string[]> =>
    (await gw.gateway.db.query<{ tokens: string[] }>(`SELECT tokens FROM resources WHERE resource_type = 'Patient' AND id = $1`, [id])).rows[0]?.tokens ?? [];
  expect(await tokens()).not.toContain(`identifier=${BSN}|`);
  expect(await tokens()).not.toContain(`gender=${GENDER}|female`);
  // As the gateway indexed it before: `param=system|` beside each coding, the implicit system's code with its system.
  await gw.gateway.db.query(`UPDATE resources SET tokens = tokens || $2::text[] WHERE resource_type = 'Patient' AND id = $1`, [id, [`identifier=${BSN}|`, `gender=${GENDER}|female`, `gender=${GENDER}|`]]);
  const searches: Record<string, string>[] = [{ identifier: `${BSN}|` }, { identifier: `${BSN}|${bsn}` }, { gender: `${GENDER}|female` }, { gender: `${GENDER}|` }];
  const found = async (query: Record<string, string>): Promise<string[]> =>
    (((await request(gw.app).get('/fhir/Patient').query({ _id: id, ...query }).set('Authorization', hap).expect(200)).body as Bundle).entry ?? []).map((e) => e.resource?.id ?? '');
  for (const query of searches) expect(await found(query)).toEqual([id]);
  expect(await found({ 'gender:not': `${GENDER}|` })).toEqual([]);

  await cli(['reindex']);
  expect(await tokens()).not.toContain(`identifier=${BSN}|`);
  expect(await tokens()).not.toContain(`gender=${GENDER}|`);
  for (const query of searches) expect(await found(query)).toEqual([id]);
});

test('reindex refuses a batch size or a start key it cannot use', async () => {
  const admin = 'Bearer operator-secret';
  const bad = await request(gw.app).post('/admin/reindex').query({ count: '0' }).set('Authorization', admin).expect(400);
  expect(bad.body.issue[0].expression).toEqual(['count']);
  const key = await request(gw.app).post('/admin/reindex').query({ after: 'Patient' }).set('Authorization', admin).expect(400);
  expect(key.body.issue[0].expression).toEqual(['after']);
  await expect(cli(['reindex', '--batch', 'many'])).rejects.toMatchObject({ stderr: expect.stringContaining('--batch must be a whole number') });
});

test('delete-client removes a registration: no new token, the token it holds refused at once, and the removal audited; registering it again is audited too', async () => {
  await cli(['register-client', '--client-id', 'vvt-weg', '--ura', '90007999', '--name', 'VVT die stopt', '--secret', 'weg-secret-123']);
  const tokenOf = () => request(gw.app).post('/oauth2/token').auth('vvt-weg', 'weg-secret-123').type('form').send({ grant_type: 'client_credentials' });
  const held = (await tokenOf().expect(200)).body.access_token as string;
  await request(gw.app).get('/fhir/Organization').set('Authorization', `Bearer ${held}`).expect(200);

  const out = await cli(['delete-client', 'vvt-weg']);
  expect(out.stdout).toContain('Deleted client vvt-weg (URA 90007999)');
  expect((await cli(['clients'])).stdout).not.toContain('vvt-weg');
  await tokenOf().expect(401);
  await request(gw.app).get('/fhir/Organization').set('Authorization', `Bearer ${held}`).expect(401);

  const audit = await gw.gateway.db.query<{ action: string; type_code: string; outcome: string; client_id: string; content: { entity?: { what?: { identifier?: { value?: string } } }[] } }>(
    `SELECT action, type_code, outcome, client_id, content FROM audit_events WHERE type_code = '110137' AND subtype = 'delete-client' AND content::text LIKE '%vvt-weg%'`,
  );
  expect(audit.rows).toHaveLength(1);
  expect(audit.rows[0]).toMatchObject({ action: 'D', type_code: '110137', outcome: '0', client_id: 'operator' });
  expect(JSON.stringify(audit.rows[0]?.content)).toContain('vvt-weg');

  await expect(cli(['delete-client', 'vvt-weg'])).rejects.toMatchObject({ stderr: expect.stringContaining('HTTP 404: No client vvt-weg is registered') });
  await expect(cli(['delete-client'])).rejects.toMatchObject({ stderr: expect.stringContaining('delete-client needs a client id') });

  // Given access again: registered anew, then changed; each of the operator's changes of the client is audited.
  await cli(['register-client', '--client-id', 'vvt-weg', '--ura', '90007999', '--name', 'VVT die terugkomt', '--secret', 'terug-secret-123']);
  await cli(['register-client', '--client-id', 'vvt-weg', '--ura', '90007999', '--name', 'VVT die terugkomt', '--secret', 'terug-secret-456']);
  await request(gw.app).post('/oauth2/token').auth('vvt-weg', 'terug-secret-456').type('form').send({ grant_type: 'client_credentials' }).expect(200);
  const changes = await gw.gateway.db.query<{ action: string; subtype: string; client_id: string; content: { outcomeDesc?: string; entity?: unknown[] } }>(
    `SELECT action, subtype, client_id, content FROM audit_events WHERE type_code = '110137' AND content::text LIKE '%vvt-weg%' ORDER BY recorded, event_id`,
  );
  expect(changes.rows.map((r) => `${r.subtype} ${r.action} ${r.client_id}`)).toEqual([
    'register-client C operator',
    'delete-client D operator',
    'register-client C operator',
    'register-client U operator',
  ]);
  expect(JSON.stringify(changes.rows[2]?.content)).toContain('client vvt-weg of URA 90007999 registered');
  // The secret is the client's, not the audit trail's.
  expect(JSON.stringify(changes.rows)).not.toContain('terug-secret');
});

test('a subscription its owner deleted is listed as deleted, not as off', async () => {
  const hap = await gw.auth('hap-vechtdal');
  const hapOrg = await gw.organizationRef('hap-vechtdal');
  const body = (status: string) =>
    JSON.stringify({
      resourceType: 'Subscription',
      status,
      reason: 'listing test',
      criteria: 'http://gateway.test/fhir/SubscriptionTopic/handover',
      _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: `Task?requester=${hapOrg}` }] },
      channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/nobody-home', payload: 'application/fhir+json' },
    });
  const create = async (): Promise<string> => {
    const res = await request(gw.app).post('/fhir/Subscription').set('Authorization', hap).set('Content-Type', 'application/fhir+json').send(body('requested'));
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const deleted = await create();
  const paused = await create();
  await request(gw.app).delete(`/fhir/Subscription/${deleted}`).set('Authorization', hap).expect(200);
  await request(gw.app).put(`/fhir/Subscription/${paused}`).set('Authorization', hap).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ ...JSON.parse(body('off')), id: paused })).expect(200);

  const listed = (await cli(['subscriptions'])).stdout;
  expect(listed).toMatch(new RegExp(`${deleted}\\s+90001234\\s+deleted`));
  expect(listed).toMatch(new RegExp(`${paused}\\s+90001234\\s+off`));
});

test('without ADMIN_TOKEN the operator endpoints say they are disabled, and the CLI says so instead of a bare 404', async () => {
  const plain = await startTestGateway({ DEMO: '0' });
  const server2 = plain.app.listen(0, '127.0.0.1');
  try {
    await new Promise((resolve) => server2.once('listening', resolve));
    const url2 = `http://127.0.0.1:${(server2.address() as AddressInfo).port}`;
    for (const [method, path] of [['get', '/admin/clients'], ['get', '/admin/subscriptions'], ['delete', '/admin/clients/someone'], ['post', '/admin/subscriptions/x/reactivate']] as const) {
      const res = await request(plain.app)[method](path).set('Authorization', 'Bearer demo-admin');
      expect(res.status).toBe(404);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toBe('operator endpoints are disabled (ADMIN_TOKEN unset)');
    }
    const failed = run(process.execPath, ['src/cli/main.ts', 'clients'], { env: { ...process.env, GATEWAY_URL: url2, ADMIN_TOKEN: 'anything' } });
    await expect(failed).rejects.toMatchObject({ stderr: expect.stringContaining(`operator endpoints are disabled (ADMIN_TOKEN unset) on the gateway at ${url2}`) });
  } finally {
    await new Promise((resolve) => server2.close(resolve));
    await plain.stop();
  }
});
