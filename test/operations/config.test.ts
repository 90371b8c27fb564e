// Safe by default: the demo clients' published secret and operator token stay on this machine unless the operator
// says otherwise, and the gateway listens on loopback unless HOST says otherwise.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, isLoopbackUrl, loadConfig } from '../../src/config.ts';

const ROOT = join(import.meta.dirname, '../..');

describe('DEMO with a PUBLIC_URL that is not loopback', () => {
  test('is refused without an explicit DEMO_CLIENT_SECRET, with a message that says what to do', () => {
    let error: unknown;
    try {
      loadConfig({ DEMO: '1', DATABASE_URL: 'postgres://gateway@db/gateway', PUBLIC_URL: 'https://gateway.example.nl' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/DEMO is on while PUBLIC_URL \(https:\/\/gateway\.example\.nl\) is not a loopback address/);
    expect(problems[0]).toMatch(/DEMO_CLIENT_SECRET/);
    expect(problems[0]).toMatch(/CLIENTS_FILE/);
  });

  test('the embedded store turns DEMO on by itself, so it is refused there too', () => {
    expect(() => loadConfig({ PUBLIC_URL: 'http://192.168.1.20:8080' })).toThrow(/DEMO is on while PUBLIC_URL/);
  });

  test('is allowed with a DEMO_CLIENT_SECRET of the operator, and the demo clients get that secret', () => {
    const config = loadConfig({ DEMO: '1', PUBLIC_URL: 'https://demo.example.nl', DEMO_CLIENT_SECRET: 'a-secret-of-our-own' });
    expect(config.demo).toBe(true);
    expect(config.demoClientSecret).toBe('a-secret-of-our-own');
  });

  test('does not get the published operator token demo-admin', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://demo.example.nl', DEMO_CLIENT_SECRET: 'a-secret-of-our-own' }).adminToken).toBeUndefined();
    expect(loadConfig({ PUBLIC_URL: 'https://demo.example.nl', DEMO_CLIENT_SECRET: 'x', ADMIN_TOKEN: 'operator' }).adminToken).toBe('operator');
  });

  test('without DEMO nothing is refused', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://gateway@db/gateway', PUBLIC_URL: 'https://gateway.example.nl' });
    expect(config.demo).toBe(false);
    expect(config.adminToken).toBeUndefined();
  });
});

describe('the embedded demo on this machine', () => {
  test('starts with the demo secret and operator token as before when PUBLIC_URL is loopback', () => {
    for (const publicUrl of [undefined, 'http://localhost:8080', 'http://127.0.0.1:9000', 'http://[::1]:8080']) {
      const config = loadConfig(publicUrl ? { PUBLIC_URL: publicUrl } : {});
      expect(config.demo).toBe(true);
      expect(config.demoClientSecret).toBe('demo-secret');
      expect(config.adminToken).toBe('demo-admin');
    }
  });

  test('listens on 127.0.0.1 unless HOST says otherwise', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ DATABASE_URL: 'postgres://gateway@db/gateway' }).host).toBe('127.0.0.1');
  });
});

test('loopback URLs', () => {
  for (const url of ['http://localhost', 'http://LOCALHOST:8080', 'http://gateway.localhost', 'http://127.0.0.1:8080', 'http://127.1.2.3', 'http://[::1]:8080']) {
    expect([url, isLoopbackUrl(url)]).toEqual([url, true]);
  }
  for (const url of ['https://gateway.example.nl', 'http://0.0.0.0:8080', 'http://10.0.0.1', 'http://localhost.example.nl', 'http://127.0.0.1.nip.io', 'not a url']) {
    expect([url, isLoopbackUrl(url)]).toEqual([url, false]);
  }
});

test('the process refuses to start: non-zero exit and the message on stderr', async () => {
  // Should it start after all, it starts on a scratch directory and is killed after 30 s.
  const dataDir = mkdtempSync(join(tmpdir(), 'config-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DEMO: '1', PUBLIC_URL: 'https://gateway.example.nl', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  delete env.DATABASE_URL;
  delete env.DEMO_CLIENT_SECRET;
  const run = promisify(execFile)(process.execPath, ['src/main.ts'], { cwd: ROOT, env, timeout: 30_000 });
  const failure = (await run.then(
    () => undefined,
    (err: unknown) => err,
  )) as { code?: unknown; stderr?: string } | undefined;
  rmSync(dataDir, { recursive: true, force: true });
  expect(failure).toBeDefined();
  expect(failure?.code).toBe(2);
  expect(failure?.stderr).toMatch(/DEMO is on while PUBLIC_URL \(https:\/\/gateway\.example\.nl\) is not a loopback address/);
});
