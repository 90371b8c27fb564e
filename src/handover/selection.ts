import type { CodeableConcept, Task } from '@medplum/fhirtypes';

/**
 * Twiin TA Workflow, the Multiple Fulfillers Pattern (TwiinNL/ig-workflow, ta-workflow-codes.fsh): the placer
 * invites candidates with Coordination Tasks of code `request-fulfillment`, each candidate accepts or refuses its
 * invitation, and the placer selects one by updating its Task to code `fulfill`, businessStatus `selected` and
 * `for` set; every other open invitation of the group becomes `cancelled` with statusReason `not-selected`.
 * Which way a group of candidates chooses is decided by the code the placer sends: task-code `fulfill` is the
 * region's first-accept-wins, `request-fulfillment` is "the placer selects". Pure: no database.
 */
const TA_WORKFLOW_SYSTEM = 'https://fhir.twiin.nl/ig/workflow/CodeSystem/ta-workflow';
const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';

/** The statusReason of a candidate that was not selected, the IG's coding with the region's text. */
export const NOT_SELECTED_REASON: CodeableConcept = { coding: [{ system: TA_WORKFLOW_SYSTEM, code: 'not-selected', display: 'Not selected' }], text: 'not selected' };

/** The search token of a selected Task (Task.businessStatus), for finding one in a group. */
export const SELECTED_TOKEN = `business-status=${TA_WORKFLOW_SYSTEM}|selected`;

/** The search token of an invitation (Task.code request-fulfillment). */
export const INVITATION_TOKEN = `code=${TA_WORKFLOW_SYSTEM}|request-fulfillment`;

function has(concept: CodeableConcept | undefined, system: string, code: string): boolean {
  return concept?.coding?.some((c) => c.system === system && c.code === code) === true;
}

/** An invitation of the TA Workflow: the candidate may accept or refuse, but not start until selected. */
export function isInvitation(task: Task | undefined): boolean {
  return has(task?.code, TA_WORKFLOW_SYSTEM, 'request-fulfillment');
}

/** The candidate the placer selected (businessStatus selected; its code is then fulfill). */
export function isSelected(task: Task | undefined): boolean {
  return has(task?.businessStatus, TA_WORKFLOW_SYSTEM, 'selected');
}

/**
 * Where a TA Workflow invitation stands, for the board: selected (its code is then fulfill), not selected (cancelled
 * by another's selection), or invited (answered or not); undefined for any other Task.
 */
export function invitationState(task: Task): 'invited' | 'selected' | 'not-selected' | undefined {
  if (isSelected(task)) return 'selected';
  if (!isInvitation(task)) return undefined;
  return has(task.statusReason, TA_WORKFLOW_SYSTEM, 'not-selected') ? 'not-selected' : 'invited';
}

/** A (Authorization) Cancellation Request Task: code abort. */
export function isCancellationRequest(task: Task | undefined): boolean {
  return has(task?.code, TASK_CODE_SYSTEM, 'abort');
}

/** The placer's selection: an invitation that becomes selected in this update. */
export function isSelection(previous: Task, next: Task): boolean {
  return isInvitation(previous) && !isSelected(previous) && isSelected(next);
}

/**
 * What is wrong with this update of an invitation, judged from the two versions and who makes it, or undefined.
 * The other candidates of the group are checked by the caller (it needs the database).
 */
export function invitationProblem(previous: Task, next: Task, role: 'owner' | 'requester' | undefined): { message: string; expression: string } | undefined {
  // Compared by system|code: the stored version comes back from jsonb with its keys in another order.
  const codes = (t: Task): string => (t.code?.coding ?? []).map((c) => `${c.system ?? ''}|${c.code ?? ''}`).sort().join(' ');
  const codeChanged = codes(previous) !== codes(next);
  if (isSelection(previous, next)) {
    if (role !== 'requester') return { message: 'Only the placer (Task.requester) selects a candidate', expression: 'Task.businessStatus' };
    if (previous.status !== 'accepted') {
      return { message: `Only a candidate that accepted its invitation can be selected; this one is ${previous.status}`, expression: 'Task.businessStatus' };
    }
    if (next.status !== 'accepted') return { message: 'The selected candidate\'s Task stays accepted in the selecting update', expression: 'Task.status' };
    return undefined;
  }
  if (codeChanged && isInvitation(previous)) {
    return { message: 'An invitation (code request-fulfillment) changes its code only when the placer selects it: code fulfill, businessStatus selected and for, in one update', expression: 'Task.code' };
  }
  if (codeChanged) return { message: 'Task.code cannot change', expression: 'Task.code' };
  if (isInvitation(previous) && next.status === 'in-progress') {
    return { message: 'A candidate may not start the work before the placer selects it (code request-fulfillment)', expression: 'Task.status' };
  }
  if (isSelected(previous) && !isSelected(next)) return { message: 'A selection cannot be taken back; cancel the Task instead', expression: 'Task.businessStatus' };
  return undefined;
}
