// A unit as FHIR R4 sees it: a Location of physical type `ve` (vehicle), mode `instance`, with `position` (WGS84),
// `operationalStatus` (the regional status), `type` (the unit's kind) and `managingOrganization`. What R4 has no
// element for goes in the gateway's extensions: the fix time and accuracy, whether the position is stale, and the
// handover the unit serves.
import type { Bundle, Location, Organization, Reference } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcomes.ts';
import type { UnitRow } from './store.ts';
import type { UnitTables } from './tables.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';

const NS = 'https://handover-gateway.nl/fhir';
export const UNIT_STATUS_SYSTEM = `${NS}/CodeSystem/eenheid-status`;
export const UNIT_KIND_SYSTEM = `${NS}/CodeSystem/eenheid-soort`;
const CALL_SIGN_SYSTEM = `${NS}/NamingSystem/roepnaam`;
const POSITION_EXTENSION = `${NS}/StructureDefinition/unit-position`;
const SERVES_EXTENSION = `${NS}/StructureDefinition/serves-handover`;
export const LOCATION_DISTANCE = 'http://hl7.org/fhir/StructureDefinition/location-distance';

export const KIND_DISPLAY: Record<string, string> = {
  AMBULANCE_A: 'A-ambulance',
  AMBULANCE_B: 'B-ambulance',
  MMT: 'Mobiel Medisch Team',
  RAPID_RESPONDER: 'Rapid responder',
  VISITEARTS: 'Visiterende huisarts',
  WIJKVERPLEGING: 'Wijkverpleegkundige (nacht)',
};

export function isStale(row: UnitRow, now: number, staleSeconds: number): boolean {
  return now - Date.parse(row.fixTime) > staleSeconds * 1000;
}

export function toLocation(row: UnitRow, tables: UnitTables, organization: Reference<Organization>, now: number, staleSeconds: number): Location {
  return {
    resourceType: 'Location',
    id: row.id,
    meta: { versionId: row.version, lastUpdated: row.received },
    extension: [
      {
        url: POSITION_EXTENSION,
        extension: [
          { url: 'time', valueInstant: row.fixTime },
          ...(row.accuracyM !== undefined ? [{ url: 'accuracy', valueQuantity: { value: row.accuracyM, unit: 'm', system: 'http://unitsofmeasure.org', code: 'm' } }] : []),
          { url: 'stale', valueBoolean: isStale(row, now, staleSeconds) },
          { url: 'ownStatus', valueString: row.ownStatus },
        ],
      },
      ...(row.handoverId ? [{ url: SERVES_EXTENSION, valueReference: { reference: `Task/${row.handoverId}` } }] : []),
    ],
    identifier: [{ system: `${CALL_SIGN_SYSTEM}/${row.ura}`, value: row.callSign }],
    status: 'active',
    operationalStatus: { system: UNIT_STATUS_SYSTEM, code: row.status, display: tables.regional[row.status]?.display },
    name: row.callSign,
    mode: 'instance',
    type: [{ coding: [{ system: UNIT_KIND_SYSTEM, code: row.kind, display: KIND_DISPLAY[row.kind] }] }],
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 've', display: 'Vehicle' }] },
    position: { longitude: row.lon, latitude: row.lat },
    managingOrganization: organization,
  };
}

/** The organisation reference of a URA: literal when the directory knows it, else by identifier. */
export function organizationReference(ura: string, id: string | undefined, name: string | undefined): Reference<Organization> {
  return id ? { reference: `Organization/${id}`, display: name } : { identifier: { system: URA_SYSTEM, value: ura }, display: name };
}

/** Great-circle distance in km (haversine, mean Earth radius): straight line, as the issue allows to start with. */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export interface Near {
  lat: number;
  lon: number;
  /** The distance asked for, in km. */
  km: number;
}

const UNIT_TO_KM: Record<string, number> = { km: 1, m: 0.001, '[mi_i]': 1.609344, mi: 1.609344 };
/** R4 leaves "near" without a distance to the server: 10 km. */
const DEFAULT_NEAR_KM = 10;

/**
 * R4 Location `near`: `[latitude]|[longitude]|[distance]|[units]` (WGS84; units default km, UCUM codes; the
 * distance, when omitted, is the server's choice). A malformed value is a 400, not an empty result.
 */
export function parseNear(raw: string): Near {
  const parts = raw.split('|');
  const [latS, lonS, distS, unitS] = parts;
  const lat = Number(latS);
  const lon = Number(lonS);
  if (parts.length > 4 || latS === undefined || lonS === undefined || latS.trim() === '' || lonS.trim() === '' || !Number.isFinite(lat) || !Number.isFinite(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) {
    throw badRequest(`near must be latitude|longitude|distance|units (WGS84 degrees; e.g. 52.51|6.09|5|km), got '${raw}'`, ['near']);
  }
  let km = DEFAULT_NEAR_KM;
  if (distS !== undefined && distS !== '') {
    const d = Number(distS);
    if (!Number.isFinite(d) || d < 0) throw badRequest(`near: the distance must be a number ≥ 0, got '${distS}'`, ['near']);
    const unit = unitS === undefined || unitS === '' ? 'km' : unitS;
    const factor = UNIT_TO_KM[unit];
    if (factor === undefined) throw badRequest(`near: unit '${unit}' is not supported (km, m, [mi_i])`, ['near']);
    km = d * factor;
  }
  return { lat, lon, km };
}

export function searchBundle(baseUrl: string, entries: { location: Location; distanceKm?: number; extra?: Bundle['entry'] }[], selfUrl: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: entries.length,
    link: [{ relation: 'self', url: selfUrl }],
    entry: entries.map((e) => ({
      fullUrl: `${baseUrl}/Location/${e.location.id}`,
      resource: e.location,
      search: {
        mode: 'match',
        ...(e.distanceKm !== undefined ? { extension: [{ url: LOCATION_DISTANCE, valueDistance: { value: Math.round(e.distanceKm * 1000) / 1000, unit: 'km', system: 'http://unitsofmeasure.org', code: 'km' } }] } : {}),
      },
    })),
  };
}
