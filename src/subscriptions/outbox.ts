import type { Reference, Task } from '@medplum/fhirtypes';
import type { WriteHooks } from '../fhir/repository.ts';
import { URA_SYSTEM } from '../handover/references.ts';
import type { Tx } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import type { Filters } from './spec.ts';
import { firesOn } from './topic.ts';

export const OUTBOX_CHANNEL = 'subscription_events';

interface Candidate {
  id: string;
  owner_ura: string;
  filters: Filters;
  reads_all: boolean;
}

interface Party {
  reference?: string;
  ura?: string;
}

async function partyOf(tx: Tx, ref: Reference | undefined, cache: Map<string, string | undefined>): Promise<Party> {
  const reference = ref?.reference;
  const m = /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(reference ?? '');
  if (!m) return { reference };
  if (!cache.has(m[1])) {
    const org = await resourceStore.current(tx, 'Organization', m[1]);
    const identifiers = (org?.content as { identifier?: { system?: string; value?: string }[] } | undefined)?.identifier;
    cache.set(m[1], identifiers?.find((i) => i.system === URA_SYSTEM)?.value);
  }
  return { reference, ura: cache.get(m[1]) };
}

function matchesParty(party: Party, value: string): boolean {
  if (value === party.reference) return true;
  const ura = value.startsWith(`${URA_SYSTEM}|`) ? value.slice(URA_SYSTEM.length + 1) : value;
  return party.ura !== undefined && ura === party.ura;
}

function matchesToken(code: string | undefined, system: string | undefined, value: string): boolean {
  const bar = value.indexOf('|');
  if (bar < 0) return value === code;
  return value.slice(0, bar) === (system ?? '') && value.slice(bar + 1) === code;
}

/** Whether a Task passes every filter of a subscription (values of one filter are alternatives). */
export function matches(filters: Filters, task: Task, owner: Party, requester: Party): boolean {
  return filters.every(([param, values]) =>
    values.some((v) => {
      switch (param) {
        case 'owner':
          return matchesParty(owner, v);
        case 'requester':
          return matchesParty(requester, v);
        case 'status':
          return v === task.status;
        case 'priority':
          return v === task.priority;
        case 'group-identifier':
          return matchesToken(task.groupIdentifier?.value, task.groupIdentifier?.system, v);
        default:
          return false;
      }
    }),
  );
}

/**
 * The outbox: for every Task create and status change, one event row per matching subscription whose
 * organisation may read the handover, numbered from the subscription's counter, all in the writing
 * transaction (no commit without its events, no event without its commit). The NOTIFY is delivered
 * at commit, waking the delivery workers of every instance.
 */
export function outboxHooks(): WriteHooks {
  const orgCache = new Map<string, string | undefined>();
  return {
    afterWrite: async (tx, _ctx, event) => {
      if (event.stored.resourceType !== 'Task') return;
      const task = event.stored.content as Task;
      if (!firesOn(event.interaction, task, event.previous?.content as Task | undefined)) return;
      const candidates = await tx.query<Candidate>(`SELECT id, owner_ura, filters, reads_all FROM subscription_state WHERE status <> 'off' ORDER BY id`);
      if (candidates.rows.length === 0) return;
      const [owner, requester] = await Promise.all([partyOf(tx, task.owner, orgCache), partyOf(tx, task.requester, orgCache)]);
      const targets = candidates.rows.filter(
        (s) => (s.reads_all || s.owner_ura === owner.ura || s.owner_ura === requester.ura) && matches(s.filters, task, owner, requester),
      );
      // In id order, so that concurrent writers lock the counters in the same order (no deadlock).
      for (const s of targets) {
        await tx.query(
          `WITH n AS (UPDATE subscription_state SET events_count = events_count + 1 WHERE id = $1 RETURNING id, events_count)
           INSERT INTO subscription_events (subscription_id, event_number, handover_id, focus_version, task_status, occurred, next_attempt)
           SELECT id, events_count, $2, $3, $4, $5, now() FROM n`,
          [s.id, event.stored.id, event.stored.versionId, task.status ?? 'unknown', event.stored.lastUpdated],
        );
      }
      if (targets.length > 0) await tx.query(`SELECT pg_notify($1, '')`, [OUTBOX_CHANNEL]);
    },
  };
}
