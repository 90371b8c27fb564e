import { demoToken } from './gateway-process.ts';
import { LeanClient } from './lean-client.ts';
import { load, type LoadResult } from './stats.ts';

/** A BSN passing the 11-proof, different for every n (up to 10^8). */
export function bsn(n: number): string {
  for (let k = n; ; k += 7_777_777) {
    const digits = (k % 100_000_000).toString().padStart(8, '0');
    const sum = [...digits].reduce((s, d, i) => s + Number(d) * (9 - i), 0);
    if (sum % 11 < 10) return `${digits}${sum % 11}`;
  }
}

/**
 * Native NTS ingest through HTTP: the U1 chest-pain record (HAP to ambulance) from `concurrency`
 * keep-alive clients, each send a new contact with its own patient, so every call makes a handover.
 * `token`: one fetched before the caller started counting CPU (a token costs the gateway about 50 ms of scrypt, a
 * tenth of a millisecond per handover of a 5-second slice); without it, one is fetched here.
 */
export async function nativeIngest(url: string, concurrency: number, seconds: number, example: Record<string, unknown>, token?: string): Promise<LoadResult> {
  token ??= await demoToken(url, 'hap-vechtdal');
  const run = Date.now().toString(36);
  const offset = Number.parseInt(run.slice(-4), 36) * 1000;
  let n = 0;
  const patient = example.patient as Record<string, unknown>;
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  // A connection per client, kept alive (as fetch's were), sent through node:http: see LeanClient.
  const poster = new LeanClient(url, concurrency);
  try {
    return await load(concurrency, seconds, async () => {
      const i = ++n;
      const body = JSON.stringify({ ...example, contactId: `BENCH-${run}-${i}`, patient: { ...patient, bsn: bsn(offset + i) } });
      const status = await poster.post('/native/nts', headers, body);
      return status === 201 || `HTTP ${status}`;
    });
  } finally {
    poster.close();
  }
}
