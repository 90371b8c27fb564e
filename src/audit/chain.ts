import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../store/database.ts';
import { canonicalJson } from '../json/canonical-json.ts';
import { AUDIT_CONTENT } from './store.ts';

/**
 * The hash chain over the audit trail. Requests never wait on it: they only INSERT their rows. One
 * linker at a time (an advisory lock, whichever instance holds it) appends them to `audit_chain`:
 * hash = SHA-256(previous hash + RFC 8785 canonical JSON of the record), the record's AuditEvent in it as the SHA-256
 * of its text (`content_sha256`) since migration 024: jsonb's text until migration 027, the stored json text since.
 *
 * Commit order: row ids are taken at INSERT, not at COMMIT, so a row with a lower id can become
 * visible after a higher one. Each pass therefore reads the oldest transaction id still running
 * (the snapshot's xmin) and links only rows written by transactions below it: those have all ended,
 * so no row of theirs can turn up later. The pass records that horizon (`sealed_below`) and the next
 * pass starts there; nothing is skipped and nothing linked twice. A row that later appears below a
 * sealed horizon was put there by someone else: `$verify` reports it as inserted.
 */

export const GENESIS_HASH = '0'.repeat(64);
// Any constant works; it only has to be the same for every instance.
export const CHAIN_LOCK_KEY = 7_513_0005;
/**
 * Rows linked in one pass at most. A full pass is followed at once by the next (`createAudit`), so a backlog drains
 * without the interval's wait; each pass costs a commit, so passes stay large where a commit is slow (a busy disk).
 */
export const PASS_LIMIT = 5000;
/** Rows hashed between turns of the event loop: a pass's hashing (about 13 µs a row) holds requests up ~7 ms at a time, not 65. */
const HASH_TURN = 500;

const TIME = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The columns of an audit row but its AuditEvent, as hashed. */
export const RECORD_COLUMNS = `e.id::text AS id, e.txid::text AS txid, e.event_id::text AS event_id, ${TIME('e.recorded')} AS recorded,
  e.organization_ura, e.client_id, e.on_behalf_of, e.patient, e.action, e.type_code, e.subtype, e.resource_type, e.resource_id,
  e.resource_version, e.entities, e.outcome, e.status, e.request_id`;

/**
 * The SHA-256 (hex) of a row's AuditEvent as PostgreSQL writes it as text: computed where the row is, so the linker
 * neither reads the AuditEvent nor parses and canonicalises it (migration 024: 42 → 13 µs of gateway CPU per row).
 * Since migration 027 a new row's AuditEvent is `json`, whose text is the text stored, unchanged (the gateway's
 * JSON.stringify): no jsonb output per row any more; a row from before keeps its jsonb (`content_jsonb`), whose text
 * is what its link hashed.
 */
export const CONTENT_SHA256 = (e: string): string => `encode(sha256(convert_to(${AUDIT_CONTENT(e)}::text, 'UTF8')), 'hex')`;

/**
 * The columns of an audit row as hashed: text casts, so both drivers and every time zone give the same JSON. Links
 * made since migration 024 (`content_as_sha256`) hash the AuditEvent as `content_sha256`; older ones, `content` itself.
 */
export const EVENT_COLUMNS = `${RECORD_COLUMNS}, ${AUDIT_CONTENT('e')} AS content`;
const DIGESTED_EVENT_COLUMNS = `${RECORD_COLUMNS}, ${CONTENT_SHA256('e')} AS content_sha256`;

export interface EventRecord {
  id: string;
  txid: string;
  event_id: string;
  recorded: string;
  [column: string]: unknown;
}

export interface ChainLink {
  seq: string;
  linkedAt: string;
  sealedBelow: string;
}

export function chainHash(prevHash: string, link: ChainLink, event: EventRecord): string {
  const json = canonicalJson({ seq: link.seq, linkedAt: link.linkedAt, sealedBelow: link.sealedBelow, event });
  if (json === undefined) throw new Error('audit record cannot be canonicalised');
  return createHash('sha256').update(prevHash).update(json).digest('hex');
}

export interface ChainHead {
  seq: string;
  hash: string;
  linkedAt: string;
}

/** The newest link: exported (and logged) so that a copy kept elsewhere proves what the chain held. */
export async function chainHead(q: Queryable): Promise<ChainHead | undefined> {
  const r = await q.query<{ seq: string; hash: string; linked_at: string }>(
    `SELECT c.seq::text AS seq, c.hash, ${TIME('c.linked_at')} AS linked_at FROM audit_chain c ORDER BY c.seq DESC LIMIT 1`,
  );
  const row = r.rows[0];
  return row ? { seq: row.seq, hash: row.hash, linkedAt: row.linked_at } : undefined;
}

/**
 * SQL: the audit row `e` has no link. `OFFSET 0` keeps it a lookup per row through audit_chain's unique event_id
 * index: without it the planner may turn NOT EXISTS into an anti join, and with statistics older than the tables (never
 * analyzed: autovacuum off, PGlite) it estimated thousands of rows above the horizon and hashed the WHOLE chain for
 * it, 434 blocks per probe at 17,000 links and growing with the chain (bench/plan-growth.ts). The rows above the
 * horizon are those written since the last pass, nearly all unlinked: the first is the answer.
 */
const UNLINKED = (e: string): string => `NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = ${e}.id OFFSET 0)`;
/** The rows a pass would link: unlinked, at or above the head's horizon. */
const LINKABLE = (e: string): string =>
  `${e}.txid >= coalesce((SELECT c.sealed_below FROM audit_chain c ORDER BY c.seq DESC LIMIT 1), '0'::xid8) AND ${UNLINKED(e)}`;
