import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';

/**
 * PostgreSQL settings of the embedded store, on top of PGlite's own start parameters. Emscripten's mmap zeroes
 * what it maps, so every page of `shared_buffers` is resident from the start: the default 128 MB made a fifth of
 * the embedded demo's RSS while its whole database is a few tens of MB. PGlite reads and writes real files, which
 * the operating system caches outside this process, so a small buffer pool costs system calls, not disk reads.
 */
const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
  // As on PostgreSQL (src/store/postgres.ts, connectionOptions); PGlite has no JIT provider, so this only says so.
  jit: 'off',
};

/** The options every PGlite of the gateway opens with (the store and the child that creates a cluster). */
export function pgliteOptions(): Pick<PGliteOptions, 'extensions' | 'startParams'> {
  const settings = Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  // btree_gin: migration 009's index over resource type and tokens.
  return { extensions: { btree_gin }, startParams: [...PGlite.defaultStartParams, ...settings] };
}
