// The audit trail through HTTP on PostgreSQL: BALP AuditEvents for reads, writes, native records, tokens and refusals;
// scenario S7 (the trail of S1's handover); the hash chain and its tamper evidence; the gateway's restricted role.
import type { AuditEvent, Bundle, OperationOutcome, Task } from '@medplum/fhirtypes';
import pg from 'pg';
import request from 'supertest';
import { CHAIN_LOCK_KEY, chainHash, EVENT_COLUMNS, GENESIS_HASH, PASS_LIMIT, type EventRecord } from '../../src/audit/chain.ts';
import { metricValue } from '../support/metrics.ts';
import type { TestGateway } from '../support/gateway.ts';
import { example, fillHandover, idFrom, setBsn, uniqueBsn, uniqueId, uniqueRide, withNativeGateway, type Native } from '../support/native.ts';
import { postgresOnly } from '../support/database.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import type { Database, Queryable } from '../../src/store/database.ts';

// These need PostgreSQL itself: an administrator's own connection to the test database (a broken insert, links made
// as an older linker made them, records changed behind the gateway), or a transaction left open beside the linker.
// PGlite is one connection in the gateway's process.
const onPostgres = postgresOnly(it);

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

interface Row {
  organization_ura: string;
  client_id: string;
  on_behalf_of: string | null;
  patient: string | null;
  action: string;
  type_code: string;
  subtype: string;
  resource_type: string | null;
  resource_id: string | null;
  entities: string[];
  outcome: string;
  status: number | null;
  content: AuditEvent;
}

async function rowsOf(requestId: string): Promise<Row[]> {
  const r = await tg.gateway.db.query<Row>('SELECT * FROM audit_events WHERE request_id = $1 ORDER BY id', [requestId]);
  return r.rows;
}

async function adminClient(): Promise<pg.Client> {
  const name = (await tg.gateway.db.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
  const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

/**
 * As an administrator with the triggers off (`session_replication_role = replica`): a copy of the audit record
 * `eventId` under a new id, claiming a day earlier, as a forger would backdate it. Returns the copy's event id.
 */
async function insertBackdatedCopy(admin: pg.Client, eventId: string): Promise<string> {
  const r = await admin.query<{ event_id: string }>(
    `INSERT INTO audit_events (event_id, recorded, organization_ura, client_id, action, type_code, subtype, outcome, request_id, content)
     SELECT gen_random_uuid(), recorded - interval '1 day', organization_ura, client_id, action, type_code, subtype, outcome, 'forged', content
     FROM audit_events WHERE event_id = $1 RETURNING event_id::text`,
    [eventId],
  );
  return r.rows[0]!.event_id;
}

const get = async (path: string, client: Parameters<TestGateway['auth']>[0], requestId = uniqueId('req')) =>
  request(tg.app).get(path).set('Authorization', await tg.auth(client)).set('Accept', 'application/fhir+json').set('X-Request-Id', requestId);

/**
 * Links every audit row written so far. The linker only links rows of transactions below the oldest one still
 * open on the whole PostgreSQL server (transaction ids are server-wide), so while another test file's transaction
 * is open the pass links less, by design: try again until it has caught up, for at most 30 s.
 */
async function linkAll(): Promise<void> {
  const last = (await tg.gateway.db.query<{ id: string | null }>('SELECT max(id)::text AS id FROM audit_events')).rows[0]?.id ?? '0';
  for (let i = 0; i < 300; i++) {
    await tg.gateway.audit.link();
    const open = await tg.gateway.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events e WHERE e.id <= $1::bigint AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)', [last]);
    if (open.rows[0]?.n === '0') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the audit chain did not link the rows written so far within 30 s');
}

function outcomeText(o: OperationOutcome): string {
  return (o.issue ?? []).map((i) => i.diagnostics ?? '').join(' | ');
}

describe('reads', () => {
  it('are audited (BALP read, the patient, the request id) and committed before the answer', async () => {
    const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const requestId = uniqueId('read');
    const res = await get(`/fhir/Task/${taskId}`, 'rav-noordoost', requestId);
    expect(res.status).toBe(200);
    const task = JSON.parse(res.text) as Task;
    // Nothing awaited between the answer and this query: the row was there when the answer left.
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ organization_ura: '90004567', client_id: 'rav-noordoost', action: 'R', type_code: 'rest', subtype: 'read', resource_type: 'Task', resource_id: taskId, outcome: '0', status: 200, patient: task.for?.reference });
    const event = row!.content;
    expect(event.subtype?.[0]).toEqual({ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' });
    expect(event.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value).toBe(requestId);
    expect(event.entity?.find((e) => e.role?.code === '1')?.what?.reference).toBe(task.for?.reference);
    expect(event.agent.map((a) => a.who?.identifier?.value ?? a.who?.display)).toEqual(expect.arrayContaining(['rav-noordoost', 'handover-gateway', '90004567']));
  });

  it('audit a search with its query in base64, once per patient found', async () => {
    const a = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const b = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const requestId = uniqueId('search');
    const res = await get(`/fhir/Task?_id=${a.taskId},${b.taskId}`, 'hap-vechtdal', requestId);
    expect(res.status).toBe(200);
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((r) => r.patient)).size).toBe(2);
    for (const r of rows) {
      expect(r).toMatchObject({ action: 'E', subtype: 'search-type' });
      const query = r.content.entity?.find((e) => e.role?.code === '24')?.query;
      expect(Buffer.from(query ?? '', 'base64').toString('utf8')).toBe(`_id=${encodeURIComponent(`${a.taskId},${b.taskId}`)}`);
    }
  });

  onPostgres('fail, without detail, when the audit record cannot be written', async () => {
    const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const admin = await adminClient();
    try {
      await admin.query('ALTER TABLE audit_events ADD CONSTRAINT audit_broken CHECK (false) NOT VALID');
      const res = await get(`/fhir/Task/${taskId}`, 'hap-vechtdal');
      expect(res.status).toBe(500);
      expect(res.text).not.toContain(taskId);
      expect(res.text).not.toContain('"Task"');
      expect(outcomeText(JSON.parse(res.text) as OperationOutcome)).toBe('Internal server error');
    } finally {
      await admin.query('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_broken');
      await admin.end();
    }
    expect((await get(`/fhir/Task/${taskId}`, 'hap-vechtdal')).status).toBe(200);
  });
});

