// The search index is extracted by the fast FHIRPath subset (src/fhirpath/fast-path.ts) where it covers a
// parameter's expression: what it finds must be exactly what fhirpath.js finds, or searches would miss
// resources (or find wrong ones) without any error.
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { example, exampleNames, formatOf, MAPPINGS_DIR } from '../native/mapping-support.ts';

const registry = SearchParameterRegistry.load(join(MAPPINGS_DIR, '../profiles/search-parameters/bundle.json'));
const mapper = loadNativeMapper(MAPPINGS_DIR);

/** What the native mappings make of every shared example, plus the shapes they do not make. */
function resources(): Resource[] {
  const out: Resource[] = [];
  for (const name of exampleNames()) {
    const mapped = mapper.toFhir(formatOf(name), example(name));
    out.push(mapped.patient, ...mapped.observations);
    for (const r of [mapped.encounter, mapped.serviceRequest, mapped.task]) if (r) out.push(r);
  }
  out.push(
    { resourceType: 'Organization', identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/ura', value: '90001234' }], name: 'Huisartsenpost Vechtdal', alias: ['HAP Vechtdal', 'Vechtdal'] },
    { resourceType: 'Provenance', target: [{ reference: 'Task/t1/_history/2' }, { reference: 'Encounter/e1' }], recorded: '2026-03-01T10:00:00Z', agent: [{ who: { reference: 'Organization/o1' } }] },
    { resourceType: 'Observation', status: 'final', code: { text: 'pijn' }, effectivePeriod: { start: '2026-03-01T10:00:00+01:00', end: '2026-03-01T11:00:00+01:00' }, subject: { reference: 'Patient/p1' } },
    { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveDateTime: '2026-03-01', subject: { reference: 'Group/g1' } },
    { resourceType: 'Patient', birthDate: '1950-02-03', _birthDate: { extension: [{ url: 'http://example.org/x', valueString: 'y' }] }, name: [{ family: 'Çelik', given: ['Ayşe', 'M.'], prefix: ['mw.'] }], gender: 'female' } as Resource,
    { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HH' }, basedOn: [{ reference: 'ServiceRequest/s1' }], period: { start: '2026-03-01' }, subject: { reference: 'Patient/p1' } },
    { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: 'Group/g1' }, groupIdentifier: { value: 'no-system' }, businessStatus: { text: 'only text' } },
  );
  return out;
}

test('every search parameter indexes what fhirpath.js finds, on every resource the mappings make and the shapes they do not', () => {
  const checked: string[] = [];
  for (const resource of resources()) {
    for (const sp of registry.forType(resource.resourceType)) {
      const label = `${resource.resourceType}.${sp.code}`;
      expect({ label, values: sp.evaluate(resource) }).toEqual({ label, values: sp.evaluateWithFhirpathJs(resource) });
      checked.push(label);
    }
  }
  // Every parameter of the handover's resource types was compared at least once.
  for (const type of ['Patient', 'Encounter', 'Observation', 'ServiceRequest', 'Task', 'Organization', 'Provenance']) {
    for (const sp of registry.forType(type)) expect(checked).toContain(`${type}.${sp.code}`);
  }
});
