// A plain node:http server that runs three pg statements per request (a prepared SELECT of part of the body):
// bench/promotion.ts runs it under --trace-gc-nvp to show, outside the gateway, what survives the young generation per
// request with each way of sending a statement through pg.
// Run by bench/promotion.ts: PORT, DATABASE_URL, PG_QUERY_TIMEOUT_MS (pg's `query_timeout`; unset: none), PG_FORM:
// `pool` (pool.query, which hands pg a callback; the default), `promise` (a pooled client's `client.query(config)`,
// pg's promise form) or `callback` (the same with a query made with a callback of its own, as the gateway's runQuery).
import { createServer } from 'node:http';
import pg from 'pg';

const timeout = Number(process.env.PG_QUERY_TIMEOUT_MS ?? 0);
const form = process.env.PG_FORM ?? 'pool';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, ...(timeout > 0 ? { query_timeout: timeout } : {}) });
async function run(config: pg.QueryConfig): Promise<pg.QueryResult> {
  if (form === 'pool') return pool.query(config);
  const client = await pool.connect();
  try {
    if (form === 'promise') return await client.query(config);
    return await new Promise<pg.QueryResult>((resolve, reject) => {
      const callback = (err: Error | undefined, result: pg.QueryResult): void => (err ? reject(err) : resolve(result));
      client.query(new pg.Query({ ...config }, callback as never));
    });
  } finally {
    client.release();
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      let rows: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const config: pg.QueryConfig = { name: `echo${i}`, text: 'SELECT $1::text AS a, now() AS b, $2::int AS c', values: [JSON.stringify(body).slice(0, 200), i] };
        rows = (await run(config)).rows;
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ rows }));
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('listening'));
