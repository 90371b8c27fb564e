import type { ErrorRequestHandler } from 'express';
import type { TokenAttempt } from '../auth/types.ts';
import type { Logger } from 'pino';
import type { CapabilityContribution } from '../fhir/capability.ts';
import { outcome } from '../fhir/outcomes.ts';
import type { WriteHooks } from '../fhir/write-phases.ts';
import type { FhirRequest, FhirResponse } from '../fhir/rest-types.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { EarlyRefusal } from '../http/server.ts';
import { safeError } from '../observability/logging.ts';
import type { Database } from '../store/database.ts';
import { chainBacklog, chainHead, linkAll, linkPending, PASS_LIMIT, type ChainBacklog, type ChainHead } from './chain.ts';
import { gatewaySubtype, LOGIN_TYPE } from './event.ts';
import { auditedRouter, auditEarlyRefusal, auditFailures } from './http.ts';
import { AuditLog } from './recorder.ts';
import { registerAuditRoutes } from './routes.ts';
import { verifyChain, type VerifyResult } from './verify.ts';

export { auditNotificationAttempts, notificationAttemptsStatement, type NotificationAttempt } from './notifications.ts';
export { AuditLog } from './recorder.ts';
export { describeNativeRequest, nativeRecordEntity } from './fhir-request.ts';

/** The role the gateway works as after its migrations (005_audit.sql): it may only append to the audit trail. */
export const GATEWAY_ROLE = 'gateway_app';
const LINK_INTERVAL_MS = 1000;
const HEAD_LOG_INTERVAL_MS = 60_000;

export interface Audit {
  log: AuditLog;
  hooks: WriteHooks;
  router(fhir: FhirRouter): { handle(req: FhirRequest): Promise<FhirResponse> };
  failures: ErrorRequestHandler;
  /** Requests Node's HTTP parser refused before express saw them (src/http/server.ts). */
  earlyRefusals: (refusal: EarlyRefusal) => Promise<void>;
  registerRoutes(fhir: FhirRouter, baseUrl: string): CapabilityContribution;
  token(attempt: TokenAttempt): Promise<void>;
  /** Links what is linkable now (tests; the background linker does this every second, and at once after a full pass). */
  link(): Promise<number>;
  head(): Promise<ChainHead | undefined>;
  /** What the linker has still to link (for /metrics). */
  backlog(): Promise<ChainBacklog>;
  verify(exportedHead?: string): Promise<VerifyResult>;
  start(): void;
  close(): Promise<void>;
}

export function createAudit(db: Database, logger: Logger): Audit {
  const log = new AuditLog(db);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let lastHeadLog = 0;
  let stopped = false;

  const tick = (): void => {
    let backlog = false;
    running = linkPending(db)
      .then(async (linked) => {
        // A full pass leaves rows behind: the next pass follows at once (after the requests waiting on the event loop),
        // so under a stream of reads the chain stays within a pass of the trail instead of falling behind by a second's.
        backlog = linked === PASS_LIMIT;
        if (Date.now() - lastHeadLog < HEAD_LOG_INTERVAL_MS) return;
        lastHeadLog = Date.now();
        const head = await chainHead(db);
        // The head hash, logged so that a copy outside the database proves the past (compare with $verify?head=).
        if (head) logger.info({ auditHead: head }, 'audit chain head');
      })
      .catch((err: unknown) => logger.error({ err: safeError(err) }, 'audit chain linking failed; retrying'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, backlog ? 0 : LINK_INTERVAL_MS).unref();
      });
  };

  return {
    log,
    hooks: log.hooks,
    router: (fhir) => auditedRouter(fhir, log),
    failures: auditFailures(log),
    earlyRefusals: auditEarlyRefusal(log),
    registerRoutes: (fhir, baseUrl) => registerAuditRoutes(fhir, db, baseUrl),
    token: async (a) => {
      await log.record({
        type: LOGIN_TYPE,
        subtype: gatewaySubtype('token'),
        action: 'E',
        outcome: !a.error ? '0' : a.error.status >= 500 ? '8' : '4',
        status: a.error?.status ?? 200,
        organizationUra: a.organizationUra ?? 'unknown',
        clientId: a.clientId ?? 'unknown',
        requestId: a.requestId,
        entities: [],
        description: a.error ? `token refused: ${a.error.code}` : `token issued: ${(a.scopes ?? []).join(' ')}`,
        failure: a.error ? outcome(a.error.status >= 500 ? 'exception' : 'security', `${a.error.code}: ${a.error.description}`) : undefined,
      });
    },
    link: () => linkAll(db),
    head: () => chainHead(db),
    backlog: () => chainBacklog(db),
    verify: (exportedHead) => verifyChain(db, exportedHead),
    start: () => {
      if (!timer && !stopped) timer = setTimeout(tick, LINK_INTERVAL_MS).unref();
    },
    close: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
