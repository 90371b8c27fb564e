import type { Response } from 'express';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { RequestContext } from '../context.ts';
import { safeError } from '../observability/logging.ts';
import type { Repository } from '../fhir/repository.ts';
import type { BoardFeed, FeedEvent } from './feed.ts';
import type { UnitSource } from '../units/board-stream.ts';
import { openHandoverIds, projectRow, type BoardRow, type Locate } from './rows.ts';
import type { BoardTargets } from './targets.ts';
import { inTurn } from './in-turn.ts';

const HEARTBEAT_MS = 15_000;

export interface StreamDeps {
  feed: BoardFeed;
  /** This instance's open connections, ended together when it shuts down. */
  streams: OpenStreams;
  targets: BoardTargets;
  repository: (ctx: RequestContext) => Repository;
  /** Audits what one message showed (NEN 7513: every read of patient data). */
  audit: (ctx: RequestContext, resources: Resource[]) => Promise<void>;
  /** Puts handovers on the map (issue 20). */
  locate?: Locate;
  /** The units on the map and their changes (issue 20). */
  units?: UnitSource;
  /** Why a stream was ended early (a database fault, an audit that failed): the error's kind only, no patient data. */
  logger: Logger;
}

/**
 * The open board connections of one instance. A stream never ends by itself (only when its token expires),
 * so shutting down ends them, instead of waiting for them: the page reconnects (`retry`), to another instance.
 */
export class OpenStreams {
  private readonly open = new Set<() => void>();
  private ended = false;

  /** Keeps `close` to call at shutdown; calls it at once when shutdown has begun. */
  add(close: () => void): void {
    if (this.ended) close();
    else this.open.add(close);
  }

  remove(close: () => void): void {
    this.open.delete(close);
  }

  /** Ends every open stream, and every one opened from now on. */
  endAll(): void {
    this.ended = true;
    for (const close of [...this.open]) close();
    this.open.clear();
  }
}

function send(res: Response, event: string, id: number, data: unknown): void {
  res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** How many rows a board connection projects at once: a few of the pool's connections, the rest left to writers. */
const PROJECTED_AT_ONCE = 8;

/**
 * One board connection: a snapshot of the open handovers the viewer may see (or, with Last-Event-ID, the
 * changes since that number), then each change as it is numbered. Each message carries the feed's number as
 * its id. A change the viewer may not see still moves the id (an id-only message), so that a reconnect does
 * not ask for it again; it tells nothing but that the region's feed moved on.
 */
export async function openStream(deps: StreamDeps, ctx: RequestContext, res: Response, lastEventId: number | undefined, expiresAt: number): Promise<void> {
  const repo = deps.repository(ctx);
  const queue: FeedEvent[] = [];
  let sentUpTo = 0;
  let closed = false;
  let chain: Promise<void> = Promise.resolve();

  const project = async (ids: string[]): Promise<{ rows: BoardRow[]; removed: string[]; resources: Resource[] }> => {
    const rows: BoardRow[] = [];
    const removed: string[] = [];
    const resources: Resource[] = [];
    // A few rows at a time, each its own reads, in the order given: the reads of rows under way at once share their
    // statements (the shared reads, src/store/shared-reads.ts) and their round trips overlap. One after the other, a
    // snapshot of 1,000 open handovers was some 7,000 statements in a row (3–5 s before the board showed anything).
    // Once the connection is gone no further row is read: a board that had fallen behind a busy region (a batch of
    // thousands of changes) or left during its snapshot kept the pool and PostgreSQL busy for seconds after it went.
    const projected = await inTurn(ids, PROJECTED_AT_ONCE, (id) => projectRow(repo, id, deps.targets, deps.locate), () => closed);
    for (const [i, id] of ids.entries()) {
      const p = projected[i];
      if (!p) continue;
      if (p.open) {
        rows.push(p.row);
        resources.push(...p.resources);
      } else removed.push(id);
    }
    return { rows, removed, resources };
  };

  const deliver = async (events: FeedEvent[]): Promise<void> => {
    const fresh = events.filter((e) => e.number > sentUpTo);
    if (fresh.length === 0 || closed) return;
    // Several changes of one handover in a batch: its current state once, under the last number.
    const last = new Map<string, number>();
    for (const e of fresh) last.set(e.handoverId, e.number);
    const { rows, removed, resources } = await project([...last.keys()]);
    // What was not shown is not audited as shown.
    if (closed) return;
    if (resources.length) await deps.audit(ctx, resources);
    const out: { number: number; event: string; data: unknown }[] = [];
    for (const r of rows) out.push({ number: last.get(r.id) ?? 0, event: 'row', data: r });
    for (const id of removed) out.push({ number: last.get(id) ?? 0, event: 'remove', data: { id } });
    out.sort((a, b) => a.number - b.number);
    if (closed) return;
    for (const o of out) send(res, o.event, o.number, o.data);
    sentUpTo = fresh[fresh.length - 1]?.number ?? sentUpTo;
    if (out.at(-1)?.number !== sentUpTo) res.write(`id: ${sentUpTo}\n\n`);
  };
  const enqueue = (events: FeedEvent[]): void => {
    queue.push(...events);
    chain = chain.then(async () => {
      const batch = queue.splice(0, queue.length);
      if (batch.length) await deliver(batch);
    }).catch((err: unknown) => fail('a change', err));
  };

  // Listening before the snapshot is taken: nothing committed in between is lost (numbers ≤ the snapshot's are skipped).
  const unsubscribe = deps.feed.subscribe(enqueue);
  const heartbeat = setInterval(() => res.write(': ♥\n\n'), HEARTBEAT_MS);
  const expiry = setTimeout(() => close(), Math.max(0, expiresAt - Date.now()));
  const close = (): void => {
    if (closed) return;
    closed = true;
    deps.streams.remove(close);
    unsubscribe();
    // Declared below, once the response is under way; close() cannot run before that (it is called from events).
    units?.close();
    clearInterval(heartbeat);
    clearTimeout(expiry);
    res.end();
  };
  // A message that could not be read or audited is not sent: the stream ends, and the page reconnects (`retry`) asking
  // for what followed the last event it got (Last-Event-ID), so nothing is lost. The error is logged by kind and code
  // (safeError: a database error's message may quote a row); one after the stream ended has no one left to tell.
  const fail = (what: string, err: unknown): void => {
    if (!closed) deps.logger.warn({ requestId: ctx.requestId, client: ctx.clientId, err: safeError(err) }, `board stream ended: ${what} could not be sent`);
    close();
  };
  res.on('close', close);

  res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', Connection: 'keep-alive' });
  res.flushHeaders();
  res.write('retry: 1000\n\n');
  deps.streams.add(close);
  const units = deps.units?.attach(ctx, (event, data) => {
    if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }, (resources) => deps.audit(ctx, resources), (err) => fail('the units', err));

  chain = chain.then(async () => {
    const head = await deps.feed.numberNow();
    const missed = lastEventId === undefined ? undefined : await deps.feed.after(lastEventId, head);
    if (missed) {
      await deliver(missed);
      sentUpTo = head;
      if (!closed) send(res, 'caught-up', head, { head });
      return;
    }
    const { rows, resources } = await project(await openHandoverIds(repo));
    if (closed) return;
    if (resources.length) await deps.audit(ctx, resources);
    if (closed) return;
    send(res, 'snapshot', head, { rows, viewer: { ura: ctx.organizationUra, client: ctx.clientId, regional: ctx.roles.includes('zcc') || ctx.roles.includes('auditor') } });
    sentUpTo = head;
  }).catch((err: unknown) => fail('the snapshot', err));
}
