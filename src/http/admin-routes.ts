import { timingSafeEqual } from 'node:crypto';
import type { AuditEventEntity } from '@medplum/fhirtypes';
import express from 'express';
import type { Resource } from '@medplum/fhirtypes';
import type { Audit } from '../audit/index.ts';
import type { AuthService } from '../auth/index.ts';
import { InvalidRegistration, validateRegistration } from '../auth/clients.ts';
import { systemContext } from '../context.ts';
import { organizationResource } from '../demo.ts';
import { CLIENT_SYSTEM, URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { gatewaySubtype, REST_TYPE } from '../audit/event.ts';
import { badRequest, notFound, unauthorized } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { isReindexCursor, reindexBatch, reindexTotal } from '../fhir/search/reindex.ts';
import type { SearchParameterRegistry } from '../fhir/search/parameters.ts';
import type { OpenTransaction } from '../fhir/write-phases.ts';
import type { Database } from '../store/database.ts';
import { parseJsonBody } from './json-body.ts';
import { subscriptionStore } from '../subscriptions/store.ts';

export interface AdminDeps {
  token: string | undefined;
  db: Database;
  auth: AuthService;
  repository: (ctx: ReturnType<typeof systemContext>) => Repository;
  audit: Audit;
  /** The search parameters, for rewriting the search index of stored resources. */
  registry: SearchParameterRegistry;
  /** The index tokens the write hooks derive (WriteHooks.indexTokens), kept by a reindex. */
  indexTokens?: (open: OpenTransaction, resource: Resource) => Promise<string[]>;
  /** The channel the delivery workers listen on, to wake them after a re-activation. */
  outboxChannel: string;
  /** Further operator routes (subscriptions, audit) mounted behind the same token. */
  extra?: express.Router[];
}

/** What the operator endpoints answer when no `ADMIN_TOKEN` is configured; the CLI shows it as it is. */
const OPERATORS_DISABLED = 'operator endpoints are disabled (ADMIN_TOKEN unset)';

/** DICOM "User Security Attributes Changed": a client's registration (its access) removed by an operator. */
const SECURITY_CHANGE = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110137', display: 'User Security Attributes Changed' };
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/** The client an operator's change is about, as an AuditEvent entity. */
function clientEntity(clientId: string, ura: string): AuditEventEntity {
  return { what: { identifier: { system: CLIENT_SYSTEM, value: clientId } }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' }, detail: [{ type: 'organization-ura', valueString: ura }] };
}

/**
 * Operator endpoints behind `ADMIN_TOKEN` (the CLI's way in, for the embedded store and for several
 * instances alike): register and remove a client organisation with its public keys, list clients,
 * subscriptions, the audit head; rewrite the search index. Without a configured token they answer 404
 * saying so, rather than a bare "nothing here" that sends an operator looking for a wrong URL.
 */
export function adminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();
  const { token } = deps;
  if (!token) {
    router.use('/admin', (_req, _res, next) => next(notFound(OPERATORS_DISABLED)));
    return router;
  }
  const wanted = Buffer.from(`Bearer ${token}`);
  router.use('/admin', (req, _res, next) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      next(unauthorized('The operator endpoints need Authorization: Bearer <ADMIN_TOKEN>'));
      return;
    }
    next();
  });

  router.post(
    '/admin/clients',
    express.raw({ type: () => true, limit: 256 * 1024 }),
    async (req, res) => {
      let registration;
      try {
        registration = validateRegistration(parseJsonBody(req.body as Buffer));
      } catch (err) {
        if (err instanceof InvalidRegistration) throw badRequest(err.message);
        throw err;
      }
      const requestId = res.locals.requestId as string;
      const valid = registration;
      // The registration (a new client, a changed one, or one removed before and given access again) and its audit
      // record commit together, as a removal and its record do.
      await deps.db.transaction(async (tx) => {
        const created = await deps.auth.registerClient(valid, tx);
        await deps.audit.log.record(
          {
            type: SECURITY_CHANGE,
            subtype: gatewaySubtype('register-client'),
            action: created ? 'C' : 'U',
            outcome: '0',
            status: 201,
            organizationUra: 'system',
            clientId: 'operator',
            requestId,
            entities: [],
            description: `POST /admin/clients: client ${valid.clientId} of URA ${valid.organizationUra} ${created ? 'registered' : 'changed'}, scopes ${valid.scopes.join(' ')}${valid.roles.length ? `, roles ${valid.roles.join(' ')}` : ''}`,
            detail: [clientEntity(valid.clientId, valid.organizationUra)],
          },
          tx,
        );
      });
      // A client acts for an organisation the gateway must know, to address handovers to it and from it.
      await deps.repository(systemContext('admin')).create(
        organizationResource({ ura: registration.organizationUra, name: registration.organizationName, type: 'CLIENT' }),
        { ifNoneExist: `identifier=${URA_SYSTEM}|${registration.organizationUra}` },
      );
      res.status(201).json({ clientId: registration.clientId, organizationUra: registration.organizationUra, scopes: registration.scopes, roles: registration.roles });
    },
  );

  router.get(
    '/admin/clients',
    async (_req, res) => {
      const rows = await deps.db.query<{ client_id: string; organization_ura: string; organization_name: string; roles: string[]; scopes: string[]; has_jwks: boolean; has_secret: boolean }>(
        `SELECT client_id, organization_ura, organization_name, roles, scopes, jwks IS NOT NULL AS has_jwks, secret_hash IS NOT NULL AS has_secret
         FROM oauth_clients ORDER BY client_id`,
      );
      res.json(
        rows.rows.map((r) => ({
          clientId: r.client_id,
          organizationUra: r.organization_ura,
          organizationName: r.organization_name,
          roles: r.roles,
          scopes: r.scopes,
          authentication: [r.has_jwks ? 'private_key_jwt' : undefined, r.has_secret ? 'client_secret_basic' : undefined].filter(Boolean),
        })),
      );
    },
  );

  router.delete(
    '/admin/clients/:clientId',
    async (req, res) => {
      const clientId = String(req.params.clientId);
      if (!CLIENT_ID.test(clientId)) throw badRequest('A client id is 1-128 of letters, digits and . _ ~ -', ['clientId']);
      const requestId = res.locals.requestId as string;
      // The removal and its audit record commit together: no access is taken away unrecorded.
      const removed = await deps.db.transaction(async (tx) => {
        const r = await tx.query<{ organization_ura: string }>('DELETE FROM oauth_clients WHERE client_id = $1 RETURNING organization_ura', [clientId]);
        const ura = r.rows[0]?.organization_ura;
        if (ura === undefined) return undefined;
        await deps.audit.log.record(
          {
            type: SECURITY_CHANGE,
            subtype: gatewaySubtype('delete-client'),
            action: 'D',
            outcome: '0',
            status: 200,
            organizationUra: 'system',
            clientId: 'operator',
            requestId,
            entities: [],
            description: `DELETE /admin/clients/${clientId}: client of URA ${ura} removed`,
            detail: [clientEntity(clientId, ura)],
          },
          tx,
        );
        return ura;
      });
      if (removed === undefined) throw notFound(`No client ${clientId} is registered`);
      res.json({ clientId, organizationUra: removed, deleted: true });
    },
  );

  router.get(
    '/admin/subscriptions',
    async (_req, res) => {
      // A deleted Subscription keeps its state row (switched off, so that a read answers 410): the stored
      // resource says it was deleted, which `off` alone (also a subscriber's own pause) does not.
      const rows = await deps.db.query<{ id: string; owner_ura: string; status: string; endpoint: string; payload: string; error_count: string; last_error: string | null; pending: string; dead: string }>(
        `SELECT s.id, s.owner_ura, CASE WHEN r.deleted THEN 'deleted' ELSE s.status END AS status, s.endpoint, s.payload, s.error_count::text, s.last_error,
                count(e.*) FILTER (WHERE e.state IN ('pending', 'sending'))::text AS pending,
                count(e.*) FILTER (WHERE e.state = 'dead')::text AS dead
         FROM subscription_state s
         LEFT JOIN resources r ON r.resource_type = 'Subscription' AND r.id = s.id
         LEFT JOIN subscription_events e ON e.subscription_id = s.id
         GROUP BY s.id, r.deleted ORDER BY s.owner_ura, s.id`,
      );
      res.json(
        rows.rows.map((r) => ({
          id: r.id,
          organizationUra: r.owner_ura,
          status: r.status,
          endpoint: r.endpoint,
          payload: r.payload,
          undelivered: Number(r.pending),
          deadLetters: Number(r.dead),
          errors: Number(r.error_count),
          lastError: r.last_error ?? '',
        })),
      );
    },
  );

  router.post(
    '/admin/subscriptions/:id/reactivate',
    async (req, res) => {
      const id = String(req.params.id);
      const requestId = res.locals.requestId as string;
      // As a subscriber's own re-activation: a new handshake, then delivery resumes from the first undelivered event.
      // The change and its audit record commit together, as every operator's change does.
      const done = await deps.db.transaction(async (tx) => {
        const reactivated = await subscriptionStore.reactivate(tx, id);
        if (!reactivated) return false;
        await deps.audit.log.record(
          {
            type: REST_TYPE,
            subtype: gatewaySubtype('reactivate-subscription'),
            action: 'U',
            outcome: '0',
            status: 200,
            organizationUra: 'system',
            clientId: 'operator',
            requestId,
            resource: { type: 'Subscription', id },
            entities: [`Subscription/${id}`],
            description: `POST /admin/subscriptions/${id}/reactivate: subscription of URA ${reactivated.ownerUra} re-activated, ${reactivated.revived} dead letters due again`,
          },
          tx,
        );
        await tx.query('SELECT pg_notify($1, $2)', [deps.outboxChannel, '']);
        return true;
      });
      if (!done) throw notFound(`No active or failed subscription ${id}`);
      res.json({ id, status: 'requested' });
    },
  );

  router.get(
    '/admin/audit/head',
    async (_req, res) => {
      const result = await deps.audit.verify();
      res.json({
        intact: result.intact,
        linkedRecords: result.linked,
        notYetLinked: result.pending,
        head: result.head ?? null,
        problems: result.problems.length,
        verifiedAt: new Date().toISOString(),
      });
    },
  );

  // One batch per call, in key order: the CLI calls again with `next` until it is null, showing progress,
  // and no request holds locks on more than one batch.
  router.post(
    '/admin/reindex',
    async (req, res) => {
      // The gateway's query parser gives every parameter as a list of values.
      const query = req.query as Record<string, string[] | undefined>;
      const after = query.after?.[0];
      const count = query.count?.[0] === undefined ? 500 : Number(query.count[0]);
      if (after !== undefined && !isReindexCursor(after)) throw badRequest('after must be the key of a resource, such as Patient/123: the next of the previous batch', ['after']);
      if (!Number.isInteger(count) || count < 1 || count > 5000) throw badRequest('count must be a whole number from 1 to 5000', ['count']);
      const batch = await reindexBatch(deps.db, deps.registry, after, count, deps.indexTokens);
      res.json(after === undefined ? { ...batch, total: await reindexTotal(deps.db) } : batch);
    },
  );

  for (const extra of deps.extra ?? []) router.use(extra);
  return router;
}
