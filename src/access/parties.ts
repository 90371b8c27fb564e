import type { Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.ts';
import type { RequestContext } from '../context.ts';
import { TxSlot, type TxState, type WriteEvent, type WriteHooks, type WriteTx } from '../fhir/write-phases.ts';
import { OPEN_STATUSES } from '../handover/state-machine.ts';
import { candidateGroup } from '../handover/candidate-group.ts';
import { isGateway, readableParties } from './policy.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { organizationId, organizationOf, TASKS_BY_REQUESTER_READS, uraOfReferenceSql, type OrganizationDirectory } from './organizations.ts';
import { forEachReference } from '../fhir/references/walk.ts';
import { referenceToSql, VERSIONED_REFERENCE_PATTERN } from '../fhir/resource-types.ts';
import { lookupType, plannedOnce } from '../store/token-lookup.ts';
import { textOfShape } from '../store/statement-texts.ts';
import { rowsByKey } from '../store/key-lookup.ts';
import { WriteBehindTx } from '../store/write-behind.ts';

/**
 * Which organisations are party to a resource, stored in `resources.parties` at every write (see
 * docs/architecture.md, "Who is party to what"). Parties only grow: what an organisation was once
 * given cannot be unsent, and a shared resource (the patient) is reached from several handovers.
 */

const OPEN = [...OPEN_STATUSES];

/**
 * SQL: the `supportingInfo` of the ServiceRequest a row `alias` (resource_type, id) names, NULL for any other row. A
 * subquery per row, not a join: joined, the planner with statistics older than the table took ServiceRequest for a
 * few rows and read all of them through the primary key, matching the id as a filter (610 buffers per propagation
 * at 600 requests stored, growing with the table); per row it is one primary-key lookup.
 */
const SUPPORTING_INFO_OF_REQUEST = (alias: string): string =>
  `(SELECT sr.content->'supportingInfo' FROM resources sr WHERE ${alias}.resource_type = 'ServiceRequest' AND sr.resource_type = 'ServiceRequest' AND sr.id = ${alias}.id)`;
/** The handover's own resources: a resource referring to one of these joins its parties. The patient is not one: it is shared. */
const HANDOVER_TYPES = new Set(['Task', 'ServiceRequest', 'Encounter', 'Observation']);
const REFERENCE = VERSIONED_REFERENCE_PATTERN;

/**
 * The parties of what this transaction wrote, by `Type/id`: an ingest writes Patient, Encounter, Observations,
 * ServiceRequest, Task and Provenance in a row, each referring to the ones before, and need not read back what it
 * has just decided. Rows this transaction wrote are locked by it, so no other writer changes them meanwhile;
 * the propagation below changes them and updates this from what it returns.
 */
const WRITTEN_PARTIES = new TxSlot<Map<string, readonly string[]>>('parties.written', () => new Map());

/**
 * What the party propagation (below) needs to know it would change nothing: whether every write of this transaction
 * so far created a resource (a new, server-made id, which no row written before this transaction can refer to), the
 * keys created, the `supportingInfo` references of each ServiceRequest created, and the grouped Tasks whose group had
 * no other open candidate when their parties were decided.
 */
interface WriteLog {
  onlyCreates: boolean;
  readonly created: Set<string>;
  readonly supporting: Map<string, readonly string[]>;
  readonly alone: Set<string>;
}
const WRITES = new TxSlot<WriteLog>('parties.writes', () => ({ onlyCreates: true, created: new Set(), supporting: new Map(), alone: new Set() }));

/** The parties of `refs` as the query below would find them, if this transaction wrote every one of them. */
function partiesFromThisTransaction(state: TxState, refs: Iterable<string>, readable: readonly string[] | undefined): string[] | undefined {
  const known = state.get(WRITTEN_PARTIES);
  const found = new Set<string>();
  for (const ref of refs) {
    const parties = known.get(ref);
    if (!parties) return undefined;
    if (readable && !parties.some((p) => readable.includes(p))) continue;
    for (const p of parties) found.add(p);
  }
  return [...found];
}

/**
 * The group of candidates of a Task (src/handover/candidate-group.ts), as SQL parameters: the group's token and the
 * tokens of which a member carries one (empty: any). A group is its requester's (src/handover/workflow.ts): only
 * Tasks of the same requesting organisation (by URA) are candidates together. Another requester's Task with the same
 * value is not, so a guessed value neither shares parties nor joins the group.
 */
function groupParams(task: Task): [string[], string[]] {
  const group = candidateGroup(task);
  return group ? [[group.token], [...group.members]] : [[], []];
}

/** SQL: the row `alias` carries one of the member tokens in parameter `$n` (or that list is empty). */
const memberOf = (alias: string, n: number): string => `(cardinality($${n}::text[]) = 0 OR ${alias}.tokens && $${n}::text[])`;

/**
 * SQL: the URAs of a grouped Task's requester and owner and of the owners of the other open candidates of its group.
 * Texts made once, not per call: a new string is hashed again to find its prepared statement (src/store/postgres.ts).
 */
const GROUP_PARTIES_SQL = `WITH others AS (
         SELECT COALESCE(CASE WHEN s.content->'owner'->>'reference' LIKE 'Organization/%' THEN substr(s.content->'owner'->>'reference', 14) END,
                         (SELECT substr(hs.content->'providedBy'->>'reference', 14) FROM resources hs
                           WHERE hs.resource_type = 'HealthcareService' AND hs.id = substr(s.content->'owner'->>'reference', 19)
                             AND s.content->'owner'->>'reference' LIKE 'HealthcareService/%')) AS org
           FROM resources s
          WHERE ${lookupType('s', "'Task'")} AND s.tokens && ${plannedOnce('$3')} AND ${memberOf('s', 7)} AND s.content->>'status' = ANY($4::text[]) AND s.id <> $5
            AND ${uraOfReferenceSql("s.content->'requester'->>'reference'")} = ${uraOfReferenceSql('$6::text')})
       SELECT DISTINCT i->>'value' AS ura, EXISTS (SELECT 1 FROM others) AS others
         FROM resources o CROSS JOIN LATERAL jsonb_array_elements(o.content->'identifier') i
        WHERE o.resource_type = 'Organization' AND i->>'system' = $1
          AND o.id = ANY($2::text[] || ARRAY(SELECT org FROM others))`;

/** SQL: the parties of the resources named by type (`$1`) and id (`$2`); `_VISIBLE`: only those holding one of `$3`. */
const REFERRED_PARTIES_SQL = `SELECT DISTINCT unnest(r.parties) AS p FROM ${rowsByKey('$1', '$2', 'r.parties')}`;
const REFERRED_PARTIES_VISIBLE_SQL = `SELECT DISTINCT unnest(r.parties) AS p FROM ${rowsByKey('$1', '$2', 'r.parties', { condition: ' AND r.parties && $3::text[]' })}`;

/** The acting organisation, when it is one (the gateway's own start-up work has none). */
function writerOf(ctx: RequestContext): string[] {
  return /^\d{8}$/.test(ctx.organizationUra) ? [ctx.organizationUra] : [];
}

/**
 * A Task: its requester, its owner, and the owners of the open Tasks of its group (the other candidates).
 * Anything else: the parties of the handover resources it refers to (an Observation of an Encounter, a
 * Provenance of a Task) — only those the writer can itself read, so that a reference to someone else's
 * handover neither reveals nor joins it.
 */
async function derivedParties(orgs: OrganizationDirectory, w: WriteTx, next: Resource): Promise<string[]> {
  const { tx, ctx, state } = w;
  if (next.resourceType === 'Task') {
    const task = next as Task;
    const [groupToken, members] = groupParams(task);
    if (groupToken.length === 0) {
      // In no group, so no other candidates: the requester's and the owner's URAs, from the Organization directory's
      // cache (src/access/organizations.ts: cleared at every Organization write, read from the database by a
      // transaction that wrote one) instead of a statement per Task. The owner may be a HealthcareService (a Twiin
      // owner, stored as sent): its providing Organization is the party; the requester only as an Organization.
      const requester = organizationId(task.requester?.reference) ? await orgs.uraOf(w, task.requester) : undefined;
      const owner = await orgs.uraOf(w, task.owner);
      return [...new Set([requester, owner].filter((x): x is string => x !== undefined))];
    }
    const known = members.length === 0 ? state.get(KNOWN_GROUPS).get(groupToken[0] as string) : undefined;
    if (known) return groupPartiesFromKnown(orgs, w, task, next.id ?? '', known);
    // The owner may be a HealthcareService (a Twiin owner, stored as sent): its providing Organization is the party.
    const orgIds = [organizationId(task.requester?.reference), organizationId(await organizationOf(tx, task.owner))].filter((x): x is string => x !== undefined);
    const r = await tx.query<{ ura: string; others: boolean }>(
      GROUP_PARTIES_SQL,
      [URA_SYSTEM, orgIds, groupToken, OPEN, next.id ?? '', task.requester?.reference ?? '', members],
      { reads: TASKS_BY_REQUESTER_READS },
    );
    // Under the group's lock (src/handover/workflow.ts, lockKeys) no other candidate joins before this Task is written.
    if (next.id && r.rows.length > 0 && !r.rows[0]?.others) state.get(WRITES).alone.add(next.id);
    return r.rows.map((x) => x.ura);
  }
  const found: ReferredHandover = { self: next, refs: new Map() };
  forEachReference(next, addReferredHandover, found);
  const refs = found.refs;
  if (refs.size === 0) return [];
  const readable = readableParties(ctx);
  const fromThisTransaction = partiesFromThisTransaction(state, refs.keys(), readable);
  if (fromThisTransaction) return fromThisTransaction;
  const params: unknown[] = [[...refs.values()].map((r) => r.type), [...refs.values()].map((r) => r.id)];
  if (readable) params.push(readable);
  const r = await tx.query<{ p: string }>(readable ? REFERRED_PARTIES_VISIBLE_SQL : REFERRED_PARTIES_SQL, params);
  return r.rows.map((x) => x.p);
}

/**
 * The open Tasks of groups (by their identifier's token) as this transaction read them while holding the group's lock
 * (`knowGroup`), kept as this transaction writes Tasks (`keepKnownGroups`): what `GROUP_PARTIES_SQL` would find.
 */
const KNOWN_GROUPS = new TxSlot<Map<string, StoredVersion[]>>('parties.known groups', () => new Map());

/**
 * Hands the parties of a grouped Task the open Tasks of its group (by groupIdentifier) that this transaction read:
 * `token` the group's (candidateGroup), `open` every open Task carrying it that the writer may see. Only when
 * read after the group's lock was taken (Repository.takeLocks, in an earlier statement: a statement sees what was
 * committed before it began), and so complete: every writer of a group's Tasks holds that lock until it commits.
 * A native record takes it with its first statement and looks the group up with the record's identities, so that
 * its Task's parties need no statement of their own (one round trip of each native handover).
 */
export function knowGroup(state: TxState, token: string, open: readonly StoredVersion[]): void {
  state.get(KNOWN_GROUPS).set(token, [...open]);
}

/** Keeps the known groups as they would be read now: `next` (a Task this transaction writes) in, out, or changed. */
function keepKnownGroups(state: TxState, next: StoredVersion): void {
  const known = state.get(KNOWN_GROUPS);
  if (known.size === 0) return;
  const task = next.content as Task;
  const token = next.deleted || !OPEN.includes(task.status) ? undefined : candidateGroup(task)?.token;
  for (const [group, tasks] of known) {
    const at = tasks.findIndex((t) => t.id === next.id);
    if (at >= 0) tasks.splice(at, 1);
    if (group === token) tasks.push(next);
  }
}

/**
 * A grouped Task's parties from its group as known (`knowGroup`): as `GROUP_PARTIES_SQL` finds them, its requester
 * (an Organization), its owner (or the Organization providing the HealthcareService it names), and the owners of
 * the other open Tasks of the group with the same requesting organisation, each URA from the Organization directory.
 */
async function groupPartiesFromKnown(orgs: OrganizationDirectory, w: WriteTx, task: Task, id: string, known: readonly StoredVersion[]): Promise<string[]> {
  const requesterUra = await orgs.uraOf(w, task.requester);
  // A party as a requester only when it is an Organization; the group's requester by its organisation either way.
  const uras = [organizationId(task.requester?.reference) ? requesterUra : undefined, await orgs.uraOf(w, task.owner)];
  let others = false;
  for (const candidate of known) {
    if (candidate.id === id) continue;
    const other = candidate.content as Task;
    if (requesterUra === undefined || (await orgs.uraOf(w, other.requester)) !== requesterUra) continue;
    others = true;
    uras.push(await orgs.uraOf(w, other.owner));
  }
  const found = [...new Set(uras.filter((x): x is string => x !== undefined))];
  if (id && found.length > 0 && !others) w.state.get(WRITES).alone.add(id);
  return found;
}

/** The handover resources a resource refers to (other than itself), by `Type/id`: what `addReferredHandover` collects. */
interface ReferredHandover {
  readonly self: Resource;
  readonly refs: Map<string, { type: string; id: string }>;
}

// A function of this module, its state passed in, not a closure per write (see forEachReference).
function addReferredHandover(holder: { reference?: string }, found: ReferredHandover): void {
  const m = REFERENCE.exec(holder.reference ?? '');
  if (m && HANDOVER_TYPES.has(m[1]) && !(m[1] === found.self.resourceType && m[2] === found.self.id)) found.refs.set(`${m[1]}/${m[2]}`, { type: m[1], id: m[2] });
}

/**
 * Parties a transaction's next writes are given ahead of the Task that will spread them (see `sharedAhead`).
 * Each write holds what the propagation below would add to it anyway, so that propagation finds the rows complete
 * and changes none: in a native record's ingest it otherwise rewrote every row the transaction had just written
 * (a second heap tuple and a second set of index entries each, the largest part of its PostgreSQL time).
 */
const AHEAD_PARTIES = new TxSlot<{ uras: readonly string[] }>('parties.ahead', () => ({ uras: [] }));

/**
 * Runs `work` (writes in `tx`) giving what it writes `uras` at once. Only for resources the Task written later in
 * the same transaction reaches (its `for`, `focus`, `encounter`, and the Observations of that encounter), and only
 * organisations that Task's parties will hold (its owner): then this changes when they become party within the
 * transaction, not what is stored at its commit. The caller decides that (src/handover/ingest-parties.ts).
 */
export async function sharedAhead<T>(state: TxState, uras: readonly string[], work: () => Promise<T>): Promise<T> {
  if (uras.length === 0) return work();
  const ahead = state.get(AHEAD_PARTIES);
  const before = ahead.uras;
  ahead.uras = uras;
  try {
    return await work();
  } finally {
    ahead.uras = before;
  }
}

/**
 * Adds each of `uras` not yet in `sorted`, keeping it in `Array.prototype.sort`'s order (UTF-16 code units). A write's
 * parties are a handful, so an insertion in place replaces the spread copies, the Set and the sort's work arrays that
 * collecting them cost at every write (nine per native handover).
 */
export function addSorted(sorted: string[], uras: readonly string[]): void {
  for (let i = 0; i < uras.length; i++) {
    const ura = uras[i] as string;
    let at = sorted.length;
    while (at > 0 && (sorted[at - 1] as string) > ura) at--;
    if (at > 0 && sorted[at - 1] === ura) continue;
    // Shifted by hand: `splice` would make an array of the (no) items it removes.
    sorted.push(ura);
    for (let j = sorted.length - 1; j > at; j--) sorted[j] = sorted[j - 1] as string;
    sorted[at] = ura;
  }
}

/** The `partiesOf` of the Repository: what was there, the writer, and what the resource itself implies. */
export function partiesAtWrite(orgs: OrganizationDirectory): (w: WriteTx, next: Resource, previous: readonly string[]) => Promise<string[]> {
  return async (w, next, previous) => {
    const ahead = next.resourceType === 'Task' ? [] : w.state.get(AHEAD_PARTIES).uras;
    const derived = await derivedParties(orgs, w, next);
    const all: string[] = [];
    addSorted(all, previous);
    addSorted(all, writerOf(w.ctx));
    addSorted(all, ahead);
    addSorted(all, derived);
    if (next.id) w.state.get(WRITTEN_PARTIES).set(`${next.resourceType}/${next.id}`, all);
    return all;
  };
}

/**
 * When a Task is written, its parties reach the rest of the handover in the same transaction: the other
 * open candidates of its group, the ServiceRequest it is about and the letter and documents that request carries
 * (`supportingInfo`: an AZ-IG referral's Composition and DocumentReference), its Encounter and Patient, the Encounters
 * carrying out its request, their Observations, and the Provenance of all of these. One statement; rows
 * that already hold every party are left alone (no lock taken), and only rows the writer may read are touched.
 * The rows are locked in one order (type, id) before they change: Tasks written at once about one request and
 * patient each lock both rows, and in the order a plan happened to visit them they deadlocked (seen in the benchmark).
 */
export function partyPropagation(): WriteHooks {
  return {
    afterWrite: async ({ tx, ctx, state }, event) => {
      logWrite(state.get(WRITES), event);
      if (event.stored.resourceType === 'Task') keepKnownGroups(state, event.stored);
      if (event.stored.resourceType !== 'Task' || event.stored.deleted) return;
      const task = event.stored.content as Task;
      const known = state.get(WRITTEN_PARTIES);
      if (changesNothing(state.get(WRITES), known, task, event.stored.id)) return;
      const [groupToken, members] = groupParams(task);
      const params: unknown[] = [event.stored.id];
      const grouped = groupToken.length > 0;
      if (grouped) params.push(groupToken, members, OPEN, task.requester?.reference ?? '');
      const readable = isGateway(ctx) ? undefined : readableParties(ctx);
      if (readable) params.push(readable);
      // What it changes is read back only to update the parties of rows this transaction wrote. When the Task is the
      // only one (a Task's create or update of its own), there is nothing to update, and it goes with the transaction's
      // next statement instead of in a round trip of its own: the same statement, in the same place in the
      // transaction's order (src/store/write-behind.ts, holdStatement).
      if (tx instanceof WriteBehindTx && onlyWritten(known, `Task/${event.stored.id}`)) {
        tx.holdStatement({ sql: textOfShape(`parties:propagation ${grouped} ${readable !== undefined} ahead`, () => propagationSql(grouped, readable !== undefined, false)), params });
        return;
      }
      const changed = await tx.query<{ resource_type: string; id: string; parties: string[] }>(
        textOfShape(`parties:propagation ${grouped} ${readable !== undefined}`, () => propagationSql(grouped, readable !== undefined)),
        params,
      );
      for (const row of changed.rows) {
        if (known.has(`${row.resource_type}/${row.id}`)) known.set(`${row.resource_type}/${row.id}`, row.parties);
      }
    },
  };
}

function logWrite(log: WriteLog, event: WriteEvent): void {
  const key = `${event.stored.resourceType}/${event.stored.id}`;
  if (event.interaction !== 'create') {
    log.onlyCreates = false;
    return;
  }
  log.created.add(key);
  if (event.stored.resourceType === 'ServiceRequest') {
    const info = (event.stored.content as ServiceRequest).supportingInfo ?? [];
    log.supporting.set(key, info.map((r) => r.reference ?? ''));
  }
}

/**
 * Whether the propagation of a Task just created would change no row, known without asking the database (a native
 * record's new handover, whose rows are given the Task's parties as they are written, `sharedAhead`: the statement was
 * about a sixth of PostgreSQL's CPU per handover, a fifth of it setting up its plan of 75 nodes). So
 * when every write of the transaction so far created its resource, the Task's group has no other open candidate, the
 * resources it names (`focus`, `encounter`, `for`) and its request's `supportingInfo` were created by this
 * transaction, and every row the transaction wrote already holds every party of the Task. Then each row the
 * propagation reaches is one of this transaction's: the rows it starts from are, and a row referring to a resource
 * created here (an Encounter based on its request, an Observation of its Encounter, a Provenance of any of them) was
 * written here too, since the id is new and server-made. All of them hold the Task's parties already.
 */
function changesNothing(log: WriteLog, known: ReadonlyMap<string, readonly string[]>, task: Task, id: string): boolean {
  // Logged before this is asked: so the Task itself was created too.
  if (!log.onlyCreates) return false;
  if (candidateGroup(task) && !log.alone.has(id)) return false;
  const taskParties = known.get(`Task/${id}`);
  if (!taskParties) return false;
  for (const ref of [task.focus, task.encounter, task.for]) {
    if (ref && !log.created.has(ref.reference ?? '')) return false;
  }
  const focus = task.focus?.reference;
  for (const info of (focus && log.supporting.get(focus)) || []) {
    if (!log.created.has(info)) return false;
  }
  for (const parties of known.values()) {
    for (const p of taskParties) if (!parties.includes(p)) return false;
  }
  return true;
}

/** Whether `key` is the only row this transaction wrote (the parties of `known`, WRITTEN_PARTIES), or none is known. */
function onlyWritten(known: ReadonlyMap<string, unknown>, key: string): boolean {
  return known.size === 0 || (known.size === 1 && known.has(key));
}

/**
 * The propagation's statement: `$1` the Task's id; when `grouped`, `$2`–`$5` its group's token, member tokens, the
 * open statuses and its requester; when `visible`, the next parameter the parties the writer may read. With
 * `returning` false it returns no rows (the same change, as a data-modifying CTE), to go ahead of another statement.
 */
function propagationSql(grouped: boolean, visible: boolean, returning = true): string {
  let n = 1;
  // The other open candidates of its group; a Task in no group has none, and its statement leaves their lookup
  // out: a third of the plan's nodes, each set up again at every call (ExecInitNode was a tenth of PostgreSQL's
  // CPU in a profile of the ingest).
  const candidates = grouped
    ? `
           UNION ALL
           SELECT r.resource_type, r.id, r.content FROM resources r
            WHERE ${lookupType('r', "'Task'")} AND r.tokens && ${plannedOnce(`$${++n}`)} AND ${memberOf('r', ++n)}
              AND r.content->>'status' = ANY($${++n}::text[])
              AND ${uraOfReferenceSql("r.content->'requester'->>'reference'")} = ${uraOfReferenceSql(`$${++n}::text`)}`
    : '';
  const readableOnly = visible ? ` AND r.parties && $${++n}::text[]` : '';
  // The sets are gathered with UNION ALL and made distinct once, in `locked`: a row found twice on the way (the request's
  // Encounter both named by the Task and based on its request) only adds an element to a token array. A UNION at each
  // step set up a hash table at every call, four of them: the statement alone 0.088 → 0.077 ms (pgbench, one client,
  // generic plan, 2026-12-07).
  // `locked` looks each target up by its key, one at a time in (type, id) order, and locks it there (only a row that
  // lacks a party): a lateral subquery with a locking clause is not merged into a join, so no plan can read the table
  // instead (why that matters: rowsByKey in src/store/key-lookup.ts; here the keys are ordered and each row locked).
  return `WITH t AS (SELECT parties FROM resources WHERE resource_type = 'Task' AND id = $1),
         tasks AS (
           SELECT r.resource_type, r.id, r.content FROM resources r WHERE r.resource_type = 'Task' AND r.id = $1${candidates}),
         refs AS (
           SELECT split_part(x.ref, '/', 1) AS resource_type, split_part(x.ref, '/', 2) AS id
             FROM tasks CROSS JOIN LATERAL (VALUES (content->'focus'->>'reference'), (content->'encounter'->>'reference'), (content->'for'->>'reference')) AS x(ref)
            WHERE ${referenceToSql('x.ref', ['ServiceRequest', 'Encounter', 'Patient'])}),
         supporting AS (
           SELECT split_part(x.ref, '/', 1) AS resource_type, split_part(x.ref, '/', 2) AS id
             FROM refs f
             CROSS JOIN LATERAL jsonb_array_elements(COALESCE(${SUPPORTING_INFO_OF_REQUEST('f')}, '[]'::jsonb)) AS s(info)
             CROSS JOIN LATERAL (VALUES (s.info->>'reference')) AS x(ref)
            WHERE ${referenceToSql('x.ref', ['Composition', 'DocumentReference'])}),
         seed AS (SELECT resource_type, id FROM tasks UNION ALL SELECT resource_type, id FROM refs UNION ALL SELECT resource_type, id FROM supporting),
         encounters AS (
           SELECT r.resource_type, r.id FROM resources r
            WHERE ${lookupType('r', "'Encounter'")} AND r.tokens && ARRAY(SELECT 'based-on=ServiceRequest/' || id FROM seed WHERE resource_type = 'ServiceRequest')
           UNION ALL SELECT resource_type, id FROM seed WHERE resource_type = 'Encounter'),
         observations AS (
           SELECT r.resource_type, r.id FROM resources r
            WHERE ${lookupType('r', "'Observation'")} AND r.tokens && ARRAY(SELECT 'encounter=Encounter/' || id FROM encounters)),
         handover AS (SELECT * FROM seed UNION ALL SELECT * FROM encounters UNION ALL SELECT * FROM observations),
         provenance AS (
           SELECT r.resource_type, r.id FROM resources r
            WHERE ${lookupType('r', "'Provenance'")} AND r.tokens && ARRAY(SELECT 'target=' || resource_type || '/' || id FROM handover WHERE resource_type <> 'Patient')),
         targets AS (SELECT * FROM handover UNION ALL SELECT * FROM provenance),
         locked AS (
           SELECT l.resource_type, l.id FROM (SELECT DISTINCT resource_type, id FROM targets ORDER BY resource_type, id OFFSET 0) x
            CROSS JOIN LATERAL (SELECT r.resource_type, r.id FROM resources r, t
                                 WHERE r.resource_type = x.resource_type AND r.id = x.id AND NOT r.parties @> t.parties${readableOnly}
                                 FOR UPDATE OF r) l)
         ${returning ? '' : ', spread AS ('}UPDATE resources r SET parties = ARRAY(SELECT DISTINCT p FROM unnest(r.parties || t.parties) AS p ORDER BY p)
           FROM locked x, t
          WHERE r.resource_type = x.resource_type AND r.id = x.id AND NOT r.parties @> t.parties
          ${returning ? 'RETURNING r.resource_type, r.id, r.parties' : ') SELECT 1 WHERE false'}`;
}
