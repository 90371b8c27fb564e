// The bad-input corpus of issue 5. Each case is refused with a 4xx and an OperationOutcome, stores nothing
// (every version, native record and subscription event counted in the database before and after), is
// audited (an audit_events row of its request id with outcome 4 and the status), and the gateway keeps
// serving (a normal read afterwards).
//
// Covered elsewhere, with the same "refused, nothing stored, still serving" checks, and not repeated here:
// oversized bodies, deep nesting, __proto__/constructor keys in bodies, query strings, If-None-Exist and
// transaction urls, malformed JSON, wrong or missing Content-Type, 406 for Accept, 404/405/410/412
// (test/fhir/errors.test.ts; test/native/ingest-input.test.ts for POST /native/{format}); every token flaw
// against the authenticator on its own (test/auth/authenticate.test.ts) and at the token endpoint, replayed
// client assertions included (test/auth/token.test.ts); the party matrix of every client × resource ×
// interaction (test/security/authorization-matrix.test.ts); answers from organisations that do not own
// the handover (test/native/ingest-parties.test.ts). Here they are sent through the FHIR API and the
// native endpoints, and checked for the audit row too.
import { randomUUID } from 'node:crypto';
import type { OperationOutcome, Patient, Task } from '@medplum/fhirtypes';
import { generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { buildPatient, BSN_SYSTEM } from '../support/fhir-builders.ts';
import { DEMO_SECRET, startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, nativeClient, setBsn, uniqueBsn, uniqueId, uniqueRide, type Format, type Native } from '../support/native.ts';

const FHIR_JSON = 'application/fhir+json';
const MAX_BODY_BYTES = 3 * 1024 * 1024;
const ISSUER = 'http://gateway.test';

let tg: TestGateway;
let native: Native;
let patient: Patient;
/** A handover from the HAP to the RAV, not yet answered. */
let handover: { taskId: string; bsn: string };
/** A handover from the HAP to the RAV that the RAV accepted. */
let accepted: { taskId: string; bsn: string };
let gatewayKey: { kid: string; key: CryptoKey };

beforeAll(async () => {
  tg = await startTestGateway({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  native = nativeClient(tg);
  const created = await send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify(buildPatient({ identifier: [{ system: BSN_SYSTEM, value: uniqueBsn() }] })));
  expect(created.status).toBe(201);
  patient = created.body as Patient;
  handover = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  accepted = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const answer = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), accepted.bsn), ...uniqueRide() }, accepted.taskId);
  await native.sendOk('ambulance', answer, 'rav-noordoost');
  const { rows } = await tg.gateway.db.query<{ kid: string; private_jwk: JWK }>('SELECT kid, private_jwk FROM signing_keys');
  const row = rows[0];
  if (!row) throw new Error('no signing key');
  gatewayKey = { kid: row.kid, key: (await importJWK(row.private_jwk, 'ES384')) as CryptoKey };
});
afterAll(async () => {
  await tg?.stop();
});

