import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Bundle, Provenance, Resource } from '@medplum/fhirtypes';
import { nativeRecordSystem } from '../../src/fhir/identifier-systems.ts';
import { extractIndexValues } from '../../src/fhir/search/index-values.ts';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { resourceStore } from '../../src/store/resource-store.ts';
import { gatewaySubtype, toAuditRow } from '../../src/audit/event.ts';
import { linkPending } from '../../src/audit/chain.ts';
import { addAuditRows } from '../../src/audit/recorder.ts';
import { addBoardEvents } from '../../src/board/feed.ts';
import { COMMIT_BATCH, TxState } from '../../src/fhir/write-phases.ts';
import { aboveLedgerHead, openLedger, readLedgerHead, recordInLedger } from '../../src/handover/ledger.ts';
import { openTasksLookup } from '../../src/handover/references.ts';
import { OPEN_STATUSES } from '../../src/handover/state-machine.ts';
import { newResourceId } from '../../src/store/time-ordered-id.ts';
import { WriteBehindTx } from '../../src/store/write-behind.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { cpuPerUnit, cpuSnapshot, type CpuPerUnit } from './cpu-time.ts';
import { databaseName } from './compare-target.ts';
import { bsn } from './ingest.ts';
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
 * The floor: the rows one NTS handover stores (ledger, Patient, Encounter, the record's Observations, ServiceRequest,
 * Task and Provenance with their search index, their one audit row (every version names one patient, as the gateway
 * audits a write once per patient and interaction), the board's feed row), written straight through `pg` in the
 * gateway's own statements, without HTTP, tokens, validation, mapping or access rules: the ledger's head
 * (`readLedgerHead`) with the identity lookups of the patient, the contact, the findings and the group's open Tasks
 * in one statement (`currentByTokens` with the ledger's condition, as `prefetchIdentifiers` sends them), and the nine versions held back
 * (`WriteBehindTx`) to go with the audit row, the board's event and the ledger rows in the commit batch, with COMMIT:
 * two round trips. What the gateway sends beyond them (the group's lock and its check) are its rules.
 * The index values are computed once from the mapped record, its references made literal to placeholders; each
 * handover's tokens get their own ids (time-ordered, as the gateway's), BSN and contact number, so the token index
 * grows as under the gateway's load. The audit rows are linked into the hash chain as the gateway links them: by the
 * same linker, once a second, beside the load. The ingest benchmark divided by this says what the gateway's own work
 * costs. (The bench's gateway has no subscriptions, so neither writes outbox rows.)
 */
export async function rawBaseline(
  databaseUrl: string,
  concurrency: number,
  seconds: number,
  example: Record<string, unknown>,
): Promise<LoadResult & { cpuPerHandoverMs: CpuPerUnit }> {
  // PostgreSQL's CPU: this database's backends, when the caller counts per database (measurePostgresOf).
  const database = databaseName(databaseUrl);
  const mapper = loadNativeMapper(join(ROOT, 'mappings'));
  const registry = SearchParameterRegistry.load(join(ROOT, 'profiles/search-parameters/bundle.json'));
  const mapped = mapper.toFhir('nts', example);
  const bsnTemplate = String((example.patient as { bsn?: unknown } | undefined)?.bsn ?? '');
  // Each resource's fullUrl made a literal reference to a placeholder id, replaced by a new id in every handover.
  const placeholders = Object.entries(mapped.fullUrls).map(([key, url], k) => ({ key, url, id: `ph-${k}-ph` }));
  const literal = (resource: Resource): Resource => {
    let text = JSON.stringify(resource);
    for (const { url, id, key } of placeholders) text = text.replaceAll(`"${url}"`, `"${typeOf(key)}/${id}"`);
    return JSON.parse(text) as Resource;
  };
  // The record's Provenance as the gateway writes it (src/handover/ingest-provenance.ts): every version written, the sender, the record.
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: placeholders.map(({ key, id }) => ({ reference: `${typeOf(key)}/${id}/_history/1` })),
    recorded: new Date().toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
    agent: [
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author' }] }, who: { reference: 'Organization/hap-vechtdal', display: 'Huisartsenpost Vechtdal' } },
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'enterer' }] }, who: { display: 'S. Mulder' }, onBehalfOf: { reference: 'Organization/hap-vechtdal' } },
    ],
    entity: [{ role: 'source', what: { identifier: { system: nativeRecordSystem('nts', mapped.senderUra), value: `${mapped.recordId}#1` }, display: `nts record ${mapped.recordId}, sequence 1` } }],
  };
  // The Task as the gateway stores a new handover: requested, with the times it adds (they are indexed).
  const authored = new Date().toISOString();
  const task = mapped.task ? { ...mapped.task, status: 'requested', authoredOn: mapped.task.authoredOn ?? authored, lastModified: authored } : undefined;
  const keyed: { key: string; resource: Resource | undefined }[] = [
    { key: 'patient', resource: mapped.patient },
    { key: 'encounter', resource: mapped.encounter },
    ...mapped.observations.map((resource, i) => ({ key: `observation/${i}`, resource })),
    { key: 'serviceRequest', resource: mapped.serviceRequest },
    { key: 'task', resource: task as Resource | undefined },
    { key: 'provenance', resource: provenance },
  ];
  // The index values are computed once: extracting them is the gateway's work, not the database's.
  const templates = keyed
    .filter((k): k is { key: string; resource: Resource } => Boolean(k.resource))
    .map(({ key, resource }) => {
      const content = literal(resource);
      return { key, content, index: extractIndexValues(registry, content) };
    });
  const perHandover = new RegExp(`ph-(\\d+)-ph|${[bsnTemplate, mapped.recordId].filter(Boolean).map(escapeRegExp).join('|')}`, 'g');
  const group = mapped.task?.groupIdentifier;
  // The identity lookups' tokens as the templates carry them, picked once: each handover puts in its own values.
  const identifiersOf = (match: (key: string) => boolean): string[] =>
    templates.filter((t) => match(t.key)).flatMap((t) => t.index.tokens.filter((token) => token.startsWith('identifier=') && token.includes('|')));
  const patientLookup = identifiersOf((key) => key === 'patient').filter((token) => token.includes('/bsn|'));
  const encounterLookup = identifiersOf((key) => key === 'encounter');
  const findingsLookup = identifiersOf((key) => key.startsWith('observation/'));
  // The gateway's own store: the same pool, and the same statements prepared once per connection.
  const db = new PostgresDatabase({ connectionString: databaseUrl, maxConnections: concurrency });
  // Record ids unique to this call: a benchmark runs the baseline several times on one database.
  const run = randomUUID().slice(0, 8);
  let n = 0;
  try {
    // CPU from here on: loading the mappings above is start-up, not work per handover.
    const before = cpuSnapshot(undefined, database);
    const linker = chainLinker(databaseUrl);
    let result: LoadResult;
    try {
      result = await load(concurrency, seconds, () =>
        db.transaction(async (connection) => {
          const tx = new WriteBehindTx(connection);
          const state = new TxState();
          const i = ++n;
          const recordId = `RAW-${run}-${i}`;
          const patientBsn = bsn(i);
          const ids = new Map(templates.map((t) => [t.key, newResourceId()]));
          const value = (found: string, k?: string): string => (k !== undefined ? (ids.get(placeholders[Number(k)]?.key ?? '') ?? found) : found === bsnTemplate ? patientBsn : recordId);
          const record = { ...mapped, recordId };
          const tokensOf = (tokens: readonly string[]): string[] => tokens.map((t) => t.replace(perHandover, value));
          // The ledger's head goes with the identity lookups a send needs, in one round trip (as the gateway sends them),
          // and these in one statement: the patient by BSN, the contact, the findings, the group's open Tasks.
          const head = readLedgerHead(tx, 'nts', record);
          await resourceStore.currentByTokens(tx, [
            { resourceType: 'Patient', tokens: tokensOf(patientLookup), limit: 1 },
            { resourceType: 'Encounter', tokens: tokensOf(encounterLookup), limit: 1 },
            { resourceType: 'Observation', tokens: tokensOf(findingsLookup), limit: Math.min(1000, findingsLookup.length * 4) },
            ...(group ? [openTasksLookup({ ...group, value: recordId }, OPEN_STATUSES)] : []),
          ], undefined, aboveLedgerHead);
          await openLedger(tx, head, 'nts', record, CONTENT_HASH, 'volgnummer');
          const now = new Date().toISOString();
          const entities: string[] = [];
          for (const { key, content, index } of templates) {
            const id = ids.get(key) as string;
            await resourceStore.write(
              tx,
              { resourceType: content.resourceType, id, versionId: '1', lastUpdated: now, deleted: false, content: { ...content, id, meta: { versionId: '1', lastUpdated: now } } as Resource },
              { ...index, tokens: tokensOf(index.tokens) },
              PARTIES,
              true,
            );
            entities.push(`${content.resourceType}/${id}/_history/1`);
          }
          addAuditRows(state, [toAuditRow({ ...AUDIT_BASE, requestId: recordId, patient: `Patient/${ids.get('patient')}`, entities }, now)]);
          addBoardEvents(state, [ids.get('task') as string]);
          // The answer kept for a re-send, as the gateway keeps it: an entry per version written.
          const bundle: Bundle = {
            resourceType: 'Bundle',
            type: 'transaction-response',
            entry: templates.map(({ key, content }) => {
              const url = `http://localhost/fhir/${content.resourceType}/${ids.get(key)}`;
              return { fullUrl: url, response: { status: '201', location: `${url}/_history/1`, etag: 'W/"1"', lastModified: now } };
            }),
          };
          recordInLedger(state, 'nts', record, CONTENT_HASH, { status: 201, location: `http://localhost/fhir/Task/${ids.get('task')}`, bundle });
          if (!(await state.get(COMMIT_BATCH).run(tx, true))) await tx.flush({ commit: true });
          return true;
        }),
      );
    } finally {
      await linker.stop();
    }
    return { ...result, cpuPerHandoverMs: cpuPerUnit(before, cpuSnapshot(undefined, database), result.ok) };
  } finally {
    await db.close();
  }
}

const PARTIES = ['90001234', '90004567'];
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
/** A record's SHA-256 as the ledger keeps it (its value does not matter here: every record is new). */
const CONTENT_HASH = 'f'.repeat(64);

/** The resource type of a mapped record's fullUrl key (`observation/2` → Observation). */
function typeOf(key: string): string {
  const base = key.split('/')[0] ?? key;
  return base.charAt(0).toUpperCase() + base.slice(1);
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
