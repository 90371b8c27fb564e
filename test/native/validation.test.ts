import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { NativeFormat, NativeValidationResult } from '../../src/native/types.ts';
import { loadNativeValidators, toOperationOutcome, type NativeValidators } from '../../src/native/validation.ts';
import { passesBsn11Proof } from '../../src/native/validation/checks.ts';
import { assertTimeZoneData, localTimeInstants, parseDutchDate, parseIsoDate, parseOffsetDateTime } from '../../src/native/validation/time.ts';

const MAPPINGS = path.resolve(import.meta.dirname, '../../mappings');
const EXAMPLES = path.resolve(import.meta.dirname, '../fixtures/native-examples');
const HANDOVER_ID = '9b2f6c1e-5d4a-4c3b-8a71-2f0e9d8c7b6a';

type Json = Record<string, any>;

interface Example {
  file: string;
  format: NativeFormat;
  record: Json;
  waarom?: string;
}

function loadExample(file: string): Example {
  const record = JSON.parse(readFileSync(path.join(EXAMPLES, file), 'utf8').replaceAll('${overdrachtId}', HANDOVER_ID)) as Json;
  const waarom = record._waarom as string | undefined;
  delete record._waarom;
  const format = file.replace(/^invalid-/, '').split('-')[0] as NativeFormat;
  return { file, format, record, waarom };
}

const exampleFiles = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).sort();
const validFiles = exampleFiles.filter((f) => !f.startsWith('invalid-'));
const invalidFiles = exampleFiles.filter((f) => f.startsWith('invalid-'));

/** A fresh copy of a valid example, to mutate. */
function example(file: string): Json {
  return loadExample(file).record;
}

let validators: NativeValidators;

beforeAll(async () => {
  // Both FHIRPath evaluators on every rule and record: a difference between them fails the test that met it.
  validators = await loadNativeValidators(MAPPINGS, { verifyFastPath: true });
});

function expectValid(format: NativeFormat, record: unknown): void {
  expect(validators.validate(format, record)).toEqual({ ok: true });
}

/** Expects a refusal with `status` and an issue at `issuePath`; returns that issue's message. */
function expectIssue(format: NativeFormat, record: unknown, status: 400 | 422, issuePath: string): string {
  const result = validators.validate(format, record);
  if (result.ok) throw new Error(`expected ${status} at ${issuePath}, but the record is valid`);
  expect(result.status).toBe(status);
  const issue = result.issues.find((i) => i.path === issuePath);
  if (!issue) throw new Error(`expected an issue at ${issuePath}, got ${JSON.stringify(result.issues)}`);
  return issue.message;
}

function issuesOf(result: NativeValidationResult) {
  return result.ok ? [] : result.issues;
}

describe('shared examples', () => {
  it('finds both valid and invalid examples of every format', () => {
    for (const format of ['nts', 'ambulance', 'vvt']) {
      expect(validFiles.some((f) => f.startsWith(`${format}-`))).toBe(true);
      expect(invalidFiles.some((f) => f.startsWith(`invalid-${format}-`))).toBe(true);
    }
  });

  it.each(validFiles)('%s is valid', (file) => {
    const { format, record } = loadExample(file);
    expect(validators.validate(format, record)).toEqual({ ok: true });
  });

  // Malformed (does not follow the schema) is 400; follows the schema but breaks a rule is 422.
  const expectedStatus: Record<string, 400 | 422> = {
    'invalid-ambulance-ritnummer-formaat.json': 400,
    'invalid-ambulance-tijden-volgorde.json': 422,
    'invalid-nts-abcd-onveilig-u3.json': 422,
    'invalid-nts-ambulance-zonder-overdracht.json': 422,
    'invalid-nts-bsn-elfproef.json': 422,
    'invalid-nts-onbekend-veld.json': 400,
    'invalid-nts-urgentie-onbekend.json': 400,
    'invalid-vvt-datum-bestaat-niet.json': 422,
    'invalid-vvt-zomertijd-bestaat-niet.json': 422,
    'invalid-vvt-zonder-zorgvraag.json': 400,
  };

  it('knows the expected status of every invalid example', () => {
    expect(Object.keys(expectedStatus).sort()).toEqual(invalidFiles);
  });

  it.each(invalidFiles)('%s is refused for the reason in its _waarom, and only for that', (file) => {
    const { format, record, waarom } = loadExample(file);
    expect(waarom).toBeTruthy();
    const result = validators.validate(format, record);
    if (result.ok) throw new Error(`${file} was accepted`);
    expect(result.status).toBe(expectedStatus[file]);
    // Each invalid example breaks one rule only.
    expect(result.issues).toHaveLength(1);
    const [issue] = result.issues;
    // The issue names the field _waarom talks about: by its name, or (for a value such as a time) by the value.
    const member = issue.path.split('.').pop()!;
    const value = issue.path.slice(2).split('.').reduce<any>((node, key) => node?.[key], record);
    const named = waarom!.includes(member) || (typeof value === 'string' && waarom!.includes(value));
    if (!named) throw new Error(`issue ${JSON.stringify(issue)} does not name the field in "${waarom}"`);
    expect(issue.message.length).toBeGreaterThan(10);
  });

  it('does not change the record it validates', () => {
    for (const file of exampleFiles) {
      const { format, record } = loadExample(file);
      const before = JSON.stringify(record);
      validators.validate(format, record);
      expect(JSON.stringify(record)).toBe(before);
    }
  });
});

