import type { Resource, Task } from '@medplum/fhirtypes';
import { systemContext, type RequestContext } from '../context.ts';
import { HttpError, outcome } from '../fhir/outcomes.ts';
import { Repository, type RepositoryDeps } from '../fhir/repository.ts';
import { BUNDLE_ENTRY, COMMIT_BATCH, refusalDetail, type OpenTransaction, type WriteHooks } from '../fhir/write-phases.ts';
import type { Tx } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { lookupType, plannedOnce } from '../store/token-lookup.ts';
import { type OrganizationDirectory, TASKS_BY_REQUESTER_READS, uraOfReferenceSql } from '../access/organizations.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { candidateGroup, groupIdentifierToken as groupToken } from './candidate-group.ts';
import { describeTransition, isFinal, OPEN_STATUSES, type TaskStatus, whoMay } from './state-machine.ts';
import { invitationProblem, isInvitation, isSelection, NOT_SELECTED_REASON, SELECTED_TOKEN } from './selection.ts';
import { dropWithheld, releaseWithheld } from './withheld-answer.ts';

const NOT_SELECTED = 'not selected';

/** A business rule refuses the change: 422 (409 is kept for version conflicts and re-used sequence numbers). */
function refused(message: string, expression: string): HttpError {
  return new HttpError(422, outcome('business-rule', message, [expression]));
}

/**
 * The advisory lock of a group of candidates: its identifier, or its focus ServiceRequest (candidate-group.ts). The
 * lock is taken before the reference hook runs, so the requester is not yet known the same way by every writer (a
 * Twiin placer names it by URA identifier, a candidate sends back `Organization/<id>`): keying by requester would
 * let a selection and a refusal in one group run side by side. Another requester's group with the same value at
 * worst waits a little longer.
 */
function groupLockKey(task: Task): string | undefined {
  return candidateGroup(task)?.lockKey;
}

/** The other candidates of `task`'s group (candidate-group.ts), its requester's only. */
async function siblingIds(tx: Tx, task: Task, id: string, extraToken?: string): Promise<string[]> {
  const group = candidateGroup(task);
  if (!group) return [];
  const rows = await tx.query<{ id: string }>(
    `SELECT t.id FROM resources t
      WHERE ${lookupType('t', "'Task'")} AND NOT t.deleted AND t.tokens && ${plannedOnce('$1')} AND t.id <> $2
        AND ${REQUESTER_URA} = ${uraOfReferenceSql('$3::text')}
        AND (cardinality($4::text[]) = 0 OR t.tokens && $4::text[])
        ${extraToken ? 'AND t.tokens && $5::text[]' : ''}
      ORDER BY t.id`,
    [[group.token], id, task.requester?.reference ?? '', group.members, ...(extraToken ? [[extraToken]] : [])],
    { reads: TASKS_BY_REQUESTER_READS },
  );
  return rows.rows.map((r) => r.id);
}

/** A gateway NamingSystem of one organisation's numbering: the base, a kind, and the organisation's URA last. */
const SENDER_NAMESPACE = /^https:\/\/handover-gateway\.nl\/fhir\/NamingSystem\/[a-z][a-z0-9/-]*\/(\d{8})$/;

/** The URA of a Task's requester, as SQL over the row alias `t`. */
const REQUESTER_URA = uraOfReferenceSql("t.content->'requester'->>'reference'");

/** The SQLSTATE of `refuse_foreign_group` (migration 030): the group check's own refusal. */
const FOREIGN_GROUP = 'GW42G';

/**
 * A group of candidates belongs to the organisation that opened it: a Task may only carry a
 * groupIdentifier no other requester's Task carries. Otherwise anyone who guessed a group value (a HAP's
 * contact number, a ride number) could put a Task of its own in it and, by accepting that one, cancel the
 * real candidates. The ZCC gets no exception: it opens groups of its own (S4), and acting in a group it
 * did not open would let it cancel another organisation's requests, which reading the region does not give it.
 * The check reads every Task, whoever may see it: the refusal says only that the value is taken.
 *
 * It runs in the transaction's last statement (its commit batch), by SQL that raises when another requester's Task
 * carries the value: the statement fails, nothing of the transaction is stored, and COMMIT, sent in the same round
 * trip, is not run. As its own statement before the Task's write it was one round trip more per Task that joins a
 * group (every native handover); in the batch, `bench/native-ingest-ab.ts` gave the gateway 0.931 of its CPU per handover.
 * The group's advisory lock (`lockKeys`) is held from before the write until after COMMIT, so no other writer of the
 * group commits in between. The check need not see this transaction's own resource writes still held back (so they go
 * in the same statement, `reads: []`): every Task this transaction writes past the workflow's rules has the writer's
 * organisation as requester (`beforeWrite` refuses any other), and the gateway's own writes in it (the cancellations
 * of a group's candidates) change no Task's group or requester.
 */
