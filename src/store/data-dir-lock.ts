import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The file in the data directory that names the process holding it. */
export const LOCK_FILE = 'gateway.pid';

/** A data directory already held by another running process. */
export class DataDirInUseError extends Error {
  constructor(dataDir: string, holder: number | undefined) {
    super(
      `the embedded database in ${dataDir} is in use by another gateway${holder === undefined ? '' : ` (process ${holder})`}. ` +
        `Stop that gateway, or give this one another folder (DATA_DIR) or a PostgreSQL database (DATABASE_URL). ` +
        `If no gateway runs, remove ${join(dataDir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** The directories this process holds: a lock file naming this process is stale only if it is not one of them. */
const heldHere = new Set<string>();

/** Whether a process with this id runs (EPERM: it runs, as another user). */
function runs(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Takes the embedded database's data directory for this process, creating the directory if needed, and returns the
 * function that gives it back. PGlite runs PostgreSQL inside the process, with no postmaster to refuse a second
 * server on the same files: a second gateway started in the same folder opened them too, and two processes wrote
 * one cluster (or the second stopped with WASM's bare "Aborted()"). The lock file names its process and appears
 * whole or not at all (written aside, then hard-linked into place, which fails if it exists). One left by a process
 * that no longer runs (a crash, SIGKILL) is taken over, as is one naming this very process but not held by it (a
 * container restarted with the same pid); one this process holds is refused as any other. As with PostgreSQL's own
 * postmaster.pid, two processes taking over the same stale lock at the same instant are not told apart, nor are
 * processes of two containers sharing the folder (each sees only its own process ids).
 */
export function lockDataDir(dataDir: string): () => void {
  const key = resolve(dataDir);
  if (heldHere.has(key)) throw new DataDirInUseError(dataDir, process.pid);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new Error(`The embedded database could not be created in ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const file = join(dataDir, LOCK_FILE);
  const aside = `${file}.${process.pid}`;
  writeFileSync(aside, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = holderOf(file);
      const stale = holder === undefined || holder === process.pid || !runs(holder);
      // A holder that runs wins; so does whoever took a stale lock over between our two tries.
      if (!stale || attempt > 0) throw new DataDirInUseError(dataDir, holder);
      removeIfThere(file);
    }
  } finally {
    removeIfThere(aside);
  }
  heldHere.add(key);
  return () => {
    if (!heldHere.delete(key)) return;
    // Only our own: a lock another process has since taken over (after this one was thought gone) stays.
    if (holderOf(file) === process.pid) removeIfThere(file);
  };
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
