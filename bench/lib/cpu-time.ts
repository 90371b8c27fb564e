import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

/**
 * CPU time spent by each side of a benchmark, read from /proc (Linux). Throughput on a shared VM moves with
 * what the host steals (a quarter of the CPU in some runs here); the CPU time a side used per handover does
 * not, so it says more reliably how much work the gateway adds to the database's.
 */
export interface CpuSnapshot {
  /** The benchmark's own process (the load generator, or the raw baseline's `pg` client). */
  selfMs: number;
  gatewayMs?: number;
  /** Every process named `postgres` on this machine; undefined when the server runs elsewhere. */
  postgresMs?: number;
}

// USER_HZ: /proc counts CPU time in ticks of 1/100 s on every Linux architecture.
const MS_PER_TICK = 10;

/** utime + stime (+ the children's, which is where PostgreSQL's ended backends are counted). */
function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
}

function processMs(pid: number): number | undefined {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * MS_PER_TICK;
  } catch {
    return undefined;
  }
}

/**
 * The PostgreSQL server whose processes are counted: its postmaster and the backends it started. Unset, every
 * process named `postgres` on the machine counts, other clusters' and other databases' work included.
 */
let postmasterPid: number | undefined;

/**
 * With a PostgreSQL shared by other work (other test runs on this machine's one server), only the backends of these
 * databases count, with the server's own background processes (WAL writer, checkpointer, ...): the postmaster's
 * children's times, where every ended backend of every database lands, stay out. Unset, the whole server counts.
 */
let countedDatabases: ReadonlySet<string> | undefined;
/** Processes counted so far (a backend with its database, the server's own with ''), with their last CPU ticks. */
const seenProcesses = new Map<number, { database: string; ticks: number }>();
/** Ticks of the processes that ended, per database ('' the server's own): an ended backend keeps counting. */
const endedTicks = new Map<string, number>();

/**
 * Counts only the server that `databaseUrl` names (when it runs on this machine): other work on the machine's other
 * clusters stays out; with `databases`, only those databases' backends of it (see countedDatabases).
 */
export async function measurePostgresOf(databaseUrl: string, databases?: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const stat = pid === undefined ? undefined : readStat(pid);
    postmasterPid = stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : undefined;
  } finally {
    await client.end();
  }
  countedDatabases = databases && postmasterPid !== undefined ? new Set(databases) : undefined;
}

function readStat(pid: number | string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A client backend's title is `postgres: [cluster name: ]user database host(port) state`; anything else is the
 * server's own.
 */
const BACKEND_TITLE = /^postgres: (?:\S+: )?\S+ (\S+) (?:\[local\]|\S+\(\d+\))/;

/** One postgres process under countedDatabases: its database ('' for the server's own), or undefined for another database's backend. */
function countedProcess(pid: number, stat: string): { database: string; ticks: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (pid === postmasterPid) return { database: '', ticks: Number(fields[11] ?? 0) + Number(fields[12] ?? 0) };
  let title: string;
  try {
    title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return undefined;
  }
  const database = BACKEND_TITLE.exec(title)?.[1];
  if (database !== undefined && !countedDatabases?.has(database)) return undefined;
  return { database: database ?? '', ticks: statTicks(stat) };
}

/**
 * PostgreSQL's CPU so far; under countedDatabases with `database`, only that database's backends and the server's
 * own processes (what one measured server leaves running, e.g. Medplum's audit writes after its slice, is then not
 * counted in the other's slice).
 */
function postgresMs(database?: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const wanted = (db: string): boolean => database === undefined || db === '' || db === database;
  let ticks = 0;
  let found = false;
  const alive = new Set<number>();
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      if (postmasterPid !== undefined && Number(pid) !== postmasterPid && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== postmasterPid) continue;
      if (countedDatabases) {
        const own = countedProcess(Number(pid), stat);
        if (own === undefined) continue;
        seenProcesses.set(Number(pid), own);
        alive.add(Number(pid));
        if (wanted(own.database)) ticks += own.ticks;
      } else {
        ticks += statTicks(stat);
      }
      found = true;
    } catch {
      // the process ended while we read
    }
  }
  if (countedDatabases) {
    for (const [pid, last] of seenProcesses) {
      if (alive.has(pid)) continue;
      endedTicks.set(last.database, (endedTicks.get(last.database) ?? 0) + last.ticks);
      seenProcesses.delete(pid);
    }
    for (const [db, ended] of endedTicks) if (wanted(db)) ticks += ended;
  }
  return found ? ticks * MS_PER_TICK : undefined;
}

