// The write path's phases (issue 15.4): every write, whichever route it comes through (FHIR REST, transaction
// entries, native records), passes the same named phases in one declared order, and what a phase collects in a
// transaction is kept in that transaction's state, handed to every call, never in a map beside it.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import { COMMIT_WITH_LAST, type Database, type QueryResult, type Tx } from '../store/database.ts';
import { retryDelayMs } from '../store/faults.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { WriteBehindTx, writeCtes, writesShape } from '../store/write-behind.ts';
import { numberedParts, textOfShape } from '../store/statement-texts.ts';

export type Interaction = 'create' | 'update' | 'delete';

/** A change about to be written, or just written, inside the writing transaction. */
export interface WriteEvent {
  interaction: Interaction;
  previous?: StoredVersion;
  stored: StoredVersion;
}

/**
 * The phases in the order they run, for each kind of call (locks, before the write, after it, before COMMIT):
 * - `resolve`: references made literal (own absolute URLs relative, URA identifiers → `Organization/<id>`, checked
 *   at commit to resolve), then a Task's owner named as a HealthcareService → its Organization;
 * - `authorize`: who may write a directory resource (HealthcareService, Location) beyond the repository's party rules;
 * - `workflow`: Task transitions and who makes them, a group's first acceptance or the placer's selection, cancellation requests;
 * - `validate`: profiles and R4 base rules, on the resource as the phases before it left it (→ 422);
 * - `caches`: this instance's Organization ↔ URA cache, cleared by an Organization written (every instance's at commit);
 * - `parties`: a Task's parties spread over its handover;
 * - `outbox`, `board`: the notification outbox and the board's feed, in the writing transaction;
 * - `audit`: last, the audit rows of the whole transaction once every other phase has had its say.
 */
export const WRITE_PHASES = ['resolve', 'authorize', 'workflow', 'validate', 'caches', 'parties', 'outbox', 'board', 'audit'] as const;
export type WritePhase = (typeof WRITE_PHASES)[number];

/** A typed slot of a transaction's state; `empty` makes its value on first use in each attempt. */
export class TxSlot<T> {
  readonly name: string;
  readonly empty: () => T;

  constructor(name: string, empty: () => T) {
    this.name = name;
    this.empty = empty;
  }
}

/** What the phases collect over one attempt of one write transaction. A new attempt starts with a new state. */
export class TxState {
  private readonly slots = new Map<TxSlot<unknown>, unknown>();

  get<T>(slot: TxSlot<T>): T {
    if (!this.slots.has(slot)) this.slots.set(slot, slot.empty());
    // Only get() writes the map, and always slot.empty()'s value under that slot: the value is a T.
    return this.slots.get(slot) as T;
  }
}

/**
 * One part of the statement a write transaction sends just before COMMIT (see `CommitBatch`): the body of a
 * common table expression. `sql` writes it with `p(i)` naming its i-th parameter (from 1), so that parts need not
 * know each other's numbering.
 */
interface CommitPart {
  /** Names the text `sql` writes (the same for the same `p`), so that a batch of such parts is built once (src/store/statement-texts.ts). */
  shape: string;
  sql: (p: (i: number) => string) => string;
  params: unknown[];
  /**
   * Set for a part whose rows are judged (a SELECT, or a change with RETURNING): they are handed over once the
   * statement has run, in the order the parts were added, and a refusal thrown here rolls the whole transaction back.
   * So a batch with such a part is sent without COMMIT, which follows as a round trip of its own. A part with neither
   * this nor `runForEffect` must change something (INSERT, UPDATE), which PostgreSQL runs whether or not it is read,
   * or be read by a part that is run.
   */
  rows?: (rows: Record<string, unknown>[]) => void;
  /**
   * A SELECT run for what it does (pg_notify, or a check that raises an error to refuse the transaction): named in
   * the statement's result so that PostgreSQL runs it, and nothing judged after the statement, so that COMMIT may go
   * with it.
   */
  runForEffect?: true;
  /**
   * For a part that refuses in SQL (raises an error: the statement fails, nothing of it or of the transaction is
   * stored, COMMIT is not run): the refusal to report for the statement's error when it is this part's (an HttpError
   * naming what was refused), else undefined.
   */
  refusal?: (err: unknown) => Error | undefined;
  /** Called once the statement has run (after the parts before it were handed their rows). */
  done?: () => void;
  /**
   * The resources it reads (types, or `Type/id` keys; `[]`: none), as QueryOptions.reads. When every part says, the
   * resource writes still held back (src/store/write-behind.ts) that no part reads go in the batch's statement, ahead
   * of its parts, instead of a round trip of their own; a part reading one of them gets them sent first. Unset: the
   * held writes are always sent first.
   */
  reads?: readonly string[];
}

