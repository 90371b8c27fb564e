import type { Reference, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../fhir/repository.ts';
import { TxSlot, type OpenTransaction, type WriteHooks } from '../fhir/write-phases.ts';
import type { Database, Queryable } from '../store/database.ts';
import { resourceStore, type StoredVersion } from '../store/resource-store.ts';
import { organizationByUra } from '../handover/references.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { referencePatternOf } from '../fhir/resource-types.ts';

/**
 * Organization ↔ URA, the one place the gateway knows it. The URA on an Organization decides who is
 * requester and owner of a handover (the workflow), who hears of it (the outbox) and which organisation a
 * native record names (ingest), so every instance must see an Organization's change at once:
 * - a write of an Organization clears this instance's cache in the writing transaction and marks that transaction's
 *   state (`ORGANIZATION_WRITTEN`), so that a lookup in it reads the database (it sees its own uncommitted change;
 *   nothing it reads is kept): hence the lookups are given the open transaction, not just its database handle;
 * - the same write sends `NOTIFY organization_changed` (delivered at commit), on which every instance,
 *   this one included, clears its cache again, after the commit;
 * - a lookup that started before a clearing does not store what it read (the generation check), so a read
 *   racing with a change cannot put the old URA back;
 * - entries expire after `ttlMs` all the same, a bound for a notification lost with a broken LISTEN connection.
 */

const ORGANIZATION_CHANNEL = 'organization_changed';
const ORGANIZATION_REFERENCE = referencePatternOf('Organization');

/** The URA an Organization carries (an organisation may only name its own, so all of them are the same). */
export function uraOfOrganization(org: Resource | undefined): string | undefined {
  return (org as { identifier?: { system?: string; value?: string }[] } | undefined)?.identifier?.find((i) => i.system === URA_SYSTEM)?.value;
}

/** The id in an `Organization/<id>` reference. */
export function organizationId(ref: Reference | string | undefined): string | undefined {
  return ORGANIZATION_REFERENCE.exec(typeof ref === 'string' ? ref : (ref?.reference ?? ''))?.[1];
}

/** What `uraOfReferenceSql` reads (QueryOptions.reads): a statement using it reads these types besides its own. */
export const URA_OF_REFERENCE_READS: readonly string[] = ['Organization', 'HealthcareService'];

/** What a lookup of Tasks by the URA of their requester reads (a group's members: the workflow's and the parties'). */
export const TASKS_BY_REQUESTER_READS: readonly string[] = ['Task', ...URA_OF_REFERENCE_READS];

/**
 * SQL for the URA of the organisation that `referenceSql` (an SQL expression giving `Organization/<id>`, or
 * `HealthcareService/<id>`: the organisation providing that service, its `providedBy`) points at: for decisions
 * made inside one statement, which read the transaction's own snapshot.
 */
export function uraOfReferenceSql(referenceSql: string): string {
  const organization = (idSql: string): string => `(SELECT ui->>'value' FROM resources uo CROSS JOIN LATERAL jsonb_array_elements(uo.content->'identifier') ui
            WHERE uo.resource_type = 'Organization' AND NOT uo.deleted AND uo.id = ${idSql} AND ui->>'system' = '${URA_SYSTEM}' LIMIT 1)`;
  return `(CASE WHEN ${referenceSql} LIKE 'Organization/%' THEN ${organization(`substr(${referenceSql}, 14)`)}
                WHEN ${referenceSql} LIKE 'HealthcareService/%' THEN ${organization(`(SELECT substr(hs.content->'providedBy'->>'reference', 14) FROM resources hs
                   WHERE hs.resource_type = 'HealthcareService' AND NOT hs.deleted AND hs.id = substr(${referenceSql}, 19)
                     AND hs.content->'providedBy'->>'reference' LIKE 'Organization/%')`)} END)`;
}

const SERVICE_REFERENCE = referencePatternOf('HealthcareService');

/**
 * The Organization a party reference stands for: itself (`Organization/<id>`), or for `HealthcareService/<id>` (a
 * Twiin owner, stored as sent) the Organization that provides the service. Read each time: a service's provider is
 * not cached, as HealthcareService writes do not clear the directory.
 */
export async function organizationOf(q: Queryable, ref: Reference | string | undefined): Promise<string | undefined> {
  const literal = typeof ref === 'string' ? ref : ref?.reference;
  if (organizationId(literal)) return literal;
  const service = SERVICE_REFERENCE.exec(literal ?? '')?.[1];
  if (!service) return undefined;
  const stored = await resourceStore.current(q, 'HealthcareService', service);
  const provider = stored && !stored.deleted ? (stored.content as { providedBy?: Reference }).providedBy?.reference : undefined;
  return organizationId(provider) ? provider : undefined;
}

/** Whether this attempt of a transaction wrote an Organization: then its lookups read the database and keep nothing. */
const ORGANIZATION_WRITTEN = new TxSlot('organization written', () => ({ written: false }));

interface Entry<T> {
  value: T;
  until: number;
}

export class OrganizationDirectory {
  private readonly ttlMs: number;
  private readonly uraById = new Map<string, Entry<string | undefined>>();
  private readonly orgByUra = new Map<string, Entry<StoredVersion>>();
  private generation = 0;

  constructor(ttlMs = 60_000) {
    this.ttlMs = ttlMs;
  }

  /** Forgets everything: Organizations change seldom, and a change may move a URA from one to another. */
  invalidate(): void {
    this.generation++;
    this.uraById.clear();
    this.orgByUra.clear();
  }

  /**
   * The URA of the Organization `ref` points at, or undefined (not an Organization reference, unknown, no URA), read
   * in `open`'s transaction (a write's, or a reindex's with a state of its own).
   */
  async uraOf(open: OpenTransaction, ref: Reference | string | undefined): Promise<string | undefined> {
    const q = open.tx;
    // A HealthcareService (a Twiin owner) stands for the organisation providing it.
    const id = organizationId(ref) ?? organizationId(await organizationOf(q, ref));
    if (!id) return undefined;
    const cacheable = !open.state.get(ORGANIZATION_WRITTEN).written;
    const hit = cacheable ? this.uraById.get(id) : undefined;
    if (hit && hit.until > Date.now()) return hit.value;
    const generation = this.generation;
    const org = await resourceStore.current(q, 'Organization', id);
    const ura = org && !org.deleted ? uraOfOrganization(org.content) : undefined;
    // Only stored organisations are remembered (as byUra does): the id comes from what a client wrote, and a map of
    // every made-up `Organization/<id>` grew for as long as the process ran (entries expire but stayed in the map).
    if (cacheable && org && generation === this.generation) this.uraById.set(id, { value: ura, until: Date.now() + this.ttlMs });
    return ura;
  }

  /**
   * URA → Organization, through `repo` (the directory is readable by all). Only found organisations are
   * remembered, so a newly registered one is seen at once. A native record names the same two or three
   * organisations many times over; asking the database each time was a tenth of an ingest's work.
   */
  async byUra(repo: Repository, ura: string): Promise<StoredVersion | undefined> {
    // Only native ingest and the units' map ask by URA, and neither writes an Organization: no transaction check is needed here.
    const hit = this.orgByUra.get(ura);
    if (hit && hit.until > Date.now()) return hit.value;
    const generation = this.generation;
    const org = await organizationByUra(repo, ura);
    if (generation === this.generation) {
      if (org) this.orgByUra.set(ura, { value: org, until: Date.now() + this.ttlMs });
      else this.orgByUra.delete(ura);
    }
    return org;
  }

  /**
   * The id of the Organization holding `ura`, read in `open` (a writing transaction): for a Reference by URA
   * identifier on a write (src/fhir/references/hooks.ts). The directory is readable by all, so no scope;
   * a transaction that wrote an Organization reads its own change and keeps nothing.
   */
  async idByUra(open: OpenTransaction, ura: string): Promise<string | undefined> {
    const cacheable = !open.state.get(ORGANIZATION_WRITTEN).written;
    const hit = cacheable ? this.orgByUra.get(ura) : undefined;
    if (hit && hit.until > Date.now()) return hit.value.id;
    const r = await open.tx.query<{ id: string }>(
      `SELECT id FROM resources WHERE resource_type = 'Organization' AND NOT deleted AND tokens && $1::text[] ORDER BY id LIMIT 1`,
      [[`identifier=${URA_SYSTEM}|${ura}`]],
    );
    return r.rows[0]?.id;
  }

  /** The write hook: an Organization written clears this instance now and, at commit, every instance. */
  hooks(): WriteHooks {
    return {
      afterWrite: async ({ tx, state }, event) => {
        if (event.stored.resourceType !== 'Organization') return;
        state.get(ORGANIZATION_WRITTEN).written = true;
        this.invalidate();
        await tx.query('SELECT pg_notify($1, $2)', [ORGANIZATION_CHANNEL, event.stored.id]);
      },
    };
  }

  /** Listens for other instances' (and this one's committed) Organization changes; returns the way to stop. */
  async listen(db: Database): Promise<() => Promise<void>> {
    return db.listen(ORGANIZATION_CHANNEL, () => this.invalidate());
  }
}