describe('schema messages (400)', () => {
  it('names an unknown field by its own path and the format', () => {
    const record = example('nts-u5-zelfzorg-zonder-overdracht.json');
    record.prioriteit = 'hoog';
    record.patient.schoenmaat = 42;
    const result = validators.validate('nts', record);
    expect(result).toEqual({
      ok: false,
      status: 400,
      issues: expect.arrayContaining([
        { path: '$.prioriteit', message: "unknown field 'prioriteit' is not part of the nts format" },
        { path: '$.patient.schoenmaat', message: "unknown field 'schoenmaat' in patient is not part of the nts format" },
      ]),
    });
  });

  it('lists the allowed codes', () => {
    const record = example('nts-u5-zelfzorg-zonder-overdracht.json');
    record.triage.urgentie = 'U7';
    expect(expectIssue('nts', record, 400, '$.triage.urgentie')).toContain('must be one of U0, U1, U2, U3, U4, U5');
  });

  it('names a missing required field', () => {
    const record = example('ambulance-niet-vervoerd-naar-hap.json');
    delete record.rav.ura;
    expect(expectIssue('ambulance', record, 400, '$.rav.ura')).toBe("required field 'rav.ura' is missing");
  });

  it('says what form a pattern expects', () => {
    const record = example('vvt-aanvraag-van-zcc.json');
    record.client_bsn = '12345';
    expect(expectIssue('vvt', record, 400, '$.client_bsn')).toBe("client_bsn '12345' is not valid: expected a BSN of 9 digits");
  });

  it('names array items by index', () => {
    const record = example('ambulance-antwoord-rit-afgesloten.json');
    record.bemanning[1].big = 'BIG-1';
    expect(expectIssue('ambulance', record, 400, '$.bemanning[1].big')).toContain('11 digits');
  });

  it('refuses wrong types, out-of-range numbers and empty required text', () => {
    const record = example('ambulance-antwoord-rit-afgesloten.json');
    record.volgnummer = '4';
    record.bevindingen.emv.e = 5;
    record.rav.naam = '';
    expect(expectIssue('ambulance', record, 400, '$.volgnummer')).toBe('volgnummer must be a whole number, not a string');
    expect(expectIssue('ambulance', record, 400, '$.bevindingen.emv.e')).toBe('bevindingen.emv.e must be at most 4, not 5');
    expect(expectIssue('ambulance', record, 400, '$.rav.naam')).toContain('must not be empty');
  });

  it('refuses a record that is not an object', () => {
    for (const record of [null, [], 'nts', 42]) {
      expect(expectIssue('nts', record, 400, '$')).toContain('the record must be an object');
    }
  });

  it('reports schema issues only, not rule issues, when the schema fails', () => {
    const record = example('nts-u1-pijn-op-de-borst-naar-ambulance.json');
    record.patient.bsn = '999990112'; // a rule problem
    record.prioriteit = 'hoog'; // a schema problem
    const result = validators.validate('nts', record);
    expect(result).toEqual({ ok: false, status: 400, issues: [{ path: '$.prioriteit', message: expect.any(String) }] });
  });

  it('accepts feedback a system echoes back from a rendered record, and the rendered-only request blocks', () => {
    const nts = example('nts-u1-pijn-op-de-borst-naar-ambulance.json');
    nts.overdracht.terugkoppeling = { status: 'GEACCEPTEERD', referentie: 'RAVNO-2026-004512-1', tijdstip: '2026-11-22T02:21:00+01:00' };
    expectValid('nts', nts);
    const answer = example('nts-u5-zelfzorg-zonder-overdracht.json');
    answer.overdrachtId = HANDOVER_ID;
    answer.aanvraag = { van: { soort: 'RAV', ura: '90004567', naam: 'RAV Noordoost' }, verzoek: 'Wondcontrole', urgentie: 'U4' };
    expectValid('nts', answer);
    const ride = example('ambulance-antwoord-geaccepteerd.json');
    ride.aanvrager = { soort: 'HAP', ura: '90001234', naam: 'Huisartsenpost Vechtdal', verzoek: 'A1-inzet' };
    expectValid('ambulance', ride);
    const ambulanceToVvt = example('ambulance-niet-vervoerd-naar-vvt.json');
    ambulanceToVvt.overdracht.terugkoppeling = { status: 'AFGEROND', verslag: 'Geholpen.' };
    expectValid('ambulance', ambulanceToVvt);
  });

  it('still refuses unknown fields inside echoed feedback', () => {
    const nts = example('nts-u1-pijn-op-de-borst-naar-ambulance.json');
    nts.overdracht.terugkoppeling = { status: 'GEACCEPTEERD', extra: 1 };
    expectIssue('nts', nts, 400, '$.overdracht.terugkoppeling.extra');
  });
});

