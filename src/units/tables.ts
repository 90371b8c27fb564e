// The unit-status feed's code tables and regional settings, as data (mappings/eenheid/): each organisation's own
// status codes mapped to the one regional list, the kinds that fit each urgency, the speed of each kind, and the
// places a handover can be put on the map by. Read and checked once at start: a broken file stops the start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const UNIT_KINDS = ['AMBULANCE_A', 'AMBULANCE_B', 'MMT', 'RAPID_RESPONDER', 'VISITEARTS', 'WIJKVERPLEGING'] as const;
export type UnitKind = (typeof UNIT_KINDS)[number];

interface RegionalStatus {
  display: string;
  /** Only units in an available status are offered as candidates. */
  available: boolean;
}

export interface Place {
  lat: number;
  lon: number;
  name: string;
}

export interface UnitTables {
  regional: Record<string, RegionalStatus>;
  /** URA → own code → regional code. */
  ownCodes: Record<string, Record<string, string>>;
  kindsByUrgency: Record<string, UnitKind[]>;
  speedKmPerHour: Record<UnitKind, number>;
  /** Four-digit postcode → centre of that area; city name (lower case) → centre. */
  postcodes: Record<string, Place>;
  cities: Record<string, Place>;
}

function readJson(file: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${file}: must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

function object(file: string, value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: ${what} must be an object`);
  return value as Record<string, unknown>;
}

function isKind(k: unknown): k is UnitKind {
  return typeof k === 'string' && (UNIT_KINDS as readonly string[]).includes(k);
}

function place(file: string, key: string, value: unknown): Place {
  const v = object(file, value, key);
  const { lat, lon, name } = v;
  if (typeof lat !== 'number' || lat < -90 || lat > 90 || typeof lon !== 'number' || lon < -180 || lon > 180 || typeof name !== 'string') {
    throw new Error(`${file}: ${key} must be { lat, lon, name } in WGS84 degrees`);
  }
  return { lat, lon, name };
}

export function loadUnitTables(mappingsDir: string): UnitTables {
  const codesFile = join(mappingsDir, 'eenheid/status-codes.json');
  const codes = readJson(codesFile);
  const regional: Record<string, RegionalStatus> = {};
  for (const [code, value] of Object.entries(object(codesFile, codes.regional, 'regional'))) {
    const v = object(codesFile, value, `regional.${code}`);
    if (typeof v.display !== 'string' || typeof v.available !== 'boolean') throw new Error(`${codesFile}: regional.${code} needs display and available`);
    regional[code] = { display: v.display, available: v.available };
  }
  const ownCodes: Record<string, Record<string, string>> = {};
  for (const [ura, value] of Object.entries(object(codesFile, codes.organisations, 'organisations'))) {
    if (!/^\d{8}$/.test(ura)) throw new Error(`${codesFile}: organisations.${ura} is not a URA`);
    const table = object(codesFile, object(codesFile, value, `organisations.${ura}`).codes, `organisations.${ura}.codes`);
    ownCodes[ura] = {};
    for (const [own, reg] of Object.entries(table)) {
      if (typeof reg !== 'string' || !regional[reg]) throw new Error(`${codesFile}: organisations.${ura}.codes.${own} maps to '${String(reg)}', which is no regional status`);
      ownCodes[ura][own] = reg;
    }
  }

  const candidatesFile = join(mappingsDir, 'eenheid/candidates.json');
  const candidates = readJson(candidatesFile);
  const kindsByUrgency: Record<string, UnitKind[]> = {};
  for (const [urgency, kinds] of Object.entries(object(candidatesFile, candidates.kindsByUrgency, 'kindsByUrgency'))) {
    if (!Array.isArray(kinds) || !kinds.every(isKind)) throw new Error(`${candidatesFile}: kindsByUrgency.${urgency} must list kinds of ${UNIT_KINDS.join(', ')}`);
    kindsByUrgency[urgency] = kinds;
  }
  const speeds = object(candidatesFile, candidates.speedKmPerHour, 'speedKmPerHour');
  const speedKmPerHour = {} as Record<UnitKind, number>;
  for (const kind of UNIT_KINDS) {
    const s = speeds[kind];
    if (typeof s !== 'number' || !(s > 0)) throw new Error(`${candidatesFile}: speedKmPerHour.${kind} must be a positive number`);
    speedKmPerHour[kind] = s;
  }

  const placesFile = join(mappingsDir, 'eenheid/places.json');
  const places = readJson(placesFile);
  const postcodes: Record<string, Place> = {};
  for (const [pc4, value] of Object.entries(object(placesFile, places.postcodes, 'postcodes'))) {
    if (!/^\d{4}$/.test(pc4)) throw new Error(`${placesFile}: postcodes.${pc4} is not a four-digit postcode`);
    postcodes[pc4] = place(placesFile, `postcodes.${pc4}`, value);
  }
  const cities: Record<string, Place> = {};
  for (const [city, value] of Object.entries(object(placesFile, places.cities, 'cities'))) cities[city.toLowerCase()] = place(placesFile, `cities.${city}`, value);
  return { regional, ownCodes, kindsByUrgency, speedKmPerHour, postcodes, cities };
}
