import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../../context.ts';
import { COMMIT_BATCH, refusalDetail, TxSlot, type OpenTransaction, type WriteHooks } from '../write-phases.ts';
import { isGateway, partiesToRead } from '../../access/policy.ts';
import type { OrganizationDirectory } from '../../access/organizations.ts';
import { URA_SYSTEM } from '../identifier-systems.ts';
import { HttpError, outcome, outcomeOf } from '../outcomes.ts';
import { parseLiteral, relativeOf, sameBase } from './literal.ts';
import { findReferences, type FoundReference } from './walk.ts';
import { rowsByKey } from '../../store/key-lookup.ts';

/**
 * References on every write, whichever route (REST, transaction entry, native record):
 * - an absolute URL to one of this gateway's own resources (`{PUBLIC_URL}/fhir/Organization/x`) is stored as
 *   the relative reference it is (`Organization/x`);
 * - a logical reference by URA (`identifier.system` = the URA NamingSystem) on the elements naming an
 *   organisation gains the literal reference to the Organization holding that URA; the client's
 *   identifier and display are kept. An unknown URA is refused (422 naming it);
 * - a literal reference in a handover resource must point at something: a resource that exists and the
 *   writer may read (else 422 naming the path; one message for both, so existence does not leak), an entry
 *   of `contained`, or another server (an absolute URL with a foreign base is kept as is and not followed).
 *   The check runs at the end of the transaction, so entries of one Bundle may refer to each other in any order.
 */

/** The elements whose Reference by URA names an Organization (Task, ServiceRequest, Encounter, and any other resource). */
const ORGANIZATION_ELEMENTS = new Set(['requester', 'owner', 'performer', 'serviceProvider', 'providedBy']);
/** Resources whose every literal reference must resolve: the handover's own, and the PractitionerRole that ties a practitioner to one. */
const CHECKED_TYPES = new Set(['Task', 'ServiceRequest', 'Encounter', 'PractitionerRole']);
/** Provenance is the gateway's own (clients get 405): only its targets are checked, for existence. */
const PROVENANCE_TARGET = /^Provenance\.target\[\d+\]$/;

interface Pending {
  path: string;
  key: string;
  type: string;
  ctx: RequestContext;
}

/** The SQLSTATE of `refuse_unresolved_references` (migration 028): the check's own refusal. */
const UNRESOLVED_REFERENCES = 'GW422';

/** What each writing transaction still has to check at its end, and what it wrote (present by construction). */
const PENDING = new TxSlot<Pending[]>('references.pending', () => []);
const WRITTEN = new TxSlot<Set<string>>('references.written', () => new Set());

function elementName(path: string): string {
  const last = path.slice(path.lastIndexOf('.') + 1);
  return last.replace(/\[\d+\]$/, '');
}

function isUraIdentifier(value: unknown): value is { system: string; value: string } {
  const i = value as { system?: unknown; value?: unknown } | undefined;
  return i?.system === URA_SYSTEM && typeof i.value === 'string' && i.value.length > 0;
}

