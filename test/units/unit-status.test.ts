// The unit-status feed (issue 20): the format's valid and invalid examples, idempotent and ordered ingest, units as
// FHIR Locations readable by the ZCC and their own organisation only, `near`, and the retention of positions.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Location, OperationOutcome } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { fhirGet, locations, sendFix, UNIT_EXAMPLES, unitExample, unitIdOf } from './support.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway({ UNIT_STALE_SECONDS: '120', UNIT_HISTORY_HOURS: '24' });
});
afterAll(async () => {
  await tg?.stop();
});

const SENDER: Record<string, DemoClient> = { '90004567': 'rav-noordoost', '90001234': 'hap-vechtdal', '90007890': 'vvt-ijsseldelta', '90007891': 'vvt-sallandse-heuvelrug' };
const valid = readdirSync(UNIT_EXAMPLES).filter((f) => f.endsWith('.json') && !f.startsWith('invalid-'));
const invalid = readdirSync(UNIT_EXAMPLES).filter((f) => f.startsWith('invalid-'));

describe('the eenheid format', () => {
  it.each(valid)('stores the valid example %s and serves it as a vehicle Location', async (name) => {
    const record = unitExample(name);
    const res = await sendFix(tg, record, SENDER[record.ura]!);
    expect(res.status).toBe(200);
    expect(res.headers['x-unit-fix']).toBe('stored');
    expect(res.headers['content-location']).toBe(`http://gateway.test/fhir/Location/${unitIdOf(record)}`);
    const read = await fhirGet(tg, `Location/${unitIdOf(record)}`, SENDER[record.ura]!);
    expect(read.status).toBe(200);
    const location = read.body as Location;
    expect(location.physicalType?.coding?.[0]?.code).toBe('ve');
    expect(location.position).toEqual({ latitude: record.positie.lat, longitude: record.positie.lon });
    expect(location.type?.[0]?.coding?.[0]?.code).toBe(record.soort);
    expect(location.operationalStatus?.code).toBeTruthy();
    expect(location.managingOrganization?.reference).toBe(await tg.organizationRef(record.ura));
  });

  it.each(invalid)('refuses the invalid example %s with the status it names, storing nothing', async (name) => {
    const raw = JSON.parse(readFileSync(join(UNIT_EXAMPLES, name), 'utf8')) as { _status: number; _waarom: string };
    const record = unitExample(name, { keepCallSign: true });
    const res = await sendFix(tg, record, 'rav-noordoost');
    expect(res.status).toBe(raw._status);
    expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
    expect((await fhirGet(tg, `Location/${unitIdOf(record)}`, 'zcc-ijsselland')).status).toBe(404);
  });

  it('maps each organisation\'s own status code to the regional list', async () => {
    const hap = unitExample('hap-visitearts-rijdt');
    expect((await sendFix(tg, hap, 'hap-vechtdal')).status).toBe(200);
    const rav = { ...unitExample('rav-ambulance-a-vrij'), status: '2' };
    expect((await sendFix(tg, rav, 'rav-noordoost')).status).toBe(200);
    expect(((await fhirGet(tg, `Location/${unitIdOf(hap)}`, 'zcc-ijsselland')).body as Location).operationalStatus?.code).toBe('onderweg');
    expect(((await fhirGet(tg, `Location/${unitIdOf(rav)}`, 'zcc-ijsselland')).body as Location).operationalStatus?.code).toBe('ter-plaatse');
    // The HAP's code is not the RAV's.
    const wrong = { ...unitExample('rav-ambulance-a-vrij'), status: 'RIJDT' };
    expect((await sendFix(tg, wrong, 'rav-noordoost')).status).toBe(422);
  });
});