describe('writes and refusals', () => {
  it('a native record: one row naming every resource written, in its transaction, on behalf of the triagist', async () => {
    const record = setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), uniqueBsn());
    record.contactId = uniqueId('HAPV');
    const requestId = uniqueId('native');
    const res = await request(tg.app).post('/native/nts').set('Authorization', await tg.auth('hap-vechtdal')).set('X-Request-Id', requestId).set('Content-Type', 'application/json').send(JSON.stringify(record));
    expect(res.status).toBe(201);
    const taskId = idFrom(res.headers.location, 'Task');
    // Every resource of the handover is about one patient, and all were created: one row (a row per patient and
    // interaction, as a search is audited once per patient).
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ action: 'C', subtype: 'native-record', organization_ura: '90001234', client_id: 'hap-vechtdal', outcome: '0', on_behalf_of: expect.stringContaining('S. Mulder') });
    expect(new Set(row.entities.map((e) => e.split('/')[0]))).toEqual(new Set(['Patient', 'Encounter', 'Observation', 'ServiceRequest', 'Task', 'Provenance']));
    expect(row.entities).toContain(`Task/${taskId}`);
    expect(row.patient).toBe(row.entities.find((e) => e.startsWith('Patient/')));
    // The AuditEvent names each version written, and the record's identity.
    const named = row.content.entity?.map((e) => e.what?.reference) ?? [];
    expect(named).toContain(`Task/${taskId}/_history/1`);
    expect(named.filter((r) => r?.includes('/_history/'))).toHaveLength(row.entities.length);
    expect(row.content.entity?.some((e) => e.what?.identifier?.value === `${record.contactId}#${record.volgnummer}`)).toBe(true);
  });

  it('an invalid native record is refused, stores nothing, and the refusal is audited with its OperationOutcome', async () => {
    const requestId = uniqueId('invalid');
    const record = example('invalid-nts-bsn-elfproef');
    const res = await request(tg.app).post('/native/nts').set('Authorization', await tg.auth('hap-vechtdal')).set('X-Request-Id', requestId).set('Content-Type', 'application/json').send(JSON.stringify(record));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ subtype: 'native-record', outcome: '4', status: res.status, client_id: 'hap-vechtdal' });
    const contained = rows[0]!.content.contained?.[0] as OperationOutcome;
    expect(contained.resourceType).toBe('OperationOutcome');
    expect(outcomeText(contained)).toBe(outcomeText(JSON.parse(res.text) as OperationOutcome));
  });

  it('a bad access token is refused and audited', async () => {
    const requestId = uniqueId('badtoken');
    const res = await request(tg.app).get('/fhir/Task').set('Authorization', 'Bearer not.a.token').set('X-Request-Id', requestId);
    expect(res.status).toBe(401);
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: '4', status: 401, client_id: 'unknown', subtype: 'search-type' });
    expect((rows[0]!.content.contained?.[0] as OperationOutcome).issue?.[0]?.code).toBe('login');
  });

  it('tokens issued and refused are audited', async () => {
    const refusedId = uniqueId('token-refused');
    const refused = await request(tg.app).post('/oauth2/token').set('X-Request-Id', refusedId).auth('rav-noordoost', 'wrong-secret').type('form').send({ grant_type: 'client_credentials' });
    expect(refused.status).toBe(401);
    const issuedId = uniqueId('token-issued');
    const issued = await request(tg.app).post('/oauth2/token').set('X-Request-Id', issuedId).auth('rav-noordoost', 'demo-secret').type('form').send({ grant_type: 'client_credentials' });
    expect(issued.status).toBe(200);
    const [r] = await rowsOf(refusedId);
    expect(r).toMatchObject({ type_code: '110114', subtype: 'token', outcome: '4', client_id: 'rav-noordoost', organization_ura: 'unknown' });
    expect(outcomeText(r!.content.contained?.[0] as OperationOutcome)).toContain('invalid_client');
    const [i] = await rowsOf(issuedId);
    expect(i).toMatchObject({ type_code: '110114', subtype: 'token', outcome: '0', client_id: 'rav-noordoost', organization_ura: '90004567' });
    expect(JSON.stringify(i!.content)).not.toContain((issued.body as { access_token: string }).access_token);
  });
});

