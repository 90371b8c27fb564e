import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { classifyDatabaseError } from '../store/faults.ts';

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
/** A business rule (the handover workflow, its state machine) refuses the change: 422, never 409 (a version conflict). */
export const businessRule = fail(422, 'business-rule');
export const tooManyRequests = (diagnostics: string, retryAfterSeconds: number): HttpError =>
  new HttpError(429, outcome('throttled', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
/** The database gave up the request's transaction to end a conflict with another (deadlock, serialization): nothing was stored. */
const transientConflict = (diagnostics: string): HttpError => new HttpError(503, outcome('transient', diagnostics), { 'Retry-After': '1' });

/** Seconds a client is asked to wait after the database could not be reached: about a restart's time. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * The answer to a database fault of the moment (src/store/faults.ts), or undefined for any other error:
 * 503 with `Retry-After` and a `transient` outcome. Never 404: a database that does not answer says
 * nothing about whether a resource exists.
 */
export function databaseFault(err: unknown): HttpError | undefined {
  switch (classifyDatabaseError(err)) {
    case 'conflict':
      return transientConflict('The database broke off this request to settle a conflict with another request at the same moment, again after being retried; nothing was stored. Send it again');
    case 'unavailable':
      return new HttpError(503, outcome('transient', 'The database is not reachable at the moment; nothing was stored. Send the request again later'), {
        'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
      });
    case 'timeout':
      return new HttpError(503, outcome('timeout', 'The database did not answer in time; nothing was stored. Send the request again later'), {
        'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
      });
    default:
      return undefined;
  }
}

/**
 * Whether `err` says that a resource is not there for the caller (unknown, not shared with it, or deleted):
 * the only errors a lookup may turn into "absent". Anything else, a database fault above all, is passed on.
 */
export function isAbsent(err: unknown): boolean {
  return err instanceof HttpError && (err.status === 404 || err.status === 410);
}

export function allOk(diagnostics = 'All OK'): OperationOutcome {
  return outcome('informational', diagnostics, undefined, 'information');
}

/** A generic 500: never carries internal detail to the client. */
export function internalError(): HttpError {
  return new HttpError(500, outcome('exception', 'Internal server error'));
}