describe('BSN 11-proof', () => {
  it.each([
    ['999990111', true],
    ['111222333', true],
    ['123456782', true],
    ['100000009', true], // weighted sum 0 is divisible by 11
    ['999990112', false],
    ['100000002', false], // would pass with weight +1 for the last digit instead of −1
    ['000000000', false], // the "unknown" placeholder, not a person
    ['12345678', false],
    ['1234567890', false],
  ])('%s → %s', (bsn, expected) => {
    expect(passesBsn11Proof(bsn)).toBe(expected);
  });

  it('for any first eight digits, at most one last digit passes, the one equal to their weighted sum mod 11', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 8, maxLength: 8 }), (digits) => {
        const weighted = digits.reduce((sum, d, i) => sum + d * (9 - i), 0) % 11;
        const passing = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((last) => passesBsn11Proof(`${digits.join('')}${last}`));
        const expected = weighted <= 9 && !(weighted === 0 && digits.every((d) => d === 0)) ? [weighted] : [];
        expect(passing).toEqual(expected);
      }),
    );
  });

  it('is checked on every BSN field with 422 and the sender’s own number in the message', () => {
    const nts = example('nts-u3-naar-wijkverpleging.json');
    nts.patient.bsn = '999990112';
    expect(expectIssue('nts', nts, 422, '$.patient.bsn')).toBe('BSN 999990112 fails the 11-proof');
    const ride = example('ambulance-niet-vervoerd-naar-vvt.json');
    ride.patient.bsn = '999990963';
    expect(expectIssue('ambulance', ride, 422, '$.patient.bsn')).toBe('BSN 999990963 fails the 11-proof');
    const vvt = example('vvt-antwoord-afgewezen.json');
    vvt.client_bsn = '000000000';
    expect(expectIssue('vvt', vvt, 422, '$.client_bsn')).toBe('BSN 000000000 fails the 11-proof');
  });

  it('a missing BSN is fine', () => {
    const vvt = example('vvt-aanvraag-van-zcc.json');
    delete vvt.client_bsn;
    expectValid('vvt', vvt);
  });
});

