import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { searchsetBundle } from '../fhir/bundles.ts';
import { ownedParties } from '../access/policy.ts';
import { allOk, badRequest, notFound } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { versionHeaders } from '../fhir/rest.ts';
import type { FhirRequest } from '../fhir/rest-types.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { Queryable } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { checkEndpoint, type EndpointPolicy } from './endpoint.ts';
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
  repo: (req: FhirRequest) => Repository;
  requireScope: (req: FhirRequest, resourceType: string, interaction: 'c' | 'r' | 'u' | 'd' | 's') => void;
  /** A subscription was made or re-activated: handshake now. */
  kick: () => void;
}

const MAX_EVENTS_PAGE = 1000;

/**
 * Subscriptions belong to the organisation that made them: another organisation gets 404, as if it did
 * not exist. The resource is stored like any other; its delivery state (status, secret, counters) lives
 * beside it in subscription_state, which is the truth for `status`.
 */
export function registerSubscriptionRoutes(router: FhirRouter, deps: SubscriptionRouteDeps): void {
  const { fhirBaseUrl } = deps;
  const topic = deps.topic.canonical;
  const repoOf = (req: FhirRequest): Repository => req.repository ?? deps.repo(req);

  // The owner's alone (src/access/policy.ts, OWNER_ONLY_TYPES): not the auditor, although it has the ZCC's URA.
  const owns = (repo: Repository, ura: string): boolean => ownedParties(repo.ctx)?.includes(ura) ?? true;

  async function own(repo: Repository, id: string): Promise<SubscriptionRow> {
    const row = await subscriptionStore.get(deps.db, id);
    if (!row || !owns(repo, row.owner_ura)) throw notFound(`Subscription/${id} is not known`);
    return row;
  }

  async function current(repo: Repository, row: SubscriptionRow): Promise<Subscription> {
    const stored = await repo.read('Subscription', row.id);
    const content = { ...(stored.content as Subscription), status: row.status };
    if (row.last_error) content.error = row.last_error;
    return content;
  }

  router.add('POST', 'Subscription', async (req) => {
    deps.requireScope(req, 'Subscription', 'c');
    const spec = await parseSubscription(req.body, deps.topic, fhirBaseUrl, deps.db);
    const repo = repoOf(req);
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

  router.add('GET', 'Subscription', async (req) => {
    deps.requireScope(req, 'Subscription', 's');
    const repo = repoOf(req);
    const ids = owns(repo, repo.ctx.organizationUra) ? await subscriptionStore.listOwned(deps.db, repo.ctx.organizationUra) : [];
    const matches = [];
    for (const id of ids) {
      const row = await subscriptionStore.get(deps.db, id);
      const stored = await resourceStore.current(deps.db, 'Subscription', id);
      if (row && stored && !stored.deleted) matches.push({ ...stored, content: await current(repo, row) });
    }
    return { status: 200, body: searchsetBundle({ baseUrl: fhirBaseUrl, path: 'Subscription', query: {}, matches, included: [], total: matches.length, count: MAX_EVENTS_PAGE, offset: 0 }) };
  });

  router.add('GET', 'Subscription/:id', async (req, { id }) => {
    deps.requireScope(req, 'Subscription', 'r');
    const repo = repoOf(req);
    const row = await own(repo, id);
    const stored = await repo.read('Subscription', id);
    return { status: 200, headers: versionHeaders(fhirBaseUrl, stored), body: await current(repo, row) };
  });

  router.add('PUT', 'Subscription/:id', async (req, { id }) => {
    deps.requireScope(req, 'Subscription', 'u');
    const repo = repoOf(req);
    const row = await own(repo, id);
    const spec = await parseSubscription(req.body, deps.topic, fhirBaseUrl, deps.db);
    if ((req.body as { id?: string }).id !== id) throw badRequest(`The body's id must be ${id}`, ['Subscription.id']);
    await checkEndpoint(deps.policy, repo.ctx.organizationUra, spec.endpoint);
    // 'requested' or 'active' asked of a subscription in error or off re-activates it (handshake, then resume).
    const wanted = spec.status === 'off' ? 'off' : row.status === 'active' && spec.endpoint === row.endpoint ? 'active' : 'requested';
    const result = await repo.transaction(async (r) => {
      const written = await r.update({ ...spec.resource, id, status: wanted } as Subscription);
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
      return written;
    });
    deps.kick();
    const after = await own(repo, id);
    return { status: 200, headers: versionHeaders(fhirBaseUrl, result.stored), body: await current(repo, after) };
  });

  router.add('DELETE', 'Subscription/:id', async (req, { id }) => {
    deps.requireScope(req, 'Subscription', 'd');
    const repo = repoOf(req);
    await own(repo, id);
    await repo.transaction(async (r) => {
      await r.delete('Subscription', id);
      // The row stays, switched off, so that a read of the deleted subscription is 410 for its owner.
      await subscriptionStore.setStatus(r.txHandle(), id, 'off', ['requested', 'active', 'error', 'off']);
    });
    return { status: 200, body: allOk('Deleted') };
  });

  router.add('GET', 'Subscription/:id/$status', async (req, { id }) => {
    deps.requireScope(req, 'Subscription', 'r');
    const repo = repoOf(req);
    await own(repo, id);
    // Events are numbered just after their commit; numbering now makes the answer include every event committed before the request.
    await deps.db.query('SELECT subscription_number_events()');
    const row = await own(repo, id);
    const counts = await subscriptionStore.deliveryCounts(deps.db, id);
    const errors: string[] = [];
    const of = (state: string) => counts.find((c) => c.state === state);
    const dead = of('dead');
    const waiting = [of('pending'), of('sending')].filter((c) => c !== undefined);
    if (dead) errors.push(`${dead.n} events in the dead-letter state, the first is event ${String(dead.first)}: re-activate the subscription to resume from it`);
    if (waiting.length) errors.push(`${waiting.reduce((n, c) => n + Number(c.n), 0)} events not yet delivered`);
    if (row.last_error) errors.push(`${row.error_count} failed attempts; the last at ${row.last_error_at ? new Date(row.last_error_at).toISOString() : '?'}: ${row.last_error}`);
    const status = subscriptionStatus({ fhirBaseUrl, topic, subscriptionId: id, status: row.status, type: 'query-status', eventsSinceStart: row.events_count, events: [], errors });
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: status, search: { mode: 'match' } }] };
    return { status: 200, body: bundle };
  });

  router.add('GET', 'Subscription/:id/$events', async (req, { id }) => {
    deps.requireScope(req, 'Subscription', 'r');
    const repo = repoOf(req);
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
