// Where a handover is on the map: the centre of its patient's four-digit postcode area, else of the patient's
// city (mappings/eenheid/places.json). Coarse on purpose: an area, not an address, on a shared wall screen.
import type { Patient } from '@medplum/fhirtypes';
import type { Place, UnitTables } from './tables.ts';

export function placeOfPatient(tables: UnitTables, patient: Patient | undefined): Place | undefined {
  for (const address of patient?.address ?? []) {
    const pc4 = /^\s*(\d{4})/.exec(address.postalCode ?? '')?.[1];
    if (pc4 && tables.postcodes[pc4]) return tables.postcodes[pc4];
    const city = address.city?.trim().toLowerCase();
    if (city && tables.cities[city]) return tables.cities[city];
  }
  return undefined;
}