/** Everything a request could have stored. */
async function stored(): Promise<Record<string, number>> {
  const { rows } = await tg.gateway.db.query<{ versions: number; records: number; events: number }>(
    `SELECT (SELECT count(*) FROM resource_versions)::int AS versions, (SELECT count(*) FROM native_records)::int AS records,
            (SELECT count(*) FROM subscription_events)::int AS events`,
  );
  return { ...rows[0] };
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A request as `client` (or with the Authorization given), the body sent as the bytes given. */
function send(client: DemoClient | { authorization: string }, method: Method, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<request.Response> {
  return (async () => {
    const authorization = typeof client === 'string' ? await tg.auth(client) : client.authorization;
    let t = request(tg.app)[method](path).set('Authorization', authorization).set('Accept', FHIR_JSON);
    if (body !== undefined) t = t.set('Content-Type', path.startsWith('/native') ? 'application/json' : FHIR_JSON);
    for (const [k, v] of Object.entries(headers)) t = t.set(k, v);
    if (body === undefined) return t;
    return t.serialize((b: unknown) => b as string).send(body as string);
  })();
}

/** Sends the bad request under a fresh request id and checks all four promises. */
async function refused(statuses: number[], bad: (headers: Record<string, string>) => Promise<request.Response>): Promise<OperationOutcome> {
  const requestId = uniqueId('bad');
  const before = await stored();
  const res = await bad({ 'X-Request-Id': requestId });
  expect({ status: res.status, allowed: statuses }).toEqual({ status: statuses.includes(res.status) ? res.status : -1, allowed: statuses });
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const outcome = JSON.parse(res.text) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.severity).toBe('error');
  expect(await stored()).toEqual(before);
  const audit = await tg.gateway.db.query<{ outcome: string; status: number }>('SELECT outcome, status FROM audit_events WHERE request_id = $1', [requestId]);
  expect(audit.rows).toContainEqual({ outcome: '4', status: res.status });
  const alive = await send('hap-vechtdal', 'get', `/fhir/Patient/${patient.id}`);
  expect(alive.status).toBe(200);
  return outcome;
}

const record = (format: Format): Record<string, unknown> => {
  const r = setBsn(format, example(format === 'nts' ? 'nts-u1-pijn-op-de-borst-naar-ambulance' : format === 'vvt' ? 'vvt-aanvraag-van-zcc' : 'ambulance-niet-vervoerd-naar-vvt'), uniqueBsn());
  if (format === 'nts') r.contactId = uniqueId('HAPV');
  return r;
};

describe('sizes', () => {
  it('a 100k-element array in a resource, a Bundle and a native record (400)', async () => {
    const names = Array.from({ length: 100_000 }, () => ({ family: 'x' }));
    await refused([400], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify({ ...buildPatient(), name: names }), h));
    await refused([400], (h) => send('hap-vechtdal', 'post', '/fhir', JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 100_000 }, () => ({})) }), h));
    await refused([400], (h) => send('hap-vechtdal', 'post', '/native/nts', JSON.stringify({ ...record('nts'), bijlagen: Array.from({ length: 100_000 }, () => 0) }), h));
  });

  it('a string of more than a megabyte under MAX_BODY_BYTES (400) and over it (413)', async () => {
    const mb = 'x'.repeat(1024 * 1024 + 1);
    await refused([400], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify({ ...buildPatient(), name: [{ family: mb }] }), h));
    await refused([400], (h) => send('hap-vechtdal', 'put', `/fhir/Patient/${patient.id}`, JSON.stringify({ ...patient, name: [{ family: mb }] }), h));
    const nts = record('nts');
    await refused([400], (h) => send('hap-vechtdal', 'post', '/native/nts', JSON.stringify({ ...nts, patient: { ...(nts.patient as object), achternaam: mb } }), h));
    const over = 'x'.repeat(MAX_BODY_BYTES + 1);
    await refused([413], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify({ ...buildPatient(), name: [{ family: over }] }), h));
    await refused([413], (h) => send('zcc-ijsselland', 'post', '/native/vvt', JSON.stringify({ ...record('vvt'), reden: over }), h));
  });

  it('thousands of query parameters, in the URL and in a _search body (400)', async () => {
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?${Array.from({ length: 3000 }, () => 'a=1').join('&')}`, undefined, h));
    await refused([400], (h) =>
      send('hap-vechtdal', 'post', '/fhir/Patient/_search', Array.from({ length: 10_000 }, (_, i) => `family=${i}`).join('&'), { ...h, 'Content-Type': 'application/x-www-form-urlencoded' }),
    );
  });
});

describe('search values', () => {
  it('SQL in a string value is only text: it matches nothing and breaks nothing', async () => {
    for (const value of ["' OR 1=1 --", '"; DROP TABLE resources; --', "x' UNION SELECT content FROM resources --"]) {
      const res = await send('hap-vechtdal', 'get', `/fhir/Patient?family=${encodeURIComponent(value)}`);
      expect(res.status).toBe(200);
      expect((res.body as { total?: number; entry?: unknown[] }).entry ?? []).toEqual([]);
    }
    expect((await tg.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resources')).rows[0]?.n).toBeGreaterThan(0);
  });

  it('SQL where a date, token, number or sort is expected (400)', async () => {
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?birthdate=${encodeURIComponent("' OR 1=1 --")}`, undefined, h));
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?_count=${encodeURIComponent('1; DROP TABLE resources; --')}`, undefined, h));
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?_sort=${encodeURIComponent('family; DROP TABLE resources; --')}`, undefined, h));
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Task?_lastUpdated=${encodeURIComponent('gt2020-01-01; DELETE FROM resources')}`, undefined, h));
  });

  it('unknown parameters under Prefer: handling=strict (400); ignored and reported without it', async () => {
    await refused([400], (h) => send('hap-vechtdal', 'get', '/fhir/Patient?colour=blue', undefined, { ...h, Prefer: 'handling=strict' }));
    await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?family=x&${encodeURIComponent("1=1 OR family")}=x`, undefined, { ...h, Prefer: 'handling=strict' }));
    expect((await send('hap-vechtdal', 'get', '/fhir/Patient?colour=blue')).status).toBe(200);
  });

  it('a bad _count (400)', async () => {
    for (const count of ['-1', 'abc', '1.5', '1e3', '', '99999999999']) {
      await refused([400], (h) => send('hap-vechtdal', 'get', `/fhir/Patient?_count=${encodeURIComponent(count)}`, undefined, h));
    }
  });
});