describe('dates and times', () => {
  it('knows which days exist', () => {
    expect(parseDutchDate('29-02-2028')).toEqual({ year: 2028, month: 2, day: 29 });
    expect(parseDutchDate('29-02-2026')).toBeUndefined();
    expect(parseDutchDate('29-02-2100')).toBeUndefined();
    expect(parseDutchDate('29-02-2000')).toBeDefined();
    expect(parseDutchDate('31-02-2026')).toBeUndefined();
    expect(parseDutchDate('31-04-2026')).toBeUndefined();
    expect(parseDutchDate('00-01-2026')).toBeUndefined();
    expect(parseDutchDate('01-13-2026')).toBeUndefined();
    expect(parseIsoDate('1951-06-02')).toEqual({ year: 1951, month: 6, day: 2 });
    expect(parseIsoDate('1951-06-31')).toBeUndefined();
  });

  it('reads offsets, and refuses date-times that do not exist', () => {
    expect(parseOffsetDateTime('2026-11-22T02:14:05+01:00')).toBe(Date.parse('2026-11-22T01:14:05Z'));
    expect(parseOffsetDateTime('2026-11-22T01:14:05Z')).toBe(Date.parse('2026-11-22T01:14:05Z'));
    expect(parseOffsetDateTime('2026-11-22T01:14:05.250-0300')).toBe(Date.parse('2026-11-22T04:14:05.250Z'));
    expect(parseOffsetDateTime('2026-02-31T10:00:00+01:00')).toBeUndefined();
    expect(parseOffsetDateTime('2026-11-22T24:10:00+01:00')).toBeUndefined();
    expect(parseOffsetDateTime('2026-11-22T10:00:00+25:00')).toBeUndefined();
  });

  it('knows the Europe/Amsterdam summer-time gap and the doubled hour', () => {
    expect(localTimeInstants({ year: 2026, month: 3, day: 29 }, { hour: 2, minute: 30 })).toEqual([]);
    expect(localTimeInstants({ year: 2026, month: 3, day: 29 }, { hour: 1, minute: 59 })).toEqual([Date.parse('2026-03-29T00:59:00Z')]);
    expect(localTimeInstants({ year: 2026, month: 3, day: 29 }, { hour: 3, minute: 0 })).toEqual([Date.parse('2026-03-29T01:00:00Z')]);
    // The doubled hour: two instants, the first (summer time, +02:00) first.
    expect(localTimeInstants({ year: 2026, month: 10, day: 25 }, { hour: 2, minute: 30 })).toEqual([
      Date.parse('2026-10-25T00:30:00Z'),
      Date.parse('2026-10-25T01:30:00Z'),
    ]);
    expect(localTimeInstants({ year: 2026, month: 7, day: 1 }, { hour: 2, minute: 30 })).toEqual([Date.parse('2026-07-01T00:30:00Z')]);
    expect(localTimeInstants({ year: 2026, month: 12, day: 1 }, { hour: 2, minute: 30 })).toEqual([Date.parse('2026-12-01T01:30:00Z')]);
  });

  it('checks at load that the runtime knows the Dutch summer-time changes', () => {
    expect(() => assertTimeZoneData()).not.toThrow();
    // A zone without summer time has no gap and no doubled hour.
    expect(() => assertTimeZoneData('UTC')).toThrow(/does not know the 2026 summer-time changes/);
    expect(() => assertTimeZoneData('Mars/Olympus_Mons')).toThrow(/not available/);
  });

  function vvtWindow(datum: string, van: string, tot: string): Json {
    const record = example('vvt-aanvraag-van-zcc.json');
    Object.assign(record, { tijdvak_datum: datum, tijdvak_van: van, tijdvak_tot: tot });
    return record;
  }

  it('29-03-2026 02:30 is refused (422), 25-10-2026 02:30 is accepted', () => {
    expect(expectIssue('vvt', vvtWindow('29-03-2026', '02:30', '03:30'), 422, '$.tijdvak_van')).toContain('29-03-2026 02:30');
    expectValid('vvt', vvtWindow('25-10-2026', '02:30', '03:30'));
    expectValid('vvt', vvtWindow('29-03-2026', '01:30', '03:00'));
  });

  it('a window end earlier than its start is on the next day, and may fall in the gap there', () => {
    expectValid('vvt', vvtWindow('22-11-2026', '23:00', '02:00'));
    expect(expectIssue('vvt', vvtWindow('28-03-2026', '23:00', '02:30'), 422, '$.tijdvak_tot')).toContain('29-03-2026 02:30');
    // A window within one night before the change: 28-03 02:10 to 02:30 exists.
    expectValid('vvt', vvtWindow('28-03-2026', '02:10', '02:30'));
    expect(expectIssue('vvt', vvtWindow('29-03-2026', '01:00', '02:15'), 422, '$.tijdvak_tot')).toContain('does not exist');
  });

  it('a window ending when it starts is refused', () => {
    expect(expectIssue('vvt', vvtWindow('22-11-2026', '23:00', '23:00'), 422, '$.tijdvak_tot')).toContain('equals tijdvak_van');
  });

  it('31-02 is refused and 29-02-2028 accepted, on every vvt date', () => {
    for (const field of ['client_geboortedatum', 'gepland_datum', 'uitgevoerd_datum']) {
      const record = example('vvt-antwoord-uitgevoerd.json');
      record[field] = '31-02-2026';
      expect(expectIssue('vvt', record, 422, `$.${field}`)).toBe(`${field} 31-02-2026 is not a date that exists`);
      record[field] = '29-02-2028';
      expectValid('vvt', record);
    }
    expectValid('vvt', vvtWindow('29-02-2028', '10:00', '12:00'));
    expectIssue('vvt', vvtWindow('29-02-2027', '10:00', '12:00'), 422, '$.tijdvak_datum');
  });

  it('times must be clock times, and planned and done times must exist', () => {
    const record = example('vvt-antwoord-uitgevoerd.json');
    record.gepland_tijd = '24:00';
    expect(expectIssue('vvt', record, 422, '$.gepland_tijd')).toContain('not a time of day');
    record.gepland_tijd = '23:30';
    record.uitgevoerd_datum = '29-03-2026';
    record.uitgevoerd_tijd = '02:05';
    expect(expectIssue('vvt', record, 422, '$.uitgevoerd_tijd')).toContain('does not exist in Europe/Amsterdam');
    record.uitgevoerd_datum = '25-10-2026';
    expectValid('vvt', record);
    const planned = example('vvt-antwoord-ingepland.json');
    planned.gepland_datum = '29-03-2026';
    planned.gepland_tijd = '02:59';
    expectIssue('vvt', planned, 422, '$.gepland_tijd');
  });

  it('birth dates in jjjj-mm-dd must exist', () => {
    const nts = example('nts-u5-zelfzorg-zonder-overdracht.json');
    nts.patient.geboortedatum = '2019-02-29';
    expect(expectIssue('nts', nts, 422, '$.patient.geboortedatum')).toContain('2019-02-29');
    nts.patient.geboortedatum = '2020-02-29';
    expectValid('nts', nts);
    const ride = example('ambulance-antwoord-geaccepteerd.json');
    ride.patient.geboortedatum = '1951-04-31';
    expectIssue('ambulance', ride, 422, '$.patient.geboortedatum');
  });

  it('date-times that do not exist are refused (422), the wrong shape is malformed (400)', () => {
    const nts = example('nts-u5-zelfzorg-zonder-overdracht.json');
    nts.contact.start = '2026-02-30T08:05:12+01:00';
    nts.contact.einde = '2026-03-01T08:05:12+01:00';
    expect(expectIssue('nts', nts, 422, '$.contact.start')).toContain('is not a date and time that exists');
    nts.contact.start = '2026-11-23 08:05';
    expectIssue('nts', nts, 400, '$.contact.start');
    nts.contact.start = '2026-11-23T08:05:12'; // no offset
    expectIssue('nts', nts, 400, '$.contact.start');
  });
});