function checkGroupOwnership({ ctx, state }: OpenTransaction & { ctx: RequestContext }, task: Task): void {
  const token = groupToken(task);
  if (!token) return;
  const id = task.id ?? '';
  // The native formats' group systems carry their sender's URA (nts: the HAP's contacts, vvt: the requester's
  // requests): such a value is its organisation's before any Task uses it, so it cannot be taken in advance.
  const namespace = SENDER_NAMESPACE.exec(task.groupIdentifier?.system ?? '');
  if (namespace && namespace[1] !== ctx.organizationUra) {
    throw refused(`This groupIdentifier's system is the numbering of the organisation with URA ${namespace[1]}; only it may open a group in it`, 'Task.groupIdentifier');
  }
  // Refused after the last entry of a transaction Bundle: the refusal names the entry, as one refused at once would.
  const entry = state.get(BUNDLE_ENTRY).label;
  state.get(COMMIT_BATCH).add({
    shape: 'workflow:foreign-group',
    sql: (p) => `SELECT refuse_foreign_group(${p(2)}::text) FROM resources t
      WHERE ${lookupType('t', "'Task'")} AND NOT t.deleted AND t.tokens && ${plannedOnce(p(1))} AND t.id <> ${p(2)}
        AND ${REQUESTER_URA} IS DISTINCT FROM ${p(3)}
      LIMIT 1`,
    params: [[token], id, ctx.organizationUra],
    runForEffect: true,
    refusal: (err) =>
      refusalDetail(err, FOREIGN_GROUP) === id
        ? refused(
            `${entry ? `${entry}: ` : ''}This groupIdentifier belongs to a group of candidates another organisation opened; a Task may only join groups its own requester opened: choose another value`,
            'Task.groupIdentifier',
          )
        : undefined,
    reads: [],
  });
}

/**
 * The handover rules on every Task write, whichever route it takes (FHIR update or patch, transaction
 * entry, native answer): allowed transitions and who may make them, the requester on create, the owner
 * fixed after acceptance, and the first accept in a group of candidates winning.
 */
