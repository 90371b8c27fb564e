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
  // Its PUBLIC_URL must name the port before it starts, so the port is picked free first (not PORT=0 as the child
  // gateways of test/support/child-gateway.ts). Another process may take it in between: then this gateway exits, and
  // the one answering is recognised by its CapabilityStatement's URL, which is not this one's.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'error' };
    delete env.DATABASE_URL;
    gateway = spawn(process.execPath, ['src/main.ts'], { cwd: root, env, stdio: 'ignore' });
    if (await ready(gateway, url)) return;
    if (attempt === 3) throw new Error('the gateway could not listen on a free port in three tries');
  }
}, 90_000);

/** Whether the gateway `child` answers at `url`; false when it exited before (its port was taken). */
async function ready(child: ChildProcess, url: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      if ((await fetch(`${url}/health/ready`)).ok) {
        const metadata = (await (await fetch(`${url}/fhir/metadata`)).json()) as { implementation?: { url?: string } };
        if (metadata.implementation?.url?.startsWith(url)) return true;
      }
    } catch {
      // still starting
    }
    if (Date.now() > deadline) throw new Error('the gateway did not start within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}

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
