import type { Database, Queryable } from '../store/database.ts';
import { chainHash, CONTENT_SHA256, EVENT_COLUMNS, GENESIS_HASH, RECORD_COLUMNS, type EventRecord } from './chain.ts';
import { AUDIT_CONTENT } from './store.ts';

/**
 * How long a legitimate row may take from being recorded to being linked (its transaction's length
 * plus clock skew between the gateway and the database). A row recorded longer than this before the
 * pass preceding its own was sealed cannot be legitimate: it was written with a time in the past.
 */
const BACKDATING_GRACE_MS = 5 * 60_000;
const PAGE = 2000;
const MAX_PROBLEMS = 100;

interface ChainProblem {
  kind: 'changed' | 'removed' | 'inserted';
  /** Position in the chain, when the problem is on a linked record. */
  seq?: string;
  /** `audit_events.id` of the record. */
  recordId?: string;
  /** The AuditEvent's id. */
  eventId?: string;
  detail: string;
}

export interface VerifyResult {
  intact: boolean;
  /** Records checked against the chain. */
  linked: number;
  /** Records written but not yet linked (the linker runs shortly after commit). */
  pending: number;
  head?: { seq: string; hash: string };
  problems: ChainProblem[];
}

type ChainRow = EventRecord & { c_seq: string; c_event: string; c_linked_at: string; c_sealed: string; c_prev: string; c_hash: string; c_digested: boolean; e_present: boolean };

/** The record as its link hashed it: the AuditEvent itself, or (migration 024) its digest. */
function hashedRecord(event: EventRecord & { content?: unknown; content_sha256?: unknown }, digested: boolean): EventRecord {
  const { content, content_sha256, ...columns } = event;
  return digested ? { ...columns, content_sha256 } : { ...columns, content };
}

/**
 * Walks the whole chain and every row not yet linked; `exportedHead` is a head hash kept elsewhere, to be found in the chain.
 * Both in one snapshot: read one after the other, a pass of the linker committed between them would take a row out of
 * the unlinked rows after the chain was read without it, and the row, forged or not, would be checked by neither.
 * A read-only transaction takes no transaction id, so it does not hold back the linker's horizon while it walks.
 */
export async function verifyChain(db: Pick<Database, 'transaction'>, exportedHead?: string): Promise<VerifyResult> {
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return walkChain(tx, exportedHead);
  });
}

async function walkChain(q: Queryable, exportedHead: string | undefined): Promise<VerifyResult> {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  let prevHash = GENESIS_HASH;
  let prevSeq = 0n;
  let linked = 0;
  let sealed = '0';
  let passAt: string | undefined;
  let previousPassAt: string | undefined;
  let headFound = exportedHead === undefined;
  for (;;) {
    const page = await q.query<ChainRow>(
      `SELECT c.seq::text AS c_seq, c.event_id::text AS c_event, to_char(c.linked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS c_linked_at,
              c.sealed_below::text AS c_sealed, c.prev_hash AS c_prev, c.hash AS c_hash, c.content_as_sha256 AS c_digested, e.id IS NOT NULL AS e_present,
              ${RECORD_COLUMNS}, CASE WHEN c.content_as_sha256 THEN NULL ELSE ${AUDIT_CONTENT('e')} END AS content,
              CASE WHEN c.content_as_sha256 THEN ${CONTENT_SHA256('e')} END AS content_sha256
       FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id
       WHERE c.seq > $1 ORDER BY c.seq LIMIT ${PAGE}`,
      [prevSeq.toString()],
    );
    for (const row of page.rows) {
      const { c_seq, c_event, c_linked_at, c_sealed, c_prev, c_hash, c_digested, e_present, ...columns } = row;
      const event = hashedRecord(columns, c_digested);
      const seq = BigInt(c_seq);
      if (seq !== prevSeq + 1n) {
        report({ kind: 'removed', seq: (prevSeq + 1n).toString(), detail: `chain links ${prevSeq + 1n} to ${seq - 1n} were removed` });
      } else if (c_prev !== prevHash) {
        report({ kind: 'changed', seq: c_seq, detail: `chain link ${c_seq} does not follow link ${prevSeq}: the chain was altered` });
      }
      if (c_linked_at !== passAt) {
        previousPassAt = passAt;
        passAt = c_linked_at;
      }
      if (!e_present) {
        report({ kind: 'removed', seq: c_seq, recordId: c_event, detail: `audit record ${c_event} (chain link ${c_seq}) was removed` });
      } else if (chainHash(c_prev, { seq: c_seq, linkedAt: c_linked_at, sealedBelow: c_sealed }, event) !== c_hash) {
        report({ kind: 'changed', seq: c_seq, recordId: event.id, eventId: event.event_id, detail: `audit record ${event.id} (AuditEvent/${event.event_id}, chain link ${c_seq}) was changed after it was linked` });
      } else if (previousPassAt && Date.parse(event.recorded) < Date.parse(previousPassAt) - BACKDATING_GRACE_MS) {
        report({ kind: 'inserted', seq: c_seq, recordId: event.id, eventId: event.event_id, detail: `audit record ${event.id} (AuditEvent/${event.event_id}) claims ${event.recorded}, before the chain was already sealed at ${previousPassAt}: it was inserted afterwards` });
      }
      if (exportedHead !== undefined && c_hash === exportedHead) headFound = true;
      prevHash = c_hash;
      prevSeq = seq;
      sealed = c_sealed;
      linked++;
    }
    if (page.rows.length < PAGE) break;
  }
  if (!headFound) {
    report({ kind: 'removed', detail: `the exported head ${String(exportedHead)} is not in the chain: records up to it were changed or removed` });
  }

  let pending = 0;
  const unlinked = await q.query<EventRecord>(
    `SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id) ORDER BY e.id`,
  );
  const sealedBig = BigInt(sealed);
  for (const event of unlinked.rows) {
    if (BigInt(event.txid) < sealedBig) {
      report({ kind: 'inserted', recordId: event.id, eventId: event.event_id, detail: `audit record ${event.id} (AuditEvent/${event.event_id}) belongs to a part of the trail that was already sealed: it was inserted afterwards` });
    } else if (passAt && Date.parse(event.recorded) < Date.parse(passAt) - BACKDATING_GRACE_MS) {
      report({ kind: 'inserted', recordId: event.id, eventId: event.event_id, detail: `audit record ${event.id} (AuditEvent/${event.event_id}) claims ${event.recorded}, before the chain was already sealed at ${passAt}: it was inserted afterwards` });
    } else {
      pending++;
    }
  }
  return { intact: problems.length === 0, linked, pending, head: prevSeq > 0n ? { seq: prevSeq.toString(), hash: prevHash } : undefined, problems };
}
