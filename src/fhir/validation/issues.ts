import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = 'invalid' | 'required' | 'value' | 'invariant' | 'structure' | 'not-found' | 'processing';

export function issue(code: IssueCode, expression: string, diagnostics: string): OperationOutcomeIssue {
  return { severity: 'error', code, expression: [expression], diagnostics };
}
