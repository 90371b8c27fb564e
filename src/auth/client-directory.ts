import type { Database, Queryable } from '../store/database.ts';
import { findClient, type StoredClient } from './clients.ts';

/** Sent at commit by a trigger on `oauth_clients` (migration 017) for every row changed, with its client id. */
const CLIENT_CHANNEL = 'oauth_client_changed';

/**
 * The registrations behind verified tokens, kept in memory so that a request with a token costs no lookup in
 * `oauth_clients` (issue 19: a read was three statements, one of them this). A token still outlives nothing:
 * - every change of `oauth_clients`, by any path, sends `NOTIFY oauth_client_changed` at commit (a trigger),
 *   on which every instance drops that client's copy;
 * - a copy is used only after a round trip on the LISTEN connection (an empty query) answered, sent after the request arrived:
 *   PostgreSQL hands over the notifications it holds before that answer, so every change committed before
 *   the request is known. One such round trip serves all requests waiting at that moment (under load, many),
 *   on a connection that does nothing else: no pool connection, no plan, no row read;
 * - a lookup that started before a drop does not store what it read (the generation check), so a read racing
 *   with a change cannot put the old row back;
 * - while this instance's LISTEN connection is down (a database restart, a failover), notifications are lost,
 *   so nothing is taken from or put in the cache: every request reads the row, as before. When the connection
 *   is back, the listener is woken with an empty payload and the cache starts empty.
 */
export class ClientDirectory {
  private readonly db: Database;
  private readonly cache = new Map<string, StoredClient | undefined>();
  private generation = 0;
  private listening = false;
  private reconnectsSeen = 0;

  constructor(db: Database) {
    this.db = db;
  }

  /**
   * Starts making sure every change committed until now is heard; `find` waits for it. Called when a request
   * arrives, so that the round trip runs while the token's signature is checked instead of after it.
   */
  catchUp(): Promise<boolean> {
    return this.listening ? this.db.caughtUp(CLIENT_CHANNEL) : Promise.resolve(false);
  }

  /** The stored registration of `clientId`, or undefined when there is none; `caughtUp` from `catchUp()` at the request's arrival. */
  async find(clientId: string, caughtUp?: Promise<boolean>): Promise<StoredClient | undefined> {
    const usable = this.usable();
    // A copy is used only once every change committed before this request has been heard (one round trip on
    // the LISTEN connection, shared by all requests waiting at that moment): a change is refused at once.
    if (usable && this.cache.has(clientId) && (await (caughtUp ?? this.catchUp())) && this.cache.has(clientId)) return this.cache.get(clientId);
    const generation = this.generation;
    const client = await findClient(this.db, clientId);
    // Unknown clients are not remembered: a flood of made-up ids must not grow the map.
    if (usable && client && generation === this.generation && this.usable()) this.cache.set(clientId, client);
    return client;
  }

  /** Forgets one client, or all (an empty id: a TRUNCATE, or notifications lost while the connection was down). */
  forget(clientId: string): void {
    this.generation++;
    if (clientId === '') this.cache.clear();
    else this.cache.delete(clientId);
  }

  /** Starts hearing changes; returns the way to stop. Until then (and after), every lookup reads the database. */
  async listen(): Promise<() => Promise<void>> {
    const stop = await this.db.listen(CLIENT_CHANNEL, (payload) => this.forget(payload));
    this.listening = true;
    this.reconnectsSeen = this.db.listenStatus().find((l) => l.channel === CLIENT_CHANNEL)?.reconnects ?? 0;
    return async () => {
      this.listening = false;
      this.forget('');
      await stop();
    };
  }

  /**
   * Whether the cache may be used now: only while the LISTEN connection listens, and never across a lost
   * connection (its reconnect count moved: whatever was notified meanwhile is lost, so everything is forgotten,
   * without waiting for the listener's wake-up).
   */
  private usable(): boolean {
    if (!this.listening) return false;
    const status = this.db.listenStatus().find((l) => l.channel === CLIENT_CHANNEL);
    if (!status?.listening || status.reconnects !== this.reconnectsSeen) {
      if (this.cache.size > 0) this.forget('');
      if (status?.listening) this.reconnectsSeen = status.reconnects;
      return false;
    }
    return true;
  }
}

/** The lookup `authenticate` uses: the directory when there is one, else the database each time. */
export type ClientLookup = (clientId: string, caughtUp?: Promise<boolean>) => Promise<StoredClient | undefined>;

export function clientLookup(db: Queryable, directory?: ClientDirectory): ClientLookup {
  return directory ? (clientId, caughtUp) => directory.find(clientId, caughtUp) : (clientId) => findClient(db, clientId);
}
