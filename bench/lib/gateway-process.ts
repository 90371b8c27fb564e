import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../test/support/free-port.ts';
import { fetchAgain } from './fetch-again.ts';

// BENCH_GATEWAY_ROOT: another checkout of the gateway to run (with its own node_modules), e.g. the code before a
// change, measured by the same benchmark code on the same machine.
const ROOT = process.env.BENCH_GATEWAY_ROOT ?? join(import.meta.dirname, '..', '..');
/**
 * How `npm start` of the checkout at `root` starts Node: the environment it sets before the command (`MALLOC_ARENA_MAX=2`)
 * and Node's options (the heap cap). The benchmarks measure the gateway as it is started.
 */
export function startCommand(root: string): { env: Record<string, string>; options: string[] } {
  const words = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
  const env: Record<string, string> = {};
  for (const word of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (!assignment) break;
    env[assignment[1] as string] = assignment[2] as string;
  }
  return { env, options: words.filter((word) => word.startsWith('--')) };
}

/** `BENCH_NODE_ARGS`: Node options for a benchmark's gateway, after `npm start`'s own (they win), e.g. `--cpu-prof`. */
export function benchNodeArgs(): string[] {
  return process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
}

export interface GatewayProcess {
  url: string;
  pid: number;
  /** Peak resident set size of the gateway process so far (VmHWM), in MB. */
  peakRssMb(): number;
  /** Resident set size of the gateway process now (VmRSS), in MB. */
  rssMb(): number;
  stop(): Promise<void>;
}

/**
 * The gateway as production runs it: its own process (`node src/main.ts`), so the load generator does not share its CPU.
 * `nodeArgs` come after `npm start`'s options (a later `--max-semi-space-size` wins); `root`: another checkout.
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
  root = ROOT,
  /** Every other line the gateway prints (what V8 traces with `--trace-gc-nvp`, bench/promotion.ts). */
  onOtherLine?: (line: string) => void,
): Promise<GatewayProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const start = startCommand(root);
  const child: ChildProcess = spawn(process.execPath, [...start.options, ...nodeArgs, 'src/main.ts'], {
    cwd: root,
    // A benchmark measures capacity: the per-client rate limit would only measure itself.
    env: { ...process.env, ...start.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, LOG_LEVEL: 'error', RATE_LIMIT_PER_MINUTE: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // At LOG_LEVEL=error the log lines (JSON) are the gateway's errors: a benchmark that counts failed requests shows
  // why they failed. The start-up banner (plain text) is left out.
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) console.error(`gateway ${child.pid}: ${line}`);
      else onOtherLine?.(line);
    });
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('the gateway did not become ready within 60 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid ?? 0,
    peakRssMb: () => procStatusMb(child.pid, 'VmHWM'),
    rssMb: () => procStatusMb(child.pid, 'VmRSS'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A memory figure of a process from /proc/<pid>/status (Linux), in MB. */
export function procStatusMb(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

export async function demoToken(url: string, client = 'hap-vechtdal'): Promise<string> {
  const res = await fetchAgain(`${url}/oauth2/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${client}:demo-secret`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!res.ok) throw new Error(`no token for ${client}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
