// Unit-status records (issue 20) through HTTP: the examples under test/fixtures/unit-status, made current.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Location } from '@medplum/fhirtypes';
import request from 'supertest';
import type { DemoClient, TestGateway } from '../support/gateway.ts';

export const UNIT_EXAMPLES = join(import.meta.dirname, '../fixtures/unit-status');

export interface UnitRecord {
  berichttype: string;
  ura: string;
  roepnaam: string;
  soort: string;
  status: string;
  positie: { lat: number; lon: number; nauwkeurigheid?: number };
  tijd: string;
  overdrachtId?: string;
  _waarom?: string;
  _status?: number;
}

let counter = 0;

/** An example with its `tijd` set to `at` (default: now) and, unless kept, a call sign no other test uses. */
export function unitExample(name: string, opts: { at?: Date; keepCallSign?: boolean } = {}): UnitRecord {
  const record = JSON.parse(readFileSync(join(UNIT_EXAMPLES, name.endsWith('.json') ? name : `${name}.json`), 'utf8')) as UnitRecord;
  delete record._waarom;
  delete record._status;
  if (!record.tijd.startsWith('2099')) record.tijd = (opts.at ?? new Date()).toISOString();
  if (!opts.keepCallSign) record.roepnaam = `${record.roepnaam}-${process.pid % 1000}${++counter}`;
  return record;
}

export function unitIdOf(record: UnitRecord): string {
  return `unit-${record.ura}-${record.roepnaam}`;
}

export async function sendFix(tg: TestGateway, record: unknown, client: DemoClient): Promise<request.Response> {
  return request(tg.app)
    .post('/native/eenheid')
    .set('Authorization', await tg.auth(client))
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(record));
}

export async function fhirGet(tg: TestGateway, path: string, client: DemoClient): Promise<request.Response> {
  return request(tg.app).get(`/fhir/${path}`).set('Authorization', await tg.auth(client)).set('Accept', 'application/fhir+json');
}

export function locations(bundle: Bundle): Location[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Location);
}