describe('ingest: idempotent by (unit, time), out of order ignored', () => {
  it('stores a re-send once and ignores an older fix after a newer one', async () => {
    const t0 = new Date(Date.now() - 30_000);
    const first = unitExample('rav-ambulance-a-vrij', { at: t0 });
    expect((await sendFix(tg, first, 'rav-noordoost')).headers['x-unit-fix']).toBe('stored');
    const again = await sendFix(tg, first, 'rav-noordoost');
    expect(again.status).toBe(200);
    expect(again.headers['x-unit-fix']).toBe('duplicate');

    const newer = { ...first, tijd: new Date(t0.getTime() + 10_000).toISOString(), positie: { lat: 52.52, lon: 6.1 } };
    expect((await sendFix(tg, newer, 'rav-noordoost')).headers['x-unit-fix']).toBe('stored');
    const older = { ...first, tijd: new Date(t0.getTime() + 5_000).toISOString(), positie: { lat: 52.3, lon: 6.3 }, status: '1' };
    const late = await sendFix(tg, older, 'rav-noordoost');
    expect(late.status).toBe(200);
    expect(late.headers['x-unit-fix']).toBe('older');

    const location = (await fhirGet(tg, `Location/${unitIdOf(first)}`, 'rav-noordoost')).body as Location;
    expect(location.position).toEqual({ latitude: 52.52, longitude: 6.1 });
    expect(location.operationalStatus?.code).toBe('beschikbaar');
    expect(location.meta?.versionId).toBe('2');
    const history = await tg.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_positions WHERE unit_id = $1', [unitIdOf(first)]);
    expect(Number(history.rows[0]!.n)).toBe(2);
  });

  it('takes an array of fixes in one request, all or nothing', async () => {
    const one = unitExample('rav-ambulance-a-vrij', { at: new Date(Date.now() - 20_000) });
    const two = unitExample('rav-ambulance-b-vervoer', { at: new Date(Date.now() - 20_000) });
    const oneLater = { ...one, tijd: new Date(Date.now() - 10_000).toISOString(), positie: { lat: 52.6, lon: 6.2 } };
    const res = await sendFix(tg, [one, two, oneLater], 'rav-noordoost');
    expect(res.status).toBe(200);
    expect(res.headers['x-unit-fixes']).toBe('stored=2, duplicate=0, older=1');
    expect(((await fhirGet(tg, `Location/${unitIdOf(one)}`, 'rav-noordoost')).body as Location).position).toEqual({ latitude: 52.6, longitude: 6.2 });
    expect((await sendFix(tg, [oneLater, two], 'rav-noordoost')).headers['x-unit-fixes']).toBe('stored=0, duplicate=2, older=0');

    const fresh = unitExample('rav-ambulance-a-vrij');
    const bad = { ...unitExample('rav-ambulance-a-vrij'), positie: { lat: 99, lon: 6 } };
    const refused = await sendFix(tg, [fresh, bad], 'rav-noordoost');
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('$[1].positie.lat');
    expect((await fhirGet(tg, `Location/${unitIdOf(fresh)}`, 'rav-noordoost')).status).toBe(404);
    expect((await sendFix(tg, [], 'rav-noordoost')).status).toBe(400);
  });

  it('refuses a busy unit serving a handover its organisation is not party to (422)', async () => {
    const record = { ...unitExample('rav-ambulance-b-vervoer'), overdrachtId: 'no-such-handover' };
    expect((await sendFix(tg, record, 'rav-noordoost')).status).toBe(422);
  });

  it('marks a position older than UNIT_STALE_SECONDS as stale', async () => {
    const old = unitExample('vvt-sallandse-heuvelrug-vrij', { at: new Date(Date.now() - 5 * 60_000) });
    expect((await sendFix(tg, old, 'vvt-sallandse-heuvelrug')).status).toBe(200);
    const fresh = unitExample('vvt-sallandse-heuvelrug-vrij');
    expect((await sendFix(tg, fresh, 'vvt-sallandse-heuvelrug')).status).toBe(200);
    const stale = (l: Location): boolean | undefined => l.extension?.[0]?.extension?.find((e) => e.url === 'stale')?.valueBoolean;
    expect(stale((await fhirGet(tg, `Location/${unitIdOf(old)}`, 'zcc-ijsselland')).body as Location)).toBe(true);
    expect(stale((await fhirGet(tg, `Location/${unitIdOf(fresh)}`, 'zcc-ijsselland')).body as Location)).toBe(false);
  });
});

