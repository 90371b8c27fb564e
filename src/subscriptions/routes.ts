import type { Bundle, BundleEntry, Parameters, Subscription } from '@medplum/fhirtypes';
import { ownedParties } from '../access/policy.ts';
import type { Operation } from '@medplum/core';
import { allOk, badRequest, notFound } from '../fhir/outcomes.ts';
import { parseIfMatch, type Repository } from '../fhir/repository.ts';
import { patchedCopy } from '../fhir/version-content.ts';
import { versionHeaders } from '../fhir/rest.ts';
import type { FhirResponse } from '../fhir/rest-types.ts';
import { BY_SCOPE, type FhirRouter, type RouteInteraction } from '../fhir/router.ts';
import type { Queryable } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { checkEndpoint, type EndpointPolicy } from './endpoint.ts';
import { alternatives, searchSubscriptions, type Candidate } from './search.ts';
import { notificationBundle, subscriptionStatus, type EventInfo } from './notification.ts';
import { newSecret, parseSubscription, SECRET_EXTENSION, type Payload } from './spec.ts';
import { subscriptionStore, type SubscriptionRow } from './store.ts';
import type { TopicNames } from './topic.ts';

export interface SubscriptionRouteDeps {
  fhirBaseUrl: string;
  /** The handover topic's canonical, and the criteria accepted for it. */
  topic: TopicNames;
  db: Queryable;
  policy: EndpointPolicy;
  /** A subscription was made or re-activated: handshake now. */
  kick: () => void;
}

const MAX_EVENTS_PAGE = 1000;
const STATUSES = ['requested', 'active', 'error', 'off'];

/**
 * Subscriptions belong to the organisation that made them: another organisation gets 404, as if it did
 * not exist. The resource is stored like any other; its delivery state (status, secret, counters) lives
 * beside it in subscription_state, which is the truth for `status`. Every write of a Subscription (PUT,
 * PATCH, DELETE) goes through these routes, which keep the two together: the generic routes never see one.
 */
