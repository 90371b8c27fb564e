// referenceToSql (src/fhir/resource-types.ts) tests a reference in SQL without a bounded repeat, which PostgreSQL's
// regular expressions run slowly: it must accept and refuse exactly what the id pattern of the gateway's JavaScript
// does, on PostgreSQL and on PGlite.
import { referencePatternOf, referenceToSql } from '../../src/fhir/resource-types.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false });
});

afterAll(async () => {
  await testDb.drop();
});

const ID_64 = 'a'.repeat(64);
const SAMPLES = [
  'ServiceRequest/abc',
  'ServiceRequest/0193a6c2-1a2b-7c3d-8e4f-a1b2c3d4e5f6',
  `ServiceRequest/${ID_64}`,
  `ServiceRequest/${ID_64}b`,
  'ServiceRequest/',
  'ServiceRequest/a.b-C9',
  'ServiceRequest/a_b',
  'ServiceRequest/a/b',
  'ServiceRequest/a/_history/2',
  'Patient/p1',
  `Patient/${ID_64}`,
  'Encounter/e',
  'Organization/x',
  'ServiceRequests/x',
  'serviceRequest/x',
  ' ServiceRequest/x',
  'ServiceRequest/x ',
  'ServiceRequest/x\n',
  'http://example.org/fhir/ServiceRequest/x',
  '#contained',
  '',
];

it.each([[['ServiceRequest', 'Encounter', 'Patient']], [['Organization']]])('accepts exactly the references to %j that the JavaScript pattern does', async (types) => {
  const sql = `SELECT s, ${referenceToSql('s', types)} AS ok FROM unnest($1::text[]) WITH ORDINALITY AS x(s, n) ORDER BY n`;
  const rows = (await testDb.db.query<{ s: string; ok: boolean }>(sql, [SAMPLES])).rows;
  const patterns = types.map((type) => referencePatternOf(type));
  expect(rows.map((r) => [r.s, r.ok])).toEqual(SAMPLES.map((s) => [s, patterns.some((p) => p.test(s))]));
  expect(rows.filter((r) => r.ok).length).toBeGreaterThan(0);
  expect((await testDb.db.query<{ ok: boolean | null }>(`SELECT ${referenceToSql('NULL::text', types)} AS ok`)).rows[0]?.ok).toBeNull();
});
