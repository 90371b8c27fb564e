// A search answer's page statement reads only what the answer is made of (issue 19): each match's type, id, resource
// and number texts, not its version, last update and parties, which PostgreSQL would write as text and the driver
// read back into a Date and an array for every row of every page. The gateway's own searches keep reading them.
import type { Bundle } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { systemContext } from '../../src/context.ts';
import { createHandover, exampleOf, fhirClient, type Fhir, type Handover } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;
let h: Handover;
let marker: string;

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  h = await createHandover(tg, fhir);
  marker = unique('columns');
  for (let i = 0; i < 3; i++) await fhir.create(exampleOf('Observation', h, marker));
});

afterAll(async () => {
  await tg?.stop();
});

/** The column names of the rows each page statement (`… FROM resources r WHERE …`) returned while `work` ran. */
async function pageColumns(work: () => Promise<unknown>): Promise<string[][]> {
  const db = tg.gateway.db;
  const original = db.query;
  const seen: string[][] = [];
  db.query = (async (...args: Parameters<typeof original>) => {
    const result = await original.apply(db, args);
    if (/FROM resources r WHERE/.test(String(args[0]))) seen.push(...result.rows.map((r) => Object.keys(r as object)));
    return result;
  }) as typeof original;
  try {
    await work();
  } finally {
    db.query = original;
  }
  return seen;
}

const search = (): string => `Observation?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}`;

describe('the page statement of a search answer', () => {
  it('reads each match\'s type, id, resource and number texts only', async () => {
    let bundle: Bundle | undefined;
    const columns = await pageColumns(async () => {
      const res = await fhir.get(`${search()}&_count=2`);
      expect(res.status).toBe(200);
      bundle = res.body as Bundle;
    });
    // Two matches and the one more that says a next page follows.
    expect(columns).toHaveLength(3);
    for (const c of columns) expect(c).toEqual(['resource_type', 'id', 'content', 'number_texts']);
    expect(bundle?.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['1', '1']);
    expect(bundle?.link?.some((l) => l.relation === 'next')).toBe(true);
  });

  it('reads the last update too where the accurate total orders by it, and the total is right', async () => {
    let bundle: Bundle | undefined;
    const columns = await pageColumns(async () => {
      bundle = (await fhir.get(`${search()}&_count=2&_total=accurate`)).body as Bundle;
    });
    expect(bundle?.total).toBe(3);
    for (const c of columns) expect(c).toEqual(['resource_type', 'id', 'content', 'number_texts', 'last_updated', 'total']);
  });

  it('is not what the gateway\'s own searches read: they keep versions, last updates and parties', async () => {
    const repo = tg.gateway.repository(systemContext('test'));
    let found: Awaited<ReturnType<typeof repo.search>> | undefined;
    const columns = await pageColumns(async () => {
      found = await repo.search({ ...repo.parseSearch('Observation', { identifier: [`${IDENTIFIER_SYSTEM}|${marker}`] }), count: 10, total: 'none' });
    });
    expect(columns[0]).toEqual(['resource_type', 'id', 'version_id', 'last_updated', 'content', 'number_texts', 'parties']);
    expect(found?.resources.every((r) => r.versionId === '1' && r.lastUpdated === r.content.meta?.lastUpdated && (r.parties?.length ?? 0) > 0)).toBe(true);
  });
});
