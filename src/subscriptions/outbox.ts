import type { Reference, Task } from '@medplum/fhirtypes';
import { COMMIT_BATCH, TxSlot, type WriteHooks } from '../fhir/write-phases.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { firesOn } from './topic.ts';
import { URA_OF_REFERENCE_READS } from '../access/organizations.ts';
import { referencePatternOf, referenceToSql } from '../fhir/resource-types.ts';

const PATIENT_REFERENCE = referencePatternOf('Patient');

export const OUTBOX_CHANNEL = 'subscription_events';

const LEGACY_OWNER_SERVICE = 'https://handover-gateway.nl/fhir/StructureDefinition/owner-healthcareservice';

/**
 * `system|value` of the HealthcareService a party reference names by identifier (Twiin: owner.type HealthcareService and
 * its identifier), which a filter may name; Tasks stored before the owner was kept as sent carry it in an extension.
 */
function serviceOf(ref: Reference | undefined): string | null {
  const legacy = ref?.extension?.find((e) => e.url === LEGACY_OWNER_SERVICE)?.valueReference?.identifier;
  const named = ref?.identifier && ref.identifier.system !== URA_SYSTEM && (ref.type === 'HealthcareService' || ref.reference?.startsWith('HealthcareService/')) ? ref.identifier : legacy;
  return named?.system && named.value ? `${named.system}|${named.value}` : null;
}

/**
 * The filter values a token of the Task matches: `code`, or `system|code` (no system: `|code`). A value is split at
 * its first bar, so a code with a bar matches only with its system, and a system with a bar never.
 */
function tokenValues(code: string | undefined, system: string | undefined): string[] {
  if (code === undefined) return [];
  const values = code.includes('|') ? [] : [code];
  if (!(system ?? '').includes('|')) values.push(`${system ?? ''}|${code}`);
  return values;
}

/** One Task change that notifies, as the outbox statement reads it (jsonb_to_recordset). */
interface OutboxEvent {
  n: number;
  handover: string;
  version: string;
  status: string;
  occurred: string;
  patient: string | null;
  owner: string | null;
  requester: string | null;
  owner_service: string | null;
  requester_service: string | null;
  /** The values each plain filter (status, priority, group-identifier) matches for this Task. */
  tokens: Record<string, string[]>;
}

/** This attempt's notifying Task changes, in the order written. */
const OUTBOX_EVENTS = new TxSlot<OutboxEvent[]>('outbox.events', () => []);

/** SQL: the `Organization/<id>` a party reference stands for: itself, or the provider of the HealthcareService it names. */
function organizationSql(ref: string): string {
  return `CASE WHEN ${referenceToSql(ref, ['Organization'])} THEN ${ref}
            WHEN ${referenceToSql(ref, ['HealthcareService'])} THEN (SELECT hs.content->'providedBy'->>'reference' FROM resources hs
              WHERE hs.resource_type = 'HealthcareService' AND hs.id = substr(${ref}, 19) AND NOT hs.deleted
                AND ${referenceToSql("hs.content->'providedBy'->>'reference'", ['Organization'])}) END`;
}

/** SQL: the URA of the Organization `org` (`Organization/<id>`): its first identifier of the URA system. */
function uraSql(org: string): string {
  return `(SELECT i.v->>'value' FROM resources uo CROSS JOIN LATERAL jsonb_array_elements(uo.content->'identifier') WITH ORDINALITY AS i(v, k)
            WHERE uo.resource_type = 'Organization' AND uo.id = substr(${org}, 14) AND NOT uo.deleted AND i.v->>'system' = '${URA_SYSTEM}'
            ORDER BY i.k LIMIT 1)`;
}

/** SQL: the filter values that name a party: its reference, its Organization, its service, its URA bare or with its system. */
const partyValues = (ref: string, org: string, service: string, ura: string): string => `jsonb_build_array(${ref}, ${org}, ${service}, ${ura}, '${URA_SYSTEM}|' || ${ura})`;

/**
 * The resources OUTBOX_INSERT reads (organizationSql, uraSql): those uraOfReferenceSql reads, an organisation or the
 * service it provides; the subscriptions it reads are rows of their own table.
 */
const OUTBOX_READS = URA_OF_REFERENCE_READS;

