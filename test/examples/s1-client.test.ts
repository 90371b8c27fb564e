// The integration developers' example runs scenario S1 end to end against the gateway as `npm start`
// runs it: its own process, the embedded PGlite store, the demo organisations.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
let gateway: ChildProcess;
let url: string;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'example-gw-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'error' };
  delete env.DATABASE_URL;
  gateway = spawn(process.execPath, ['src/main.ts'], { cwd: root, env, stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // still starting
    }
    if (Date.now() > deadline) throw new Error('the gateway did not start within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(async () => {
  if (gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test('npm run example:s1 (examples/s1-rav-client.ts, with the project\'s Node) runs scenario S1 against the embedded demo', async () => {
  const { stdout } = await run('npm', ['run', '--silent', 'example:s1'], { cwd: root, env: { ...process.env, GATEWAY_URL: url }, timeout: 60_000 });
  expect(stdout).toContain('handshake received, signature valid');
  expect(stdout).toMatch(/status AANGEVRAAGD, urgentie A1, overdrachtId [0-9a-f-]{36}/);
  expect(stdout).toContain('"status":"GEACCEPTEERD"');
  expect(stdout).toContain('Scenario S1 done');
}, 90_000);
