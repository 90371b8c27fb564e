// A database fault in the middle of a request is a fault, never "not found" (issue 14, "Faults become not found"):
// each request below waits on a lock while its connection is cut off by the server (as a restart or failover
// does), and is answered 503 with Retry-After and an OperationOutcome; the same request afterwards finds what
// was there all along. The lookups that used to turn any error into 404 or "absent" are on these paths.
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import pg from 'pg';
import request from 'supertest';
import { example, fillHandover, nativeClient, setBsn, uniqueRide, type Native } from '../support/native.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postgresOnly } from '../support/database.ts';

// Each request meets a connection the server cut off while it waited on a lock: PostgreSQL's, reached on its own
// connection. PGlite has one connection, in this process, that nothing cuts off.
const onPostgres = postgresOnly(it);

let tg: TestGateway;
let native: Native;
let databaseUrl: string;

beforeAll(async () => {
  tg = await startTestGateway();
  native = nativeClient(tg);
  const name = (await tg.gateway.db.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
  const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
});
afterAll(async () => {
  await tg?.stop();
});

/**
 * Sends `fire` while the resources table is locked, and cuts off every connection that waits on the lock: the
 * request meets a connection the server ended (57P01) exactly when it reads a resource.
 */
async function withConnectionCutOff(fire: () => Promise<request.Response>): Promise<request.Response> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE resources IN ACCESS EXCLUSIVE MODE');
    const answer = fire();
    let cut = 0;
    for (let i = 0; i < 400 && cut === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const r = await admin.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
      );
      cut = r.rows[0]?.n ?? 0;
    }
    await admin.query('ROLLBACK');
    expect(cut).toBeGreaterThan(0);
    return await answer;
  } finally {
    await admin.end();
  }
}

function expectUnavailable(res: request.Response): void {
  expect([res.status, res.text]).toEqual([503, expect.any(String)]);
  expect(res.headers['retry-after']).toMatch(/^\d+$/);
  const outcome = JSON.parse(res.text) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.code).toBe('transient');
  expect(res.text).not.toMatch(/is known|not known/);
}

async function handover(): Promise<{ taskId: string; bsn: string }> {
  const { taskId, bsn } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance', 'hap-vechtdal');
  return { taskId, bsn };
}

onPostgres('reading a handover in a native format: 503, not "No handover with id … is known"', async () => {
  const { taskId } = await handover();
  const auth = await tg.auth('hap-vechtdal');
  const res = await withConnectionCutOff(() => request(tg.app).get(`/native/nts/${taskId}`).set('Authorization', auth).then((r) => r));
  expectUnavailable(res);
  expect((await native.get(`/native/nts/${taskId}`)).status).toBe(200);
});

onPostgres("the board's handover detail: 503, not 404", async () => {
  const { taskId } = await handover();
  const auth = await tg.auth('hap-vechtdal');
  const res = await withConnectionCutOff(() => request(tg.app).get(`/board/handovers/${taskId}`).set('Authorization', auth).then((r) => r));
  expectUnavailable(res);
  expect((await request(tg.app).get(`/board/handovers/${taskId}`).set('Authorization', auth)).status).toBe(200);
});

onPostgres('an answer to a handover: 503 (nothing stored), not "No handover with id … is known"; sent again, it is taken', async () => {
  const { taskId, bsn } = await handover();
  const answer = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...uniqueRide() }, taskId);
  const auth = await tg.auth('rav-noordoost');
  const res = await withConnectionCutOff(() =>
    request(tg.app).post('/native/ambulance').set('Authorization', auth).set('Content-Type', 'application/json').send(JSON.stringify(answer)).then((r) => r),
  );
  expectUnavailable(res);
  // Taken now, as new: not recognised as a re-send of something stored before.
  const again = await native.send('ambulance', answer, 'rav-noordoost');
  expect(again.status).toBe(200);
  expect(again.headers['x-handover-note']).toBeUndefined();
});

onPostgres('a batch entry meeting the fault: a 503 entry with its outcome, not a bare 500', async () => {
  const { taskId } = await handover();
  const auth = await tg.auth('hap-vechtdal');
  const batch: Bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Task/${taskId}` } }] };
  const res = await withConnectionCutOff(() =>
    request(tg.app).post('/fhir').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(JSON.stringify(batch)).then((r) => r),
  );
  // The batch itself may be answered (its entry failed), or fail as a whole when its audit meets the fault too.
  if (res.status === 200) {
    const entry = (JSON.parse(res.text) as Bundle).entry?.[0];
    expect(entry?.response?.status).toBe('503');
    expect((entry?.response?.outcome as OperationOutcome | undefined)?.issue?.[0]?.code).toBe('transient');
  } else {
    expectUnavailable(res);
  }
});
