// A write transaction's COMMIT goes with its last statement (src/store/commit-with-last-statement.ts, sent by the
// write phases' pipeline, src/fhir/write-phases.ts) whenever nothing may refuse after that statement: a native
// handover sends no COMMIT of its own. Counted on pg's connections: a COMMIT alone goes as a simple query.
import pg from 'pg';
import { example, setBsn, uniqueBsn, uniqueId, withNativeGateway, type Native } from '../support/native.ts';

let native: Native;
withNativeGateway((g) => ({ native } = g));

const skipOnPglite = process.env.TEST_STORE === 'pglite' ? it.skip : it;

/**
 * Runs `work`, counting the COMMITs sent alone (pg: `client.query('COMMIT')`) by transactions that wrote a native
 * record's ledger row, the handover's own transactions: not those of the delivery worker or the audit linker.
 */
async function commitsAlone(work: () => Promise<void>): Promise<number> {
  const proto = pg.Client.prototype as unknown as { query(config: unknown, ...rest: unknown[]): unknown };
  const query = proto.query;
  const ledgerWritten = new WeakSet<object>();
  let count = 0;
  proto.query = function countCommit(this: object, config: unknown, ...rest: unknown[]): unknown {
    const text = typeof config === 'string' ? config : String((config as { text?: unknown } | undefined)?.text ?? '');
    if (text.includes('INSERT INTO native_records')) ledgerWritten.add(this);
    else if (/^\s*(COMMIT|ROLLBACK)\s*$/i.test(text)) {
      if (ledgerWritten.has(this) && /COMMIT/i.test(text)) count++;
      ledgerWritten.delete(this);
    }
    return query.call(this, config, ...rest);
  };
  try {
    await work();
  } finally {
    proto.query = query;
  }
  return count;
}

const handover = (): string => JSON.stringify({ ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance.json'), uniqueBsn()), contactId: uniqueId('COMMIT') });

skipOnPglite('a new native handover commits with its last statement (no COMMIT round trip of its own)', async () => {
  // Every connection of the pool prepares COMMIT in its first such transaction (then COMMIT is sent alone).
  for (let i = 0; i < 25; i++) expect((await native.send('nts', handover())).status).toBe(201);
  const alone = await commitsAlone(async () => {
    for (let i = 0; i < 5; i++) expect((await native.send('nts', handover())).status).toBe(201);
  });
  expect(alone).toBe(0);
});
