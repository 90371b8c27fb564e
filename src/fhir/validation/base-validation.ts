import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { baseDefinitions } from './definitions.ts';
import { issue } from './issues.ts';

/**
 * R4 base validation by Medplum. Medplum throws on the first resource with errors; here the
 * errors become issues like every other check's, with the text in `diagnostics` as well.
 */
export function validateBase(resource: Resource): OperationOutcomeIssue[] {
  baseDefinitions();
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      const type = typeof resource?.resourceType === 'string' ? resource.resourceType : 'Resource';
      return [issue('invalid', type, `The resource could not be read as FHIR R4: ${(err as Error).message}`)];
    }
    issues = err.outcome.issue ?? [];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => (i.diagnostics ? i : { ...i, diagnostics: i.details?.text ?? 'Invalid resource' }));
}
