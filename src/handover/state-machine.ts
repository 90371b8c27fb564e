import type { Task } from '@medplum/fhirtypes';

export type TaskStatus = NonNullable<Task['status']>;
export type Party = 'owner' | 'requester';

/**
 * The handover Task's life (Nictiz eOverdracht / Twiin notified pull): which status may follow
 * which, and who may make the step. Final states have no way out.
 */
const TRANSITIONS: Record<string, { to: TaskStatus; by: Party }[]> = {
  requested: [
    { to: 'received', by: 'owner' },
    { to: 'accepted', by: 'owner' },
    { to: 'rejected', by: 'owner' },
    { to: 'on-hold', by: 'owner' },
    { to: 'cancelled', by: 'requester' },
  ],
  received: [
    { to: 'accepted', by: 'owner' },
    { to: 'rejected', by: 'owner' },
    { to: 'on-hold', by: 'owner' },
    { to: 'cancelled', by: 'requester' },
  ],
  'on-hold': [
    { to: 'requested', by: 'requester' },
    { to: 'cancelled', by: 'requester' },
  ],
  accepted: [
    { to: 'in-progress', by: 'owner' },
    { to: 'failed', by: 'owner' },
    { to: 'cancelled', by: 'requester' },
  ],
  'in-progress': [
    { to: 'completed', by: 'owner' },
    { to: 'failed', by: 'owner' },
  ],
};

const FINAL_STATUSES: readonly TaskStatus[] = ['rejected', 'cancelled', 'completed', 'failed'];
export const OPEN_STATUSES: readonly TaskStatus[] = ['requested', 'received', 'on-hold', 'accepted', 'in-progress'];

export function isFinal(status: TaskStatus | undefined): boolean {
  return status !== undefined && FINAL_STATUSES.includes(status);
}

/** Who may move a Task from `from` to `to`, or undefined when no one may. */
export function whoMay(from: TaskStatus, to: TaskStatus): Party | undefined {
  return TRANSITIONS[from]?.find((t) => t.to === to)?.by;
}

/**
 * The steps from `from` to `to` along the usual path, for answers that skip states
 * (a ride going from GEACCEPTEERD straight to AFGESLOTEN passes in-progress). Undefined when `to` cannot be reached.
 */
export function pathTo(from: TaskStatus, to: TaskStatus): TaskStatus[] | undefined {
  if (from === to) return [];
  const queue: { status: TaskStatus; path: TaskStatus[] }[] = [{ status: from, path: [] }];
  const seen = new Set<TaskStatus>([from]);
  while (queue.length > 0) {
    const { status, path } = queue.shift() as { status: TaskStatus; path: TaskStatus[] };
    for (const t of TRANSITIONS[status] ?? []) {
      if (seen.has(t.to) || t.to === 'on-hold' || t.to === 'received') continue;
      const next = [...path, t.to];
      if (t.to === to) return next;
      seen.add(t.to);
      queue.push({ status: t.to, path: next });
    }
  }
  return undefined;
}

export function describeTransition(from: TaskStatus, to: TaskStatus): string {
  const by = whoMay(from, to);
  if (isFinal(from)) return `The handover is ${from}, which is final: it cannot become ${to}`;
  if (!by) return `A handover cannot go from ${from} to ${to}`;
  return `Only the ${by === 'owner' ? 'receiving organisation (Task.owner)' : 'requesting organisation (Task.requester)'} may move a handover from ${from} to ${to}`;
}
