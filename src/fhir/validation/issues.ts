import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = 'invalid' | 'required' | 'value' | 'invariant' | 'structure' | 'not-found' | 'processing';

/** `warning` for a SHOULD of a profile (an invariant of severity warning): reported, never a reason to refuse. */
export type IssueSeverity = 'error' | 'warning';

export function issue(code: IssueCode, expression: string, diagnostics: string, severity: IssueSeverity = 'error'): OperationOutcomeIssue {
  return { severity, code, expression: [expression], diagnostics };
}
