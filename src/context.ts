import type { RequestAudit } from './audit/recorder.ts';

/**
 * Who is acting. Decided once per request from the access token (src/auth) and passed explicitly
 * into every store and repository call: never ambient.
 */
export interface RequestContext {
  /** The acting organisation's URA number (8 digits). */
  organizationUra: string;
  /** The logical id of the acting Organization resource, when it is registered as one. */
  organizationId?: string;
  /** The OAuth client id that made the request. */
  clientId: string;
  /** SMART v2 scopes granted to the token, e.g. `system/Task.cruds`. */
  scopes: string[];
  /** Roles of the client; `auditor` reads audit data, `zcc` reads every handover of the region. */
  roles: string[];
  /** The person on whose behalf the system acts, when the token or the record names one. */
  onBehalfOf?: string;
  /** The request id (X-Request-Id), for logs and audit. */
  requestId: string;
  /**
   * The audit trail's record of this request (src/audit/recorder.ts): what it is, and whether its rows are
   * written. Set when the request is described (`AuditLog.begin`); the `audit` write phase reads it at commit.
   */
  audit?: RequestAudit;
}

/** The gateway itself, for start-up work (seeding, migrations, workers). */
export function systemContext(requestId = 'system'): RequestContext {
  return { organizationUra: 'system', clientId: 'gateway', scopes: ['system/*.cruds'], roles: ['system'], requestId };
}
