import type { Task } from '@medplum/fhirtypes';
import { systemContext } from '../context.ts';
import { HttpError, outcome } from '../fhir/outcomes.ts';
import { referencePatternOf } from '../fhir/resource-types.ts';
import { Repository, type RepositoryDeps } from '../fhir/repository.ts';
import type { OpenTransaction, WriteHooks } from '../fhir/write-phases.ts';
import { resourceStore } from '../store/resource-store.ts';
import { type OrganizationDirectory, uraOfReferenceSql } from '../access/organizations.ts';
import { isGateway } from '../access/policy.ts';
import { isCancellationRequest } from './selection.ts';
import { OPEN_STATUSES, type TaskStatus } from './state-machine.ts';

/**
 * Twiin TA Workflow's cancellation requests (TwiinNL/ig-workflow, profile-cancellation-request-task.fsh and
 * profile-authorization-cancellation-request-task.fsh), Tasks of code `abort`:
 * - a **Cancellation Request Task** (intent order): the placer asks the fulfiller to stop a Task; focus is that
 *   Task, the owner the same organisation. The fulfiller decides: accepting it cancels the focus Task in the same
 *   transaction (the placer is notified of both, as party), refusing it leaves the work running;
 * - an **Authorization Cancellation Request Task** (intent proposal): a fulfiller asks the placer to withdraw the
 *   request; focus is the ServiceRequest, the owner the placer. The placer decides: accepting it cancels the
 *   fulfiller's open Tasks of that request from that placer.
 * Who may answer is the state machine's (the owner of the request Task), on every route.
 */
const REQUESTER_URA = uraOfReferenceSql("t.content->'requester'->>'reference'");
const OWNER_URA = uraOfReferenceSql("t.content->'owner'->>'reference'");

const refused = (message: string, expression: string): HttpError => new HttpError(422, outcome('business-rule', message, [expression]));

function isAuthorizationRequest(task: Task): boolean {
  return isCancellationRequest(task) && task.intent === 'proposal';
}

/** The open Tasks a cancellation request is about (not other cancellation requests): ids and contents. */
const TASK_REFERENCE = referencePatternOf('Task');

async function targets(w: OpenTransaction, request: Task, orgs: OrganizationDirectory): Promise<Task[]> {
  const { tx } = w;
  const [requester, owner] = await Promise.all([orgs.uraOf(w, request.requester), orgs.uraOf(w, request.owner)]);
  const focus = request.focus?.reference ?? '';
  if (!isAuthorizationRequest(request)) {
    const id = TASK_REFERENCE.exec(focus)?.[1];
    const row = id ? await resourceStore.current(tx, 'Task', id, true) : undefined;
    const task = row && !row.deleted ? (row.content as Task) : undefined;
    if (!task || isCancellationRequest(task)) return [];
    const [taskRequester, taskOwner] = await Promise.all([orgs.uraOf(w, task.requester), orgs.uraOf(w, task.owner)]);
    return taskRequester === requester && taskOwner === owner ? [task] : [];
  }
  // The fulfiller (requester of the proposal) asks the placer (its owner) about the placer's Tasks on that request.
  const rows = await tx.query<{ id: string }>(
    `SELECT t.id FROM resources t
      WHERE t.resource_type = 'Task' AND NOT t.deleted AND t.content->'focus'->>'reference' = $1
        AND ${REQUESTER_URA} = $2 AND ${OWNER_URA} = $3 ORDER BY t.id`,
    [focus, owner ?? '', requester ?? ''],
  );
  const tasks: Task[] = [];
  for (const { id } of rows.rows) {
    const task = (await resourceStore.current(tx, 'Task', id, true))?.content as Task | undefined;
    if (task && !isCancellationRequest(task)) tasks.push(task);
  }
  return tasks;
}

export function cancellationHooks(deps: () => RepositoryDeps, orgs: OrganizationDirectory): WriteHooks {
  return {
    beforeWrite: async (w, change) => {
      if (change.next.resourceType !== 'Task' || change.interaction !== 'create' || isGateway(w.ctx)) return;
      const request = change.next as Task;
      if (!isCancellationRequest(request)) return;
      const open = (await targets(w, request, orgs)).filter((t) => OPEN_STATUSES.includes(t.status as TaskStatus));
      if (open.length > 0) return;
      throw isAuthorizationRequest(request)
        ? refused('An Authorization Cancellation Request Task asks the placer (owner) about an open Task it gave the requester on the focus ServiceRequest; there is none', 'Task.focus')
        : refused('A Cancellation Request Task names in focus the Task to stop (Task/<id>): an open Task of the same requester and owner; this focus is not one', 'Task.focus');
    },
    afterWrite: async ({ tx, ctx, state }, event) => {
      if (event.stored.resourceType !== 'Task' || event.stored.deleted) return;
      const request = event.stored.content as Task;
      const before = event.previous?.content as Task | undefined;
      if (!isCancellationRequest(request) || request.status !== 'accepted' || before?.status === 'accepted') return;
      const repo = new Repository(deps(), systemContext(ctx.requestId), { tx, state });
      const reason = isAuthorizationRequest(request) ? 'withdrawn by the placer at the fulfiller\'s request' : 'stopped at the placer\'s request';
      for (const task of await targets({ tx, state }, request, orgs)) {
        if (!OPEN_STATUSES.includes(task.status as TaskStatus)) continue;
        await repo.update({ ...task, status: 'cancelled', statusReason: { text: reason }, lastModified: new Date().toISOString() } as Task);
      }
    },
  };
}
