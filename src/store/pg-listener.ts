import pg from 'pg';

export type ListenState = 'listening' | 'reconnecting' | 'stopped';

export interface ListenerOptions {
  /** Makes a new, unconnected client (connection string, role, timeouts). */
  client: () => pg.Client;
  /** Called when the connection was lost, and each time re-opening it failed (for the log). */
  onError?: (err: unknown, state: ListenState) => void;
  /** The first wait before re-opening; doubled after each failure up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** One listener of one channel on the shared connection. */
export interface ChannelListener {
  readonly channel: string;
  readonly onNotify: (payload: string) => void;
  /** NOTIFYs heard on this channel since it was added (a gauge: proof that LISTEN, not a poll, woke someone). */
  notifications: number;
}

/**
 * The LISTEN connection of a process, for every channel it listens on, that outlives the database: when the
 * connection ends (a restart, a failover, a dropped connection) it is opened again, with back-off, for as long as
 * the listener is not stopped. NOTIFYs sent while it was away are lost, so once listening again it calls every
 * channel's `onNotify('')`: whoever listens looks for what it missed at once instead of at its next poll.
 *
 * One connection for all channels, not one each: a commit that NOTIFYs signals every backend of the database that
 * LISTENs on any channel (PostgreSQL's async.c wakes them all; each reads the queue and drops what is not its
 * own), so with a connection per channel (five) a Task create woke five backends. Measured on a private cluster,
 * 32 clients of Task creates: the five LISTEN backends cost 0.32 ms of PostgreSQL's 2.5 ms CPU per create.
 */
export class ReconnectingListener {
  private readonly options: ListenerOptions;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private current: ListenState = 'reconnecting';
  /** The listeners of each channel; a channel is LISTENed to while it has one. */
  private readonly channels = new Map<string, Set<ChannelListener>>();
  /** How often the connection had to be re-opened. */
  reconnects = 0;
  /**
   * A re-opened connection owes its listeners a wake (an empty payload: look for what was notified while it was away),
   * before any notification it hears: one that arrives in the same read as the answer to the last LISTEN is handed
   * over before the code after that LISTEN runs, so the wake is paid by whichever comes first.
   */
  private wakeOwed = false;

  constructor(options: ListenerOptions) {
    this.options = options;
  }

  get state(): ListenState {
    return this.current;
  }

  /** Every listener of every channel. */
  listeners(): ChannelListener[] {
    return [...this.channels.values()].flatMap((set) => [...set]);
  }

