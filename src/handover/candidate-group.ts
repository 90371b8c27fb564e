import type { Task } from '@medplum/fhirtypes';
import { FHIR_ID } from '../fhir/resource-types.ts';
import { isInvitation, isSelected, SELECTED_TOKEN, INVITATION_TOKEN } from './selection.ts';

/**
 * The group of candidates a Task belongs to, as the search index finds it: the Tasks carrying `token` (and, when
 * `members` is not empty, one of those tokens too), of the same requesting organisation (the caller's SQL).
 *
 * Which rule decides the group:
 * - a Task with a `groupIdentifier` is in the group of that identifier (the region's groups, S4; native formats);
 * - a Twiin TA Workflow Task without one (an invitation, code `request-fulfillment`, or the one selected from
 *   invitations, businessStatus `selected`) is in the group of its focus ServiceRequest: the IG's invitations
 *   for one request share their focus and carry no groupIdentifier (TwiinNL/ig-workflow, examples.fsh). Only TA
 *   Workflow Tasks are members: a region Task (code fulfill, first accept wins) about the same request is not
 *   a candidate of the placer's selection, nor the other way round.
 * Any other Task is in no group.
 */
export interface CandidateGroup {
  readonly token: string;
  /** Tokens of which a member carries at least one; empty: every Task with `token`. */
  readonly members: readonly string[];
  /** The name the group's writers lock (an advisory lock) before they read or change it. */
  readonly lockKey: string;
}

const TA_MEMBERS = [INVITATION_TOKEN, SELECTED_TOKEN];
/** `ServiceRequest/<id>` at the end of a reference, relative or absolute: one lock and one token for both forms. */
const FOCUS = new RegExp(`(?:^|/)(ServiceRequest/${FHIR_ID})$`);

/** The search token of a Task's groupIdentifier (the index's `group-identifier=system|value`), if it has one. */
export function groupIdentifierToken(task: Task): string | undefined {
  const g = task.groupIdentifier;
  return g?.value ? `group-identifier=${g.system ? `${g.system}|` : ''}${g.value}` : undefined;
}

/** The focus ServiceRequest (`ServiceRequest/<id>`) that is the group of a Twiin TA Workflow Task without groupIdentifier. */
function focusGroup(task: Task): string | undefined {
  if (task.groupIdentifier?.value || (!isInvitation(task) && !isSelected(task))) return undefined;
  return FOCUS.exec(task.focus?.reference ?? '')?.[1];
}

export function candidateGroup(task: Task): CandidateGroup | undefined {
  const byIdentifier = groupIdentifierToken(task);
  if (byIdentifier) return { token: byIdentifier, members: [], lockKey: `task-group:${byIdentifier}` };
  const focus = focusGroup(task);
  if (!focus) return undefined;
  const token = `focus=${focus}`;
  return { token, members: TA_MEMBERS, lockKey: `task-group:${token}` };
}

/** How people are shown a Task's group (the board): by the same rule as `candidateGroup`, what names it. */
export interface GroupName {
  /** `identifier`: the groupIdentifier's value; `request`: the focus ServiceRequest (`ServiceRequest/<id>`) of Twiin invitations. */
  by: 'identifier' | 'request';
  value: string;
}

export function candidateGroupName(task: Task): GroupName | undefined {
  const identifier = task.groupIdentifier?.value;
  if (identifier) return { by: 'identifier', value: identifier };
  const focus = focusGroup(task);
  return focus ? { by: 'request', value: focus } : undefined;
}