/**
 * `server`: the gateway's process, or another server's processes (Medplum and its Redis), whose CPU is added up;
 * undefined when one of them cannot be read. `database`: PostgreSQL's CPU for that database's backends only (and
 * the server's own processes), when measurePostgresOf was given the databases.
 */
export function cpuSnapshot(server?: number | readonly number[], database?: string): CpuSnapshot {
  const self = process.cpuUsage();
  const pids = server === undefined ? [] : typeof server === 'number' ? [server] : server;
  const perProcess = pids.map(processMs);
  const serverMs = pids.length === 0 || perProcess.includes(undefined) ? undefined : perProcess.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
  return { selfMs: (self.user + self.system) / 1000, gatewayMs: serverMs, postgresMs: postgresMs(database) };
}

export interface CpuPerUnit {
  selfMs: number;
  gatewayMs?: number;
  postgresMs?: number;
}

/** CPU milliseconds per unit of work (a handover) between two snapshots. */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number): CpuPerUnit {
  const per = (a?: number, b?: number): number | undefined => (a === undefined || b === undefined || units === 0 ? undefined : (b - a) / units);
  return { selfMs: per(before.selfMs, after.selfMs) ?? Number.NaN, gatewayMs: per(before.gatewayMs, after.gatewayMs), postgresMs: per(before.postgresMs, after.postgresMs) };
}

/** The CPU of the process measured besides PostgreSQL: the gateway's, or the benchmark's own (the raw client). */
const ownMs = (first: 'gateway' | 'client', cpu: CpuPerUnit): number | undefined => (first === 'gateway' ? cpu.gatewayMs : cpu.selfMs);

/** Together: the CPU time one handover costs on this machine, or undefined when a side could not be measured. */
export function cpuTotal(first: 'gateway' | 'client', cpu: CpuPerUnit): number | undefined {
  const own = ownMs(first, cpu);
  return own !== undefined && cpu.postgresMs !== undefined ? own + cpu.postgresMs : undefined;
}

/** "CPU per handover: gateway 21.9 ms + PostgreSQL 14.8 ms, together 36.7 ms". */
export function cpuLine(first: 'gateway' | 'client' | 'server', cpu: CpuPerUnit, unit = 'handover', options: { loadGenerator?: boolean } = {}): string {
  const own = first === 'client' ? 'client' : 'gateway';
  const total = cpuTotal(own, cpu);
  const digits = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(unit === 'handover' ? 1 : 2)} ms`);
  // The benchmark's own process shares the cores with the servers: what it takes per request is what a server's
  // throughput could not use (an issue's measurement with wrk took almost none).
  const generator = options.loadGenerator ? ` (the benchmark's own client ${digits(cpu.selfMs)})` : '';
  return `CPU per ${unit}: ${first} ${digits(ownMs(own, cpu))} + PostgreSQL ${digits(cpu.postgresMs)}${total === undefined ? '' : `, together ${digits(total)}`}${generator}`;
}

/** CPU per unit over several runs: each run's figures weighted by the units it did. */
export function combineCpu(parts: { cpu: CpuPerUnit; units: number }[]): CpuPerUnit {
  const units = parts.reduce((n, p) => n + p.units, 0);
  const weighted = (pick: (c: CpuPerUnit) => number | undefined): number | undefined => {
    if (units === 0 || parts.some((p) => pick(p.cpu) === undefined)) return undefined;
    return parts.reduce((sum, p) => sum + (pick(p.cpu) as number) * p.units, 0) / units;
  };
  return { selfMs: weighted((c) => c.selfMs) ?? Number.NaN, gatewayMs: weighted((c) => c.gatewayMs), postgresMs: weighted((c) => c.postgresMs) };
}