describe('nts rules', () => {
  const AMBULANCE = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
  const VVT = 'nts-u3-naar-wijkverpleging.json';
  const SELF_CARE = 'nts-u5-zelfzorg-zonder-overdracht.json';

  it('contact.einde not before contact.start; equal is fine; offsets are compared as instants', () => {
    const record = example(SELF_CARE);
    record.contact.einde = '2026-11-23T08:05:11+01:00';
    expect(expectIssue('nts', record, 422, '$.contact.einde')).toContain('is before contact.start');
    record.contact.einde = record.contact.start;
    expectValid('nts', record);
    record.contact.einde = '2026-11-23T07:06:00Z'; // 08:06+01:00
    expectValid('nts', record);
    record.contact.einde = '2026-11-23T07:05:00Z'; // 08:05+01:00, before 08:05:12
    expectIssue('nts', record, 422, '$.contact.einde');
  });

  it('triage is required unless status is AANGEMELD', () => {
    const record = example(SELF_CARE);
    delete record.triage;
    expect(expectIssue('nts', record, 422, '$.triage')).toContain('AFGEROND');
    record.status = 'AANGEMELD';
    expectValid('nts', record);
  });

  it('abcdVeilig false only with U0 or U1', () => {
    const record = example(AMBULANCE);
    record.triage.abcdVeilig = false;
    expectValid('nts', record);
    record.triage.urgentie = 'U0';
    expectValid('nts', record);
    record.triage.urgentie = 'U2';
    expect(expectIssue('nts', record, 422, '$.triage.urgentie')).toContain('must be U0 or U1, not U2');
  });

  it('a changed urgency needs a reason', () => {
    const record = example(VVT);
    delete record.triage.urgentieRedenAanpassing;
    expect(expectIssue('nts', record, 422, '$.triage.urgentieRedenAanpassing')).toContain('from the proposed U4 to U3');
    record.triage.urgentieRedenAanpassing = '   ';
    expectIssue('nts', record, 422, '$.triage.urgentieRedenAanpassing');
    record.triage.urgentieVoorstel = 'U3';
    expectValid('nts', record);
  });

  it('AMBULANCE needs urgency U0..U3', () => {
    const record = example(AMBULANCE);
    record.triage.urgentie = 'U3';
    expectValid('nts', record);
    record.triage.urgentie = 'U4';
    expect(expectIssue('nts', record, 422, '$.triage.urgentie')).toContain('AMBULANCE');
  });

  it('AMBULANCE needs an overdracht, to a RAV', () => {
    const record = example(AMBULANCE);
    record.overdracht.naar.soort = 'HAP';
    expect(expectIssue('nts', record, 422, '$.overdracht.naar.soort')).toContain('to a RAV, not to a HAP');
    delete record.overdracht;
    expectIssue('nts', record, 422, '$.overdracht');
  });

  it('AMBULANCE needs a location: overdracht.locatie or patient.adres', () => {
    const record = example(AMBULANCE);
    delete record.patient.adres;
    expect(expectIssue('nts', record, 422, '$.overdracht.locatie')).toContain('location');
    record.overdracht.locatie = { straat: 'Grote Markt', huisnummer: '1', postcode: '8011LW', plaats: 'Zwolle', lat: 52.5126, lon: 6.0918 };
    expectValid('nts', record);
    delete record.overdracht.locatie.lon;
    expect(expectIssue('nts', record, 422, '$.overdracht.locatie')).toContain('both lat and lon');
  });

  it('WIJKVERPLEGING needs an overdracht to a VVT and urgency U2..U5', () => {
    const record = example(VVT);
    record.triage.urgentie = 'U1';
    record.triage.urgentieRedenAanpassing = 'Toch ernstiger.';
    const messages = issuesOf(validators.validate('nts', record)).map((i) => i.path);
    // Both the follow-up action and the receiver forbid U1 here.
    expect(messages.filter((p) => p === '$.triage.urgentie')).toHaveLength(2);
    record.triage.urgentie = 'U5';
    expectValid('nts', record);
    record.overdracht.naar.soort = 'RAV';
    expect(expectIssue('nts', record, 422, '$.overdracht.naar.soort')).toContain('to a VVT');
    delete record.overdracht;
    expectIssue('nts', record, 422, '$.overdracht');
  });

  it('U0 and U1 never go to a VVT, whatever the follow-up action', () => {
    const record = example(VVT);
    record.triage.vervolgactie = 'VISITE';
    record.triage.urgentie = 'U1';
    record.triage.urgentieRedenAanpassing = 'Toch ernstiger.';
    expect(expectIssue('nts', record, 422, '$.triage.urgentie')).toContain('never goes to a VVT');
  });

  it('an overdracht to a VVT needs toelichting and zorgvraag', () => {
    const record = example(VVT);
    delete record.overdracht.toelichting;
    delete record.overdracht.zorgvraag;
    expectIssue('nts', record, 422, '$.overdracht.toelichting');
    expectIssue('nts', record, 422, '$.overdracht.zorgvraag');
    record.overdracht.zorgvraag = [];
    expectIssue('nts', record, 400, '$.overdracht.zorgvraag');
    const toRav = example(AMBULANCE);
    delete toRav.overdracht.toelichting;
    expectValid('nts', toRav);
  });
});

