import type { Encounter } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { COMMIT_BATCH, TxSlot, type TxState, type WriteHooks } from '../fhir/write-phases.ts';
import type { Database } from '../store/database.ts';
import { lookupType } from '../store/token-lookup.ts';
import { referencePatternOf } from '../fhir/resource-types.ts';

const SERVICE_REQUEST_REFERENCE = referencePatternOf('ServiceRequest');

const BOARD_CHANNEL = 'board_events';
const SWEEP_MS = 1000;
/** With no board watching here, numbering waits this long: a board that connects numbers what is committed itself. */
const IDLE_SWEEP_MS = 10_000;
const RETENTION = '1 day';
const PRUNE_EVERY_MS = 60_000;

export interface FeedEvent {
  number: number;
  handoverId: string;
}

/**
 * The board's outbox: every Task write, and every write of an encounter based on a handover's request (ride
 * times, a planned visit), adds an event for the handover in the writing transaction and NOTIFYs at commit.
 * What a viewer may see of it is decided when it is sent, through the viewer's repository.
 */
export function boardFeedHooks(): WriteHooks {
  return {
    afterWrite: async ({ tx, state }, event) => {
      const s = event.stored;
      let handovers: string[] = [];
      if (s.resourceType === 'Task') handovers = [s.id];
      else if (s.resourceType === 'Encounter') {
        const requests = ((s.content as Encounter).basedOn ?? []).map((b) => b.reference ?? '').filter((r) => SERVICE_REQUEST_REFERENCE.test(r));
        if (requests.length === 0) return;
        const tasks = await tx.query<{ id: string }>(`SELECT r.id FROM resources r WHERE ${lookupType('r', "'Task'")} AND r.tokens && $1::text[]`, [requests.map((r) => `focus=${r}`)]);
        handovers = tasks.rows.map((t) => t.id);
      }
      state.get(BOARD_HANDOVERS).push(...handovers);
    },
    // The transaction's events, in the order written, with its other end-of-transaction rows (one statement).
    beforeCommit: async ({ state }) => {
      addBoardEvents(state, state.get(BOARD_HANDOVERS).splice(0));
    },
  };
}

/** The board's events of `handovers`, in this order, and the NOTIFY at commit: parts of the transaction's commit batch. */
export function addBoardEvents(state: TxState, handovers: string[]): void {
  if (handovers.length === 0) return;
  const batch = state.get(COMMIT_BATCH);
  batch.add({ shape: 'board:events', sql: (p) => `INSERT INTO board_events (handover_id) SELECT h FROM unnest(${p(1)}::text[]) WITH ORDINALITY AS x(h, n) ORDER BY n`, params: [handovers], reads: [] });
  batch.add({ shape: 'board:notify', sql: (p) => `SELECT pg_notify(${p(1)}, '')`, params: [BOARD_CHANNEL], runForEffect: true, reads: [] });
}

/** The handovers whose board events this attempt of a transaction adds at its end. */
const BOARD_HANDOVERS = new TxSlot<string[]>('board.handovers', () => []);

type Listener = (events: FeedEvent[]) => void;

/**
 * One per gateway: numbers committed events (woken by NOTIFY, and by a sweep for anything missed), and hands
 * each new number, in order, to the open board connections of this instance.
 */
export class BoardFeed {
  private readonly db: Database;
  private readonly logger: Logger;
  private readonly listeners = new Set<Listener>();
  private head = 0;
  private cycle: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private lastPrune = 0;
  private lastRun = 0;
  private stopped = false;

  constructor(db: Database, logger: Logger) {
    this.db = db;
    this.logger = logger;
  }

  async start(): Promise<void> {
    this.head = await this.numberNow();
    // Numbering at once matters only to boards watching here; without one the sweep numbers what came in since, in one
    // statement every IDLE_SWEEP_MS instead of one per write (another instance's boards are woken by that instance).
    this.unlisten = await this.db.listen(BOARD_CHANNEL, () => {
      if (this.listeners.size > 0) this.wake();
    });
    this.timer = setInterval(() => {
      if (this.listeners.size > 0 || Date.now() - this.lastRun >= IDLE_SWEEP_MS) this.wake();
    }, SWEEP_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.();
    await this.cycle;
    this.listeners.clear();
  }

  /** Numbers what is committed and returns the feed's head. */
  async numberNow(): Promise<number> {
    const r = await this.db.query<{ head: string }>('SELECT board_number_events()::text AS head');
    return Number(r.rows[0]?.head ?? 0);
  }

  /** Events after `number`, or undefined when the feed no longer holds them all (or `number` is not of this feed). */
  async after(number: number, upTo: number): Promise<FeedEvent[] | undefined> {
    if (number > upTo) return undefined;
    const r = await this.db.query<{ number: string; handover_id: string }>(
      'SELECT number::text, handover_id FROM board_events WHERE number > $1 AND number <= $2 ORDER BY number',
      [number, upTo],
    );
    const events = r.rows.map((e) => ({ number: Number(e.number), handoverId: e.handover_id }));
    // Gap-free numbering: anything missing at the start was pruned.
    if (number < upTo && events[0]?.number !== number + 1) return undefined;
    return events;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    // The head may be up to IDLE_SWEEP_MS old: brought up now, so the first change is not preceded by a long catch-up.
    if (this.listeners.size === 1) this.wake();
    return () => this.listeners.delete(listener);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.cycle) {
      this.again = true;
      return;
    }
    this.cycle = this.run()
      .catch((err: unknown) => this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'board feed cycle failed'))
      .finally(() => {
        this.cycle = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async run(): Promise<void> {
    this.lastRun = Date.now();
    const head = await this.numberNow();
    if (head > this.head) {
      const events = this.listeners.size > 0 ? ((await this.after(this.head, head)) ?? []) : [];
      this.head = head;
      if (events.length) for (const l of this.listeners) l(events);
    }
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = Date.now();
      await this.db.query(`DELETE FROM board_events WHERE number IS NOT NULL AND occurred < now() - interval '${RETENTION}'`);
    }
  }
}
