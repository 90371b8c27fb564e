import type { Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import type { Repository } from './repository.ts';
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
  /**
   * Set for the entries of a transaction Bundle: the repository bound to the transaction, so that an
   * entry routed like a request of its own still commits or rolls back with the others.
   */
  repository?: Repository;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
}

export type FhirHandler = (req: FhirRequest, params: Record<string, string>) => Promise<FhirResponse>;