describe('tokens through the FHIR API and the native endpoints (401)', () => {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = (): number => Math.floor(Date.now() / 1000);
  const forge = async (f: { aud?: string; iat?: number; exp?: number; scope?: string; typ?: string } = {}): Promise<string> =>
    new SignJWT({ scope: f.scope ?? 'system/*.cruds', organization: '90001234', roles: [], client_id: 'hap-vechtdal' })
      .setProtectedHeader({ alg: 'ES384', kid: gatewayKey.kid, typ: f.typ ?? 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(f.aud ?? `${ISSUER}/fhir`)
      .setSubject('hap-vechtdal')
      .setIssuedAt(f.iat ?? now())
      .setExpirationTime(f.exp ?? now() + 120)
      .setJti(randomUUID())
      .sign(gatewayKey.key);

  it('the forger is faithful: its token is accepted', async () => {
    expect((await send({ authorization: `Bearer ${await forge()}` }, 'get', `/fhir/Patient/${patient.id}`)).status).toBe(200);
  });

  it.each([
    ['alg: none', async () => `${b64({ alg: 'none', typ: 'at+jwt', kid: gatewayKey.kid })}.${b64({ iss: ISSUER, aud: `${ISSUER}/fhir`, sub: 'hap-vechtdal', organization: '90001234', roles: [], scope: 'system/*.cruds', iat: now(), exp: now() + 60, jti: randomUUID() })}.`],
    ['expired', () => forge({ iat: now() - 400, exp: now() - 100 })],
    ['for another audience', () => forge({ aud: 'https://elsewhere.example/fhir' })],
    ['for the token endpoint (an access token replayed as a client assertion, or the reverse)', () => forge({ aud: `${ISSUER}/oauth2/token`, typ: 'JWT' })],
    [
      "a client's own assertion replayed as an access token",
      async () => {
        const { privateKey } = await generateKeyPair('ES384');
        return new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: 'rav-key' }).setIssuer('rav-noordoost').setSubject('rav-noordoost').setAudience(`${ISSUER}/oauth2/token`).setIssuedAt().setExpirationTime('1m').setJti(randomUUID()).sign(privateKey);
      },
    ],
  ])('%s', async (_what, token) => {
    const authorization = `Bearer ${await token()}`;
    await refused([401], (h) => send({ authorization }, 'get', `/fhir/Patient/${patient.id}`, undefined, h));
    await refused([401], (h) => send({ authorization }, 'post', '/fhir/Patient', JSON.stringify(buildPatient()), h));
    await refused([401], (h) => send({ authorization }, 'post', '/native/nts', JSON.stringify(record('nts')), h));
  });

  it('a valid token presented again after its client was moved to another organisation', async () => {
    // Replaying a token is only as good as the registration behind it: checked on every request.
    const authorization = `Bearer ${await forge()}`;
    const requestId = uniqueId('moved');
    await tg.gateway.db.query(`UPDATE oauth_clients SET organization_ura = '90007891' WHERE client_id = 'hap-vechtdal'`);
    try {
      const res = await send({ authorization }, 'get', `/fhir/Patient/${patient.id}`, undefined, { 'X-Request-Id': requestId });
      expect(res.status).toBe(401);
      expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
      const audit = await tg.gateway.db.query<{ outcome: string }>('SELECT outcome FROM audit_events WHERE request_id = $1', [requestId]);
      expect(audit.rows).toEqual([{ outcome: '4' }]);
    } finally {
      await tg.gateway.db.query(`UPDATE oauth_clients SET organization_ura = '90001234' WHERE client_id = 'hap-vechtdal'`);
    }
    expect((await send({ authorization }, 'get', `/fhir/Patient/${patient.id}`)).status).toBe(200);
  });
});