export function registerSubscriptionRoutes(router: FhirRouter, deps: SubscriptionRouteDeps): void {
  const { fhirBaseUrl } = deps;
  const topic = deps.topic.canonical;
  const meta = (interaction: RouteInteraction) => ({ interaction, type: 'Subscription', access: BY_SCOPE });
  const operation = { interaction: 'operation', type: 'Subscription', access: { any: ['r'] } } as const;

  // The owner's alone (src/access/policy.ts, OWNER_ONLY_TYPES): not the auditor, although it has the ZCC's URA.
  const owns = (repo: Repository, ura: string): boolean => ownedParties(repo.ctx)?.includes(ura) ?? true;

  async function own(repo: Repository, id: string): Promise<SubscriptionRow> {
    const row = await subscriptionStore.get(deps.db, id);
    if (!row || !owns(repo, row.owner_ura)) throw notFound(`Subscription/${id} is not known`);
    return row;
  }

  /** A stored Subscription with its delivery state: the status the worker keeps, and its last error. */
  function withDeliveryState(stored: Subscription, row: SubscriptionRow): Subscription {
    const content = { ...stored, status: row.status };
    if (row.last_error) content.error = row.last_error;
    return content;
  }

  async function current(repo: Repository, row: SubscriptionRow): Promise<Subscription> {
    return withDeliveryState((await repo.read('Subscription', row.id)).content as Subscription, row);
  }

  /** PUT and PATCH alike: the new content checked as a new subscription is, the delivery state changed with it. */
  async function replace(repo: Repository, id: string, row: SubscriptionRow, body: unknown, ifMatch: string | undefined): Promise<FhirResponse> {
    const spec = await parseSubscription(body, deps.topic, fhirBaseUrl, deps.db);
    if ((body as { id?: string }).id !== id) throw badRequest(`The body's id must be ${id}`, ['Subscription.id']);
    await checkEndpoint(deps.policy, repo.ctx.organizationUra, spec.endpoint);
    // 'requested' or 'active' asked of a subscription in error or off re-activates it (handshake, then resume).
    const wanted = spec.status === 'off' ? 'off' : row.status === 'active' && spec.endpoint === row.endpoint ? 'active' : 'requested';
    const result = await repo.transaction(async (r) => {
      // A stale If-Match is 412 before anything changes (the version check is the repository's).
      const written = await r.update({ ...spec.resource, id, status: wanted } as Subscription, { ifMatch });
      await subscriptionStore.update(r.txHandle(), id, {
        status: wanted,
        secret: spec.secret,
        filters: spec.filters,
        endpoint: spec.endpoint,
        payload: spec.payload,
        heartbeat_period: spec.heartbeatPeriod ?? null,
        timeout_seconds: spec.timeoutSeconds,
        content_type: spec.contentType ?? null,
        ends_at: spec.end ?? null,
      });
      // The delivery state as this change left it, read before any worker is woken: a handshake answered at once
      // would otherwise make the answer 'active' where this request asked for a handshake ('requested').
      const state = await subscriptionStore.get(r.txHandle(), id);
      return { written, state };
    });
    deps.kick();
    const content = result.written.stored.content as Subscription;
    return { status: 200, headers: versionHeaders(fhirBaseUrl, result.written.stored), body: result.state ? withDeliveryState(content, result.state) : content };
  }

  /** A SubscriptionStatus (Backport IG, R4 Parameters) of one owned subscription, with what is wrong with its delivery. */
  async function statusOf(row: SubscriptionRow): Promise<Parameters> {
    const counts = await subscriptionStore.deliveryCounts(deps.db, row.id);
    const errors: string[] = [];
    const of = (state: string) => counts.find((c) => c.state === state);
    const dead = of('dead');
    const waiting = [of('pending'), of('sending')].filter((c) => c !== undefined);
    if (dead) errors.push(`${dead.n} events in the dead-letter state, the first is event ${String(dead.first)}: re-activate the subscription to resume from it`);
    if (waiting.length) errors.push(`${waiting.reduce((n, c) => n + Number(c.n), 0)} events not yet delivered`);
    if (row.last_error) errors.push(`${row.error_count} failed attempts; the last at ${row.last_error_at ? new Date(row.last_error_at).toISOString() : '?'}: ${row.last_error}`);
    return subscriptionStatus({ fhirBaseUrl, topic, subscriptionId: row.id, status: row.status, type: 'query-status', eventsSinceStart: row.events_count, events: [], errors });
  }

  const statusBundle = (statuses: Parameters[]): Bundle => ({
    resourceType: 'Bundle',
    type: 'searchset',
    total: statuses.length,
    entry: statuses.map((resource): BundleEntry => ({ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource, search: { mode: 'match' } })),
  });

  router.add('POST', 'Subscription', meta('create'), async (req, { repo }) => {
    const spec = await parseSubscription(req.body, deps.topic, fhirBaseUrl, deps.db);
    await checkEndpoint(deps.policy, repo.ctx.organizationUra, spec.endpoint);
    const secret = spec.secret ?? newSecret();
    const { id: _ignored, ...resource } = { ...spec.resource, status: 'requested' } as Subscription;
    const result = await repo.transaction(async (r) => {
      const written = await r.create(resource);
      await subscriptionStore.insert(r.txHandle(), {
        id: written.stored.id,
        owner_ura: r.ctx.organizationUra,
        status: 'requested',
        secret,
        filters: spec.filters,
        endpoint: spec.endpoint,
        payload: spec.payload,
        heartbeat_period: spec.heartbeatPeriod ?? null,
        timeout_seconds: spec.timeoutSeconds,
        reads_all: r.ctx.roles.includes('zcc'),
        content_type: spec.contentType ?? null,
        ends_at: spec.end ?? null,
      });
      return written;
    });
    deps.kick();
    const body = result.stored.content as Subscription;
    // A secret the gateway made is shown this once; it is never stored in the resource or shown again.
    const answer = spec.secret ? body : { ...body, extension: [...(body.extension ?? []), { url: SECRET_EXTENSION, valueString: secret }] };
    return { status: 201, headers: { ...versionHeaders(fhirBaseUrl, result.stored), Location: `${fhirBaseUrl}/Subscription/${result.stored.id}/_history/${result.stored.versionId}` }, body: answer };
  });

  // Search by status (the delivery state's, the truth), url (the endpoint) and _id (src/subscriptions/search.ts).
  router.add('GET', 'Subscription', meta('search-type'), async (req, { repo }) => {
    const ids = owns(repo, repo.ctx.organizationUra) ? await subscriptionStore.listOwned(deps.db, repo.ctx.organizationUra) : [];
    const owned: Candidate[] = [];
    for (const id of ids) {
      const row = await subscriptionStore.get(deps.db, id);
      const stored = await resourceStore.current(deps.db, 'Subscription', id);
      if (row && stored && !stored.deleted) owned.push({ row, version: { ...stored, content: await current(repo, row) } });
    }
    const strict = /handling=strict/.test(req.headers.prefer ?? '');
    return { status: 200, body: searchSubscriptions({ baseUrl: fhirBaseUrl, query: req.query, strict, owned }) };
  });

  router.add('GET', 'Subscription/:id', meta('read'), async (_req, { params: { id }, repo }) => {
    const row = await own(repo, id);
    const stored = await repo.read('Subscription', id);
    return { status: 200, headers: versionHeaders(fhirBaseUrl, stored), body: await current(repo, row) };
  });

  router.add('PUT', 'Subscription/:id', meta('update'), async (req, { params: { id }, repo }) => {
    const row = await own(repo, id);
    return replace(repo, id, row, req.body, parseIfMatch(req.headers.ifMatch));
  });

  // JSON Patch on what a read shows (status included), then the same checks and state change as a PUT: a patch
  // cannot set a status or endpoint the delivery state does not follow (the generic PATCH route never sees a Subscription).
  router.add('PATCH', 'Subscription/:id', meta('patch'), async (req, { params: { id }, repo }) => {
    if (!Array.isArray(req.body)) throw badRequest('PATCH takes a JSON Patch document (application/json-patch+json): an array of operations');
    const row = await own(repo, id);
    const stored = await repo.read('Subscription', id);
    const patched = patchedCopy(await current(repo, row), req.body as Operation[]);
    delete patched.error;
    // Without If-Match the version read is the one patched: a change in between is a 412, not lost.
    return replace(repo, id, row, patched, parseIfMatch(req.headers.ifMatch) ?? stored.versionId);
  });

  router.add('DELETE', 'Subscription/:id', meta('delete'), async (_req, { params: { id }, repo }) => {
    await own(repo, id);
    await repo.transaction(async (r) => {
      await r.delete('Subscription', id);
      // The row stays, switched off, so that a read of the deleted subscription is 410 for its owner.
      await subscriptionStore.setStatus(r.txHandle(), id, 'off', ['requested', 'active', 'error', 'off']);
    });
    return { status: 200, body: allOk('Deleted') };
  });

  router.operation('Subscription/:id/$status', operation, async (_req, { params: { id }, repo }) => {
    await own(repo, id);
    // Events are numbered just after their commit; numbering now makes the answer include every event committed before the request.
    await deps.db.query('SELECT subscription_number_events()');
    return { status: 200, body: statusBundle([await statusOf(await own(repo, id))]) };
  });

  // Type level (Backport IG $status): the caller's subscriptions, or those named by `ids` (also `id`), each comma-separated,
  // filtered by `status`; an id that is not the caller's is left out, as if it did not exist.
  router.operation('Subscription/$status', operation, async (req, { repo }) => {
    const named = [...alternatives(req.query, 'ids'), ...alternatives(req.query, 'id')].flat();
    const statuses = alternatives(req.query, 'status').flat();
    const bad = statuses.find((s) => !STATUSES.includes(s));
    if (bad !== undefined) throw badRequest(`status must be one of ${STATUSES.join(', ')}, got '${bad}'`, ['status']);
    await deps.db.query('SELECT subscription_number_events()');
    const owned = owns(repo, repo.ctx.organizationUra) ? await subscriptionStore.listOwned(deps.db, repo.ctx.organizationUra) : [];
    const result: Parameters[] = [];
    for (const id of owned) {
      if (named.length > 0 && !named.includes(id)) continue;
      const row = await subscriptionStore.get(deps.db, id);
      const stored = await resourceStore.current(deps.db, 'Subscription', id);
      if (!row || !stored || stored.deleted || (statuses.length > 0 && !statuses.includes(row.status))) continue;
      result.push(await statusOf(row));
    }
    return { status: 200, body: statusBundle(result) };
  });

  router.operation('Subscription/:id/$events', operation, async (req, { params: { id }, repo }) => {
    await own(repo, id);
    await deps.db.query('SELECT subscription_number_events()');
    const row = await own(repo, id);
    const num = (name: string): number | undefined => {
      const raw = req.query[name]?.[0];
      if (raw === undefined) return undefined;
      if (!/^\d{1,15}$/.test(raw)) throw badRequest(`${name} must be a whole number`, [name]);
      return Number(raw);
    };
    const since = num('eventsSinceNumber') ?? 1;
    const until = num('eventsUntilNumber') ?? Number(row.events_count);
    const content = req.query.content?.[0];
    if (content !== undefined && !['empty', 'id-only', 'full-resource'].includes(content)) throw badRequest('content must be empty, id-only or full-resource', ['content']);
    const payload: Payload = (content as Payload | undefined) ?? (row.payload.startsWith('application/') ? 'full-resource' : row.payload);
    const q = deps.db;
    const rows = await q.query<{ event_number: string; occurred: string | Date; handover_id: string; focus_version: string }>(
      `SELECT event_number::text AS event_number, occurred, handover_id, focus_version::text AS focus_version FROM subscription_events
        WHERE subscription_id = $1 AND event_number BETWEEN $2 AND $3 ORDER BY event_number LIMIT ${MAX_EVENTS_PAGE}`,
      [id, since, until],
    );
    const events: EventInfo[] = [];
    for (const e of rows.rows) {
      const resource = payload === 'full-resource' ? (await resourceStore.version(q, 'Task', e.handover_id, e.focus_version))?.content : undefined;
      events.push({ number: e.event_number, occurred: new Date(e.occurred).toISOString(), handoverId: e.handover_id, focusVersion: e.focus_version, resource });
    }
    return { status: 200, body: notificationBundle({ fhirBaseUrl, topic, subscriptionId: id, status: row.status, type: 'query-event', eventsSinceStart: row.events_count, events }, payload) };
  });
}
