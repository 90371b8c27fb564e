import type { Reference, Task } from '@medplum/fhirtypes';
import type { OpenTransaction, WriteHooks } from '../fhir/write-phases.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { organizationOf, type OrganizationDirectory } from '../access/organizations.ts';
import type { Filters } from './spec.ts';
import { firesOn } from './topic.ts';
import { referencePatternOf } from '../fhir/resource-types.ts';

const PATIENT_REFERENCE = referencePatternOf('Patient');

export const OUTBOX_CHANNEL = 'subscription_events';

interface Candidate {
  id: string;
  owner_ura: string;
  filters: Filters;
  reads_all: boolean;
}

const LEGACY_OWNER_SERVICE = 'https://handover-gateway.nl/fhir/StructureDefinition/owner-healthcareservice';

interface Party {
  reference?: string;
  /** `Organization/<id>`: the reference itself, or the Organization providing the HealthcareService it names. */
  organization?: string;
  ura?: string;
  /** `system|value` of the HealthcareService the client named (Twiin: owner.type HealthcareService and its identifier). */
  service?: string;
}

async function partyOf(open: OpenTransaction, ref: Reference | undefined, orgs: OrganizationDirectory): Promise<Party> {
  // Tasks stored before the owner was kept as sent carry the service in an extension on the Organization owner.
  const legacy = ref?.extension?.find((e) => e.url === LEGACY_OWNER_SERVICE)?.valueReference?.identifier;
  const named = ref?.identifier && ref.identifier.system !== URA_SYSTEM && (ref.type === 'HealthcareService' || ref.reference?.startsWith('HealthcareService/')) ? ref.identifier : legacy;
  const service = named?.system && named.value ? `${named.system}|${named.value}` : undefined;
  return { reference: ref?.reference, organization: await organizationOf(open.tx, ref), ura: await orgs.uraOf(open, ref), ...(service ? { service } : {}) };
}

function matchesParty(party: Party, value: string): boolean {
  if (value === party.reference || (party.organization !== undefined && value === party.organization)) return true;
  if (party.service !== undefined && value === party.service) return true;
  const ura = value.startsWith(`${URA_SYSTEM}|`) ? value.slice(URA_SYSTEM.length + 1) : value;
  return party.ura !== undefined && ura === party.ura;
}

function matchesToken(code: string | undefined, system: string | undefined, value: string): boolean {
  const bar = value.indexOf('|');
  if (bar < 0) return value === code;
  return value.slice(0, bar) === (system ?? '') && value.slice(bar + 1) === code;
}

/** Whether a Task passes every filter of a subscription (values of one filter are alternatives). */
function matches(filters: Filters, task: Task, owner: Party, requester: Party): boolean {
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
 * organisation may read the handover, in the writing transaction (no commit without its events, no
 * event without its commit). The rows carry no number yet: numbering them here would lock a counter
 * per subscriber until commit and serialise every writer. The NOTIFY, delivered at commit, wakes the
 * workers of every instance, which number the committed events (subscription_number_events) and send them.
 * Its payload is the handover's id: anyone listening learns when that change was committed (the benchmark).
 */
export function outboxHooks(orgs: OrganizationDirectory): WriteHooks {
  return {
    afterWrite: async (w, event) => {
      const { tx } = w;
      if (event.stored.resourceType !== 'Task') return;
      const task = event.stored.content as Task;
      if (!firesOn(event.interaction, task, event.previous?.content as Task | undefined)) return;
      const candidates = await tx.query<Candidate>(`SELECT id, owner_ura, filters, reads_all FROM subscription_state WHERE status <> 'off'`);
      if (candidates.rows.length === 0) return;
      const [owner, requester] = await Promise.all([partyOf(w, task.owner, orgs), partyOf(w, task.requester, orgs)]);
      const targets = candidates.rows.filter(
        (s) => (s.reads_all || s.owner_ura === owner.ura || s.owner_ura === requester.ura) && matches(s.filters, task, owner, requester),
      );
      if (targets.length === 0) return;
      const patient = PATIENT_REFERENCE.test(task.for?.reference ?? '') ? task.for?.reference : undefined;
      await tx.query(
        `WITH ins AS (
           INSERT INTO subscription_events (subscription_id, handover_id, focus_version, task_status, occurred, next_attempt, patient)
           SELECT unnest($1::text[]), $2, $3, $4, $5, now(), $6
         )
         SELECT pg_notify($7, $2)`,
        [targets.map((s) => s.id), event.stored.id, event.stored.versionId, task.status ?? 'unknown', event.stored.lastUpdated, patient ?? null, OUTBOX_CHANNEL],
      );
    },
  };
}
