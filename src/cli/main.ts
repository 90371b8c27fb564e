// The operators' command line: talks to a running gateway's operator endpoints (ADMIN_TOKEN), so it
// works the same against the embedded demo and against several instances on PostgreSQL.
//   npm run cli -- help
import { readFileSync } from 'node:fs';

const gatewayUrl = (process.env.GATEWAY_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
const adminToken = process.env.ADMIN_TOKEN ?? 'demo-admin';

const HELP = `Usage: npm run cli -- <command> [options]

Commands:
  register-client --client-id ID --ura URA --name NAME (--jwks FILE | --secret SECRET) [--scopes "system/*.cruds ..."] [--roles "zcc ..."]
        Register (or replace) a client system of an organisation, with its public keys (JWKS file) for private_key_jwt.
  clients
        List the registered clients.
  delete-client CLIENT_ID
        Remove a client registration: no new tokens, and the tokens it holds are refused at once (audited).
        A client from CLIENTS_FILE or the demo set comes back at the next start unless removed there too.
  subscriptions
        List subscriptions and their state (requested, active, error, off; deleted: removed by their owner).
  reactivate SUBSCRIPTION_ID
        Set a subscription in error back to active; delivery resumes from its first undelivered event.
  audit-head
        Verify the audit chain and print its head hash (count and hash), to keep outside the gateway.
  reindex [--batch N]
        Rewrite the search index of every stored resource (after an update that indexes more), N at a time (default 500).

Environment: GATEWAY_URL (default http://localhost:8080), ADMIN_TOKEN (default demo-admin, the embedded demo's).`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${gatewayUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${adminToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new Error(`cannot reach the gateway at ${gatewayUrl}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  if (!res.ok) {
    const diagnostics = (parsed as { issue?: { diagnostics?: string }[] })?.issue?.[0]?.diagnostics ?? text;
    // Not a wrong URL or id: the gateway runs without ADMIN_TOKEN. Say that, and what to do.
    if (res.status === 404 && diagnostics.startsWith('operator endpoints are disabled')) {
      throw new Error(`${diagnostics} on the gateway at ${gatewayUrl}: start it with ADMIN_TOKEN set, and give the CLI the same ADMIN_TOKEN`);
    }
    throw new Error(`${method} ${path}: HTTP ${res.status}: ${diagnostics}`);
  }
  return parsed;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => String(r[c] ?? ''))))].join('\n');
}

/** A spinner on stderr while a long call runs, so an operator sees it is working. */
async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    process.stderr.write(`\r${frames[i++ % frames.length]} ${label} (${Math.round((Date.now() - started) / 1000)} s)`);
  }, 100);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  }
}

/** A progress line on stderr that rewrites itself (a terminal only); without text it clears the line. */
function progress(text?: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(text ? `\r${text}\x1b[K` : '\r\x1b[K');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'register-client': {
      const clientId = option(args, 'client-id');
      const ura = option(args, 'ura');
      const name = option(args, 'name');
      const jwksFile = option(args, 'jwks');
      const secret = option(args, 'secret');
      if (!clientId || !ura || !name || (!jwksFile && !secret)) throw new Error('register-client needs --client-id, --ura, --name and --jwks FILE or --secret');
      const jwks = jwksFile ? (JSON.parse(readFileSync(jwksFile, 'utf8')) as unknown) : undefined;
      const registration = {
        clientId,
        organizationUra: ura,
        organizationName: name,
        roles: (option(args, 'roles') ?? '').split(/\s+/).filter(Boolean),
        scopes: (option(args, 'scopes') ?? 'system/*.cruds').split(/\s+/).filter(Boolean),
        ...(jwks ? { jwks } : {}),
        ...(secret ? { secret } : {}),
      };
      const done = (await call('POST', '/admin/clients', registration)) as { clientId: string; organizationUra: string; scopes: string[] };
      console.log(`Registered client ${done.clientId} for URA ${done.organizationUra} with scopes ${done.scopes.join(' ')}`);
      return;
    }
    case 'clients': {
      const rows = (await call('GET', '/admin/clients')) as Record<string, unknown>[];
      console.log(table(rows.map((r) => ({ ...r, roles: (r.roles as string[]).join(' '), authentication: (r.authentication as string[]).join(', ') })), ['clientId', 'organizationUra', 'organizationName', 'roles', 'authentication']));
      return;
    }
    case 'delete-client': {
      const clientId = args[0];
      if (!clientId) throw new Error('delete-client needs a client id');
      const done = (await call('DELETE', `/admin/clients/${encodeURIComponent(clientId)}`)) as { clientId: string; organizationUra: string };
      console.log(`Deleted client ${done.clientId} (URA ${done.organizationUra}); its tokens are refused from now on`);
      return;
    }
    case 'subscriptions': {
      const rows = (await call('GET', '/admin/subscriptions')) as Record<string, unknown>[];
      console.log(rows.length ? table(rows, Object.keys(rows[0] ?? {})) : 'No subscriptions.');
      return;
    }
    case 'reactivate': {
      const id = args[0];
      if (!id) throw new Error('reactivate needs a subscription id');
      const result = (await call('POST', `/admin/subscriptions/${encodeURIComponent(id)}/reactivate`)) as { status?: string };
      console.log(`Subscription ${id}: ${result.status ?? 'reactivated'}`);
      return;
    }
    case 'audit-head': {
      const head = (await withProgress('verifying the audit chain', call('GET', '/admin/audit/head'))) as Record<string, unknown>;
      console.log(JSON.stringify(head, null, 2));
      return;
    }
    case 'reindex': {
      const batch = Number(option(args, 'batch') ?? 500);
      if (!Number.isInteger(batch) || batch < 1 || batch > 5000) throw new Error('--batch must be a whole number from 1 to 5000');
      let after: string | null = null;
      let total = 0;
      let done = 0;
      let outOfDate = 0;
      do {
        const query = `?count=${batch}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
        const r = (await call('POST', `/admin/reindex${query}`)) as { reindexed: number; outOfDate: number; next: string | null; total?: number };
        total = r.total ?? total;
        done += r.reindexed;
        outOfDate += r.outOfDate;
        after = r.next;
        progress(`reindexing: ${done.toLocaleString('en')} of ${Math.max(total, done).toLocaleString('en')}`);
      } while (after);
      progress();
      console.log(`Reindexed ${done.toLocaleString('en')} resources; ${outOfDate.toLocaleString('en')} had an index that was out of date.`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(HELP);
      return;
    default:
      throw new Error(`unknown command '${command}'\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
