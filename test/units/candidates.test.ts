// Who is nearest and free (issue 20): Task/{id}/$candidates ranks the available units of the kinds the handover's
// urgency calls for by estimated travel time, never lists a busy, off-duty or stale one, shows each organisation
// only what it may see, and the ZCC addresses the handover to a candidate's organisation through the same API.
import { randomUUID } from 'node:crypto';
import type { Bundle, Location, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { TestGateway } from '../support/gateway.ts';
import { withNativeGateway, type Native } from '../support/native.ts';
import { fhirGet, locations, sendFix, unitExample, unitIdOf, type UnitRecord } from './support.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
const U3 = 'nts-u3-naar-wijkverpleging.json';
// The patients of both examples live in postcode area 8011 (Zwolle binnenstad, mappings/eenheid/places.json).
const ZWOLLE = { lat: 52.5125, lon: 6.0935 };

function at(record: UnitRecord, dLatKm: number, overrides: Partial<UnitRecord> = {}): UnitRecord {
  return { ...record, ...overrides, positie: { lat: ZWOLLE.lat + dLatKm / 111.2, lon: ZWOLLE.lon } };
}

async function candidates(taskId: string, client: Parameters<TestGateway['auth']>[0] = 'zcc-ijsselland'): Promise<{ ids: string[]; bundle: Bundle }> {
  const res = await fhirGet(tg, `Task/${taskId}/$candidates`, client);
  if (res.status !== 200) throw new Error(`$candidates gave ${res.status}: ${res.text}`);
  const bundle = res.body as Bundle;
  return { ids: locations(bundle).map((l) => l.id!), bundle };
}

describe('Task/{id}/$candidates', () => {
  it('ranks available ambulances and rapid responders for a U1 by estimated time, leaving out busy, off-duty, stale and unfit units', async () => {
    const { taskId } = await native.createHandover(U1, 'hap-vechtdal');
    const a = unitExample('rav-ambulance-a-vrij');
    const nearA = at(a, 3); // 3 km at 75 km/h: 2.4 min
    const rapid = at({ ...unitExample('rav-ambulance-a-vrij'), soort: 'RAPID_RESPONDER' }, 4); // 4 km at 80 km/h: 3.0 min
    const farA = at(unitExample('rav-ambulance-a-vrij'), 20); // 16 min
    const busyA = at(unitExample('rav-ambulance-a-vrij'), 0.5, { status: '3' });
    const offA = at(unitExample('rav-ambulance-a-vrij'), 0.5, { status: '8' });
    const closeB = at(unitExample('rav-ambulance-b-vervoer'), 0.2, { status: '5' }); // free, but a B-ambulance does not go to a U1
    const staleA = { ...at(unitExample('rav-ambulance-a-vrij', { at: new Date(Date.now() - 10 * 60_000) }), 0.1) };
    for (const r of [nearA, rapid, farA, busyA, offA, closeB, staleA]) expect((await sendFix(tg, r, 'rav-noordoost')).status).toBe(200);

    const { ids, bundle } = await candidates(taskId);
    const mine = new Set([nearA, rapid, farA, busyA, offA, closeB, staleA].map(unitIdOf));
    expect(ids.filter((id) => mine.has(id))).toEqual([unitIdOf(nearA), unitIdOf(rapid), unitIdOf(farA)]);
    const minutes = (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.search?.extension?.find((x) => x.url.endsWith('/estimated-travel-minutes'))?.valueDecimal ?? NaN);
    expect(minutes).toEqual([...minutes].sort((x, y) => x - y));
    const first = bundle.entry?.find((e) => (e.resource as Location | undefined)?.id === unitIdOf(nearA));
    expect(first?.search?.extension?.find((x) => x.url.endsWith('/estimated-travel-minutes'))?.valueDecimal).toBeCloseTo(2.4, 1);
    // Never a unit that is not free, whatever else is asked.
    for (const l of locations(bundle)) expect(l.operationalStatus?.code).toBe('beschikbaar');
  });

  it('offers district nurses and visiting GPs for a U3 to the ZCC, and to the HAP only its own units', async () => {
    const { taskId } = await native.createHandover(U3, 'hap-vechtdal');
    const nurse = at(unitExample('vvt-sallandse-heuvelrug-vrij'), 2);
    const gp = at({ ...unitExample('hap-visitearts-rijdt'), status: 'VRIJ' }, 6);
    const ambulance = at(unitExample('rav-ambulance-a-vrij'), 1);
    expect((await sendFix(tg, nurse, 'vvt-sallandse-heuvelrug')).status).toBe(200);
    expect((await sendFix(tg, gp, 'hap-vechtdal')).status).toBe(200);
    expect((await sendFix(tg, ambulance, 'rav-noordoost')).status).toBe(200);

    const zcc = (await candidates(taskId)).ids;
    expect(zcc).toContain(unitIdOf(nurse));
    expect(zcc).toContain(unitIdOf(gp));
    expect(zcc.indexOf(unitIdOf(nurse))).toBeLessThan(zcc.indexOf(unitIdOf(gp)));
    expect(zcc).not.toContain(unitIdOf(ambulance));
    // The HAP is party to the handover but sees only its own units.
    const hap = (await candidates(taskId, 'hap-vechtdal')).ids;
    expect(hap).toContain(unitIdOf(gp));
    expect(hap).not.toContain(unitIdOf(nurse));
  });

  it('answers 404 for a handover the caller may not see, and for an unknown one', async () => {
    const { taskId } = await native.createHandover(U3, 'hap-vechtdal');
    expect((await fhirGet(tg, `Task/${taskId}/$candidates`, 'rav-noordoost')).status).toBe(404);
    expect((await fhirGet(tg, 'Task/does-not-exist/$candidates', 'zcc-ijsselland')).status).toBe(404);
  });

  it('lets the ZCC address the handover to a candidate\'s organisation through POST /fhir/Task in its group', async () => {
    const { taskId } = await native.createHandover(U1, 'hap-vechtdal');
    const unit = at(unitExample('rav-ambulance-a-vrij'), 1);
    expect((await sendFix(tg, unit, 'rav-noordoost')).status).toBe(200);
    const { bundle } = await candidates(taskId);
    const chosen = locations(bundle).find((l) => l.id === unitIdOf(unit))!;
    const original = await native.read<Task>(`Task/${taskId}`, 'zcc-ijsselland');
    const sr = await native.read<ServiceRequest>(original.focus!.reference!, 'zcc-ijsselland');
    const zcc = await tg.organizationRef('zcc-ijsselland');
    const res = await native.post(
      '/fhir/Task',
      {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        priority: original.priority,
        // A group belongs to its requester (issue 14): the ZCC asks in a group of its own, not in the HAP's.
        groupIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` },
        code: original.code,
        focus: { reference: `ServiceRequest/${sr.id}` },
        for: original.for,
        requester: { reference: zcc },
        owner: { reference: chosen.managingOrganization!.reference },
        authoredOn: new Date().toISOString(),
      },
      'zcc-ijsselland',
    );
    expect(res.status).toBe(201);
    const created = JSON.parse(res.text) as Task;
    // The unit's organisation now sees the handover addressed to it.
    expect((await native.read<Task>(`Task/${created.id}`, 'rav-noordoost')).owner?.reference).toBe(await tg.organizationRef('rav-noordoost'));
  });
});
