import type { Server } from 'node:http';

/** Requests under way get this long to be answered once shutdown begins; then their connections are cut. */
const SHUTDOWN_GRACE_MS = 5_000;
const IDLE_SWEEP_MS = 50;

/** Listens on `host:port`; rejects with the listen error (EADDRINUSE, EACCES, ...) instead of leaving it to an 'error' event. */
export function serve(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => reject(err);
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/** The port `server` listens on: the one the system chose when PORT is 0. */
export function listeningPort(server: Server, configured: number): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : configured;
}

/** What a parent learns from a gateway it started with an IPC channel. */
export interface ListeningMessage {
  listening: number;
}

/**
 * Tells a parent that started this process with an IPC channel (a test, a benchmark, a process manager) where it
 * listens. With PORT=0 the port is chosen as the server binds it, so no other process can take it between a parent
 * picking a free port and the gateway listening on it. The channel then no longer keeps the process alive.
 */
export function reportListening(port: number, to: Pick<NodeJS.Process, 'send' | 'channel'> = process): void {
  if (!to.send) return;
  const message: ListeningMessage = { listening: port };
  to.send(message);
  to.channel?.unref();
}

/** What an operator should read when the gateway cannot listen. */
export function listenFailure(err: unknown, host: string, port: number): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use (EADDRINUSE): another process listens there; stop it or set PORT`;
    case 'EACCES':
      return `not allowed to listen on port ${port} on ${host} (EACCES): set PORT to a port this user may use`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine (EADDRNOTAVAIL): set HOST`;
    default:
      return `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Stops serving and closes the gateway. `server.close` alone waits for every open connection, and a
 * board stream never ends by itself, nor does a client's idle keep-alive connection: so the streams are
 * ended, idle connections are closed as they become idle, and whatever is still busy after the grace
 * period is cut. Then the gateway gives back its delivery claims, stops its workers and closes the pool.
 */
export async function shutdown(server: Server, gateway: { endStreams(): void; close(): Promise<void> }, graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  gateway.endStreams();
  // A keep-alive connection whose last response has just been sent is idle: closed at the next sweep.
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
  await gateway.close();
}
