// Two embedded gateways (no DATABASE_URL) started in one folder: the second is refused with a clear line, the first
// goes on. Before, the second opened the same PGlite files and ran beside the first, two PostgreSQL servers on one
// cluster, or stopped with WASM's bare "Aborted()".
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { LOCK_FILE } from '../../src/store/data-dir-lock.ts';

let dataDir: string;
let first: ChildGateway | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'embedded-data-dir-'));
});
afterAll(async () => {
  await first?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

it('a second gateway on the same embedded database is refused, naming the folder and the one that holds it', async () => {
  first = await startChildGateway('', { DATA_DIR: dataDir });
  const token = await childAuth(first, 'hap-vechtdal');

  const second = await startChildGateway('', { DATA_DIR: dataDir }).then(
    async (started) => {
      await started.kill();
      return 'started beside the first';
    },
    (err: unknown) => String((err as Error).message),
  );
  expect(second).toMatch(/^child gateway exited 1: /);
  expect(second).toContain(`The gateway could not start: the embedded database in ${dataDir} is in use by another gateway (process ${first.process.pid})`);
  expect(second).not.toMatch(/Aborted/);

  // The first still answers, reads and writes.
  const created = await first.fetch('/fhir/Patient', {
    method: 'POST',
    headers: { Authorization: token, 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Mulder' }] }),
  });
  expect(created.status).toBe(201);

  // Stopped, it gives the folder back, and a gateway starts on the same data.
  await first.kill('SIGTERM');
  expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  first = await startChildGateway('', { DATA_DIR: dataDir });
  const again = await first.fetch(`/fhir/Patient/${((await created.json()) as { id: string }).id}`, { headers: { Authorization: await childAuth(first, 'hap-vechtdal') } });
  expect(again.status).toBe(200);
}, 180_000);

it('a gateway that was killed leaves a lock the next one takes over', async () => {
  await first?.kill('SIGKILL');
  expect(existsSync(join(dataDir, LOCK_FILE))).toBe(true);
  first = await startChildGateway('', { DATA_DIR: dataDir });
  expect((await first.fetch('/health/ready')).status).toBe(200);
}, 120_000);
