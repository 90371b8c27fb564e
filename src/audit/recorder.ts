import type { AuditEventEntity, Coding, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import { COMMIT_BATCH, TxSlot, type TxState, type WriteEvent, type WriteHooks } from '../fhir/write-phases.ts';
import type { Queryable } from '../store/database.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { wellFormed } from './well-formed.ts';
import { actorOf, outcomeOfStatus, patientOf, toAuditRow, type AuditAction, type AuditFacts, type AuditRow } from './event.ts';
import { AuditGroupCommit } from './group-commit.ts';
import { auditInsertSql, insertAuditRows } from './store.ts';

/** What a request is, decided when it starts (the FHIR interaction, the native format). */
export interface RequestDescription {
  type: Coding;
  subtype: Coding;
  action: AuditAction;
  query?: string;
  resource?: { type: string; id?: string; version?: string };
  description?: string;
  detail?: AuditEventEntity[];
}

export interface RequestAudit {
  description: RequestDescription;
  /** Set when a write transaction of this request already committed its audit rows with the change. */
  written: boolean;
}

const WRITE_ACTION: Record<WriteEvent['interaction'], AuditAction> = { create: 'C', update: 'U', delete: 'D' };

function ref(v: { resourceType: string; id: string; versionId?: string }): string {
  return v.versionId ? `${v.resourceType}/${v.id}/_history/${v.versionId}` : `${v.resourceType}/${v.id}`;
}

/**
 * Rows for what a request returned or touched: one per patient (BALP: a search over several patients is
 * audited once for each), each naming that patient's resources; resources of no patient in one more row.
 */
function rowsPerPatient(base: Omit<AuditFacts, 'entities' | 'patient'>, resources: Resource[], extra: string[] = []): AuditRow[] {
  const byPatient = new Map<string | undefined, string[]>();
  for (const r of resources) {
    if (!r.id || r.resourceType === 'OperationOutcome' || r.resourceType === 'AuditEvent') continue;
    const p = patientOf(r);
    const list = byPatient.get(p) ?? [];
    list.push(ref({ resourceType: r.resourceType, id: r.id, versionId: r.meta?.versionId }));
    byPatient.set(p, list);
  }
  if (byPatient.size === 0) return [toAuditRow({ ...base, entities: extra })];
  const recorded = new Date().toISOString();
  return [...byPatient.entries()].map(([patient, entities]) => toAuditRow({ ...base, patient, entities: [...entities, ...extra] }, recorded));
}

/**
 * The audit trail's writer. Writes are audited inside their own transaction (the write hooks);
 * everything else (reads, searches, operations, refusals) is committed before the answer is sent,
 * and when it cannot be, the request fails. Those commits are shared by the requests waiting at the same
 * moment (group commit: one statement, one commit for many).
 */
export class AuditLog {
  private readonly db: Queryable;
  readonly groupCommit: AuditGroupCommit;
  /** Every version a write transaction wrote, with who wrote it: its audit rows, written just before COMMIT. */
  private readonly written = new TxSlot<{ ctx: RequestContext; event: WriteEvent }[]>('audit.written', () => []);
  private readonly auditedErrors = new WeakSet<object>();

  constructor(db: Queryable) {
    this.db = db;
    this.groupCommit = new AuditGroupCommit(db);
  }

  /** Names what the request of `ctx` is, so that its rows (written wherever) describe it: carried on `ctx` from here on. */
  begin(ctx: RequestContext, description: RequestDescription): void {
    ctx.audit = { description, written: false };
  }

  describe(ctx: RequestContext, change: Partial<RequestDescription>): void {
    const r = ctx.audit;
    if (r) r.description = { ...r.description, ...change };
  }

  /** Collect every version a transaction writes, and write their rows in one INSERT just before it commits. */
  readonly hooks: WriteHooks = {
    afterWrite: async ({ ctx, state }, event) => {
      state.get(this.written).push({ ctx, event });
    },
    beforeCommit: async ({ ctx, state }) => {
      const list = state.get(this.written).splice(0);
      if (list.length === 0) return;
      const request = ctx.audit;
      const recorded = new Date().toISOString();
      // One row per patient and interaction, naming every version of it the transaction wrote (as a read or
      // search is audited once per patient): a native handover's nine new resources are one AuditEvent, not nine
      // rows each with its chain link and index entries. A row of one version also names it as its resource.
      const groups = new Map<string, { interaction: WriteEvent['interaction']; patient: string | undefined; versions: StoredVersion[] }>();
      for (const { event } of list) {
        const patient = patientOf(event.stored.content);
        const key = `${event.interaction} ${patient ?? ''}`;
        const group = groups.get(key);
        if (group) group.versions.push(event.stored);
        else groups.set(key, { interaction: event.interaction, patient, versions: [event.stored] });
      }
      const rows = [...groups.values()].map(({ interaction, patient, versions }) => {
        const only = versions.length === 1 ? versions[0] : undefined;
        return toAuditRow(
          {
            ...actorOf(ctx),
            type: request?.description.type ?? { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
            subtype: request?.description.subtype ?? { system: 'http://hl7.org/fhir/restful-interaction', code: interaction },
            action: WRITE_ACTION[interaction],
            outcome: '0',
            patient,
            resource: only ? { type: only.resourceType, id: only.id, version: only.versionId } : undefined,
            entities: versions.map(ref),
            description: request?.description.description,
            detail: request?.description.detail,
          },
          recorded,
        );
      });
      // In the transaction's last statement (its commit batch), with the other rows written at its end.
      addAuditRows(state, rows, () => {
        if (request) request.written = true;
      });
    },
  };

  /**
   * A request answered successfully: audited now, before the answer is sent, unless its writes already
   * were. `resources` are what the answer carries (a read's resource, a search's matches).
   */
  async completed(ctx: RequestContext, result: { status: number; resources?: Resource[]; entities?: string[] }): Promise<void> {
    const request = ctx.audit;
    if (!request || request.written) return;
    request.written = true;
    const d = request.description;
    const base = { ...actorOf(ctx), type: d.type, subtype: d.subtype, action: d.action, outcome: outcomeOfStatus(result.status), status: result.status, query: d.query, resource: d.resource, description: d.description, detail: d.detail };
    await this.groupCommit.write(rowsPerPatient(base, result.resources ?? [], result.entities ?? []));
  }

  /** A refused or failed request, with its OperationOutcome. `fallback` describes requests that never got as far as `begin`. */
  async failed(ctx: RequestContext | undefined, actor: Pick<RequestContext, 'organizationUra' | 'clientId' | 'requestId'>, fallback: RequestDescription, status: number, failure: OperationOutcome, error?: object): Promise<void> {
    if (error) {
      if (this.auditedErrors.has(error)) return;
      this.auditedErrors.add(error);
    }
    const request = ctx?.audit;
    if (request) request.written = true;
    // Quoted from the request: made storable (see wellFormed).
    const d = wellFormed(request?.description ?? fallback);
    const row = toAuditRow({
      ...actorOf({ ...actor, onBehalfOf: ctx?.onBehalfOf?.toWellFormed() }),
      type: d.type,
      subtype: d.subtype,
      action: d.action,
      outcome: outcomeOfStatus(status),
      status,
      query: d.query,
      resource: d.resource,
      entities: d.resource?.id ? [`${d.resource.type}/${d.resource.id}`] : [],
      description: d.description,
      detail: d.detail,
      failure: wellFormed(failure),
    });
    await this.groupCommit.write([row]);
  }

  /** An event outside any request (token endpoint, notification delivery). */
  async record(facts: AuditFacts, q: Queryable = this.db): Promise<void> {
    // Inside a caller's transaction the row commits (or not) with it; on its own it joins the group commit.
    if (q === this.db) await this.groupCommit.write([toAuditRow(facts)]);
    else await insertAuditRows(q, [toAuditRow(facts)]);
  }
}

/** A write transaction's audit rows, in its last statement (its commit batch) with the other rows written at its end. */
export function addAuditRows(state: TxState, rows: AuditRow[], done?: () => void): void {
  state.get(COMMIT_BATCH).add({ shape: 'audit:rows', sql: (p) => auditInsertSql(p(1)), params: [JSON.stringify(rows)], reads: [], done });
}