describe('S7: the auditor', () => {
  it("gets S1's whole trail in time order, every step and every read, and it verifies", async () => {
    const bsn = uniqueBsn();
    const { taskId, record } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal', { bsn });
    const ride = uniqueRide();
    const readByRav = uniqueId('rav-read');
    expect((await get(`/fhir/Task/${taskId}`, 'rav-noordoost', readByRav)).status).toBe(200);
    expect((await native.send('ambulance', fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...ride }, taskId), 'rav-noordoost')).status).toBeLessThan(300);
    expect((await native.send('ambulance', fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-rit-afgesloten'), bsn), ...ride }, taskId), 'rav-noordoost')).status).toBeLessThan(300);
    const renderedByRav = uniqueId('rav-render');
    expect((await request(tg.app).get(`/native/ambulance/${taskId}`).set('Authorization', await tg.auth('rav-noordoost')).set('X-Request-Id', renderedByRav)).status).toBe(200);
    const task = await native.read<Task>(`Task/${taskId}`, 'hap-vechtdal');
    const patientRead = uniqueId('patient-read');
    expect((await get(`/fhir/${task.for!.reference!}`, 'hap-vechtdal', patientRead)).status).toBe(200);

    const trailId = uniqueId('trail');
    const res = await get(`/fhir/Task/${taskId}/$trail`, 'auditor', trailId);
    expect(res.status).toBe(200);
    const trail = JSON.parse(res.text) as Bundle;
    expect(trail.type).toBe('collection');
    const times = (trail.entry ?? []).map((e) => (e.resource?.resourceType === 'AuditEvent' ? (e.resource as AuditEvent).recorded : e.resource?.resourceType === 'Provenance' ? e.resource.recorded : e.resource?.meta?.lastUpdated) ?? '');
    expect([...times].sort()).toEqual(times);

    const resources = (trail.entry ?? []).map((e) => e.resource!);
    const taskStatuses = resources.filter((r): r is Task => r.resourceType === 'Task').map((t) => t.status);
    expect(taskStatuses).toEqual(['requested', 'accepted', 'in-progress', 'completed']);
    expect(resources.filter((r) => r.resourceType === 'ServiceRequest').length).toBeGreaterThanOrEqual(2);
    expect(new Set(resources.filter((r) => r.resourceType === 'Encounter').map((r) => r.id)).size).toBe(2);
    expect(resources.filter((r) => r.resourceType === 'Provenance')).toHaveLength(3);
    const events = resources.filter((r): r is AuditEvent => r.resourceType === 'AuditEvent');
    const requestIdOf = (e: AuditEvent): string | undefined => e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value;
    const who = (e: AuditEvent): string | undefined => e.agent.find((a) => a.type?.coding?.[0]?.code === '110153')?.who?.display;
    // Who created, read, changed: the HAP's record on behalf of its triagist, the RAV's read, answers and rendering.
    expect(events.some((e) => e.subtype?.[0]?.code === 'native-record' && e.action === 'C' && who(e) === 'hap-vechtdal' && e.agent.some((a) => a.who?.display?.includes('S. Mulder')))).toBe(true);
    expect(events.some((e) => requestIdOf(e) === readByRav && e.action === 'R')).toBe(true);
    expect(events.filter((e) => e.subtype?.[0]?.code === 'native-record' && e.action === 'U' && who(e) === 'rav-noordoost').length).toBeGreaterThanOrEqual(2);
    expect(events.some((e) => requestIdOf(e) === renderedByRav && e.subtype?.[0]?.code === 'native-render')).toBe(true);
    expect(record.contactId).toBeDefined();

    // The patient's trail holds every read of the patient's data, the HAP's read of the Patient included.
    const patientTrail = JSON.parse((await get(`/fhir/${task.for!.reference!}/$trail`, 'auditor')).text) as Bundle;
    const patientEvents = (patientTrail.entry ?? []).map((e) => e.resource!).filter((r): r is AuditEvent => r.resourceType === 'AuditEvent');
    expect(patientEvents.some((e) => requestIdOf(e) === patientRead)).toBe(true);
    expect(patientEvents.some((e) => requestIdOf(e) === readByRav)).toBe(true);

    // The auditor's own query is audited, and can be found by search.
    const search = await get(`/fhir/AuditEvent?agent=auditor&subtype=operation&entity=Task/${taskId}`, 'auditor');
    expect(search.status).toBe(200);
    const found = (JSON.parse(search.text) as Bundle).entry?.map((e) => e.resource as AuditEvent) ?? [];
    expect(found.some((e) => requestIdOf(e) === trailId)).toBe(true);

    await linkAll();
    const verify = await get('/fhir/AuditEvent/$verify', 'auditor');
    expect(verify.status).toBe(200);
    const outcome = JSON.parse(verify.text) as OperationOutcome;
    expect(outcome.issue?.[0]?.diagnostics).toMatch(/^Intact\. \d+ audit records/);
    const head = await tg.gateway.audit.head();
    expect(head).toBeDefined();
    expect(outcomeText(outcome)).toContain(head!.hash);
  });

  it('answers AuditEvent search by date, type, outcome and patient, with paging', async () => {
    const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const task = await native.read<Task>(`Task/${taskId}`, 'hap-vechtdal');
    const since = new Date(Date.now() - 60_000).toISOString();
    const page = await get(`/fhir/AuditEvent?patient=${task.for!.reference!}&type=rest&outcome=0&date=ge${since}&_count=1`, 'auditor');
    expect(page.status).toBe(200);
    const bundle = JSON.parse(page.text) as Bundle;
    expect(bundle.total).toBeGreaterThanOrEqual(2);
    expect(bundle.entry).toHaveLength(1);
    expect(bundle.link?.some((l) => l.relation === 'next')).toBe(true);
    expect((await get('/fhir/AuditEvent?nonsense=1', 'auditor')).status).toBe(400);
    const one = (bundle.entry?.[0]?.resource as AuditEvent).id!;
    expect((await get(`/fhir/AuditEvent/${one}`, 'auditor')).status).toBe(200);
  });

  it('is the only one who reads audit data, and cannot write it', async () => {
    const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    for (const client of ['hap-vechtdal', 'rav-noordoost', 'zcc-ijsselland'] as const) {
      expect((await get('/fhir/AuditEvent', client)).status).toBe(403);
      expect((await get('/fhir/AuditEvent/$verify', client)).status).toBe(403);
      expect((await get(`/fhir/Task/${taskId}/$trail`, client)).status).toBe(403);
    }
    const create = await request(tg.app)
      .post('/fhir/AuditEvent')
      .set('Authorization', await tg.auth('auditor'))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'AuditEvent' }));
    expect([403, 405]).toContain(create.status);
    const write = await request(tg.app)
      .post('/fhir/Task')
      .set('Authorization', await tg.auth('auditor'))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Task', status: 'requested', intent: 'order' }));
    expect(write.status).toBe(403);
    expect((await get('/fhir/Task/does-not-exist/$trail', 'auditor')).status).toBe(404);
  });
});