export function workflowHooks(deps: () => RepositoryDeps, orgs: OrganizationDirectory): WriteHooks {
  const isSystem = (ctx: RequestContext): boolean => ctx.roles.includes('system');

  /** The placer selected `task`: every other open candidate of the group is cancelled "not selected", in this transaction. */
  async function cancelNotSelected({ tx, state }: OpenTransaction, ctx: RequestContext, task: Task, id: string): Promise<void> {
    const repo = new Repository(deps(), systemContext(ctx.requestId), { tx, state });
    for (const sibling of await siblingIds(tx, task, id)) {
      const t = (await resourceStore.current(tx, 'Task', sibling, true))?.content as Task | undefined;
      if (!t || !OPEN_STATUSES.includes(t.status as TaskStatus)) continue;
      await repo.update({ ...t, status: 'cancelled', statusReason: NOT_SELECTED_REASON, lastModified: new Date().toISOString() } as Task);
    }
  }

  return {
    lockKeys: (resource: Resource) => {
      if (resource.resourceType !== 'Task') return [];
      const key = groupLockKey(resource as Task);
      return key ? [key] : [];
    },
    beforeWrite: async (w, change) => {
      const { tx, ctx } = w;
      if (change.next.resourceType !== 'Task' || isSystem(ctx)) return;
      const next = change.next as Task;
      if (change.interaction === 'create') {
        if (next.status !== 'requested' && next.status !== 'draft') {
          throw refused(`A new handover starts as requested (or draft), not ${next.status}`, 'Task.status');
        }
        const requester = await orgs.uraOf(w, next.requester);
        if (requester !== ctx.organizationUra) {
          // Say what the Task named: the refusal must be true when a client named an organisation, by reference or URA.
          const named = requester ? `names the organisation with URA ${requester}` : 'names no Organization with a URA';
          throw new HttpError(
            422,
            outcome('business-rule', `Task.requester ${named}; a new handover's requester must be your own organisation (URA ${ctx.organizationUra}), as Organization/<id> or identifier ${URA_SYSTEM}|${ctx.organizationUra}`, ['Task.requester']),
          );
        }
        checkGroupOwnership(w, next);
        return;
      }
      const previous = change.previous?.content as Task | undefined;
      if (!previous || change.previous?.deleted) return;
      const [ownerUra, requesterUra] = await Promise.all([orgs.uraOf(w, previous.owner), orgs.uraOf(w, previous.requester)]);
      const role = ctx.organizationUra === ownerUra ? 'owner' : ctx.organizationUra === requesterUra ? 'requester' : undefined;
      if (change.interaction === 'delete') {
        if (role !== 'requester') throw refused('Only the requesting organisation may delete a handover', 'Task');
        return;
      }
      if (next.requester?.reference !== previous.requester?.reference) throw refused('The requester of a handover cannot change', 'Task.requester');
      if (groupToken(next) !== groupToken(previous)) {
        if (ctx.organizationUra !== requesterUra) throw refused('Only the requesting organisation may move a handover to another group of candidates', 'Task.groupIdentifier');
        checkGroupOwnership(w, next);
      }
      if (next.owner?.reference !== previous.owner?.reference) {
        if (role !== 'requester') throw refused('Only the requesting organisation may re-address a handover', 'Task.owner');
        if (!['requested', 'received', 'on-hold', 'draft'].includes(previous.status ?? '')) {
          throw refused(`The owner of a handover cannot change once it is ${previous.status}`, 'Task.owner');
        }
      }
      // Twiin TA Workflow: the placer's selection among invited candidates (src/handover/selection.ts).
      const problem = invitationProblem(previous, next, role);
      if (problem) throw refused(problem.message, problem.expression);
      if (isSelection(previous, next) && next.id && candidateGroup(next)) {
        const taken = await siblingIds(tx, next, next.id, SELECTED_TOKEN);
        for (const id of taken) {
          const other = (await resourceStore.current(tx, 'Task', id, true))?.content as Task | undefined;
          if (other && OPEN_STATUSES.includes(other.status as TaskStatus)) throw refused('Another candidate of this group is already selected: a group has one selected candidate', 'Task.businessStatus');
        }
      }
      const from = previous.status as TaskStatus;
      const to = next.status as TaskStatus;
      if (from === to) {
        if (isFinal(from)) throw refused(`The handover is ${from}, which is final: it cannot change any more`, 'Task');
        if (!role) throw refused('Only the parties to a handover may change it', 'Task');
        return;
      }
      const may = whoMay(from, to);
      if (!may || isFinal(from) || may !== role) throw refused(describeTransition(from, to), 'Task.status');
    },
    afterWrite: async ({ tx, ctx, state }, event) => {
      if (event.stored.resourceType !== 'Task') return;
      const task = event.stored.content as Task;
      const before = event.previous?.content as Task | undefined;
      // An invitation that ends unselected (not selected, refused, cancelled) drops a candidate's withheld answer.
      if (isInvitation(task) && isFinal(task.status as TaskStatus)) await dropWithheld(tx, event.stored.id);
      if (before && isSelection(before, task)) {
        // The selected candidate's withheld native answer (its visit record) takes effect with the selection.
        await releaseWithheld({ tx, state }, deps(), orgs, ctx.requestId, task, event.stored.id);
      }
      if (!candidateGroup(task)) return;
      if (before && isSelection(before, task)) {
        await cancelNotSelected({ tx, state }, ctx, task, event.stored.id);
        return;
      }
      // An invitation accepted is a candidate's answer, not the choice: the placer selects (TA Workflow).
      if (task.status !== 'accepted' || before?.status === 'accepted' || isInvitation(task) || !groupToken(task)) return;
      // First accept wins: every other open candidate of the group is cancelled in this same transaction. The
      // group is its requester's: a Task of another requester carrying the same value is not a sibling.
      const siblings = await tx.query<{ id: string }>(
        `SELECT t.id FROM resources t
          WHERE ${lookupType('t', "'Task'")} AND NOT t.deleted AND t.tokens && ${plannedOnce('$1')} AND t.id <> $2
            AND ${REQUESTER_URA} = ${uraOfReferenceSql('$3::text')}
          ORDER BY t.id`,
        [[groupToken(task)], event.stored.id, task.requester?.reference ?? ''],
      );
      const repo = new Repository(deps(), systemContext(ctx.requestId), { tx, state });
      for (const { id } of siblings.rows) {
        const sibling = await resourceStore.current(tx, 'Task', id, true);
        const t = sibling?.content as Task | undefined;
        if (!sibling || !t || !OPEN_STATUSES.includes(t.status as TaskStatus) || t.status === 'accepted' || t.status === 'in-progress') continue;
        await repo.update({ ...t, status: 'cancelled', statusReason: { text: NOT_SELECTED }, lastModified: new Date().toISOString() } as Task);
      }
    },
  };
}
