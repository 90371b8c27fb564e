// Two embedded gateways (no DATABASE_URL) started in one folder: the second is refused with a clear line, the first
// goes on. Before, the second opened the same PGlite files and ran beside the first, two PostgreSQL servers on one
// cluster, or stopped with WASM's bare "Aborted()".
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { LOCK_FILE } from '../../src/store/data-dir-lock.ts';

const ROOT = join(import.meta.dirname, '../..');
let dataDir: string;
let first: ChildGateway | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'embedded-data-dir-'));
});
afterAll(async () => {
  await first?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

/** `node src/main.ts` on the embedded store in `dataDir`, until it exits: its exit code and what it printed on stderr. */
function startAndWaitForExit(): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', DEMO: '1', LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

it('a second gateway on the same embedded database is refused, naming the folder and the one that holds it', async () => {
  first = await startChildGateway('', { DATA_DIR: dataDir });
  const token = await childAuth(first, 'hap-vechtdal');

  const second = await startAndWaitForExit();
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(`The gateway could not start: the embedded database in ${dataDir} is in use by another gateway (process ${first.process.pid})`);
  expect(second.stderr).not.toMatch(/Aborted/);

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