/**
 * What a write transaction does last, in ONE statement before COMMIT: the rows its phases add at its end (the
 * reference check, the outbox and the board's feed, the native ledger, the audit rows) as data-modifying CTEs of
 * one statement, not one round trip each (on this VM each round trip to PostgreSQL cost more CPU than the work it
 * carried). Every part sees the same snapshot, taken after the transaction's last write sent before it; no part reads
 * what another part writes, nor what the held writes that go with it write (see `CommitPart.reads`).
 */
class CommitBatch {
  private readonly parts: CommitPart[] = [];

  /** Adds a part; returns the name of its CTE, which a part added after it may read (its RETURNING rows). */
  add(part: CommitPart): string {
    return `c${this.parts.push(part) - 1}`;
  }

  /**
   * Runs the parts added (none: nothing is sent), then hands each part its rows. With `last` (the transaction's last
   * statement) the transaction commits with it when no part judges rows after it (`CommitPart.rows`): resolves true
   * when it did.
   */
  async run(tx: Tx, last = false): Promise<boolean> {
    const parts = this.parts.splice(0);
    if (parts.length === 0) return false;
    const commit = last && parts.every((part) => part.rows === undefined);
    // The held resource writes that no part reads come along (a native record's Provenance): one round trip fewer.
    const reads = parts.every((part) => part.reads !== undefined) ? parts.flatMap((part) => part.reads ?? []) : undefined;
    const writes = reads !== undefined && tx instanceof WriteBehindTx ? tx.takeUnread(reads) : [];
    const writeParams = writes.flatMap((write) => write.params);
    const params = [...writeParams, ...parts.flatMap((part) => part.params)];
    const selected = (part: CommitPart): boolean => part.rows !== undefined || part.runForEffect === true;
    const text = textOfShape(`commit ${writesShape(writes)} | ${parts.map((part) => `${part.shape}:${part.params.length}${selected(part) ? '+rows' : ''}`).join(' ')}`, () => {
      const ctes = [...writeCtes(writes), ...numberedParts(parts, (part, p, n) => `c${n} AS (${part.sql(p)})`, writeParams.length)];
      const rowsOf = parts.flatMap((part, n) => (selected(part) ? [`(SELECT coalesce(json_agg(c${n}), '[]'::json) FROM c${n}) AS c${n}`] : []));
      return `WITH ${ctes.join(', ')} SELECT ${rowsOf.length ? rowsOf.join(', ') : '1'}`;
    });
    let r: QueryResult<Record<string, Record<string, unknown>[]>>;
    try {
      r = await tx.query<Record<string, Record<string, unknown>[]>>(text, params, commit ? COMMIT_WITH_LAST : undefined);
    } catch (err) {
      for (const part of parts) {
        const refusal = part.refusal?.(err);
        if (refusal) throw refusal;
      }
      throw err;
    }
    const row = r.rows[0] ?? {};
    parts.forEach((part, n) => {
      part.rows?.(row[`c${n}`] ?? []);
      part.done?.();
    });
    return commit;
  }
}

/**
 * The DETAIL of a refusal raised in SQL by a commit-batch part with the gateway's own SQLSTATE `code` (migrations 028,
 * 030), or undefined when `err` is another error: what a part's `refusal` reads to know the error is its own.
 */
export function refusalDetail(err: unknown, code: string): string | undefined {
  const e = err as { code?: unknown; detail?: unknown } | undefined;
  return e?.code === code && typeof e.detail === 'string' ? e.detail : undefined;
}

/**
 * The entry of a transaction Bundle being processed (src/fhir/transaction.ts), as a refusal names it:
 * `Bundle.entry[2] (POST Task)`. A refusal thrown while the entry is processed gets it from the Bundle's own handler; a
 * check added to the commit batch for the entry keeps it, as its refusal comes after the last entry.
 */
export const BUNDLE_ENTRY = new TxSlot<{ label: string | undefined }>('bundle entry', () => ({ label: undefined }));

/** The transaction's commit batch: phases add to it in `beforeCommit` (or earlier); the pipeline sends it last. */
export const COMMIT_BATCH = new TxSlot('commit batch', () => new CommitBatch());

/** A write transaction under way (one attempt): its database handle and its state. */
export interface OpenTransaction {
  tx: Tx;
  state: TxState;
}

/** What every phase call gets: the open transaction and who writes (a gateway write inside a client's transaction has its own). */
export interface WriteTx extends OpenTransaction {
  ctx: RequestContext;
}

/** A change before it is stored: a phase may refuse it (throw an HttpError) or adjust `next`. */
export interface WriteChange {
  interaction: Interaction;
  previous?: StoredVersion;
  next: Resource;
  /** What the resource SHOULD do otherwise (warning invariants), added by the `validate` phase: the write stands, its answer reports them. */
  warnings: OperationOutcomeIssue[];
}

