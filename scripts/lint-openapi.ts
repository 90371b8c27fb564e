// npm run lint:openapi: Redocly's lint (rules in redocly.yaml) of the description as the gateway serves it.
// Offline: no telemetry, no update check.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
const file = join(dir, 'openapi.json');
try {
  const run = (cmd: string, args: string[]): number => {
    const r = spawnSync(cmd, args, {
      cwd: ROOT_DIR,
      stdio: 'inherit',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_UPDATE_NOTIFIER: '1' },
    });
    return r.status ?? 1;
  };
  let status = run(process.execPath, [join(ROOT_DIR, 'scripts/write-openapi.ts'), file]);
  if (status === 0) status = run(join(ROOT_DIR, 'node_modules/.bin/redocly'), ['lint', file, '--config', join(ROOT_DIR, 'redocly.yaml'), '--format', 'stylish']);
  process.exitCode = status;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