describe('who may see a unit', () => {
  it('shows a unit to the ZCC and its own organisation; to any other organisation it does not exist', async () => {
    const record = unitExample('hap-visitearts-rijdt');
    expect((await sendFix(tg, record, 'hap-vechtdal')).status).toBe(200);
    const id = unitIdOf(record);
    expect((await fhirGet(tg, `Location/${id}`, 'zcc-ijsselland')).status).toBe(200);
    expect((await fhirGet(tg, `Location/${id}`, 'hap-vechtdal')).status).toBe(200);
    for (const other of ['rav-noordoost', 'vvt-ijsseldelta', 'auditor'] as const) {
      // Exactly as a unit that does not exist.
      const res = await fhirGet(tg, `Location/${id}`, other);
      const unknown = await fhirGet(tg, `Location/${id}x`, other);
      expect(res.status).toBe(404);
      expect(res.text).toBe(unknown.text.replace(`${id}x`, id));
      const near = await fhirGet(tg, `Location?near=${record.positie.lat}|${record.positie.lon}|1|km`, other);
      expect(near.status).toBe(200);
      expect(locations(near.body as Bundle).map((l) => l.id)).not.toContain(id);
    }
  });

  it('audits a read of a unit like every read', async () => {
    const record = unitExample('rav-ambulance-a-vrij');
    await sendFix(tg, record, 'rav-noordoost');
    expect((await fhirGet(tg, `Location/${unitIdOf(record)}`, 'zcc-ijsselland')).status).toBe(200);
    const rows = await tg.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE resource_type = 'Location' AND resource_id = $1 AND action = 'R'`, [unitIdOf(record)]);
    expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0);
  });

  it('refuses a vehicle Location written to the directory, which everyone reads (403)', async () => {
    const res = await request(tg.app)
      .post('/fhir/Location')
      .set('Authorization', await tg.auth('rav-noordoost'))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Location', name: 'sneaky', physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 've' }] }, position: { latitude: 52.5, longitude: 6.1 } }));
    expect(res.status).toBe(403);
  });
});

describe('Location?near=', () => {
  it('finds the units within the distance, nearest first, with their distance', async () => {
    // A point in the North Sea: only this test's units are near it.
    const at = { lat: 53.9, lon: 4.1 };
    const close = { ...unitExample('rav-ambulance-a-vrij'), positie: { lat: 53.9, lon: 4.13 } }; // ~2 km east
    const closer = { ...unitExample('rav-ambulance-b-vervoer'), positie: { lat: 53.905, lon: 4.1 } }; // ~0.6 km north
    const far = { ...unitExample('rav-ambulance-a-vrij'), positie: { lat: 53.9, lon: 4.25 } }; // ~10 km east
    for (const r of [close, closer, far]) expect((await sendFix(tg, r, 'rav-noordoost')).status).toBe(200);

    const res = await fhirGet(tg, `Location?near=${at.lat}|${at.lon}|5|km`, 'zcc-ijsselland');
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(locations(bundle).map((l) => l.id)).toEqual([unitIdOf(closer), unitIdOf(close)]);
    const km = bundle.entry?.[1]?.search?.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/location-distance')?.valueDistance;
    expect(km?.code).toBe('km');
    expect(km?.value).toBeGreaterThan(1.8);
    expect(km?.value).toBeLessThan(2.2);

    // Metres, and the default unit km.
    expect(locations((await fhirGet(tg, `Location?near=${at.lat}|${at.lon}|1000|m`, 'zcc-ijsselland')).body as Bundle).map((l) => l.id)).toEqual([unitIdOf(closer)]);
    expect(locations((await fhirGet(tg, `Location?near=${at.lat}|${at.lon}|11`, 'zcc-ijsselland')).body as Bundle)).toHaveLength(3);
    // Narrowed by kind.
    const kind = await fhirGet(tg, `Location?near=${at.lat}|${at.lon}|11|km&type=AMBULANCE_B`, 'zcc-ijsselland');
    expect(locations(kind.body as Bundle).map((l) => l.id)).toEqual([unitIdOf(closer)]);
  });

  it.each(['52.5', '52.5|x|5|km', '95|6|5|km', '52.5|6.1|5|furlong', '52.5|6.1|-1|km'])('refuses near=%s (400)', async (near) => {
    const res = await fhirGet(tg, `Location?near=${encodeURIComponent(near)}`, 'zcc-ijsselland');
    expect(res.status).toBe(400);
  });

  it('leaves other Location searches to the directory', async () => {
    const res = await fhirGet(tg, 'Location?name=nothing-here', 'zcc-ijsselland');
    expect(res.status).toBe(200);
    expect((res.body as Bundle).total ?? 0).toBe(0);
  });
});

describe('retention', () => {
  it('prunes positions older than UNIT_HISTORY_HOURS', async () => {
    const record = unitExample('vvt-nachtzorg-bij-client', { at: new Date(Date.now() - 25 * 3600_000) });
    expect((await sendFix(tg, record, 'vvt-ijsseldelta')).status).toBe(200);
    const recent = unitExample('vvt-nachtzorg-bij-client');
    expect((await sendFix(tg, recent, 'vvt-ijsseldelta')).status).toBe(200);
    const before = await tg.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_positions WHERE unit_id = $1', [unitIdOf(record)]);
    expect(Number(before.rows[0]!.n)).toBe(1);
    // What the gateway's minute timer runs.
    await tg.gateway.units.prune();
    const after = await tg.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_positions WHERE unit_id = $1', [unitIdOf(record)]);
    expect(Number(after.rows[0]!.n)).toBe(0);
    expect((await fhirGet(tg, `Location/${unitIdOf(record)}`, 'vvt-ijsseldelta')).status).toBe(404);
    expect((await fhirGet(tg, `Location/${unitIdOf(recent)}`, 'vvt-ijsseldelta')).status).toBe(200);
  });
});
