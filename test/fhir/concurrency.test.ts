// Concurrent writers through HTTP: conditional creates that race, and optimistic locking with If-Match.
import { createServer, type Server } from 'node:http';
import type { Bundle, Patient, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import type { Tx } from '../../src/store/database.ts';
import { createHandover, FHIR_JSON, fhirClient } from './helpers.ts';
import { postgresOnly } from '../support/database.ts';

// Row locks between transactions running at once: PGlite runs one transaction at a time.
const onPostgres = postgresOnly(describe);

let tg: TestGateway;
let server: Server;
let authorization: string;

beforeAll(async () => {
  tg = await startTestGateway();
  authorization = await tg.auth('hap-vechtdal');
  // One listening server for all requests (supertest would otherwise start one per request).
  server = createServer(tg.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await tg?.stop();
});

const send = (t: request.Test, body?: unknown, headers: Record<string, string> = {}): request.Test => {
  t.set('Authorization', authorization).set('Accept', FHIR_JSON);
  for (const [k, v] of Object.entries(headers)) t.set(k, v);
  return body === undefined ? t : t.set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
};

it('20 concurrent identical conditional creates make exactly one resource', async () => {
  const value = unique('bsn-race');
  const patient = buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value }] });
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => send(request(server).post('/fhir/Patient'), patient, { 'If-None-Exist': `identifier=${IDENTIFIER_SYSTEM}|${value}` })),
  );
  const statuses = answers.map((a) => a.status);
  expect(statuses.every((s) => s === 201 || s === 200)).toBe(true);
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  const ids = new Set(answers.map((a) => (a.body as Patient).id));
  expect(ids.size).toBe(1);

  const found = await send(request(server).get(`/fhir/Patient?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${value}`)}`));
  expect((found.body as Bundle).total).toBe(1);
  expect((found.body as Bundle).entry![0]!.resource!.id).toBe([...ids][0]);
  expect((await send(request(server).get(`/fhir/Patient/${[...ids][0]}/_history`))).body.total).toBe(1);
});

it('a conditional create finds a resource that was created without a condition', async () => {
  const value = unique('plain');
  const patient = buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value }] });
  const first = await send(request(server).post('/fhir/Patient'), patient);
  expect(first.status).toBe(201);
  const again = await send(request(server).post('/fhir/Patient'), patient, { 'If-None-Exist': `identifier=${value}` });
  expect(again.status).toBe(200);
  expect((again.body as Patient).id).toBe((first.body as Patient).id);
  // After a delete the condition no longer matches: a new resource is made.
  expect((await send(request(server).delete(`/fhir/Patient/${(first.body as Patient).id}`))).status).toBe(200);
  const fresh = await send(request(server).post('/fhir/Patient'), patient, { 'If-None-Exist': `identifier=${value}` });
  expect(fresh.status).toBe(201);
  expect((fresh.body as Patient).id).not.toBe((first.body as Patient).id);
});

it('50 concurrent If-Match updates of one Task leave a linear history without lost updates', async () => {
  const fhir = await fhirClient(tg);
  const { task } = await createHandover(tg, fhir);
  const writers = 50;

  const write = async (n: number): Promise<void> => {
    for (;;) {
      const current = await send(request(server).get(`/fhir/${task}`));
      expect(current.status).toBe(200);
      const body = current.body as Task;
      const next: Task = { ...body, note: [...(body.note ?? []), { text: `writer ${n}` }] };
      const res = await send(request(server).put(`/fhir/${task}`), next, { 'If-Match': current.headers.etag! });
      if (res.status === 200) return;
      expect(res.status).toBe(412);
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, n) => write(n)));

  const history = await send(request(server).get(`/fhir/${task}/_history?_count=200`));
  const versions = (history.body as Bundle<Task>).entry!.map((e) => e.resource!);
  expect((history.body as Bundle).total).toBe(writers + 1);
  expect(versions.map((v) => Number(v.meta!.versionId)).sort((a, b) => a - b)).toEqual(Array.from({ length: writers + 1 }, (_, i) => i + 1));
  // Version n holds the notes of version n-1 and one more: each writer built on the version before it.
  const byVersion = new Map(versions.map((v) => [Number(v.meta!.versionId), v]));
  for (let v = 2; v <= writers + 1; v++) {
    const notes = (byVersion.get(v)!.note ?? []).map((n) => n.text);
    expect(notes.slice(0, -1)).toEqual((byVersion.get(v - 1)!.note ?? []).map((n) => n.text));
  }
  const final = (await send(request(server).get(`/fhir/${task}`))).body as Task;
  expect(final.meta!.versionId).toBe(String(writers + 1));
  expect(new Set(final.note!.map((n) => n.text))).toEqual(new Set(Array.from({ length: writers }, (_, n) => `writer ${n}`)));
  expect(final.note).toHaveLength(writers);
});

onPostgres('spreading a new Task\'s parties locks the rows of its handover in one order (type, id)', () => {
  // Tasks written at once about one request and patient each lock both rows; in the order a query plan happened
  // to visit them, two of them deadlocked (the benchmark's concurrent Task creates met it every few runs).
  // Another transaction holds one of the two rows; the Task's write waits for it. In one global order it then
  // holds a row after that one (Patient < ServiceRequest) only when it waits for the first.
  const rowLock = async (tx: Tx, ref: string, nowait = false): Promise<void> => {
    const [type, id] = ref.split('/');
    await tx.query(`SELECT 1 FROM resources WHERE resource_type = $1 AND id = $2 FOR UPDATE${nowait ? ' NOWAIT' : ''}`, [type, id]);
  };
  /** Until another transaction waits for `holder`'s (pg_locks: anyone may read it, unlike another role's pg_stat_activity). */
  const waitUntilWaitedFor = async (holder: Tx): Promise<void> => {
    const xid = (await holder.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid;
    for (let i = 0; i < 200; i++) {
      const r = await tg.gateway.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted`,
        [xid],
      );
      if ((r.rows[0]?.n ?? 0) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the Task write never waited for the held row');
  };
  /** While `held` is locked elsewhere and the Task's write waits for it: may a third transaction lock `probe`? */
  const probeWhileWaiting = async (held: 'patient' | 'serviceRequest', probe: 'patient' | 'serviceRequest'): Promise<boolean> => {
    const fhir = await fhirClient(tg);
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('rav-noordoost');
    const rows = { patient: `Patient/${(await fhir.create(buildPatient())).id}`, serviceRequest: '' };
    rows.serviceRequest = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient: rows.patient, requester, performer: owner }))).id}`;
    let free = false;
    let create: Promise<request.Response> | undefined;
    await tg.gateway.db.transaction(async (holder) => {
      await rowLock(holder, rows[held]);
      create = send(request(server).post('/fhir/Task'), buildTask({ focus: rows.serviceRequest, patient: rows.patient, requester, owner }), { Prefer: 'return=minimal' }).then((r) => r);
      await waitUntilWaitedFor(holder);
      free = await tg.gateway.db.transaction(async (prober) => rowLock(prober, rows[probe], true)).then(
        () => true,
        (err: { code?: string }) => {
          if (err.code !== '55P03') throw err;
          return false;
        },
      );
    });
    expect((await create!).status).toBe(201);
    return free;
  };

  it('waiting for the Patient, it holds no lock on the ServiceRequest', async () => {
    expect(await probeWhileWaiting('patient', 'serviceRequest')).toBe(true);
  });

  it('waiting for the ServiceRequest, it already holds the Patient', async () => {
    expect(await probeWhileWaiting('serviceRequest', 'patient')).toBe(false);
  });
});