describe('ambulance rules', () => {
  const CLOSED = 'ambulance-antwoord-rit-afgesloten.json';
  const ACCEPTED = 'ambulance-antwoord-geaccepteerd.json';
  const TO_VVT = 'ambulance-niet-vervoerd-naar-vvt.json';
  const TO_HAP = 'ambulance-niet-vervoerd-naar-hap.json';

  it('each ride time is not earlier than every present time before it', () => {
    const record = example(CLOSED);
    // vrij earlier than overdracht, but after everything else.
    record.tijden.vrij = '2026-11-22T03:11:00+01:00';
    expect(expectIssue('ambulance', record, 422, '$.tijden.vrij')).toContain('earlier than tijden.overdracht');
    record.tijden.vrij = record.tijden.overdracht;
    expectValid('ambulance', record);
    // With the times between them missing, vertrekBestemming is compared with alarmering.
    const sparse = example(CLOSED);
    sparse.tijden = { melding: '2026-11-22T02:19:45+01:00', alarmering: '2026-11-22T02:20:30+01:00', vertrekBestemming: '2026-11-22T01:20:00Z' };
    expect(expectIssue('ambulance', sparse, 422, '$.tijden.vertrekBestemming')).toContain('tijden.alarmering');
    sparse.tijden.vertrekBestemming = '2026-11-22T01:21:00Z';
    expectValid('ambulance', sparse);
  });

  it('ritnummer is required except in a GEWEIGERD answer, which needs a weigerreden', () => {
    const record = example(ACCEPTED);
    delete record.ritnummer;
    delete record.incidentnummer;
    expectIssue('ambulance', record, 422, '$.ritnummer');
    record.status = 'GEWEIGERD';
    expect(expectIssue('ambulance', record, 422, '$.weigerreden')).toContain('GEWEIGERD');
    record.weigerreden = 'Geen eenheid beschikbaar';
    expectValid('ambulance', record);
    delete record.overdrachtId; // not an answer: a ride of its own needs its number
    expectIssue('ambulance', record, 422, '$.ritnummer');
  });

  it('incidentnummer equals the ride number’s incident part', () => {
    const record = example(ACCEPTED);
    record.incidentnummer = '4512';
    expect(expectIssue('ambulance', record, 422, '$.incidentnummer')).toBe(
      'incidentnummer 4512 differs from the incident part 004512 of ritnummer RAVNO-2026-004512-1',
    );
    delete record.incidentnummer;
    expectValid('ambulance', record);
  });

  it('ritnummer has the national form', () => {
    const record = example(ACCEPTED);
    for (const bad of ['RAVNO-26-004512-1', 'ravno-2026-004512-1', 'RAVNO-2026-004512-123', 'RAVNO-2026-004512']) {
      record.ritnummer = bad;
      expectIssue('ambulance', record, 400, '$.ritnummer');
    }
  });

  it('inzetlocatie needs straat and huisnummer, or lat and lon', () => {
    const record = example(ACCEPTED);
    delete record.inzetlocatie.straat;
    expectValid('ambulance', record);
    delete record.inzetlocatie.lat;
    expect(expectIssue('ambulance', record, 422, '$.inzetlocatie')).toContain('straat and huisnummer, or lat and lon');
    record.inzetlocatie.straat = 'Thorbeckegracht';
    expect(expectIssue('ambulance', record, 422, '$.inzetlocatie')).toContain('both lat and lon');
    delete record.inzetlocatie.lon;
    expectValid('ambulance', record);
  });

  it('geschatteLeeftijd only without geboortedatum', () => {
    const record = example(TO_HAP);
    record.patient.geboortedatum = '1981-03-04';
    expectIssue('ambulance', record, 422, '$.patient.geschatteLeeftijd');
    delete record.patient.geschatteLeeftijd;
    expectValid('ambulance', record);
  });

  it('an overdracht to a VVT needs urgency U2..U5 and zorgvraag', () => {
    const record = example(TO_VVT);
    record.overdracht.urgentie = 'U1';
    expectIssue('ambulance', record, 422, '$.overdracht.urgentie');
    record.overdracht.urgentie = 'U2';
    delete record.overdracht.zorgvraag;
    expectIssue('ambulance', record, 422, '$.overdracht.zorgvraag');
    const toHap = example(TO_HAP);
    toHap.overdracht.urgentie = 'U1';
    expectValid('ambulance', toHap);
  });
});