describe('the chain linker', () => {
  onPostgres('links a backlog larger than a pass in passes of at most PASS_LIMIT rows, cut inside a transaction, and /metrics shows the backlog until then', async () => {
    await linkAll();
    const requestId = uniqueId('backlog');
    const rows = PASS_LIMIT + PASS_LIMIT / 2;
    const scrape = async (): Promise<{ backlog: number; age: number }> => {
      const text = (await request(tg.app).get('/metrics').expect(200)).text;
      return { backlog: metricValue(text, 'gateway_audit_chain_backlog', {}) ?? Number.NaN, age: metricValue(text, 'gateway_audit_chain_oldest_unlinked_age_seconds', {}) ?? Number.NaN };
    };
    // The chain's lock held here: no linker, this instance's background one included, links until it is let go.
    const admin = await adminClient();
    try {
      await admin.query('SELECT pg_advisory_lock($1)', [CHAIN_LOCK_KEY]);
      // One transaction's rows, as a group commit of many reads writes them: more than a pass links.
      await tg.gateway.db.query(
        `INSERT INTO audit_events (event_id, recorded, organization_ura, client_id, action, type_code, subtype, outcome, request_id, content)
         SELECT gen_random_uuid(), now(), '90001234', 'hap-vechtdal', 'R', 'rest', 'read', '0', $1, json_build_object('n', n)
           FROM generate_series(1, $2::int) AS n`,
        [requestId, rows],
      );
      expect(await tg.gateway.audit.link()).toBe(0);
      const waiting = await scrape();
      expect(waiting.backlog).toBeGreaterThanOrEqual(rows);
      expect(waiting.age).toBeGreaterThan(0);
      await admin.query('SELECT pg_advisory_unlock($1)', [CHAIN_LOCK_KEY]);
    } finally {
      await admin.end();
    }
    await linkAll();
    // Each pass links its rows at one time (its transaction's now()): no pass over PASS_LIMIT, and the first pass,
    // cut short inside the transaction, sealed below it so that the next one linked the rest of it.
    const passes = await tg.gateway.db.query<{ sealed: string; n: number; txid: string }>(
      `SELECT c.sealed_below::text AS sealed, count(*)::int AS n, min(e.txid)::text AS txid FROM audit_chain c JOIN audit_events e ON e.id = c.event_id
        WHERE e.request_id = $1 GROUP BY c.linked_at, c.sealed_below ORDER BY c.linked_at`,
      [requestId],
    );
    expect(passes.rows.reduce((sum, p) => sum + p.n, 0)).toBe(rows);
    expect(passes.rows.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...passes.rows.map((p) => p.n))).toBeLessThanOrEqual(PASS_LIMIT);
    expect(passes.rows[0]?.sealed).toBe(passes.rows[0]?.txid);
    expect((await tg.gateway.audit.verify()).problems).toEqual([]);
    expect(await scrape()).toEqual({ backlog: 0, age: 0 });
  });
});

