// Property-based round trips: records generated from the shapes of the spec (1,000+ per format) go to FHIR
// and are rendered back from the same side; every field comes back, instants with the Amsterdam offset.
import fc from 'fast-check';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { instantToAmsterdam } from '../../src/native/mapping/transforms/time.ts';
import type { NativeFormat, NativeRecord } from '../../src/native/types.ts';
import { applyAnswer, example, firstDifference, HANDOVER_ID, MAPPINGS_DIR, storeRequest } from './mapping-support.ts';

const mapper = loadNativeMapper(MAPPINGS_DIR);
const RUNS = 1000;
const IDENTITY = new Set(['volgnummer', 'mutatie_nr', 'contactId', 'aanvraag_id', 'overdrachtId', 'overdracht_id']);

// --- building blocks
const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 3 });
/** Drops undefined fields, as a JSON record would not have them. */
const rec = <T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) =>
  fc.record(fields).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
const letters = 'abcdefghijklmnopqrstuvwxyzéëïóöüçŕżš';
const word = fc
  .tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPRSTVWZÇŔ'), fc.string({ unit: fc.constantFrom(...letters), minLength: 1, maxLength: 9 }))
  .map(([a, b]) => a + b);
const text = fc.string({ unit: fc.constantFrom(...`${letters}ABC XYZ0123456789.,;:'-/()€→`), minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && s.length > 0);
const digits = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
const ura = digits(8);
const big = digits(11);
const bsn = digits(9); // the mapping does not check the 11-proof; validation does
const postcode = fc.tuple(digits(4), fc.constantFrom('AB', 'VM', 'DH', 'XZ')).map(([d, l]) => `${d === '0000' ? '1000' : d.replace(/^0/, '1')}${l}`);
const houseNumber = fc.integer({ min: 1, max: 999 }).map(String);
const isoDate = fc.date({ min: new Date('1920-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
const nlDate = isoDate.map((d) => `${d.slice(8, 10)}-${d.slice(5, 7)}-${d.slice(0, 4)}`);
const OFFSETS = [0, 60, 120, -180, 330];
const pad = (n: number) => String(n).padStart(2, '0');
/** An instant in 2026 written with some offset, and how the gateway renders it. */
const instantAt = (epoch: number, offset: number): string => {
  const d = new Date(epoch + offset * 60_000);
  const off = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.toISOString().slice(0, 19)}${off}`;
};
const epoch = fc.integer({ min: Date.UTC(2026, 0, 1) / 1000, max: Date.UTC(2026, 11, 31) / 1000 }).map((s) => s * 1000);
const instant = fc.tuple(epoch, fc.constantFrom(...OFFSETS)).map(([e, o]) => instantAt(e, o));
const orderedInstants = (n: number) =>
  fc.tuple(epoch, fc.array(fc.integer({ min: 0, max: 3600 }), { minLength: n, maxLength: n }), fc.constantFrom(...OFFSETS)).map(([start, gaps, o]) => {
    let t = start;
    return gaps.map((g) => instantAt((t += g * 1000), o));
  });
const U = fc.constantFrom('U0', 'U1', 'U2', 'U3', 'U4', 'U5');
const ZORGVRAAG = fc.uniqueArray(fc.constantFrom('KATHETER', 'MEDICATIE', 'WONDZORG', 'VAL_ZONDER_LETSEL', 'PALLIATIEVE_ZORG', 'OBSERVATIE', 'ADL_HULP', 'TIJDELIJKE_OPNAME', 'OVERIG'), { minLength: 1, maxLength: 3 });
const prefix = fc.constantFrom('de', 'van', 'van der', 'van den', 'ter', "in 't");

/** What the gateway gives back: instants written with the Amsterdam offset. */
function normalised(value: unknown): unknown {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) return instantToAmsterdam(value);
  if (Array.isArray(value)) return value.map(normalised);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => !IDENTITY.has(k)).map(([k, v]) => [k, normalised(v)]));
  return value;
}

// --- nts
const ntsAddress = rec({ straat: word, huisnummer: houseNumber, toevoeging: opt(fc.constantFrom('a', 'b', 'bis', 'II')), postcode, plaats: word });
const ntsPatient = rec({
  bsn: opt(bsn),
  achternaam: fc.oneof(word, fc.constant("d'Hondt"), fc.constant('Jong-Visser')),
  voorvoegsel: opt(prefix),
  voornamen: opt(fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' '))),
  geboortedatum: isoDate,
  geslacht: fc.constantFrom('M', 'V', 'O'),
  adres: opt(ntsAddress),
  telefoon: opt(text),
  huisarts: opt(rec({ naam: text, agb: opt(digits(8)) })),
});
const triage = fc
  .record({
    triagist: rec({ naam: text, functie: fc.constantFrom('triagist', 'doktersassistent', 'verpleegkundige', 'huisarts'), big: opt(big) }),
    regiearts: opt(rec({ naam: text, big: opt(big) })),
    abcdVeilig: fc.boolean(),
    ingangsklacht: rec({ code: fc.constantFrom('PIJN-THORAX', 'URINEWEG', 'KOORTS-KIND', 'BENAUWD'), omschrijving: text }),
    criteria: opt(fc.array(rec({ code: fc.constantFrom('PT-01', 'PT-04', 'X-9'), vraag: text, antwoord: fc.constantFrom('ja', 'nee', 'onbekend') }), { minLength: 1, maxLength: 4 })),
    urgentie: U,
    voorstel: opt(fc.tuple(U, text)),
    pijnscore: opt(fc.integer({ min: 0, max: 10 })),
    contextfactoren: opt(fc.array(text, { minLength: 1, maxLength: 3 })),
    vervolgactie: fc.constantFrom('AMBULANCE', 'SEH', 'CONSULT_HAP', 'VISITE', 'TELEFONISCH_ADVIES', 'WIJKVERPLEGING', 'EIGEN_HUISARTS', 'ZELFZORG'),
    advies: opt(text),
    samenvatting: opt(text),
  })
  .map(({ voorstel, ...t }) => {
    const out: Record<string, unknown> = { ...t, abcdVeilig: t.abcdVeilig || t.urgentie === 'U0' || t.urgentie === 'U1' };
    if (voorstel) Object.assign(out, { urgentieVoorstel: voorstel[0], urgentieRedenAanpassing: voorstel[1] });
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
  });
const ntsOverdracht = fc.oneof(
  rec({ naar: rec({ soort: fc.constant('RAV'), ura, naam: opt(text) }), toelichting: opt(text), locatie: opt(rec({ straat: word, huisnummer: houseNumber, postcode, plaats: word, lat: fc.integer({ min: 500000, max: 540000 }).map((n) => n / 10000), lon: fc.integer({ min: 30000, max: 70000 }).map((n) => n / 10000) })) }),
  rec({ naar: rec({ soort: fc.constant('VVT'), ura, naam: opt(text) }), toelichting: text, zorgvraag: ZORGVRAAG }),
  rec({ naar: rec({ soort: fc.constant('HAP'), ura, naam: opt(text) }), toelichting: opt(text) }),
);
const ntsBase = {
  berichttype: fc.constant('NTS-TRIAGE'),
  contactId: fc.string({ unit: fc.constantFrom(...'ABCDEFGHKLMNPRSTVWXZ0123456789-'), minLength: 4, maxLength: 20 }),
  volgnummer: fc.integer({ min: 1, max: 1000 }),
  hap: rec({ naam: text, agb: digits(8), ura }),
  patient: ntsPatient,
  melder: opt(rec({ naam: text, relatie: fc.constantFrom('patient', 'partner', 'kind', 'ouder', 'mantelzorger', 'hulpverlener', 'anders'), telefoon: opt(text) })),
  contact: fc.tuple(orderedInstants(2), fc.boolean(), fc.constantFrom('telefonisch', 'fysiek')).map(([[start, einde], withEnd, soort]) => (withEnd ? { start, einde, soort } : { start, soort })),
  triage: opt(triage),
  status: fc.constantFrom('AANGEMELD', 'GETRIAGEERD', 'IN_BEHANDELING', 'AFGEROND', 'GEANNULEERD'),
  redenAnnulering: opt(text),
};
const ntsRequest = rec({ ...ntsBase, overdracht: opt(ntsOverdracht) });
const ntsAnswer = rec({ ...ntsBase, hap: fc.constant({ naam: 'Huisartsenpost Vechtdal', agb: '03059876', ura: '90001234' }), overdrachtId: fc.constant(HANDOVER_ID) });

// --- ambulance
const tijdenKeys = ['melding', 'alarmering', 'vertrek', 'terPlaatse', 'vertrekBestemming', 'aankomstBestemming', 'overdracht', 'vrij'];
const tijden = fc.tuple(orderedInstants(8), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 })).map(([times, keep]) =>
  Object.fromEntries(tijdenKeys.flatMap((k, i) => (keep[i] ? [[k, times[i]]] : []))),
);
const spokenName = fc.oneof(
  fc.tuple(fc.array(fc.constantFrom('A.', 'J.', 'H.', 'A.J.', 'Th.'), { minLength: 1, maxLength: 2 }), opt(prefix), word).map(([i, p, f]) => [...i, ...(p ? [p] : []), f].join(' ')),
  text,
  fc.constant('onbekende man'),
);
const measurement = {
  ademfrequentie: opt(fc.integer({ min: 4, max: 60 })),
  saturatie: opt(fc.integer({ min: 50, max: 100 })),
  hartfrequentie: opt(fc.integer({ min: 20, max: 220 })),
  bloeddrukSystolisch: opt(fc.integer({ min: 50, max: 250 })),
  bloeddrukDiastolisch: opt(fc.integer({ min: 30, max: 150 })),
  temperatuur: opt(fc.integer({ min: 330, max: 420 }).map((n) => n / 10)),
  glucose: opt(fc.integer({ min: 10, max: 300 }).map((n) => n / 10)),
  emv: opt(rec({ e: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 6 }), v: fc.integer({ min: 1, max: 5 }) })),
  pijnscore: opt(fc.integer({ min: 0, max: 10 })),
  werkdiagnose: opt(text),
};
// gemetenOm is kept on the Observations: only with at least one measurement (mappings/README.md).
const bevindingen = fc.tuple(rec(measurement), opt(instant)).map(([m, at]) => (Object.keys(m).length > 0 && at ? { ...m, gemetenOm: at } : m)).filter((b) => Object.keys(b).length > 0);
const inzetlocatie = fc.oneof(
  rec({ straat: word, huisnummer: houseNumber, postcode: opt(postcode), plaats: word }),
  rec({ plaats: word, lat: fc.integer({ min: 500000, max: 540000 }).map((n) => n / 10000), lon: fc.integer({ min: 30000, max: 70000 }).map((n) => n / 10000) }),
  rec({ straat: word, huisnummer: houseNumber, postcode, plaats: word, lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
);
const rideFields = {
  ritnummer: fc.tuple(fc.constantFrom('RAVNO', 'RAVIJ', 'AB'), digits(6), fc.integer({ min: 1, max: 9 })).map(([d, i, p]) => `${d}-2026-${i}-${p}`),
  volgnummer: fc.integer({ min: 1, max: 1000 }),
  rav: rec({ naam: text, ura, regio: opt(fc.integer({ min: 1, max: 25 }).map(pad)) }),
  urgentie: fc.constantFrom('A0', 'A1', 'A2', 'B'),
  mkaTriage: opt(rec({ ingangsklacht: rec({ code: fc.constantFrom('PIJN-THORAX', 'VAL', 'BENAUWD'), omschrijving: text }), urgentie: U })),
  status: fc.constantFrom('AANGEVRAAGD', 'GEACCEPTEERD', 'ONDERWEG', 'TER_PLAATSE', 'VERVOER', 'OVERGEDRAGEN', 'AFGESLOTEN', 'GEANNULEERD'),
  annuleringsreden: opt(text),
  tijden: opt(tijden.filter((t) => Object.keys(t).length > 0)),
  inzetlocatie,
  eenheid: opt(rec({ roepnummer: text, soort: opt(fc.constantFrom('A', 'B', 'MMT', 'rapid responder')) })),
  bemanning: opt(fc.array(rec({ naam: text, rol: fc.constantFrom('ambulanceverpleegkundige', 'ambulancechauffeur', 'arts'), big: opt(big) }), { minLength: 1, maxLength: 3 })),
  patient: fc.oneof(
    rec({ naam: spokenName, geslacht: fc.constantFrom('man', 'vrouw', 'onbekend'), bsn: opt(bsn), geboortedatum: isoDate }),
    rec({ naam: spokenName, geslacht: fc.constantFrom('man', 'vrouw', 'onbekend'), geschatteLeeftijd: fc.integer({ min: 0, max: 110 }) }),
  ),
  bevindingen: opt(bevindingen),
  behandeling: opt(text),
  afspraken: opt(text),
  vervoer: opt(rec({ vervoerd: fc.boolean(), redenNietVervoerd: opt(text), bestemming: opt(rec({ soort: fc.constantFrom('SEH', 'HAP', 'THUIS', 'VVT', 'ANDERS'), naam: text, ura: opt(ura) })) })),
  bestemmingsstatus: opt(fc.constantFrom('ACTIEF', 'GEANNULEERD', 'OVERGEDRAGEN')),
};
const withIncident = (r: Record<string, unknown>, keep: boolean) => (keep ? { ...r, incidentnummer: String(r.ritnummer).split('-')[2] } : r);
const ambulanceOverdracht = fc.oneof(
  rec({ naar: rec({ soort: fc.constant('HAP'), ura, naam: opt(text) }), verzoek: text, urgentie: U }),
  rec({ naar: rec({ soort: fc.constant('VVT'), ura, naam: opt(text) }), verzoek: text, urgentie: fc.constantFrom('U2', 'U3', 'U4', 'U5'), zorgvraag: ZORGVRAAG }),
);
const ambulanceRequest = fc.tuple(rec({ ...rideFields, overdracht: opt(ambulanceOverdracht) }), fc.boolean()).map(([r, k]) => withIncident(r, k));
const ambulanceAnswer = fc
  .tuple(rec({ ...rideFields, rav: rec({ naam: fc.constant('RAV Noordoost'), ura: fc.constant('90004567'), regio: opt(fc.constant('04')) }) }), fc.boolean(), opt(text))
  .map(([r, k, weiger]) => {
    const out: Record<string, unknown> = { ...withIncident(r, k), overdrachtId: HANDOVER_ID };
    if (weiger) Object.assign(out, { status: 'GEWEIGERD', weigerreden: weiger });
    if (weiger && !k) delete out.ritnummer;
    return out;
  });

// --- vvt
const listName = fc.oneof(
  fc.tuple(word, fc.array(fc.constantFrom('J.', 'H.', 'J.H.', 'G.', 'Th.'), { minLength: 1, maxLength: 2 }), opt(prefix)).map(([f, i, p]) => `${f}, ${[...i, ...(p ? [p] : [])].join(' ')}`),
  text,
);
const oneLineAddress = fc.oneof(
  fc.tuple(word, houseNumber, fc.constantFrom('', 'a', 'b', '-2'), postcode, word).map(([s, n, t, pc, p]) => `${s} ${n}${t}, ${pc.slice(0, 4)} ${pc.slice(4)} ${p}`),
  text,
);
/** Local dates and times, including both 2026 summer-time nights (never the missing spring hour). */
const localDate = fc.oneof(nlDate.filter((d) => d.endsWith('2026')), fc.constantFrom('29-03-2026', '25-10-2026'));
const localTime = (date: string) =>
  fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).filter(([h]) => !(date === '29-03-2026' && h === 2)).map(([h, m]) => `${pad(h)}:${pad(m)}`);
const tijdvak = localDate.chain((datum) =>
  fc.tuple(localTime(datum), opt(localTime(datum))).filter(([v, t]) => v !== t).map(([van, tot]) => {
    const nextDay = tot !== undefined && tot < van;
    // The next day of 28-03 is the spring night: no 02:xx there either.
    if (nextDay && datum === '28-03-2026' && tot.startsWith('02')) return {};
    return tot === undefined ? {} : { tijdvak_datum: datum, tijdvak_van: van, tijdvak_tot: tot };
  }),
);
const vvtCommon = {
  mutatie_nr: fc.integer({ min: 1, max: 1000 }),
  aanvrager_naam: text,
  aanvrager_ura: ura,
  aanvrager_contact: opt(text),
  vvt_naam: text,
  vvt_ura: ura,
  vvt_team: opt(text),
  client_bsn: opt(bsn),
  client_naam: listName,
  client_geboortedatum: nlDate,
  client_geslacht: fc.constantFrom('m', 'v', 'o'),
  client_adres: oneLineAddress,
  client_telefoon: opt(text),
  bekende_client: opt(fc.boolean()),
  sleutelkluis: opt(fc.boolean()),
  reden: text,
  zorgvraag: ZORGVRAAG,
  urgentie: fc.constantFrom('BINNEN_1_UUR', 'BINNEN_4_UUR', 'ZELFDE_DAG', 'VOLGENDE_DAG'),
};
const vvtRequest = fc
  .tuple(rec({ ...vvtCommon, aanvraag_id: fc.string({ unit: fc.constantFrom(...'ABCDEFZ0123456789-'), minLength: 4, maxLength: 20 }), aanvrager_soort: fc.constantFrom('ZCC', 'VVT') }), tijdvak, opt(fc.tuple(fc.constant('GEANNULEERD'), opt(text))))
  .map(([r, t, cancel]): NativeRecord => ({ ...r, ...t, status: cancel ? 'GEANNULEERD' : 'AANGEVRAAGD', ...(cancel?.[1] ? { annulering_reden: cancel[1] } : {}) }));
const visit = localDate.chain((datum) => localTime(datum).map((tijd) => [datum, tijd] as const));
const vvtAnswer = fc
  .tuple(rec({ ...vvtCommon, aanvrager_soort: fc.constantFrom('HAP', 'RAV', 'ZCC', 'HUISARTS', 'VVT') }), tijdvak, fc.constantFrom('GEACCEPTEERD', 'AFGEWEZEN', 'INGEPLAND', 'ONDERWEG', 'UITGEVOERD', 'GEANNULEERD'), text, visit, visit, opt(fc.tuple(text, opt(big))), opt(text))
  .map(([r, t, status, reason, planned, done, nurse, verslag]) => {
    const out: Record<string, unknown> = { ...r, ...t, aanvraag_id: HANDOVER_ID, overdracht_id: HANDOVER_ID, status };
    if (status === 'AFGEWEZEN') out.afwijs_reden = reason;
    if (status === 'GEANNULEERD') out.annulering_reden = reason;
    if (['INGEPLAND', 'ONDERWEG', 'UITGEVOERD'].includes(status)) Object.assign(out, { gepland_datum: planned[0], gepland_tijd: planned[1] });
    if (status === 'UITGEVOERD') Object.assign(out, { uitgevoerd_datum: done[0], uitgevoerd_tijd: done[1], ...(verslag ? { verslag } : {}) });
    if (nurse) Object.assign(out, { verpleegkundige_naam: nurse[0], ...(nurse[1] ? { verpleegkundige_big: nurse[1] } : {}) });
    return out;
  });

// --- round trips
function roundTripRequest(format: NativeFormat, record: NativeRecord, kind: string): string | undefined {
  const view = storeRequest(mapper.toFhir(format, record), kind);
  return firstDifference(normalised(record), mapper.render(format, view, 'requester', 1));
}

function roundTripAnswer(format: NativeFormat, record: NativeRecord, baseFormat: NativeFormat, base: NativeRecord, baseKind: string): string | undefined {
  const view = applyAnswer(storeRequest(mapper.toFhir(baseFormat, base), baseKind), mapper.toFhir(format, record), { takePatient: true });
  return firstDifference(normalised(record), mapper.render(format, view, 'receiver', 1));
}

const ambulanceToHap = example('ambulance-niet-vervoerd-naar-hap.json');
const ntsToRav = example('nts-u1-pijn-op-de-borst-naar-ambulance.json');
const check = (difference: string | undefined) => {
  if (difference) throw new Error(difference);
};

describe('round trips of generated records', () => {
  it(`nts: ${RUNS} records (requests and answers)`, () => {
    fc.assert(
      fc.property(fc.oneof({ arbitrary: ntsRequest, weight: 3 }, { arbitrary: ntsAnswer, weight: 1 }), (r) =>
        check(r.overdrachtId ? roundTripAnswer('nts', r, 'ambulance', ambulanceToHap, 'RAV') : roundTripRequest('nts', r, 'HAP')),
      ),
      { numRuns: RUNS },
    );
  });

  it(`ambulance: ${RUNS} records (requests and answers)`, () => {
    fc.assert(
      fc.property(fc.oneof({ arbitrary: ambulanceRequest, weight: 3 }, { arbitrary: ambulanceAnswer, weight: 1 }), (r) =>
        check(r.overdrachtId ? roundTripAnswer('ambulance', r, 'nts', ntsToRav, 'HAP') : roundTripRequest('ambulance', r, 'RAV')),
      ),
      { numRuns: RUNS },
    );
  });

  it(`vvt: ${RUNS} records (requests and answers)`, () => {
    fc.assert(
      fc.property(fc.oneof(vvtRequest as fc.Arbitrary<NativeRecord>, vvtAnswer as fc.Arbitrary<NativeRecord>).filter((r) => r.vvt_ura !== r.aanvrager_ura), (r) => {
        if (!r.overdracht_id) return check(roundTripRequest('vvt', r, String(r.aanvrager_soort)));
        // The request an answer answers: the same record as the requester sent it.
        const request = Object.fromEntries(
          Object.entries(r).filter(([k]) => !['overdracht_id', 'status', 'afwijs_reden', 'annulering_reden', 'gepland_datum', 'gepland_tijd', 'uitgevoerd_datum', 'uitgevoerd_tijd', 'verpleegkundige_naam', 'verpleegkundige_big', 'verslag'].includes(k)),
        );
        return check(roundTripAnswer('vvt', r, 'vvt', { ...request, aanvraag_id: 'REQ-1', status: 'AANGEVRAAGD' }, String(r.aanvrager_soort)));
      }),
      { numRuns: RUNS },
    );
  });
});
