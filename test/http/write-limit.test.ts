// MAX_CONCURRENT_WRITES: writes beyond the limit wait their turn (reads do not), and one that the client gives up
// while waiting leaves the queue without taking a turn.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Patient } from '@medplum/fhirtypes';
import type { Tx } from '../../src/store/database.ts';
import { buildPatient } from '../support/fhir-builders.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postgresOnly } from '../support/database.ts';

// A write is held by a row another transaction keeps locked: PGlite runs one transaction at a time, so the other
// would wait for that one's end instead.
const onPostgres = postgresOnly(it);

let tg: TestGateway;
let server: Server;
let base: string;
let authorization: string;

beforeAll(async () => {
  tg = await startTestGateway({ MAX_CONCURRENT_WRITES: '1' });
  authorization = await tg.auth('hap-vechtdal');
  server = createServer(tg.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await tg?.stop();
});

const headers = (): Record<string, string> => ({ Authorization: authorization, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' });
const createPatient = (signal?: AbortSignal): Promise<Response> => fetch(`${base}/Patient`, { method: 'POST', headers: headers(), body: JSON.stringify(buildPatient()), signal });

/**
 * Holds a Patient's row in another transaction while `work` runs, with an update of that Patient started and
 * waiting for the row: the one write allowed at a time is taken until the row is let go.
 */
async function whileOneWriteIsStuck(work: () => Promise<void>): Promise<Response> {
  const patient = (await (await createPatient()).json()) as Patient;
  let stuck: Promise<Response> | undefined;
  await tg.gateway.db.transaction(async (holder: Tx) => {
    await holder.query(`SELECT 1 FROM resources WHERE resource_type = 'Patient' AND id = $1 FOR UPDATE`, [patient.id]);
    const xid = (await holder.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid;
    stuck = fetch(`${base}/Patient/${patient.id}`, { method: 'PUT', headers: headers(), body: JSON.stringify({ ...patient, gender: 'other' }) });
    for (let i = 0; ; i++) {
      const r = await tg.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted`, [xid]);
      if ((r.rows[0]?.n ?? 0) > 0) break;
      if (i > 400) throw new Error('the update never waited for the row');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await work();
  });
  return stuck!;
}

onPostgres('a write waits while the one allowed is at work; a read does not', async () => {
  let second: Promise<Response> | undefined;
  let secondDone = false;
  const stuck = await whileOneWriteIsStuck(async () => {
    second = createPatient().then((r) => {
      secondDone = true;
      return r;
    });
    const read = await fetch(`${base}/Patient?_count=1`, { headers: headers() });
    expect(read.status).toBe(200);
    // Half a second is many times what the create takes when it does not wait.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(secondDone).toBe(false);
  });
  expect((await stuck).status).toBe(200);
  expect((await second!).status).toBe(201);
});

onPostgres('a write given up while waiting does not keep its place: the next one still gets a turn', async () => {
  let third: Promise<Response> | undefined;
  const stuck = await whileOneWriteIsStuck(async () => {
    const abort = new AbortController();
    const givenUp = createPatient(abort.signal).catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 100));
    abort.abort();
    expect((await givenUp) as { name?: string }).toMatchObject({ name: 'AbortError' });
    third = createPatient();
  });
  expect((await stuck).status).toBe(200);
  expect((await third!).status).toBe(201);
});

onPostgres('a unit\'s position fix does not wait for a turn (issue 20: the map must not lag the handovers)', async () => {
  const rav = await tg.auth('rav-noordoost');
  const fix = { berichttype: 'EENHEID_STATUS', ura: '90004567', roepnaam: `WL-${process.pid}`, soort: 'AMBULANCE_A', status: '5', positie: { lat: 52.5, lon: 6.1 }, tijd: new Date().toISOString() };
  const stuck = await whileOneWriteIsStuck(async () => {
    // Answered while the one write allowed is still held: it never queued.
    const res = await fetch(`${base.replace(/\/fhir$/, '')}/native/eenheid`, { method: 'POST', headers: { Authorization: rav, 'Content-Type': 'application/json' }, body: JSON.stringify(fix) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-unit-fix')).toBe('stored');
  });
  expect((await stuck).status).toBe(200);
});