export function referenceHooks(options: { baseUrl: string; orgs: OrganizationDirectory }): WriteHooks {
  const { baseUrl, orgs } = options;

  /** Own-base absolute → relative; a URA identifier → `Organization/<id>`. Mutates `found.reference`. */
  async function normalise(w: OpenTransaction, found: FoundReference): Promise<void> {
    const ref = found.reference;
    const byUra = isUraIdentifier(ref.identifier) && ORGANIZATION_ELEMENTS.has(elementName(found.path)) && (ref.type === undefined || ref.type === 'Organization');
    if (typeof ref.reference === 'string') {
      const literal = parseLiteral(ref.reference);
      if (literal.kind === 'absolute' && sameBase(literal.base, baseUrl)) ref.reference = relativeOf(literal);
      if (byUra && isUraIdentifier(ref.identifier)) await checkSameOrganization(w, found.path, ref.reference, ref.identifier.value);
      return;
    }
    if (!byUra || !isUraIdentifier(ref.identifier)) return;
    const ura = ref.identifier.value;
    const id = await orgs.idByUra(w, ura);
    if (!id) {
      throw new HttpError(
        422,
        outcome('not-found', `${found.path}.identifier names URA ${ura}, and no organisation with that URA is known to the gateway`, [`${found.path}.identifier`]),
      );
    }
    ref.reference = `Organization/${id}`;
  }

  /**
   * A Reference naming an organisation both ways must name one: the workflow and parties go by the literal
   * reference, a search by identifier by the URA, and the two must not tell different stories.
   */
  async function checkSameOrganization(w: OpenTransaction, path: string, reference: unknown, ura: string): Promise<void> {
    if (typeof reference !== 'string' || !reference.startsWith('Organization/')) return;
    const held = await orgs.uraOf(w, reference);
    if (held !== undefined && held !== ura) {
      throw new HttpError(
        422,
        outcome('business-rule', `${path} names ${reference} (URA ${held}) by reference and URA ${ura} by identifier; name one organisation`, [path]),
      );
    }
  }

  /** What is wrong with a literal reference that can be judged without the database, or the `Type/id` to look up. */
  function judge(resource: Resource, found: FoundReference): OperationOutcomeIssue | { type: string; key: string } | undefined {
    const text = found.reference.reference;
    if (typeof text !== 'string') return undefined;
    const literal = parseLiteral(text);
    const problem = (diagnostics: string): OperationOutcomeIssue => ({ severity: 'error', code: 'business-rule', diagnostics, expression: [found.path] });
    switch (literal.kind) {
      case 'contained': {
        const contained = (resource as { contained?: { id?: string }[] }).contained ?? [];
        if (literal.id === '' || contained.some((c) => c.id === literal.id)) return undefined;
        return problem(`${found.path} refers to #${literal.id}, which is not one of the resource's contained resources`);
      }
      case 'urn':
        return problem(`${found.path} is ${text}: a urn: reference resolves only to an entry of the same transaction Bundle`);
      case 'conditional':
        return problem(`${found.path} is the conditional reference ${text}: those are resolved only in a transaction Bundle; send Type/id or an identifier`);
      case 'other':
        return problem(`${found.path} is '${text}', which is neither Type/id, an absolute URL of a FHIR server nor #contained`);
      case 'absolute':
        // Another server's resource: kept as the client wrote it; this gateway does not follow it.
        return undefined;
      case 'relative':
        return { type: literal.type, key: `${literal.type}/${literal.id}` };
    }
  }

  async function checkPending(w: OpenTransaction): Promise<void> {
    const { state } = w;
    const todo = state.get(PENDING).splice(0);
    if (!todo.length) return;
    const own = state.get(WRITTEN);
    const open: Pending[] = [];
    for (const p of todo) {
      if (own.has(p.key)) continue;
      // Organizations through the directory's cache: one with a URA exists (the directory is readable by all).
      if (p.type === 'Organization' && (await orgs.uraOf(w, p.key)) !== undefined) continue;
      open.push(p);
    }
    if (open.length === 0) return;
    const keys = [...new Set(open.map((p) => p.key))];
    // Checked in the transaction's last statement (its commit batch), after its last write, by SQL that raises when
    // a reference does not resolve to a resource its writer may read: the statement fails, nothing of the transaction
    // is stored, and COMMIT, sent in the same round trip, is not run. Each pending reference is looked up with the
    // parties its writer reads (`partiesToRead`, comma-joined; NULL: any): a gateway write in a client's
    // transaction has its own.
    const batch = state.get(COMMIT_BATCH);
    const found = batch.add({
      shape: 'references:targets',
      sql: (p) => `SELECT k.n, r.parties FROM ${rowsByKey(p(1), p(2), 'r.parties', { condition: ' AND NOT r.deleted', numbered: true })}`,
      params: [open.map((p) => p.type), open.map((p) => p.key.slice(p.key.indexOf('/') + 1))],
      // Only targets this transaction did not write (those are skipped above), so none of its held writes.
      reads: keys,
    });
    batch.add({
      shape: `references:refuse ${found}`,
      sql: (p) => `SELECT refuse_unresolved_references(array_agg(k.n ORDER BY k.n)) AS refused FROM unnest(${p(1)}::text[]) WITH ORDINALITY AS k(readers, n)
        WHERE NOT EXISTS (SELECT 1 FROM ${found} f WHERE f.n = k.n AND (k.readers IS NULL OR coalesce(f.parties && string_to_array(k.readers, ','), false)))
        HAVING count(*) > 0`,
      params: [open.map((p) => partiesToRead(p.ctx, p.type)?.join(',') ?? null)],
      runForEffect: true,
      refusal: (err) => unresolvedRefusal(open, err),
      reads: [],
    });
  }

  /** 422 naming each pending reference the check in SQL found unresolved (its positions in DETAIL), for its own error only. */
  function unresolvedRefusal(open: Pending[], err: unknown): HttpError | undefined {
    const detail = refusalDetail(err, UNRESOLVED_REFERENCES);
    if (detail === undefined) return undefined;
    const positions = new Set(detail.split(',').map(Number));
    const issues: OperationOutcomeIssue[] = open
      .filter((_, i) => positions.has(i + 1))
      .map((p) => ({
        severity: 'error',
        code: 'business-rule',
        diagnostics: `${p.path} refers to ${p.key}, which does not exist or is not shared with your organisation; nothing was stored`,
        expression: [p.path],
      }));
    return issues.length > 0 ? new HttpError(422, outcomeOf(issues)) : undefined;
  }

  return {
    beforeWrite: async (w, change) => {
      const { ctx, state } = w;
      if (change.interaction === 'delete') return;
      const resource = change.next;
      const references = findReferences(resource);
      // The gateway's own writes (ingest's Provenance, a group's cancellations) are already normal.
      if (!isGateway(ctx)) for (const found of references) await normalise(w, found);
      // The gateway's own changes of handover resources (a group's cancellations) change a status, not references.
      const checked = CHECKED_TYPES.has(resource.resourceType) && !isGateway(ctx);
      if (!checked && resource.resourceType !== 'Provenance') return;
      // An update is judged on the references it brings: one the stored version already had (written before these
      // checks, its target deleted since) must not block the handover's next step, such as the owner's acceptance.
      const said = (f: FoundReference): string => `${f.path}=${String(f.reference.reference)}`;
      const before = new Set(change.previous && !change.previous.deleted ? findReferences(change.previous.content).map(said) : []);
      const issues: OperationOutcomeIssue[] = [];
      const later: Pending[] = [];
      for (const found of references) {
        if (!checked && !PROVENANCE_TARGET.test(found.path)) continue;
        const text = found.reference.reference;
        if (typeof text === 'string' && !text.startsWith('#') && before.has(said(found))) continue;
        const verdict = judge(resource, found);
        if (!verdict) continue;
        if ('key' in verdict) later.push({ path: found.path, key: verdict.key, type: verdict.type, ctx });
        else issues.push(verdict);
      }
      if (issues.length > 0) throw new HttpError(422, outcomeOf(issues));
      if (later.length === 0) return;
      state.get(PENDING).push(...later);
    },
    afterWrite: async ({ state }, event) => {
      const key = `${event.stored.resourceType}/${event.stored.id}`;
      const set = state.get(WRITTEN);
      if (event.stored.deleted) set.delete(key);
      else set.add(key);
    },
    beforeCommit: async (w) => checkPending(w),
  };
}