describe('vvt rules', () => {
  const REQUEST = 'vvt-aanvraag-van-zcc.json';

  it('tijdvak_van and tijdvak_tot both or neither, tijdvak_datum with them', () => {
    const record = example(REQUEST);
    delete record.tijdvak_tot;
    expectIssue('vvt', record, 422, '$.tijdvak_tot');
    delete record.tijdvak_van;
    expectIssue('vvt', record, 422, '$.tijdvak_van'); // a date without a window
    delete record.tijdvak_datum;
    expectValid('vvt', record);
    record.tijdvak_tot = '02:00';
    expectIssue('vvt', record, 422, '$.tijdvak_van');
    record.tijdvak_van = '23:00';
    expectIssue('vvt', record, 422, '$.tijdvak_datum');
  });

  it('afwijs_reden when AFGEWEZEN', () => {
    const record = example('vvt-antwoord-afgewezen.json');
    delete record.afwijs_reden;
    expectIssue('vvt', record, 422, '$.afwijs_reden');
    record.afwijs_reden = '';
    expectIssue('vvt', record, 422, '$.afwijs_reden');
  });

  it('gepland_* when INGEPLAND, and always together', () => {
    const record = example('vvt-antwoord-ingepland.json');
    delete record.gepland_tijd;
    const result = validators.validate('vvt', record);
    expect(issuesOf(result)).toEqual([{ path: '$.gepland_tijd', message: 'gepland_tijd is required when status is INGEPLAND' }]);
    delete record.gepland_datum;
    expectIssue('vvt', record, 422, '$.gepland_datum');
    record.status = 'GEACCEPTEERD';
    expectValid('vvt', record);
    record.gepland_datum = '22-11-2026';
    expectIssue('vvt', record, 422, '$.gepland_tijd');
  });

  it('uitgevoerd_* when UITGEVOERD, and always together', () => {
    const record = example('vvt-antwoord-uitgevoerd.json');
    delete record.uitgevoerd_datum;
    expectIssue('vvt', record, 422, '$.uitgevoerd_datum');
    delete record.uitgevoerd_tijd;
    expectIssue('vvt', record, 422, '$.uitgevoerd_tijd');
    record.status = 'ONDERWEG';
    expectValid('vvt', record);
    record.uitgevoerd_tijd = '00:10';
    expectIssue('vvt', record, 422, '$.uitgevoerd_datum');
  });

  it('in an answer, aanvraag_id is the overdracht_id', () => {
    const record = example('vvt-antwoord-ingepland.json');
    record.aanvraag_id = 'ZCC-2026-11-0042';
    expect(expectIssue('vvt', record, 422, '$.aanvraag_id')).toContain(HANDOVER_ID);
    delete record.overdracht_id;
    expectValid('vvt', record);
  });

  it('urgency is VVT-scale only', () => {
    const record = example(REQUEST);
    record.urgentie = 'U1';
    expectIssue('vvt', record, 400, '$.urgentie');
  });
});

describe('OperationOutcome', () => {
  it('a 400 becomes `invalid` issues with the path as expression', () => {
    const { format, record } = loadExample('invalid-nts-onbekend-veld.json');
    expect(toOperationOutcome(validators.validate(format, record))).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'invalid', expression: ['$.prioriteit'], diagnostics: "unknown field 'prioriteit' is not part of the nts format" },
      ],
    });
  });

  it('a 422 becomes `business-rule` issues, one per native issue', () => {
    const record = example('nts-u3-naar-wijkverpleging.json');
    record.patient.bsn = '999990112';
    delete record.overdracht.toelichting;
    const result = validators.validate('nts', record);
    const outcome = toOperationOutcome(result);
    expect(outcome.issue).toHaveLength(2);
    expect(outcome.issue.every((i) => i.severity === 'error' && i.code === 'business-rule')).toBe(true);
    expect(outcome.issue.map((i) => i.expression?.[0]).sort()).toEqual(['$.overdracht.toelichting', '$.patient.bsn']);
    expect(outcome.issue.find((i) => i.expression?.[0] === '$.patient.bsn')?.diagnostics).toBe('BSN 999990112 fails the 11-proof');
  });
});

