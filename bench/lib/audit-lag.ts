import pg from 'pg';

export interface AuditLag {
  /** Audit rows not yet in the hash chain when the load ended. */
  unlinkedAtEnd: number;
  /** How long after the load the gateway's linker took to link them all (NaN: not within the wait). */
  caughtUpSeconds: number;
  rows: number;
}

/** Whether the gateway's audit chain linker keeps up: what is left unlinked when the load stops, and how soon it is linked. */
export async function auditLag(databaseUrl: string, waitSeconds = 30): Promise<AuditLag> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const count = async (): Promise<{ unlinked: number; rows: number }> => {
      const r = await client.query<{ unlinked: string; rows: string }>(
        `SELECT (SELECT count(*) FROM audit_events) - (SELECT count(*) FROM audit_chain) AS unlinked, (SELECT count(*) FROM audit_events) AS rows`,
      );
      return { unlinked: Number(r.rows[0]?.unlinked ?? 0), rows: Number(r.rows[0]?.rows ?? 0) };
    };
    const started = performance.now();
    const first = await count();
    let now = first;
    while (now.unlinked > 0 && performance.now() - started < waitSeconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      now = await count();
    }
    return { unlinkedAtEnd: first.unlinked, caughtUpSeconds: now.unlinked > 0 ? Number.NaN : (performance.now() - started) / 1000, rows: now.rows };
  } finally {
    await client.end();
  }
}

export const auditLagLine = (lag: AuditLag): string =>
  `audit chain: ${lag.unlinkedAtEnd} of ${lag.rows} rows unlinked when the load stopped, all linked ${Number.isNaN(lag.caughtUpSeconds) ? 'not within the wait' : `${lag.caughtUpSeconds.toFixed(1)} s later`}`;
