// The native record ledger (native_record_heads, native_records): which sequence of which record the gateway holds,
// so that an identical re-send answers what it answered before and an older sequence changes nothing.
import { createHash } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import { conflict } from '../fhir/outcomes.ts';
import type { MappedRecord, NativeFormat, NativeRecord } from '../native/types.ts';
import type { Tx } from '../store/database.ts';
import type { LookupCondition } from '../store/resource-store.ts';
import { readWithNext, type HeldRead } from '../store/write-behind.ts';
import { COMMIT_BATCH, type TxState } from '../fhir/write-phases.ts';
import { canonicalJson } from '../json/canonical-json.ts';

export interface IngestResult {
  status: 200 | 201;
  location?: string;
  bundle: Bundle;
  /** Why nothing changed, when nothing did (re-send, superseded). */
  note?: string;
}

/** Canonical JSON (sorted keys) so that a re-send with keys in another order is still the same record. */
export function contentHash(record: NativeRecord): string {
  return createHash('sha256').update(canonicalJson(record) ?? '').digest('hex');
}

/** The record's head row, created or locked, with the last sequence it holds (`readLedgerHead`). */
export type LedgerHead = HeldRead<{ last_sequence: number }>;

/**
 * Whether this record's sequence is above its head's last one, as `readLedgerHead` found it: a setting of the transaction
 * (`set_config(…, true)`), for the statements after it in the same round trip to read without reading the head again.
 */
const ABOVE_HEAD_SETTING = 'handover.above_ledger_head';

/**
 * Creates the record's head row or locks the existing one, answering with the latest sequence, in one statement that
 * goes with the transaction's next (the identity lookups, which need nothing of it): `openLedger` reads it. It also
 * notes whether this sequence is above the head, for `aboveLedgerHead`.
 */
export function readLedgerHead(tx: Tx, format: NativeFormat, mapped: MappedRecord): LedgerHead {
  return readWithNext(
    tx,
    `INSERT INTO native_record_heads (sender_ura, format, record_id) VALUES ($1, $2, $3)
     ON CONFLICT (sender_ura, format, record_id) DO UPDATE SET last_sequence = native_record_heads.last_sequence
     RETURNING last_sequence, set_config('${ABOVE_HEAD_SETTING}', ($4::integer > last_sequence)::text, true) AS above`,
    [mapped.senderUra, format, mapped.recordId, mapped.sequence],
  );
}

/**
 * SQL: whether this record's sequence is above its head's last one, the one case in which `openLedger` lets the ingest
 * go on. The identity lookups go with the head, before `openLedger` has read it, and meet this too: a re-send or a
 * superseded sequence, answered from the ledger, reads none of their rows. The head's statement runs first in that
 * round trip and notes it in a setting of the transaction (`readLedgerHead`); unset (it has not run), the lookups run.
 */
export const aboveLedgerHead: LookupCondition = `current_setting('${ABOVE_HEAD_SETTING}', true) IS DISTINCT FROM 'false'`;

/**
 * With the record's head row locked (`readLedgerHead`), looks up this sequence: the earlier answer for an identical re-send,
 * an empty answer for a superseded sequence, otherwise the last sequence held (0: the record is new).
 * `sequencePath`: the format's field of the sequence number, named when a sequence comes back with other content.
 */
export async function openLedger(
  tx: Tx,
  head: LedgerHead,
  format: NativeFormat,
  mapped: MappedRecord,
  hash: string,
  sequencePath: string,
): Promise<{ done: IngestResult } | { lastSequence: number }> {
  const lastSequence = (await head.rows())[0]?.last_sequence ?? 0;
  // A sequence is recorded only with the head moved on to it (recordInLedger), so one above the head was never
  // received: a new record or its next sequence, the common case, needs no second look.
  if (mapped.sequence > lastSequence) return { lastSequence };
  const earlier = await tx.query<{ content_hash: string; location: string | null; response: Bundle }>(
    `SELECT content_hash, location, response FROM native_records WHERE sender_ura = $1 AND format = $2 AND record_id = $3 AND sequence = $4`,
    [mapped.senderUra, format, mapped.recordId, mapped.sequence],
  );
  const previous = earlier.rows[0];
  if (previous) {
    if (previous.content_hash !== hash) {
      throw conflict(`Sequence number ${mapped.sequence} of this record was already received with different content; send changes with a higher sequence number`, [sequencePath]);
    }
    return { done: { status: 200, location: previous.location ?? undefined, bundle: previous.response, note: 'Identical re-send: nothing changed' } };
  }
  if (mapped.sequence < lastSequence) {
    const latest = await tx.query<{ location: string | null }>(
      `SELECT location FROM native_records WHERE sender_ura = $1 AND format = $2 AND record_id = $3 ORDER BY sequence DESC LIMIT 1`,
      [mapped.senderUra, format, mapped.recordId],
    );
    return {
      done: {
        status: 200,
        location: latest.rows[0]?.location ?? undefined,
        bundle: { resourceType: 'Bundle', type: 'transaction-response', entry: [] },
        note: `Superseded: sequence number ${mapped.sequence} is older than ${lastSequence}, which the gateway already holds; nothing changed`,
      },
    };
  }
  return { lastSequence };
}

/**
 * Records this sequence and its answer, and moves the head on to it: in the transaction's last statement (its commit
 * batch, src/fhir/write-phases.ts), the head row being locked by `openLedger` since the transaction began.
 */
export function recordInLedger(state: TxState, format: NativeFormat, mapped: MappedRecord, hash: string, answer: IngestResult): void {
  const batch = state.get(COMMIT_BATCH);
  // Written as an insert that always meets the row `openLedger` made or locked: its conflict is found through the
  // primary key (the arbiter index) whatever the planner's statistics say. As a plain UPDATE, a plan cached on a
  // long-lived connection while the table was tiny may keep a sequential scan that grows with the table.
  batch.add({
    shape: 'ledger:head',
    sql: (p) => `INSERT INTO native_record_heads (sender_ura, format, record_id, last_sequence) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})
     ON CONFLICT (sender_ura, format, record_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence`,
    params: [mapped.senderUra, format, mapped.recordId, mapped.sequence],
    reads: [],
  });
  batch.add({
    shape: 'ledger:record',
    sql: (p) => `INSERT INTO native_records (sender_ura, format, record_id, sequence, content_hash, status, location, response)
     VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)})`,
    params: [mapped.senderUra, format, mapped.recordId, mapped.sequence, hash, answer.status, answer.location ?? null, answer.bundle],
    reads: [],
  });
}