  /** Whether `channel` has a listener here (then `caughtUp` covers it). */
  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** The first connection: fails (and stops) when it cannot be opened, as the gateway cannot start without its database. */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      this.current = 'stopped';
      throw err;
    }
  }

  /**
   * Listens on `channel` from now on (a LISTEN on the open connection; while the connection is away, the one that
   * re-opens it LISTENs to every channel added by then). Fails only when the connection is up and refuses it.
   */
  async add(channel: string, onNotify: (payload: string) => void): Promise<ChannelListener> {
    const listener: ChannelListener = { channel, onNotify, notifications: 0 };
    const set = this.channels.get(channel);
    if (set) {
      set.add(listener);
      return listener;
    }
    this.channels.set(channel, new Set([listener]));
    const client = this.client;
    if (!client || this.current !== 'listening') return listener;
    try {
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      // A lost connection is re-opened with every channel; anything else is the caller's to know.
      if (this.client === client && this.current === 'listening') {
        this.channels.get(channel)?.delete(listener);
        if (this.channels.get(channel)?.size === 0) this.channels.delete(channel);
        throw err;
      }
    }
    return listener;
  }

  /** Stops `listener`; the channel's LISTEN ends with its last listener. Resolves true when no channel is left. */
  async remove(listener: ChannelListener): Promise<boolean> {
    const set = this.channels.get(listener.channel);
    if (!set?.delete(listener)) return this.channels.size === 0;
    if (set.size > 0) return false;
    this.channels.delete(listener.channel);
    if (this.channels.size === 0) return true;
    const client = this.client;
    // A connection lost meanwhile is re-opened without it.
    if (client && this.current === 'listening') await client.query(`UNLISTEN ${pg.escapeIdentifier(listener.channel)}`).catch(() => undefined);
    return false;
  }

  /**
   * Resolves true once every notification committed before the call has been handed to `onNotify`; false when
   * not listening (the caller then cannot rely on having heard them). One round trip (an empty query on the LISTEN
   * connection: PostgreSQL sends the notifications it holds before the answer) serves every caller waiting at
   * the time it is sent; callers arriving while it is under way share the next one.
   */
  caughtUp(): Promise<boolean> {
    if (!this.client || this.current !== 'listening') return Promise.resolve(false);
    if (!this.nextPing) {
      const after = this.pingInFlight ?? Promise.resolve(true);
      const next = after.then(() => {
        if (this.nextPing === next) this.nextPing = undefined;
        const ping = this.ping();
        this.pingInFlight = ping;
        return ping;
      });
      this.nextPing = next;
    }
    return this.nextPing;
  }

  private nextPing: Promise<boolean> | undefined;
  private pingInFlight: Promise<boolean> | undefined;

  private async ping(): Promise<boolean> {
    const client = this.client;
    if (!client || this.current !== 'listening') return false;
    try {
      // An empty query: PostgreSQL answers it (EmptyQueryResponse) on the same path as any other, handing over the
      // notifications it holds before its ReadyForQuery, but parses, plans and runs nothing (a `SELECT 1` did): per
      // ping 16-18 instead of 30-50 µs of the backend's CPU and about half the driver's (5,000 pings, alternating).
      await client.query('');
    } catch {
      return false;
    }
    return this.client === client && this.current === 'listening';
  }

  async stop(): Promise<void> {
    this.current = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async open(): Promise<void> {
    const client = this.options.client();
    let connected = false;
    let lost = false;
    const onLost = (err: unknown): void => {
      // Before the connection is made, its failure is the rejection of `open()`, handled there.
      if (!connected || lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      // An ended client is not reused: a new one is made for the next attempt.
      client.end().catch(() => undefined);
      if (this.current === 'stopped') return;
      this.current = 'reconnecting';
      this.options.onError?.(err, this.current);
      this.schedule();
    };
    // Before connecting: an error event with no listener would end the process.
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('The LISTEN connection ended')));
    client.on('notification', (msg) => {
      this.payWake();
      for (const listener of this.channels.get(msg.channel) ?? []) {
        listener.notifications++;
        listener.onNotify(msg.payload ?? '');
      }
    });
    try {
      await client.connect();
      // Every channel, those added while this connection was being opened too: after the last check below nothing
      // runs before it is marked listening, so a channel added later is LISTENed to by `add`.
      const listened = new Set<string>();
      for (let rest = this.unlistened(listened); rest.length > 0; rest = this.unlistened(listened)) {
        for (const channel of rest) {
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
          listened.add(channel);
        }
      }
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    connected = true;
    if (this.current === 'stopped') {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.current = 'listening';
    this.failures = 0;
  }

  private payWake(): void {
    if (!this.wakeOwed) return;
    this.wakeOwed = false;
    for (const listener of this.listeners()) listener.onNotify('');
  }

  private unlistened(listened: ReadonlySet<string>): string[] {
    return [...this.channels.keys()].filter((channel) => !listened.has(channel));
  }

  private schedule(): void {
    if (this.timer || this.current === 'stopped') return;
    const base = this.options.baseDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 10_000;
    const bound = Math.min(max, base * 2 ** this.failures);
    // Jitter: the instances of a region do not all knock at a restarted database in the same millisecond.
    const delay = Math.round(bound / 2 + (Math.random() * bound) / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reopen();
    }, delay);
    this.timer.unref();
  }

  private reopen(): void {
    if (this.current === 'stopped') return;
    this.wakeOwed = true;
    this.open()
      .then(() => {
        if (this.current !== 'listening') return;
        this.reconnects++;
        // Whatever was notified while the connection was away is looked for now.
        this.payWake();
      })
      .catch((err: unknown) => {
        this.failures++;
        this.options.onError?.(err, this.current);
        this.schedule();
      });
  }
}