/**
 * The statements that probe `audit_chain` per row (UNLINKED), and the pass's head, are planned for the tables as they
 * are at each call, never kept as a prepared statement: a plan made while the chain was a few rows (a new database,
 * before autovacuum analyses it) probes it with a sequential scan, and a connection kept that plan as the chain grew,
 * so that a pass took seconds and grew with the trail (11.7 s for 5,000 rows at 35,000 links, PostgreSQL's CPU all
 * the while).
 */
const PLANNED_PER_CALL = { prepare: false } as const;

/**
 * Whether a pass could link anything: an unlinked row at or above the head's horizon (a pass links only those). One
 * statement outside a transaction, so that an idle linker costs one round trip a second instead of six (BEGIN, lock,
 * head, horizon, rows, COMMIT). Rows of a transaction still running are not seen here, nor would a pass link them.
 */
async function anythingToLink(q: Queryable): Promise<boolean> {
  const r = await q.query<{ pending: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM audit_events e WHERE ${LINKABLE('e')}) AS pending`,
    [],
    PLANNED_PER_CALL,
  );
  return r.rows[0]?.pending ?? true;
}

export interface ChainBacklog {
  /** Committed audit rows the chain has not linked yet. */
  rows: number;
  /** Seconds since the oldest of them was recorded; 0 when there is none. */
  oldestAgeSeconds: number;
}

/**
 * What the linker still has to link: the committed rows at or above the head's horizon without a link (the rows a pass
 * would take; an unlinked row below the horizon is one `$verify` reports as inserted, not backlog). Bounded by the
 * backlog itself, through the txid index.
 */
export async function chainBacklog(q: Queryable): Promise<ChainBacklog> {
  const r = await q.query<{ rows: string; age: string }>(
    `SELECT count(*)::text AS rows, coalesce(extract(epoch FROM now() - min(e.recorded)), 0)::text AS age
       FROM audit_events e WHERE ${LINKABLE('e')}`,
    [],
    PLANNED_PER_CALL,
  );
  const row = r.rows[0];
  return { rows: Number(row?.rows ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.age ?? 0)) };
}

/** One linking pass; returns how many rows it linked (0 when another instance holds the chain). */
export async function linkPending(db: Database): Promise<number> {
  if (!(await anythingToLink(db))) return 0;
  return db.transaction(async (tx) => {
    const lock = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [CHAIN_LOCK_KEY]);
    if (!lock.rows[0]?.ok) return 0;
    const head = await tx.query<{ seq: string; hash: string; sealed_below: string }>(
      'SELECT c.seq::text AS seq, c.hash, c.sealed_below::text AS sealed_below FROM audit_chain c ORDER BY c.seq DESC LIMIT 1',
      [],
      // Planned on a chain of a few rows, a sort of the whole chain at every pass.
      PLANNED_PER_CALL,
    );
    const horizon = await tx.query<{ xmin: string; at: string }>(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, ${TIME('now()')} AS at`);
    const { xmin, at } = horizon.rows[0] ?? { xmin: '0', at: new Date().toISOString() };
    const low = head.rows[0]?.sealed_below ?? '0';
    // Every transaction below xmin has ended, so this (later) statement sees all of their rows.
    const rows = await tx.query<EventRecord>(
      // The digests are computed in the outer query, for the rows of this pass only, not for every row the sort reads.
      `SELECT ${DIGESTED_EVENT_COLUMNS} FROM (
         SELECT * FROM audit_events e
          WHERE e.txid >= $1::xid8 AND e.txid < $2::xid8 AND ${UNLINKED('e')}
          ORDER BY e.txid, e.id LIMIT $3) e
       ORDER BY e.txid, e.id`,
      [low, xmin, PASS_LIMIT],
      PLANNED_PER_CALL,
    );
    if (rows.rows.length === 0) return 0;
    // A pass cut short seals only below the last transaction it reached; the rest of that one follows next time.
    const sealedBelow = rows.rows.length === PASS_LIMIT ? (rows.rows.at(-1)?.txid ?? low) : xmin;
    let prev = head.rows[0]?.hash ?? GENESIS_HASH;
    let seq = BigInt(head.rows[0]?.seq ?? '0');
    const links: { seq: string; event_id: string; linked_at: string; sealed_below: string; prev_hash: string; hash: string }[] = [];
    for (const [i, event] of rows.rows.entries()) {
      if (i > 0 && i % HASH_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      seq += 1n;
      const link = { seq: seq.toString(), linkedAt: at, sealedBelow };
      const hash = chainHash(prev, link, event);
      links.push({ seq: link.seq, event_id: event.id, linked_at: at, sealed_below: sealedBelow, prev_hash: prev, hash });
      prev = hash;
    }
    await tx.query(
      `INSERT INTO audit_chain (seq, event_id, linked_at, sealed_below, prev_hash, hash, content_as_sha256)
       SELECT seq, event_id, linked_at, sealed_below::xid8, prev_hash, hash, true
       FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, event_id bigint, linked_at timestamptz, sealed_below text, prev_hash text, hash text)`,
      [JSON.stringify(links)],
    );
    return links.length;
  });
}

/** Links until nothing linkable is left (tests, shutdown). */
export async function linkAll(db: Database): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await linkPending(db);
    total += n;
    if (n < PASS_LIMIT) return total;
  }
}