describe('scopes', () => {
  it('out-of-order scope letters grant nothing: not at the token endpoint, not in a token (403)', async () => {
    const res = await request(tg.app).post('/oauth2/token').auth('hap-vechtdal', DEMO_SECRET).type('form').send({ grant_type: 'client_credentials', scope: 'system/Patient.sc' });
    expect(res.status).toBe(400);
    expect((res.body as { error: string }).error).toBe('invalid_scope');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ scope: 'system/*.sdurc system/Patient.uc', organization: '90001234', roles: [], client_id: 'hap-vechtdal' })
      .setProtectedHeader({ alg: 'ES384', kid: gatewayKey.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(`${ISSUER}/fhir`)
      .setSubject('hap-vechtdal')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti(randomUUID())
      .sign(gatewayKey.key);
    const authorization = `Bearer ${token}`;
    await refused([403], (h) => send({ authorization }, 'post', '/fhir/Patient', JSON.stringify(buildPatient()), h));
    await refused([403], (h) => send({ authorization }, 'get', `/fhir/Patient/${patient.id}`, undefined, h));
    await refused([403], (h) => send({ authorization }, 'post', '/native/nts', JSON.stringify(record('nts')), h));
  });
});

describe('organisations', () => {
  it("another organisation's ids: read, change, delete and render answer as for an unknown id (404)", async () => {
    const task = (await send('hap-vechtdal', 'get', `/fhir/Task/${handover.taskId}`)).body as Task;
    await refused([404], (h) => send('vvt-ijsseldelta', 'get', `/fhir/Task/${handover.taskId}`, undefined, h));
    await refused([404], (h) => send('vvt-ijsseldelta', 'get', `/fhir/Task/${handover.taskId}/_history/1`, undefined, h));
    await refused([404, 405], (h) => send('vvt-ijsseldelta', 'put', `/fhir/Task/${handover.taskId}`, JSON.stringify({ ...task, status: 'accepted' }), h));
    await refused([404], (h) => send('vvt-ijsseldelta', 'patch', `/fhir/Task/${handover.taskId}`, JSON.stringify([{ op: 'replace', path: '/status', value: 'accepted' }]), { ...h, 'Content-Type': 'application/json-patch+json' }));
    await refused([404], (h) => send('vvt-ijsseldelta', 'delete', `/fhir/Task/${handover.taskId}`, undefined, h));
    await refused([404], (h) => send('vvt-ijsseldelta', 'get', `/native/nts/${handover.taskId}`, undefined, h));
  });

  it('a Task created with another organisation as requester (422)', async () => {
    // A copy of a handover the HAP sent (its ServiceRequest, patient and owner are real), naming the RAV as requester.
    const { id: _id, meta: _meta, ...task } = (await send('hap-vechtdal', 'get', `/fhir/Task/${handover.taskId}`)).body as Task;
    const requester = await tg.organizationRef('rav-noordoost');
    const outcome = await refused([422], (h) =>
      send('hap-vechtdal', 'post', '/fhir/Task', JSON.stringify({ ...task, identifier: [{ system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` }], requester: { reference: requester } }), h),
    );
    expect(JSON.stringify(outcome)).toMatch(/requester/);
  });

  it('a changed owner after acceptance (422)', async () => {
    const task = (await send('hap-vechtdal', 'get', `/fhir/Task/${accepted.taskId}`)).body as Task;
    expect(task.status).toBe('accepted');
    const other = await tg.organizationRef('vvt-ijsseldelta');
    await refused([422], (h) => send('hap-vechtdal', 'put', `/fhir/Task/${accepted.taskId}`, JSON.stringify({ ...task, owner: { reference: other } }), h));
    await refused([422], (h) =>
      send('hap-vechtdal', 'patch', `/fhir/Task/${accepted.taskId}`, JSON.stringify([{ op: 'replace', path: '/owner', value: { reference: other } }]), { ...h, 'Content-Type': 'application/json-patch+json' }),
    );
  });

  it('an answer to a handover the sender does not own (403 or 404)', async () => {
    const answer = fillHandover({ ...setBsn('vvt', example('vvt-antwoord-ingepland'), handover.bsn), vvt_ura: '90007890', vvt_naam: 'Thuiszorg IJsseldelta' }, handover.taskId);
    await refused([403, 404], (h) => send('vvt-ijsseldelta', 'post', '/native/vvt', JSON.stringify(answer), h));
    const ride = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), handover.bsn), ...uniqueRide() }, handover.taskId);
    await refused([403, 404], (h) => send('hap-vechtdal', 'post', '/native/ambulance', JSON.stringify(ride), h));
  });
});

describe('bytes and media types', () => {
  const invalidUtf8 = (text: string): Buffer => {
    const bytes = Buffer.from(text);
    const at = bytes.indexOf('Jong');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    return bytes;
  };

  it('invalid UTF-8 in a FHIR body, a native record and a query (400)', async () => {
    await refused([400], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', invalidUtf8(JSON.stringify({ ...buildPatient(), name: [{ family: 'Jong' }] })), h));
    await refused([400], (h) => send('hap-vechtdal', 'post', '/native/nts', invalidUtf8(JSON.stringify(record('nts'))), h));
    await refused([400], (h) => send('hap-vechtdal', 'get', '/fhir/Patient?family=%FF%FE', undefined, h));
  });

  it('NUL bytes in a FHIR body, a native record and a query (400)', async () => {
    await refused([400], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify({ ...buildPatient(), name: [{ family: 'Jo\u0000ng' }] }), h));
    await refused([400], (h) => send('hap-vechtdal', 'post', '/native/nts', JSON.stringify(record('nts')).replace('"Jong"', '"Jo\\u0000ng"'), h));
    await refused([400], (h) => send('hap-vechtdal', 'get', '/fhir/Patient?family=Jo%00ng', undefined, h));
  });

  it('an Accept that admits no JSON (406)', async () => {
    await refused([406], (h) => send('hap-vechtdal', 'get', `/fhir/Patient/${patient.id}`, undefined, { ...h, Accept: 'application/fhir+xml' }));
    await refused([406], (h) => send('hap-vechtdal', 'post', '/fhir/Patient', JSON.stringify(buildPatient()), { ...h, Accept: 'text/html' }));
    await refused([406], (h) => send('hap-vechtdal', 'post', '/native/nts', JSON.stringify(record('nts')), { ...h, Accept: 'application/xml' }));
  });
});