/**
 * One statement for every notifying change of a transaction: for each (in the order written) one row per subscription
 * that is not off, whose organisation is the Task's owner's or requester's (or reads the region), and whose every
 * filter has a value the Task matches (subscription_filters_match, migration 022). Read in the writing transaction, so
 * a Subscription committed before it is seen, and one it writes itself too; no copy of the subscriptions is kept
 * anywhere. Without a live subscription the organisations are not looked up at all (a one-time condition).
 */
const OUTBOX_INSERT = (events: string): string => `INSERT INTO subscription_events (subscription_id, handover_id, focus_version, task_status, occurred, next_attempt, patient)
  SELECT s.id, e.handover, e.version, e.status, e.occurred, now(), e.patient
    FROM jsonb_to_recordset(${events}::jsonb) AS e(n int, handover text, version bigint, status text, occurred timestamptz, patient text,
           owner text, requester text, owner_service text, requester_service text, tokens jsonb)
    -- Each Task's organisations and matched values once (OFFSET 0 keeps them from being re-evaluated per subscription).
    CROSS JOIN LATERAL (
      SELECT u.owner_ura, u.requester_ura, e.tokens || jsonb_build_object(
               'owner', ${partyValues('e.owner', 'u.owner_org', 'e.owner_service', 'u.owner_ura')},
               'requester', ${partyValues('e.requester', 'u.requester_org', 'e.requester_service', 'u.requester_ura')}) AS matched
        FROM (SELECT o.owner_org, o.requester_org, ${uraSql('o.owner_org')} AS owner_ura, ${uraSql('o.requester_org')} AS requester_ura
                FROM (SELECT ${organizationSql('e.owner')} AS owner_org, ${organizationSql('e.requester')} AS requester_org OFFSET 0) o OFFSET 0) u
       OFFSET 0) p
    JOIN subscription_state s ON s.status <> 'off' AND (s.reads_all OR s.owner_ura = p.owner_ura OR s.owner_ura = p.requester_ura)
   WHERE EXISTS (SELECT 1 FROM subscription_state WHERE status <> 'off')
     AND subscription_filters_match(s.filters, p.matched)
   ORDER BY e.n, s.id
  RETURNING handover_id`;

/**
 * The outbox: for every Task create and status change, one event row per matching subscription whose
 * organisation may read the handover, in the writing transaction (no commit without its events, no
 * event without its commit). The rows carry no number yet: numbering them here would lock a counter
 * per subscriber until commit and serialise every writer. The NOTIFY, delivered at commit, wakes the
 * workers of every instance, which number the committed events (subscription_number_events) and send them.
 * Its payload is the handover's id: anyone listening learns when that change was committed (the benchmark).
 */
export function outboxHooks(): WriteHooks {
  return {
    afterWrite: async ({ state }, event) => {
      if (event.stored.resourceType !== 'Task') return;
      const task = event.stored.content as Task;
      if (!firesOn(event.interaction, task, event.previous?.content as Task | undefined)) return;
      const events = state.get(OUTBOX_EVENTS);
      events.push({
        n: events.length,
        handover: event.stored.id,
        version: event.stored.versionId,
        status: task.status ?? 'unknown',
        occurred: event.stored.lastUpdated,
        patient: PATIENT_REFERENCE.test(task.for?.reference ?? '') ? (task.for?.reference ?? null) : null,
        owner: task.owner?.reference ?? null,
        requester: task.requester?.reference ?? null,
        owner_service: serviceOf(task.owner),
        requester_service: serviceOf(task.requester),
        tokens: {
          status: task.status === undefined ? [] : [task.status],
          priority: task.priority === undefined ? [] : [task.priority],
          'group-identifier': tokenValues(task.groupIdentifier?.value, task.groupIdentifier?.system),
        },
      });
    },
    // With the transaction's other end-of-transaction rows (its commit batch): the events, then one NOTIFY per handover.
    beforeCommit: async ({ state }) => {
      const events = state.get(OUTBOX_EVENTS).splice(0);
      if (events.length === 0) return;
      const batch = state.get(COMMIT_BATCH);
      const inserted = batch.add({ shape: 'outbox:events', sql: (p) => OUTBOX_INSERT(p(1)), params: [JSON.stringify(events)], reads: OUTBOX_READS });
      batch.add({ shape: `outbox:notify ${inserted}`, sql: (p) => `SELECT pg_notify(${p(1)}, h) FROM (SELECT DISTINCT handover_id AS h FROM ${inserted}) x`, params: [OUTBOX_CHANNEL], runForEffect: true, reads: [] });
    },
  };
}
