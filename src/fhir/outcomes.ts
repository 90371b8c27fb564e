import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * Errors as values that carry their FHIR outcome and HTTP status. Every failure a client can cause
 * is one of these; the HTTP error handler turns anything else into a plain 500 with no internals.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  readonly headers: Record<string, string>;

  constructor(status: number, outcome: OperationOutcome, headers: Record<string, string> = {}) {
    super(outcome.issue?.[0]?.diagnostics ?? `HTTP ${status}`);
    this.status = status;
    this.outcome = outcome;
    this.headers = headers;
  }
}

type IssueCode = OperationOutcomeIssue['code'];

export function outcome(code: IssueCode, diagnostics: string, expression?: string[], severity: OperationOutcomeIssue['severity'] = 'error'): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression?.length) issue.expression = expression;
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

export function outcomeOf(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

const fail = (status: number, code: IssueCode) => (diagnostics: string, expression?: string[]): HttpError =>
  new HttpError(status, outcome(code, diagnostics, expression));

export const badRequest = fail(400, 'invalid');
export const unauthorized = (diagnostics: string): HttpError =>
  new HttpError(401, outcome('login', diagnostics), { 'WWW-Authenticate': 'Bearer' });
export const forbidden = fail(403, 'forbidden');
export const notFound = fail(404, 'not-found');
export const methodNotAllowed = fail(405, 'not-supported');
export const notAcceptable = fail(406, 'not-supported');
export const conflict = fail(409, 'conflict');
export const gone = fail(410, 'deleted');
export const preconditionFailed = fail(412, 'conflict');
export const payloadTooLarge = fail(413, 'too-costly');
export const unsupportedMediaType = fail(415, 'not-supported');
export const unprocessable = fail(422, 'processing');
export const tooManyRequests = (diagnostics: string, retryAfterSeconds: number): HttpError =>
  new HttpError(429, outcome('throttled', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
/** The database gave up the request's transaction to end a conflict with another (deadlock, serialization): nothing was stored. */
export const transientConflict = (diagnostics: string): HttpError => new HttpError(503, outcome('transient', diagnostics), { 'Retry-After': '1' });

export function allOk(diagnostics = 'All OK'): OperationOutcome {
  return outcome('informational', diagnostics, undefined, 'information');
}

/** A generic 500: never carries internal detail to the client. */
export function internalError(): HttpError {
  return new HttpError(500, outcome('exception', 'Internal server error'));
}
