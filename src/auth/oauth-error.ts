import type { Response } from 'express';

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope' | 'server_error' | 'temporarily_unavailable';

/** A token endpoint error (RFC 6749 §5.2): plain OAuth JSON, not a FHIR OperationOutcome. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(error: OAuthErrorCode, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.error = error;
    this.status = error === 'invalid_client' ? 401 : error === 'server_error' ? 500 : error === 'temporarily_unavailable' ? 503 : 400;
    this.headers = headers;
  }
}

export const invalidRequest = (d: string): OAuthError => new OAuthError('invalid_request', d);
export const invalidClient = (d: string, basic = false): OAuthError =>
  new OAuthError('invalid_client', d, basic ? { 'WWW-Authenticate': 'Basic realm="handover-gateway", charset="UTF-8"' } : {});

/** Token responses carry credentials or say why there are none: neither may be cached. */
export function noStore(res: Response): Response {
  return res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
}

export function sendOAuthError(res: Response, err: OAuthError): void {
  noStore(res).status(err.status).set(err.headers).json({ error: err.error, error_description: err.message });
}
