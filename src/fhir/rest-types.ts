import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import type { Query } from './search/parse.ts';

/** A FHIR REST request as plain data: the router knows nothing of HTTP. */
export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the FHIR base, without leading slash: `Task/123/_history/2`. */
  path: string;
  query: Query;
  body?: unknown;
  headers: {
    ifMatch?: string;
    ifNoneExist?: string;
    prefer?: string;
    contentType?: string;
  };
  ctx: RequestContext;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
  /** A successful write's warnings, for a transaction's `entry.response.outcome` (the body may be the resource). */
  outcome?: OperationOutcome;
}
