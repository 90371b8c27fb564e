import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexValues, type IndexValues } from '../../src/fhir/search/index-values.ts';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { resourceStore } from '../../src/store/resource-store.ts';
import { gatewaySubtype, toAuditRow } from '../../src/audit/event.ts';
import { linkPending } from '../../src/audit/chain.ts';
import { insertAuditRows } from '../../src/audit/store.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { cpuPerUnit, cpuSnapshot, type CpuPerUnit } from './cpu-time.ts';
import { load, type LoadResult } from './stats.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const AUDIT_BASE = {
  type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
  subtype: gatewaySubtype('native-record'),
  action: 'C',
  outcome: '0',
  status: 201,
  organizationUra: '90001234',
  clientId: 'hap-vechtdal',
  onBehalfOf: 'triagist',
  description: 'POST /native/nts',
} as const;

/**
 * The floor: the rows one NTS handover stores (ledger, Patient, Encounter, the record's Observations,
 * ServiceRequest, Task and Provenance with history and search index, their audit row (one: every version names
 * one patient, as the gateway audits a write once per patient and interaction), the board's
 * feed row), written straight through `pg` in the gateway's transaction shape (its store: the same pool and prepared statements), without HTTP, tokens,
 * validation, mapping or access rules. The audit rows are linked into the hash chain as the gateway links
 * them: by the same linker, once a second, beside the load. The ingest benchmark divided by this says what the gateway's own work
 * costs. (The bench's gateway has no subscriptions, so neither writes outbox rows.)
 */
export async function rawBaseline(
  databaseUrl: string,
  concurrency: number,
  seconds: number,
  example: Record<string, unknown>,
): Promise<LoadResult & { cpuPerHandoverMs: CpuPerUnit }> {
  const mapper = loadNativeMapper(join(ROOT, 'mappings'));
  const registry = SearchParameterRegistry.load(join(ROOT, 'profiles/search-parameters/bundle.json'));
  const mapped = mapper.toFhir('nts', example);
  const provenance: Resource = { resourceType: 'Provenance', target: [{ reference: 'Task/x' }], recorded: new Date().toISOString(), agent: [{ who: { display: 'bench' } }] };
  // The Task as the gateway stores a new handover: requested, with the times it adds (they are indexed).
  const authored = new Date().toISOString();
  const task = mapped.task ? { ...mapped.task, status: 'requested', authoredOn: mapped.task.authoredOn ?? authored, lastModified: authored } : undefined;
  const templates = [mapped.patient, mapped.encounter, ...mapped.observations, mapped.serviceRequest, task, provenance].filter((r): r is NonNullable<typeof r> => Boolean(r)) as Resource[];
  // The index values are computed once: extracting them is the gateway's work, not the database's.
  const indexed: { resource: Resource; index: IndexValues }[] = templates.map((resource) => ({ resource, index: extractIndexValues(registry, resource) }));
  // The gateway's own store: the same pool, and the same statements prepared once per connection.
  const db = new PostgresDatabase({ connectionString: databaseUrl, maxConnections: concurrency });
  // Record ids unique to this call: a benchmark runs the baseline several times on one database.
  const run = randomUUID().slice(0, 8);
  let n = 0;
  try {
    // CPU from here on: loading the mappings above is start-up, not work per handover.
    const before = cpuSnapshot();
    const linker = chainLinker(databaseUrl);
    let result: LoadResult;
    try {
      result = await load(concurrency, seconds, () =>
        db.transaction(async (tx) => {
          const recordId = `RAW-${run}-${++n}`;
          await tx.query(
            `INSERT INTO native_record_heads (sender_ura, format, record_id) VALUES ($1, 'nts', $2)
             ON CONFLICT (sender_ura, format, record_id) DO UPDATE SET last_sequence = native_record_heads.last_sequence RETURNING last_sequence`,
            ['90001234', recordId],
          );
          await tx.query(`SELECT content_hash FROM native_records WHERE sender_ura = $1 AND format = 'nts' AND record_id = $2 AND sequence = 1`, ['90001234', recordId]);
          // The identity lookups a send needs: the patient by BSN, the contact by its identifier.
          await tx.query(`SELECT id FROM resources WHERE resource_type = 'Patient' AND tokens && $1::text[] LIMIT 1`, [[`identifier=bsn|${n}`]]);
          await tx.query(`SELECT id FROM resources WHERE resource_type = 'Encounter' AND tokens && $1::text[] LIMIT 1`, [[`identifier=contact|${recordId}`]]);
          const now = new Date().toISOString();
          const entities: string[] = [];
          let taskId = '';
          let patient: string | undefined;
          for (const { resource, index } of indexed) {
            const id = randomUUID();
            if (resource.resourceType === 'Task') taskId = id;
            if (resource.resourceType === 'Patient') patient = `Patient/${id}`;
            await resourceStore.write(tx, { resourceType: resource.resourceType, id, versionId: '1', lastUpdated: now, deleted: false, content: { ...resource, id, meta: { versionId: '1', lastUpdated: now } } as Resource }, index, ['90001234', '90004567'], true);
            entities.push(`${resource.resourceType}/${id}/_history/1`);
          }
          await insertAuditRows(tx, [toAuditRow({ ...AUDIT_BASE, requestId: recordId, patient, entities }, now)]);
          await tx.query(`WITH ins AS (INSERT INTO board_events (handover_id) SELECT unnest($1::text[])) SELECT pg_notify($2, '')`, [[taskId], 'board_events']);
          await tx.query(
            `WITH head AS (UPDATE native_record_heads SET last_sequence = 1 WHERE sender_ura = $1 AND format = 'nts' AND record_id = $2)
             INSERT INTO native_records (sender_ura, format, record_id, sequence, content_hash, status, location, response) VALUES ($1, 'nts', $2, 1, 'x', 201, null, '{}')`,
            ['90001234', recordId],
          );
          return true;
        }),
      );
    } finally {
      await linker.stop();
    }
    return { ...result, cpuPerHandoverMs: cpuPerUnit(before, cpuSnapshot(), result.ok) };
  } finally {
    await db.close();
  }
}

/** The audit chain's linker, as the gateway runs it (src/audit/index.ts): a pass, then a second's pause. */
function chainLinker(databaseUrl: string): { stop(): Promise<void> } {
  const db = new PostgresDatabase({ connectionString: databaseUrl, maxConnections: 1 });
  let stopped = false;
  let wake: (() => void) | undefined;
  const running = (async () => {
    while (!stopped) {
      await linkPending(db);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000);
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await running;
      await db.close();
    },
  };
}