describe('tamper evidence', () => {
  it('the gateway role cannot change, remove, truncate or backdate audit records', async () => {
    await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const db = tg.gateway.db;
    expect((await db.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe('gateway_app');
    await expect(db.query(`UPDATE audit_events SET client_id = 'someone-else'`)).rejects.toThrow(/permission denied/);
    await expect(db.query('DELETE FROM audit_events')).rejects.toThrow(/permission denied/);
    await expect(db.query('TRUNCATE audit_events')).rejects.toThrow(/permission denied/);
    await expect(db.query('UPDATE audit_chain SET hash = hash')).rejects.toThrow(/permission denied/);
    await expect(db.query('DELETE FROM audit_chain')).rejects.toThrow(/permission denied/);
    await expect(db.query('TRUNCATE audit_chain')).rejects.toThrow(/permission denied/);
    await expect(db.query('ALTER TABLE audit_events DISABLE TRIGGER USER')).rejects.toThrow(/must be owner|permission denied/);
    await expect(db.query('SET session_replication_role = replica')).rejects.toThrow(/permission denied/);
    await expect(db.query('RESET ROLE; DELETE FROM audit_events')).rejects.toThrow();
    const forged = `INSERT INTO audit_events (event_id, recorded, organization_ura, client_id, action, type_code, subtype, outcome, request_id, content)
      VALUES (gen_random_uuid(), now() - interval '1 day', '90001234', 'hap-vechtdal', 'R', 'rest', 'read', '0', 'forged', '{}')`;
    await expect(db.query(forged)).rejects.toThrow(/not now/);
    await expect(db.query(`INSERT INTO audit_events (txid, event_id, recorded, organization_ura, client_id, action, type_code, subtype, outcome, request_id, content)
      VALUES ('1', gen_random_uuid(), now(), '90001234', 'hap-vechtdal', 'R', 'rest', 'read', '0', 'forged', '{}')`)).rejects.toThrow(/permission denied/);
    // A row's patient is among its entities (migration 029: searches and trails by patient find rows through them).
    await expect(db.query(`INSERT INTO audit_events (event_id, recorded, organization_ura, client_id, patient, entities, action, type_code, subtype, outcome, request_id, content)
      VALUES (gen_random_uuid(), now(), '90001234', 'hap-vechtdal', 'Patient/hidden', '{Task/1}', 'R', 'rest', 'read', '0', 'forged', '{}')`)).rejects.toThrow(/audit_events_patient_in_entities/);
  });

  onPostgres('$verify checks links of both forms (the AuditEvent itself, as before migration 024, and its digest) and names an AuditEvent changed in either', async () => {
    await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await linkAll();
    const admin = await adminClient();
    const setContent = async (id: string, content: string): Promise<void> => {
      await admin.query('UPDATE audit_events SET content = $2::json WHERE id = $1::bigint', [id, content]);
    };
    try {
      await admin.query('SET session_replication_role = replica');
      // The chain so far as a linker before migration 024 made it: each record hashed with its AuditEvent itself.
      const links = (
        await admin.query<EventRecord & { c_seq: string; c_linked_at: string; c_sealed: string }>(
          `SELECT c.seq::text AS c_seq, to_char(c.linked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS c_linked_at, c.sealed_below::text AS c_sealed, ${EVENT_COLUMNS}
           FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq`,
        )
      ).rows;
      let prev = GENESIS_HASH;
      for (const { c_seq, c_linked_at, c_sealed, ...event } of links) {
        const hash = chainHash(prev, { seq: c_seq, linkedAt: c_linked_at, sealedBelow: c_sealed }, event);
        await admin.query('UPDATE audit_chain SET prev_hash = $2, hash = $3, content_as_sha256 = false WHERE seq = $1::bigint', [c_seq, prev, hash]);
        prev = hash;
      }
    } finally {
      await admin.query('SET session_replication_role = DEFAULT');
    }
    // Rows written after them are linked in the new form, after the old head.
    await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await linkAll();
    const forms = (await tg.gateway.db.query<{ form: boolean; id: string }>('SELECT c.content_as_sha256 AS form, max(c.event_id)::text AS id FROM audit_chain c GROUP BY 1 ORDER BY 1')).rows;
    expect(forms.map((f) => f.form)).toEqual([false, true]);
    expect((await tg.gateway.audit.verify()).problems).toEqual([]);

    const [older, newer] = forms.map((f) => f.id);
    const original = (await admin.query<{ id: string; content: string }>('SELECT id::text AS id, content::text AS content FROM audit_events WHERE id = ANY($1::bigint[])', [[older, newer]])).rows;
    try {
      await admin.query('SET session_replication_role = replica');
      await admin.query(`UPDATE audit_events SET content = jsonb_set(content::jsonb, '{outcomeDesc}', '"nothing happened"') WHERE id = ANY($1::bigint[])`, [[older, newer]]);
      const changed = (await tg.gateway.audit.verify()).problems.filter((p) => p.kind === 'changed').map((p) => p.recordId);
      expect(changed.sort()).toEqual([older, newer].sort());
      // Put back as it was, the chain verifies again (the tests after this one start from an intact chain).
      for (const row of original) await setContent(row.id, row.content);
      expect((await tg.gateway.audit.verify()).problems).toEqual([]);
    } finally {
      await admin.end();
    }
  });

  onPostgres('$verify names the record an administrator changed, the one removed and the one inserted', async () => {
    for (let i = 0; i < 3; i++) await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await linkAll();
    const before = await tg.gateway.audit.verify();
    expect(before.problems).toEqual([]);
    const head = before.head!.hash;

    const admin = await adminClient();
    let changed: string;
    let removed: string;
    let inserted: string;
    try {
      // Only an administrator who switches the triggers off gets this far.
      await admin.query('SET session_replication_role = replica');
      const linked = (await admin.query<{ id: string; event_id: string }>('SELECT e.id::text AS id, e.event_id::text AS event_id FROM audit_events e JOIN audit_chain c ON c.event_id = e.id ORDER BY c.seq DESC LIMIT 5')).rows;
      changed = linked[1]!.event_id;
      removed = linked[3]!.event_id;
      await admin.query(`UPDATE audit_events SET client_id = 'someone-else' WHERE event_id = $1`, [changed]);
      await admin.query('DELETE FROM audit_events WHERE event_id = $1', [removed]);
      inserted = await insertBackdatedCopy(admin, linked[0]!.event_id);
    } finally {
      await admin.end();
    }

    const check = async (): Promise<OperationOutcome> => {
      const res = await get(`/fhir/AuditEvent/$verify?head=${head}`, 'auditor');
      expect(res.status).toBe(200);
      return JSON.parse(res.text) as OperationOutcome;
    };
    const problems = (o: OperationOutcome) => (o.issue ?? []).filter((i) => i.severity === 'error').map((i) => ({ kind: i.details?.text, text: i.diagnostics ?? '' }));

    const found = problems(await check());
    expect(found).toEqual(
      expect.arrayContaining([
        { kind: 'changed', text: expect.stringContaining(changed) },
        { kind: 'removed', text: expect.stringMatching(/audit record \d+ \(chain link \d+\) was removed/) },
        { kind: 'inserted', text: expect.stringContaining(inserted) },
      ]),
    );
    expect(found.map((p) => p.text).join(' ')).not.toContain(removed);

    // Linking the forged record does not make it legitimate.
    await tg.gateway.audit.link();
    expect(problems(await check())).toEqual(expect.arrayContaining([{ kind: 'inserted', text: expect.stringContaining(inserted) }]));
  });

  onPostgres('$verify reads the chain and the unlinked records in one snapshot: a pass linking a forged record between the two does not hide it', async () => {
    await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await linkAll();
    const admin = await adminClient();
    let inserted: string;
    try {
      await admin.query('SET session_replication_role = replica');
      const latest = (await admin.query<{ event_id: string }>('SELECT event_id::text FROM audit_events ORDER BY id DESC LIMIT 1')).rows[0]!.event_id;
      inserted = await insertBackdatedCopy(admin, latest);
    } finally {
      await admin.end();
    }
    // The linker's pass, on a connection of its own, commits after the chain was read and before the unlinked records are:
    // the moment the background linker hit in a CI run, made certain here.
    const db = tg.gateway.db;
    let linkedBetween = false;
    const passInBetween: Pick<Database, 'transaction'> = {
      transaction: (work, options) =>
        db.transaction((tx) => {
          const between: Queryable = {
            query: async (sql, params, queryOptions) => {
              if (sql.includes('NOT EXISTS (SELECT 1 FROM audit_chain')) {
                await linkAll();
                linkedBetween = true;
              }
              return tx.query(sql, params, queryOptions);
            },
            exec: (sql) => tx.exec(sql),
          };
          return work(between);
        }, options),
    };
    const result = await verifyChain(passInBetween);
    expect(linkedBetween).toBe(true);
    expect((await db.query('SELECT 1 FROM audit_chain c JOIN audit_events e ON e.id = c.event_id WHERE e.event_id = $1', [inserted])).rows).toHaveLength(1);
    expect(result.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'inserted', eventId: inserted })]));
  });
});