describe('loading mappings', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'native-validation-'));
    for (const format of ['nts', 'ambulance', 'vvt']) {
      await cp(path.join(MAPPINGS, format, 'schema.json'), path.join(dir, format, 'schema.json'));
      await cp(path.join(MAPPINGS, format, 'rules.json'), path.join(dir, format, 'rules.json'));
    }
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function edit(format: string, file: string, change: (json: any) => void): Promise<string> {
    const target = path.join(dir, format, file);
    const json = JSON.parse(await readFile(target, 'utf8'));
    change(json);
    await writeFile(target, JSON.stringify(json));
    return target;
  }

  function ruleOf(json: any, id: string): any {
    return json.rules.find((r: any) => r.id === id);
  }

  it('loads the copied mappings (the fixture itself is sound)', async () => {
    expect(await readdir(dir)).toEqual(expect.arrayContaining(['nts', 'ambulance', 'vvt']));
    const loaded = await loadNativeValidators(dir);
    expect(loaded.validate('vvt', example('vvt-aanvraag-van-zcc.json'))).toEqual({ ok: true });
    expect(loaded.schemas.nts.title).toContain('nts');
  });

  it('names a missing file', async () => {
    await rm(path.join(dir, 'vvt', 'rules.json'));
    await expect(loadNativeValidators(dir)).rejects.toThrow(/vvt[/\\]rules\.json: cannot be read/);
  });

  it('names a file that is not JSON', async () => {
    const target = path.join(dir, 'ambulance', 'schema.json');
    await writeFile(target, '{ "type": "object", ');
    await expect(loadNativeValidators(dir)).rejects.toThrow(`${target}: is not valid JSON`);
  });

  it('refuses a schema with a mis-spelt keyword (strict mode)', async () => {
    const target = await edit('nts', 'schema.json', (s) => {
      s.properties.volgnummer.minimun = 1;
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(new RegExp(`${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not a valid JSON Schema.*minimun`));
  });

  it('refuses a rule with a FHIRPath syntax error', async () => {
    const target = await edit('nts', 'rules.json', (r) => {
      ruleOf(r, 'nts-abcd-unsafe-needs-u0-u1').assert = "triage.urgentie in ('U0' | ";
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(`${target}: rule 'nts-abcd-unsafe-needs-u0-u1'.assert`);
  });

  it('refuses a mis-spelt FHIRPath function, even in a branch that rarely runs', async () => {
    const target = await edit('ambulance', 'rules.json', (r) => {
      ruleOf(r, 'ambulance-weigerreden-when-geweigerd').assert = "weigerreden.exsts() or weigerreden.matches('x')";
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(`${target}: rule 'ambulance-weigerreden-when-geweigerd'.assert "weigerreden.exsts() or weigerreden.matches('x')": exsts() is no FHIRPath function`);
  });

  it('refuses a FHIRPath function called with the wrong number of arguments', async () => {
    await edit('vvt', 'rules.json', (r) => {
      ruleOf(r, 'vvt-afwijs-reden-when-afgewezen').assert = 'afwijs_reden.matches()';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/matches\(\) does not take 0 arguments/);
  });

  it('refuses a field name the schema does not define, in expressions and paths', async () => {
    await edit('nts', 'rules.json', (r) => {
      ruleOf(r, 'nts-triage-required').assert = 'triagee.exists()';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/names 'triagee', which is no field/);
    await edit('nts', 'rules.json', (r) => {
      ruleOf(r, 'nts-triage-required').assert = 'triage.exists()';
      ruleOf(r, 'nts-bsn-11-proof').args.fields = ['$.patient.bns'];
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/nts-bsn-11-proof'\.args\.fields\[0\] "\$\.patient\.bns" is no field/);
  });

  it('refuses an unknown check, a missing argument and a placeholder the check does not fill', async () => {
    await edit('vvt', 'rules.json', (r) => {
      ruleOf(r, 'vvt-bsn-11-proof').check = 'elfProef';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/"elfProef" is not a known check/);
    await edit('vvt', 'rules.json', (r) => {
      ruleOf(r, 'vvt-bsn-11-proof').check = 'bsn11Proof';
      delete ruleOf(r, 'vvt-gepland-exists').args.time;
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/vvt-gepland-exists'\.args\.time is missing/);
    await edit('vvt', 'rules.json', (r) => {
      ruleOf(r, 'vvt-gepland-exists').args.time = '$.gepland_tijd';
      ruleOf(r, 'vvt-bsn-11-proof').message = 'BSN {bsn} fails';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/uses \{bsn\}, which this rule does not provide/);
  });

  it('refuses a rules file for another format, duplicate ids and unknown keys', async () => {
    await edit('nts', 'rules.json', (r) => {
      r.format = 'vvt';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/nts[/\\]rules\.json: "format" is "vvt", expected "nts"/);
    await edit('nts', 'rules.json', (r) => {
      r.format = 'nts';
      r.rules.push({ ...r.rules[0] });
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/rule 'nts-bsn-11-proof' is defined twice/);
    await edit('nts', 'rules.json', (r) => {
      r.rules.pop();
      r.rules[0].severity = 'warning';
    });
    await expect(loadNativeValidators(dir)).rejects.toThrow(/rule 'nts-bsn-11-proof' has unknown key 'severity'/);
  });
});
