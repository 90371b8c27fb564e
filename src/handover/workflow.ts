import type { Reference, Resource, Task } from '@medplum/fhirtypes';
import { systemContext, type RequestContext } from '../context.ts';
import { HttpError, outcome } from '../fhir/outcomes.ts';
import { Repository, type RepositoryDeps, type WriteHooks } from '../fhir/repository.ts';
import type { Tx } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { URA_SYSTEM } from './references.ts';
import { describeTransition, isFinal, OPEN_STATUSES, type TaskStatus, whoMay } from './state-machine.ts';

export const NOT_SELECTED = 'not selected';

function refused(message: string, expression: string): HttpError {
  return new HttpError(409, outcome('business-rule', message, [expression]));
}

async function uraOf(tx: Tx, ref: Reference | undefined, cache: Map<string, string | undefined>): Promise<string | undefined> {
  const m = /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(ref?.reference ?? '');
  if (!m) return undefined;
  if (cache.has(m[1])) return cache.get(m[1]);
  const org = await resourceStore.current(tx, 'Organization', m[1]);
  const ura = (org?.content as { identifier?: { system?: string; value?: string }[] } | undefined)?.identifier?.find((i) => i.system === URA_SYSTEM)?.value;
  cache.set(m[1], ura);
  return ura;
}

function groupKey(task: Task): string | undefined {
  const g = task.groupIdentifier;
  return g?.value ? `task-group:${g.system ?? ''}|${g.value}` : undefined;
}

/**
 * The handover rules on every Task write, whichever route it takes (FHIR update or patch, transaction
 * entry, native answer): allowed transitions and who may make them, the requester on create, the owner
 * fixed after acceptance, and the first accept in a group of candidates winning.
 */
export function workflowHooks(deps: () => RepositoryDeps): WriteHooks {
  const orgCache = new Map<string, string | undefined>();
  const isSystem = (ctx: RequestContext): boolean => ctx.roles.includes('system');
  return {
    lockKeys: (resource: Resource) => {
      if (resource.resourceType !== 'Task') return [];
      const key = groupKey(resource as Task);
      return key ? [key] : [];
    },
    beforeWrite: async (tx, ctx, change) => {
      if (change.next.resourceType !== 'Task' || isSystem(ctx)) return;
      const next = change.next as Task;
      if (change.interaction === 'create') {
        if (next.status !== 'requested' && next.status !== 'draft') {
          throw refused(`A new handover starts as requested (or draft), not ${next.status}`, 'Task.status');
        }
        const requester = await uraOf(tx, next.requester, orgCache);
        if (requester !== ctx.organizationUra) {
          throw new HttpError(422, outcome('business-rule', `Task.requester must be your own organisation (URA ${ctx.organizationUra})`, ['Task.requester']));
        }
        return;
      }
      const previous = change.previous?.content as Task | undefined;
      if (!previous || change.previous?.deleted) return;
      const [ownerUra, requesterUra] = await Promise.all([uraOf(tx, previous.owner, orgCache), uraOf(tx, previous.requester, orgCache)]);
      const role = ctx.organizationUra === ownerUra ? 'owner' : ctx.organizationUra === requesterUra ? 'requester' : undefined;
      if (change.interaction === 'delete') {
        if (role !== 'requester') throw refused('Only the requesting organisation may delete a handover', 'Task');
        return;
      }
      if (next.requester?.reference !== previous.requester?.reference) throw refused('The requester of a handover cannot change', 'Task.requester');
      if (next.owner?.reference !== previous.owner?.reference) {
        if (role !== 'requester') throw refused('Only the requesting organisation may re-address a handover', 'Task.owner');
        if (!['requested', 'received', 'on-hold', 'draft'].includes(previous.status ?? '')) {
          throw refused(`The owner of a handover cannot change once it is ${previous.status}`, 'Task.owner');
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
    afterWrite: async (tx, ctx, event) => {
      if (event.stored.resourceType !== 'Task') return;
      const task = event.stored.content as Task;
      const before = event.previous?.content as Task | undefined;
      if (task.status !== 'accepted' || before?.status === 'accepted' || !task.groupIdentifier?.value) return;
      // First accept wins: every other open candidate of the group is cancelled in this same transaction.
      const g = task.groupIdentifier;
      const token = `group-identifier=${g.system ? `${g.system}|` : ''}${g.value}`;
      const siblings = await tx.query<{ id: string }>(
        `SELECT id FROM resources WHERE resource_type = 'Task' AND NOT deleted AND tokens && $1::text[] AND id <> $2 ORDER BY id`,
        [[token], event.stored.id],
      );
      const repo = new Repository(deps(), systemContext(ctx.requestId), tx);
      for (const { id } of siblings.rows) {
        const sibling = await resourceStore.current(tx, 'Task', id, true);
        const t = sibling?.content as Task | undefined;
        if (!sibling || !t || !OPEN_STATUSES.includes(t.status as TaskStatus) || t.status === 'accepted' || t.status === 'in-progress') continue;
        await repo.update({ ...t, status: 'cancelled', statusReason: { text: NOT_SELECTED }, lastModified: new Date().toISOString() } as Task);
      }
    },
  };
}