/** What one participant of a phase does at each point of a write; every part is optional. */
export interface WriteHooks {
  /**
   * Names that writers of `resource` must hold in turn (advisory locks taken before the row lock), so
   * that changes which touch several resources (a group of candidate Tasks) are serialised, not deadlocked.
   */
  lockKeys?: (resource: Resource) => string[];
  /** May refuse a change (throw an HttpError) or adjust it, before it is stored. */
  beforeWrite?: (w: WriteTx, change: WriteChange) => Promise<void>;
  /**
   * Search tokens a resource has beside those its own elements give (src/fhir/search/index-values.ts): what the
   * gateway derives from other resources, e.g. `owner=Organization/<id>` for a Task owned by a HealthcareService.
   * Also asked by a reindex (no write under way: a transaction with a state of its own).
   */
  indexTokens?: (open: OpenTransaction, resource: Resource) => Promise<string[]>;
  /** Runs in the same transaction after the version is stored (outbox rows, provenance, audit). */
  afterWrite?: (w: WriteTx, event: WriteEvent) => Promise<void>;
  /**
   * Runs once at the end of a successful transaction, before COMMIT: rows batched over its writes (audit). What it
   * writes or checks in the database goes into the transaction's `COMMIT_BATCH`, sent once every hook has run.
   */
  beforeCommit?: (w: WriteTx) => Promise<void>;
}

/** Who does each phase; within a phase, the list's order. A phase left out does nothing. */
export type WritePhases = { readonly [P in WritePhase]?: readonly WriteHooks[] };

/** The phases' participants in the declared order, whatever order `phases` names them in. */
export class WritePipeline {
  private readonly hooks: readonly WriteHooks[];

  constructor(phases: WritePhases) {
    const unknown = Object.keys(phases).filter((name) => !(WRITE_PHASES as readonly string[]).includes(name));
    if (unknown.length > 0) throw new Error(`Unknown write phases: ${unknown.join(', ')} (known: ${WRITE_PHASES.join(', ')})`);
    this.hooks = WRITE_PHASES.flatMap((phase) => phases[phase] ?? []);
  }

  /**
   * Runs `work` in one transaction of `db`, with a fresh state, and the phases' commit work before COMMIT (and the
   * resource writes still held back, src/store/write-behind.ts). A
   * transaction the database broke off to settle a conflict (serialization failure, deadlock) is run again from
   * its start, a few times with a random wait (src/store/faults.ts), with a new state: what an attempt collected
   * is gone with its rows.
   */
  async transaction<T>(db: Pick<Database, 'transaction'>, ctx: RequestContext, work: (open: OpenTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction(async (connection) => {
          // Resource writes are held back and sent together before the transaction's next statement (write-behind.ts).
          const tx = new WriteBehindTx(connection);
          const open: OpenTransaction = { tx, state: new TxState() };
          const result = await work(open);
          for (const hook of this.hooks) if (hook.beforeCommit) await hook.beforeCommit({ ...open, ctx });
          // COMMIT goes with the transaction's last statement (one round trip fewer): the commit batch, unless a part
          // of it judges its rows after it, or the writes still held when there is no batch; otherwise alone.
          if (!(await open.state.get(COMMIT_BATCH).run(tx, true))) await tx.flush({ commit: true });
          return result;
        });
      } catch (err) {
        const delay = retryDelayMs(err, attempt);
        if (delay === undefined) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Every phase's lock names for `resource`, each once, in one order for all writers. */
  lockKeys(resource: Resource): string[] {
    return [...new Set(this.hooks.flatMap((h) => h.lockKeys?.(resource) ?? []))].sort();
  }

  // Only a hook with the phase is awaited: `await hook.beforeWrite?.()` of one without it still waits a microtask
  // turn with a promise of its own, for every participant (about ten) at every write. Indexed loops: an array
  // iterator whose loop awaits is a real object, and so is each of its steps' results (iterator, value, done).
  async beforeWrite(w: WriteTx, change: WriteChange): Promise<void> {
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i];
      if (hook.beforeWrite) await hook.beforeWrite(w, change);
    }
  }

  /** Every phase's derived search tokens for `resource` (for a write, and for a reindex). */
  async indexTokens(open: OpenTransaction, resource: Resource): Promise<string[]> {
    const tokens: string[] = [];
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i];
      if (hook.indexTokens) tokens.push(...(await hook.indexTokens(open, resource)));
    }
    return tokens;
  }

  async afterWrite(w: WriteTx, event: WriteEvent): Promise<void> {
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i];
      if (hook.afterWrite) await hook.afterWrite(w, event);
    }
  }
}
