// A gateway in a child process (`node src/main.ts`) on a given PostgreSQL database: for crash and multi-instance tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DEMO_SECRET, type DemoClient } from './gateway.ts';
import type { ListeningMessage } from '../../src/http/serve.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface ChildGateway {
  url: string;
  process: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * fetch on this gateway; a request that fails says which one, whether the child still runs (or how it ended), how
   * long ago it last answered, and the end of what it printed.
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** What a child printed last (its stderr, and its log at LOG_LEVEL error): enough to see why it went away. */
const TAIL = 8 * 1024;

/**
 * Starts `node src/main.ts` against `databaseUrl` on a port the system chooses (PORT=0) and waits until it answers
 * /health/live. The child reports its port over the IPC channel once it listens: a port picked free beforehand could be
 * taken by another test's process in between, whose /health/live would then answer for this one.
 */
export async function startChildGateway(databaseUrl: string, env: Record<string, string> = {}): Promise<ChildGateway> {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', PUBLIC_URL: 'http://gateway.test', DEMO: '1', DEMO_CLIENT_SECRET: DEMO_SECRET, LOG_LEVEL: 'error', ALLOW_HTTP_LOOPBACK_HOOKS: '1', DB_POOL_SIZE: '8', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let printed = '';
  const keep = (d: Buffer): void => {
    printed = (printed + d.toString()).slice(-TAIL);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Several processes starting together on a busy machine take a while (definitions, profiles, migrations).
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child gateway did not listen within 90 s: ${printed}`));
    }, 90_000);
    child.on('message', (m: Partial<ListeningMessage>) => {
      if (typeof m.listening !== 'number') return;
      clearTimeout(timer);
      resolve(m.listening);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child gateway exited ${String(code ?? signal)}: ${printed}`));
    });
  });
  // The parent's end of the channel would keep this process alive as long as the child runs.
  child.channel?.unref();
  const url = `http://127.0.0.1:${port}`;
  let lastAnswer = 0;
  const describe = (): string => {
    const state = child.exitCode === null && child.signalCode === null ? `runs (pid ${child.pid})` : `exited (${String(child.exitCode ?? child.signalCode)})`;
    const since = lastAnswer ? `, last answered ${Date.now() - lastAnswer} ms ago` : '';
    return `the child gateway at ${url} ${state}${since}; it printed last:\n${printed || '(nothing)'}`;
  };
  const childFetch = async (path: string, init?: RequestInit): Promise<Response> => {
    try {
      const res = await fetch(`${url}${path}`, init);
      lastAnswer = Date.now();
      return res;
    } catch (err) {
      // fetch's errors come from outside jest's realm: `instanceof Error` does not hold for them.
      const { message, cause } = err as { message?: string; cause?: { message?: string } };
      const why = cause?.message ? ` (${cause.message})` : '';
      throw new Error(`${init?.method ?? 'GET'} ${path.split('?')[0] ?? path} failed: ${message ?? String(err)}${why}; ${describe()}`, { cause: err });
    }
  };
  const res = await childFetch('/health/live');
  if (!res.ok) throw new Error(`child gateway listens on ${port} but /health/live answered ${res.status}`);
  return {
    url,
    process: child,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    fetch: childFetch,
  };
}

const tokens = new Map<string, string>();

/** A bearer token from any instance (they share the signing key in the database). */
export async function childAuth(g: ChildGateway, client: DemoClient): Promise<string> {
  const known = tokens.get(`${g.url} ${client}`);
  if (known) return known;
  const res = await g.fetch('/oauth2/token', {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${client}:${DEMO_SECRET}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!res.ok) throw new Error(`token: ${res.status}`);
  const token = `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
  tokens.set(`${g.url} ${client}`, token);
  return token;
}
