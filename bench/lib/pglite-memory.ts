import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoToken, startGatewayProcess } from './gateway-process.ts';
import { nativeIngest } from './ingest.ts';
import { load, type LoadResult } from './stats.ts';

export interface PgliteMemory {
  /** Peak RSS while starting (WASM compilation, migrations, demo seed), MB. */
  startPeakRssMb: number;
  /** RSS once started and left alone for `settleSeconds`, MB. */
  idleRssMb: number;
  /** Peak RSS over the whole run, start and load included, MB. */
  peakRssMb: number;
  /** RSS after the load, MB. */
  afterLoadRssMb: number;
  ingest: LoadResult;
  search: LoadResult;
}

const settle = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/**
 * The embedded demo as `npm start` runs it (no DATABASE_URL: PGlite in a fresh DATA_DIR, demo clients, the
 * start command's Node options): its RSS once started and idle, then its peak under native ingest followed by
 * Task searches over what was ingested (the searches make PostgreSQL sort and hash, so its work memory counts).
 */
export async function pgliteMemory(clients: number, seconds: number, example: Record<string, unknown>, settleSeconds: number, nodeArgs: string[] = []): Promise<PgliteMemory> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-pglite-'));
  // DATABASE_URL empty: the embedded store even when the bench itself was given a PostgreSQL server.
  const gateway = await startGatewayProcess({ DATABASE_URL: "", DATA_DIR: dataDir }, nodeArgs);
  try {
    const startPeakRssMb = gateway.peakRssMb();
    await settle(settleSeconds);
    const idleRssMb = gateway.rssMb();
    const ingest = await nativeIngest(gateway.url, clients, seconds, example);
    const token = await demoToken(gateway.url, 'rav-noordoost');
    const search = await load(clients, seconds, async () => {
      const res = await fetch(`${gateway.url}/fhir/Task?status=requested&_sort=-_lastUpdated&_count=50`, { headers: { Authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      return res.status === 200 || `HTTP ${res.status}`;
    });
    return { startPeakRssMb, idleRssMb, peakRssMb: gateway.peakRssMb(), afterLoadRssMb: gateway.rssMb(), ingest, search };
  } finally {
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function pgliteMemoryLines(r: PgliteMemory): string[] {
  const mb = (n: number): string => `${n.toFixed(0)} MB`;
  return [
    `(g) embedded demo (PGlite) RSS      idle ${mb(r.idleRssMb)}, peak ${mb(r.peakRssMb)} (start ${mb(r.startPeakRssMb)}), after load ${mb(r.afterLoadRssMb)}`,
    `    under ingest ${r.ingest.perSecond.toFixed(1)} handovers/s (errors ${Object.values(r.ingest.errors).reduce((a, b) => a + b, 0)}), Task search ${r.search.perSecond.toFixed(1)}/s (errors ${Object.values(r.search.errors).reduce((a, b) => a + b, 0)})`,
  ];
}
