// No patient data in logs: every line the gateway logs (at trace level, into memory) while it takes native
// records of all three formats, creates and searches FHIR Patients and fails with a 500 whose database
// error quotes the whole row, is searched for the BSNs, names and birth dates those requests carried.
import { randomBytes } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { safeError, scrubMessage } from '../../src/observability/logging.ts';
import { buildPatient, BSN_SYSTEM } from '../support/fhir-builders.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';
import { DEMO_SECRET, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { nativeClient, uniqueBsn, type Native } from '../support/native.ts';

// These break a table through an administrator's own connection to the test database, which PGlite (one connection
// in the gateway's process) does not have.
const onPostgres = postgresOnly(it);

const lines: string[] = [];
let testDb: TestDatabase;
let gateway: Gateway;
let native: Native;
/** Every BSN, name and birth date the requests carried. */
const secrets: string[] = [];

/** A surname nobody else uses, so that finding it in a log can only mean this test's patient. */
const uniqueName = (): string => `Qz${randomBytes(5).toString('hex').replace(/\d/g, (d) => 'abcdefghij'[Number(d)] ?? 'x')}`;

const token = async (client: DemoClient): Promise<string> => {
  const res = await request(gateway.app).post('/oauth2/token').auth(client, DEMO_SECRET).type('form').send({ grant_type: 'client_credentials' });
  expect(res.status).toBe(200);
  return `Bearer ${(res.body as { access_token: string }).access_token}`;
};

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'logs' });
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  gateway = await createGateway(loadConfig({ DEMO: '1', DEMO_CLIENT_SECRET: 'demo-secret', PUBLIC_URL: 'http://gateway.test', LOG_LEVEL: 'trace' }), { db: testDb.db, logger });
  // The native helpers need only the app and tokens.
  native = nativeClient({ app: gateway.app, auth: token } as unknown as TestGateway);
});
afterAll(async () => {
  await gateway?.close().catch(() => undefined);
  await testDb?.drop();
});

function expectNoSecretsLogged(): void {
  const log = lines.join('');
  expect(lines.length).toBeGreaterThan(0);
  for (const secret of secrets) expect({ secret, found: log.includes(secret) }).toEqual({ secret, found: false });
}

