// Issue 19.2: the audit rows of reads are committed before each answer (NEN 7513), but the rows of requests
// waiting at the same moment share one statement and one commit (group commit) instead of one each.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildPatient } from '../support/fhir-builders.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(async () => {
  await tg?.stop();
});

it('concurrent reads share commits, and each answer comes after its own audit row is committed', async () => {
  const auth = await tg.auth('hap-vechtdal');
  const created = await request(tg.app).post('/fhir/Patient').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(JSON.stringify(buildPatient()));
  expect(created.status).toBe(201);
  const id = (created.body as { id: string }).id;
  const run = randomUUID();
  const count = 40;
  const seen = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const requestId = `${run}-${i}`;
      const res = await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).set('X-Request-Id', requestId);
      expect(res.status).toBe(200);
      // Durable before the answer: the row is there the moment the answer is.
      const row = await tg.gateway.db.query<{ txid: string }>('SELECT txid::text AS txid FROM audit_events WHERE request_id = $1', [requestId]);
      expect(row.rows).toHaveLength(1);
      return row.rows[0]?.txid;
    }),
  );
  // Fewer commits than reads: rows of several requests were written by one transaction. (PGlite runs one
  // statement at a time, request by request: there the reads seldom overlap enough to group.)
  if (tg.databaseUrl) expect(new Set(seen).size).toBeLessThan(count);
  // Each row is whole: its own request, actor and entity.
  const rows = await tg.gateway.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM audit_events WHERE request_id LIKE $1 AND client_id = 'hap-vechtdal' AND action = 'R' AND outcome = '0' AND resource_type = 'Patient' AND resource_id = $2`,
    [`${run}-%`, id],
  );
  expect(rows.rows[0]?.n).toBe(count);
});
