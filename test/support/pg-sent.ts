// What the gateway's pg connections send while a piece of work runs: each statement bound (by its text) and each Sync,
// per connection, in order. For tests of round trips and of which statements a write sends; this process's pg
// connections only (the embedded store, PGlite, sends nothing through them).
import pg from 'pg';

/** A statement bound (by its text), a Sync, or a named statement prepared on the connection (its Parse). */
export type Sent = { kind: 'bind'; text: string } | { kind: 'sync' } | { kind: 'prepare'; text: string };

export async function recordSent<T>(work: () => Promise<T>): Promise<{ result: T; sent: Map<object, Sent[]> }> {
  const proto = (pg as unknown as { Connection: { prototype: Record<string, (...args: unknown[]) => unknown> } }).Connection.prototype;
  const parse = proto.parse as (...args: unknown[]) => unknown;
  const bind = proto.bind as (...args: unknown[]) => unknown;
  const sync = proto.sync as (...args: unknown[]) => unknown;
  const sent = new Map<object, Sent[]>();
  // A statement's text by its name, from its Parse: pg records it as parsed only once the answer came.
  const named = new WeakMap<object, Map<string, string>>();
  const log = (connection: object, entry: Sent): void => {
    let list = sent.get(connection);
    if (!list) sent.set(connection, (list = []));
    list.push(entry);
  };
  proto.parse = function recordParse(this: object, config: unknown, ...rest: unknown[]): unknown {
    const { name, text } = (config ?? {}) as { name?: string; text?: string };
    if (!named.has(this)) named.set(this, new Map());
    named.get(this)!.set(name ?? '', text ?? '');
    // An unnamed statement is parsed at every call; a named one once per connection.
    if (name) log(this, { kind: 'prepare', text: text ?? '' });
    return parse.call(this, config, ...rest);
  };
  proto.bind = function recordBind(this: { parsedStatements?: Record<string, string> }, config: unknown, ...rest: unknown[]): unknown {
    const name = (config as { statement?: string } | undefined)?.statement ?? '';
    log(this, { kind: 'bind', text: named.get(this)?.get(name) ?? this.parsedStatements?.[name] ?? '' });
    return bind.call(this, config, ...rest);
  };
  proto.sync = function recordSync(this: object, ...rest: unknown[]): unknown {
    log(this, { kind: 'sync' });
    return sync.call(this, ...rest);
  };
  try {
    return { result: await work(), sent };
  } finally {
    proto.parse = parse;
    proto.bind = bind;
    proto.sync = sync;
  }
}

/**
 * Runs `work`, recording what each connection sends (the text of each statement bound, each Sync, each named Parse),
 * and returns the round trips (Syncs) of every transaction that ran a statement containing `marker` and prepared no
 * statement on its connection (its BEGIN's included): a connection's first such transaction prepares its statements,
 * which takes round trips of their own.
 */
async function steadyRoundTripsOf(marker: string, work: () => Promise<unknown>): Promise<number[]> {
  const { sent } = await recordSent(work);
  const counts: number[] = [];
  for (const list of sent.values()) {
    let syncs = -1;
    let marked = false;
    let committing = false;
    let prepared = false;
    // A Parse since the last Sync, outside a transaction: the BEGIN that follows was prepared in its round trip.
    let preparing = false;
    for (const entry of list) {
      if (entry.kind === 'prepare') {
        if (syncs >= 0) prepared = true;
        else preparing = true;
      } else if (entry.kind === 'bind' && /^\s*BEGIN\s*$/i.test(entry.text)) {
        syncs = 0;
        marked = false;
        committing = false;
        prepared = preparing;
      } else if (entry.kind === 'bind' && syncs >= 0) {
        if (entry.text.includes(marker)) marked = true;
        if (/^\s*COMMIT\s*$/i.test(entry.text)) committing = true;
      } else if (entry.kind === 'sync') {
        preparing = false;
        if (syncs < 0) continue;
        syncs++;
        if (committing) {
          if (marked && !prepared) counts.push(syncs);
          syncs = -1;
        }
      }
    }
  }
  return counts;
}

/**
 * The round trips of `wanted` transactions marked by `marker` that prepared nothing on their connection, running
 * `once` (one such transaction each time) until that many were seen, at most `tries` times. Under the full suite's
 * load the pool may open a connection at any moment (its first transaction prepares), or hand out one that has not yet
 * run such a transaction: those are not what a test of the steady state measures, and are left out rather than allowed
 * for by a count.
 */
export async function steadyRoundTrips(marker: string, once: () => Promise<unknown>, wanted = 5, tries = 25): Promise<number[]> {
  const counts: number[] = [];
  for (let i = 0; i < tries && counts.length < wanted; i++) {
    counts.push(...(await steadyRoundTripsOf(marker, once)));
  }
  return counts.slice(0, wanted);
}
