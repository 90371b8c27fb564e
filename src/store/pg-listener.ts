import pg from 'pg';

export type ListenState = 'listening' | 'reconnecting' | 'stopped';

export interface ListenerOptions {
  channel: string;
  /** Makes a new, unconnected client (connection string, role, timeouts). */
  client: () => pg.Client;
  onNotify: (payload: string) => void;
  /** Called when the connection was lost, and each time re-opening it failed (for the log). */
  onError?: (err: unknown, state: ListenState) => void;
  /** The first wait before re-opening; doubled after each failure up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * A LISTEN connection that outlives the database: when the connection ends (a restart, a failover, a
 * dropped connection) it is opened again, with back-off, for as long as the listener is not stopped.
 * NOTIFYs sent while it was away are lost, so once listening again it calls `onNotify('')`: whoever
 * listens looks for what it missed at once instead of at its next poll.
 */
export class ReconnectingListener {
  private readonly options: ListenerOptions;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private current: ListenState = 'reconnecting';
  /** NOTIFYs heard on this channel since the process started (a gauge: proof that LISTEN, not a poll, woke someone). */
  notifications = 0;
  /** How often the connection had to be re-opened. */
  reconnects = 0;

  constructor(options: ListenerOptions) {
    this.options = options;
  }

  get state(): ListenState {
    return this.current;
  }

  get channel(): string {
    return this.options.channel;
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
      if (msg.channel !== this.options.channel) return;
      this.notifications++;
      this.options.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.options.channel)}`);
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
    this.open()
      .then(() => {
        if (this.current !== 'listening') return;
        this.reconnects++;
        // Whatever was notified while the connection was away is looked for now.
        this.options.onNotify('');
      })
      .catch((err: unknown) => {
        this.failures++;
        this.options.onError?.(err, this.current);
        this.schedule();
      });
  }
}
