// Creates an embedded PGlite cluster in a data directory and exits: `node src/store/pglite-create.ts <dataDir>`.
// PGliteDatabase.open runs this in a child process for a directory without a cluster: initdb takes a second
// WASM instance of PostgreSQL plus initdb's own, about 250 MB that the gateway process would otherwise hold
// until V8 happens to collect them, on top of everything else it builds at start.
import { PGlite } from '@electric-sql/pglite';
import { pgliteOptions } from './pglite-options.ts';

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: node src/store/pglite-create.ts <dataDir>');
  process.exit(2);
}
const db = new PGlite({ dataDir, ...pgliteOptions() });
await db.waitReady;
await db.close();