async function adminClient(): Promise<pg.Client> {
  const name = (await gateway.db.query<{ d: string }>('SELECT current_database() AS d')).rows[0]?.d ?? '';
  const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

describe('native records', () => {
  it('of all three formats leave no BSN, name or birth date in the log', async () => {
    const nts = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal', {
      edit: (r) => {
        r.patient.achternaam = uniqueName();
        r.patient.voornamen = uniqueName();
      },
    });
    secrets.push(nts.bsn, nts.record.patient.achternaam, nts.record.patient.voornamen, nts.record.patient.geboortedatum);
    const ride = await native.createHandover('ambulance-niet-vervoerd-naar-vvt.json', 'rav-noordoost', {
      edit: (r) => {
        r.patient.naam = `H. ${uniqueName()}`;
      },
    });
    secrets.push(ride.bsn, ride.record.patient.naam, ride.record.patient.geboortedatum);
    const vvt = await native.createHandover('vvt-aanvraag-van-zcc.json', 'zcc-ijsselland', {
      edit: (r) => {
        r.client_naam = `${uniqueName()}, G.`;
      },
    });
    secrets.push(vvt.bsn, vvt.record.client_naam, vvt.record.client_geboortedatum);
    // A refused record (schema) is no different.
    const refused = await native.send('nts', { ...nts.record, patient: { ...nts.record.patient, bsn: uniqueBsn(), geboortedatum: 'not a date' } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(lines.some((l) => l.includes('"route":"POST /native/nts"') || l.includes('/native/nts'))).toBe(true);
    expectNoSecretsLogged();
  });
});

describe('FHIR', () => {
  onPostgres('create, search by name and a 500 whose database error quotes the row leave nothing in the log', async () => {
    const auth = await token('hap-vechtdal');
    const family = uniqueName();
    const bsn = uniqueBsn();
    const patient = buildPatient({ identifier: [{ system: BSN_SYSTEM, value: bsn }], name: [{ family, given: [uniqueName()] }], birthDate: '1947-03-29' });
    secrets.push(bsn, family, patient.name?.[0]?.given?.[0] ?? '', '1947-03-29');
    const created = await request(gateway.app).post('/fhir/Patient').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(JSON.stringify(patient));
    expect(created.status).toBe(201);
    const found = await request(gateway.app).get(`/fhir/Patient?family=${family}&birthdate=1947-03-29&identifier=${BSN_SYSTEM}|${bsn}`).set('Authorization', auth);
    expect(found.status).toBe(200);

    // A broken table: the database refuses every new row with an error that quotes it whole.
    const admin = await adminClient();
    const brokenBsn = uniqueBsn();
    const brokenName = uniqueName();
    secrets.push(brokenBsn, brokenName, '1939-11-05');
    try {
      await admin.query(`CREATE FUNCTION broken_table() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'broken table: %', NEW::text USING DETAIL = NEW::text, HINT = NEW::text; END $$`);
      await admin.query('CREATE TRIGGER broken_table BEFORE INSERT ON resources FOR EACH ROW EXECUTE FUNCTION broken_table()');
      const before = lines.length;
      const failed = await request(gateway.app)
        .post('/fhir/Patient')
        .set('Authorization', auth)
        .set('Content-Type', 'application/fhir+json')
        .send(JSON.stringify({ ...patient, identifier: [{ system: BSN_SYSTEM, value: brokenBsn }], name: [{ family: brokenName }], birthDate: '1939-11-05' }));
      expect(failed.status).toBe(500);
      expect(failed.text).not.toContain(brokenName);
      // The failure is logged (kind and stack), just without the row.
      const logged = lines.slice(before).filter((l) => l.includes('request failed'));
      expect(logged).toHaveLength(1);
      expect(JSON.parse(logged[0] ?? '{}')).toMatchObject({ err: { type: 'error', code: 'P0001', message: expect.stringMatching(/withheld/) } });
    } finally {
      await admin.query('DROP TRIGGER IF EXISTS broken_table ON resources');
      await admin.query('DROP FUNCTION IF EXISTS broken_table()');
      await admin.end();
    }
    // And the gateway keeps serving.
    expect((await request(gateway.app).get(`/fhir/Patient/${(created.body as Patient).id}`).set('Authorization', auth)).status).toBe(200);
    expectNoSecretsLogged();
  });

  it('a slip that logs a resource or a raw database error is censored too', () => {
    const log = gateway.logger;
    const bsn = uniqueBsn();
    const name = uniqueName();
    secrets.push(bsn, name);
    log.info({ resource: { resourceType: 'Patient', name: [{ family: name }], identifier: [{ value: bsn }] } }, 'a slip');
    log.info({ patient: { name, bsn } }, 'another slip');
    log.error({ err: Object.assign(new Error(`invalid input: "${name}" key (bsn)=(${bsn})`), { detail: `Failing row contains (${name}, ${bsn})`, code: '23514' }) }, 'a raw error');
    expectNoSecretsLogged();
  });
});

describe('the board stream', () => {
  onPostgres('a failure while it is under way is logged without the row and ends the stream; nothing unaudited is sent', async () => {
    // An open handover the ZCC's board shows, so that the snapshot has rows to audit.
    const { bsn } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    secrets.push(bsn);
    const zcc = await token('zcc-ijsselland');
    // The audit trail refuses every row with an error that quotes it: the snapshot cannot be audited, so not sent.
    const admin = await adminClient();
    try {
      await admin.query(`CREATE FUNCTION broken_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'broken audit: %', NEW::text USING DETAIL = NEW::text; END $$`);
      await admin.query('CREATE TRIGGER broken_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION broken_audit()');
      const before = lines.length;
      // Ends by itself: supertest resolves only once the response has ended.
      const res = await request(gateway.app).get('/board/events').set('Authorization', zcc);
      expect(res.status).toBe(200);
      expect(res.text).toContain('retry: 1000');
      expect(res.text).not.toContain('event: snapshot');
      const logged = lines.slice(before).filter((l) => l.includes('board stream ended'));
      expect(logged).toHaveLength(1);
      expect(JSON.parse(logged[0] ?? '{}')).toMatchObject({ msg: 'board stream ended: the snapshot could not be sent', client: 'zcc-ijsselland', err: { code: 'P0001', message: expect.stringMatching(/withheld/) } });
    } finally {
      await admin.query('DROP TRIGGER IF EXISTS broken_audit ON audit_events');
      await admin.query('DROP FUNCTION IF EXISTS broken_audit()');
      await admin.end();
    }
    expectNoSecretsLogged();
  });
});

describe('scrubbing error messages', () => {
  it('drops quoted values, long numbers and dates; keeps the kind of error', () => {
    expect(scrubMessage('invalid input syntax for type date: "1956-02-30"')).toBe('invalid input syntax for type date: [redacted]');
    expect(scrubMessage('Key (bsn)=(123456782) already exists')).toBe('Key [redacted] already exists');
    expect(scrubMessage('born 1956-02-03, BSN 123456782')).toBe('born [date], BSN [number]');
    const e = safeError(Object.assign(new TypeError("Cannot read properties of undefined (reading 'family')"), { code: 'XX000', detail: 'secret' }));
    expect(e).toMatchObject({ type: 'TypeError', code: 'XX000', message: 'Cannot read properties of undefined (reading [redacted])' });
    expect(JSON.stringify(e)).not.toContain('secret');
    expect(safeError(e)).toEqual(e);
  });
});
