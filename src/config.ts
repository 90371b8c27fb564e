/** The handover topic's canonical unless SUBSCRIPTION_TOPIC_URL says otherwise: stable, not derived from the address the gateway listens on. */
const DEFAULT_TOPIC_URL = 'https://handover-gateway.nl/fhir/SubscriptionTopic/handover';

/**
 * Configuration from environment variables, validated at start with one clear message per wrong
 * value. Every variable is documented in the README.
 */
export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl?: string;
  dataDir: string;
  dbPoolSize: number;
  /** How long a request waits for a PostgreSQL connection before it is answered 503; 0: no limit. */
  dbConnectTimeoutMs: number;
  /** How long a pooled connection may stay idle before it is closed; 0: never. */
  dbPoolIdleMs: number;
  /** How long a pooled connection is used at most before it is replaced (its statements planned again); 0: no limit. */
  dbConnectionLifetimeSeconds: number;
  /** PostgreSQL `statement_timeout` of the gateway's connections; 0: none. */
  dbStatementTimeoutMs: number;
  /** The client's own limit on waiting for an answer (a database that stopped answering); 0: none. */
  dbQueryTimeoutMs: number;
  demo: boolean;
  demoClientSecret: string;
  clientsFile?: string;
  maxBodyBytes: number;
  /** HTTP server timeouts (src/http/server.ts): whole request, its headers, its body, an idle keep-alive connection. */
  httpTimeouts: HttpTimeouts;
  tokenLifetimeSeconds: number;
  logLevel: string;
  /** Bearer token that /metrics asks for; unset: /metrics is open (keep it on an internal network). */
  metricsToken?: string;
  /** Bearer token of the operator endpoints (/admin, the CLI); unset: they do not exist. */
  adminToken?: string;
  /** Plain http rest-hooks to 127.0.0.0/8 and ::1 (tests, the embedded demo). */
  allowHttpLoopbackHooks: boolean;
  /** Per organisation (URA, or `*` for all) the origins its rest-hook endpoints may use. */
  hookAllowedOrigins: Record<string, string[]>;
  /** The handover topic's canonical URL (SUBSCRIPTION_TOPIC_URL): stable, not derived from PUBLIC_URL. */
  subscriptionTopicUrl: string;
  /** Failed notifications are retried for this long before the subscription goes to error. */
  hookRetryHorizonSeconds: number;
  /** The first retry waits about this long; each next one twice as long (with jitter). */
  hookRetryBaseMs: number;
  /** The longest wait between two retries. */
  hookRetryMaxMs: number;
  /**
   * How long an instance's claim on a notification lasts before another instance may send it (a process that
   * died), for a subscription whose sends get the whole deadline; one with a shorter timeout gets a lease as much shorter.
   */
  hookLeaseSeconds: number;
  /** The total time one POST may take (connect, send, answer), counted from the claim; a subscription's timeout may lower it. */
  hookSendDeadlineSeconds: number;
  /** Notifications being sent at once per instance. */
  hookMaxInFlight: number;
  /** Notifications being sent at once to one subscription (all instances together): one slow receiver cannot take every slot. */
  hookMaxInFlightPerSubscription: number;
  /** Handshakes and heartbeats being sent at once per instance, beside the delivery of events. */
  hookMaxStatusSends: number;
  /** Delivered notifications are deleted this many days after delivery; 0: kept for ever. */
  retentionDeliveredEventsDays: number;
  /** Ledger rows of native records older than this many days are deleted, except the latest of each record; 0: kept for ever. */
  retentionNativeRecordsDays: number;
  /** Conditional-create keys older than this many hours are deleted; 0: kept for ever. */
  retentionConditionalKeysHours: number;
  /** How often one instance looks for rows to prune. */
  retentionIntervalSeconds: number;
  /** Rows deleted per statement (short transactions beside the hot path). */
  retentionBatchSize: number;
  /** Requests a minute per client (and per address at the token endpoint), per instance; 0: no limit. */
  rateLimitPerMinute: number;
  /** Write requests at work at once per instance; 0: no limit. */
  maxConcurrentWrites: number;
  /** The board's urgency targets: a file like mappings/board/targets.json, or inline JSON of minutes per code. */
  boardTargets?: string;
  /** Units on the road: a position older than this many seconds is stale (shown so, never a candidate). */
  unitStaleSeconds: number;
  /** Units on the road: positions are kept this many hours, then pruned (personal data of the staff). */
  unitHistoryHours: number;
  /** Units on the road: a fix more than this many seconds ahead of the gateway's clock is refused. */
  unitMaxClockSkewSeconds: number;
  /** The board's map: an optional tile server (`https://tiles.example/{z}/{x}/{y}.png`); unset: the shipped outline only. */
  mapTileUrl?: string;
}

export interface HttpTimeouts {
  /** Receiving the whole request (headers and body); Node's own cut-off, a backstop for the two below. */
  requestMs: number;
  /** Receiving the request line and headers (slow-header clients). */
  headersMs: number;
  /** Reading the body once the request is authenticated; it holds no write slot meanwhile. */
  bodyMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
}

/** What a claim's lease must leave after the send deadline: rendering before the send and recording its outcome after. */
const LEASE_MARGIN_SECONDS = 5;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    problems.push(`${name} must be 1 or 0 (true or false), got '${raw}'`);
    return fallback;
  };

  const port = int('PORT', 8080, 0, 65535);
  const dbStatementTimeoutMs = int('DB_STATEMENT_TIMEOUT_MS', 30_000, 0, 3_600_000);
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push(`DATABASE_URL must start with postgres:// or postgresql://`);
  let publicUrl = env.PUBLIC_URL || `http://localhost:${port}`;
  let publicUrlValid = true;
  try {
    publicUrl = new URL(publicUrl).toString().replace(/\/+$/, '');
  } catch {
    publicUrlValid = false;
    problems.push(`PUBLIC_URL must be an absolute URL such as https://gateway.example.nl, got '${env.PUBLIC_URL}'`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got '${logLevel}'`);
  }
  let hookAllowedOrigins: Record<string, string[]> = {};
  if (env.HOOK_ALLOWED_ORIGINS) {
    try {
      hookAllowedOrigins = parseAllowedOrigins(env.HOOK_ALLOWED_ORIGINS);
    } catch (err) {
      problems.push(`HOOK_ALLOWED_ORIGINS ${(err as Error).message}`);
    }
  }
  let subscriptionTopicUrl = DEFAULT_TOPIC_URL;
  if (env.SUBSCRIPTION_TOPIC_URL) {
    if (/^https?:\/\/[^\s]+$/.test(env.SUBSCRIPTION_TOPIC_URL) && URL.canParse(env.SUBSCRIPTION_TOPIC_URL)) subscriptionTopicUrl = env.SUBSCRIPTION_TOPIC_URL;
    else problems.push(`SUBSCRIPTION_TOPIC_URL must be an absolute http(s) URL, got '${env.SUBSCRIPTION_TOPIC_URL}'`);
  }
  const demo = bool('DEMO', !databaseUrl);
  const loopback = isLoopbackUrl(publicUrl);
  // The demo clients (the ZCC and the auditor among them) share one secret, published in the README: only on
  // this machine, or with a secret the operator chose.
  if (demo && publicUrlValid && !loopback && !env.DEMO_CLIENT_SECRET) {
    problems.push(
      `DEMO is on while PUBLIC_URL (${publicUrl}) is not a loopback address: the demo clients, the ZCC and the auditor among them, would accept the published secret 'demo-secret'. ` +
        'Set DEMO=0 and register your clients with CLIENTS_FILE, or, for a demo reachable from other machines, set DEMO_CLIENT_SECRET to a secret of your own',
    );
  }
  const config: Config = {
    port,
    // This machine only unless told otherwise: the embedded demo's clients and operator token are published.
    // The container image sets HOST=0.0.0.0 (its port is published or not by whoever runs it).
    host: env.HOST || '127.0.0.1',
    publicUrl,
    databaseUrl,
    dataDir: env.DATA_DIR || './data',
    dbPoolSize: int('DB_POOL_SIZE', 20, 1, 500),
    dbConnectTimeoutMs: int('DB_CONNECT_TIMEOUT_MS', 5000, 0, 600_000),
    // A connection is costly to open again: a new backend, and every statement the gateway prepared on the old one
    // planned again (its first five executions each, about 1 ms for a native handover's party propagation). pg's
    // default of 10 s closed connections at every lull of a bursty load (issue 19).
    dbPoolIdleMs: int('DB_POOL_IDLE_SECONDS', 300, 0, 86_400) * 1000,
    dbConnectionLifetimeSeconds: int('DB_CONNECTION_LIFETIME_SECONDS', 600, 0, 86_400),
    dbStatementTimeoutMs,
    // A little longer than the server's own limit, so that a statement that runs too long is ended by the server (57014).
    dbQueryTimeoutMs: int('DB_QUERY_TIMEOUT_MS', dbStatementTimeoutMs > 0 ? dbStatementTimeoutMs + 5000 : 0, 0, 3_600_000),
    // The embedded default is a sandbox: demo organisations unless told otherwise.
    demo,
    demoClientSecret: env.DEMO_CLIENT_SECRET || 'demo-secret',
    clientsFile: env.CLIENTS_FILE || undefined,
    maxBodyBytes: int('MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    httpTimeouts: {
      requestMs: int('HTTP_REQUEST_TIMEOUT_MS', 60_000, 1000, 3600_000),
      headersMs: int('HTTP_HEADERS_TIMEOUT_MS', 20_000, 1000, 3600_000),
      bodyMs: int('HTTP_BODY_TIMEOUT_MS', 30_000, 100, 3600_000),
      // Longer than the idle time of the clients and proxies in front (60 s for .NET's HttpClient, nginx and most
      // load balancers; deploy/Caddyfile keeps 30 s): they close an idle connection first, and never send a request
      // on one the gateway is closing at that moment (a POST caught so fails). Node's 5 s was shorter than all of them.
      keepAliveMs: int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 3600_000),
    },
    tokenLifetimeSeconds: int('TOKEN_LIFETIME_SECONDS', 300, 1, 300),
    logLevel,
    metricsToken: env.METRICS_TOKEN || undefined,
    // The embedded sandbox on this machine has a known operator token so that its CLI works out of the box;
    // anywhere else the operator endpoints exist only with an ADMIN_TOKEN of the operator's own.
    adminToken: env.ADMIN_TOKEN || (!databaseUrl && demo && loopback ? 'demo-admin' : undefined),
    // The embedded demo runs its receivers on this machine; a production PostgreSQL deployment does not.
    allowHttpLoopbackHooks: bool('ALLOW_HTTP_LOOPBACK_HOOKS', !databaseUrl),
    hookAllowedOrigins,
    subscriptionTopicUrl,
    hookRetryHorizonSeconds: int('HOOK_RETRY_HORIZON_SECONDS', 72 * 3600, 1, 30 * 24 * 3600),
    hookRetryBaseMs: int('HOOK_RETRY_BASE_MS', 1000, 1, 60_000),
    hookRetryMaxMs: int('HOOK_RETRY_MAX_MS', 15 * 60_000, 1, 24 * 3600_000),
    hookLeaseSeconds: int('HOOK_LEASE_SECONDS', 25, 2, 3600),
    hookSendDeadlineSeconds: int('HOOK_SEND_DEADLINE_SECONDS', 20, 1, 120),
    hookMaxInFlight: int('HOOK_MAX_IN_FLIGHT', 32, 1, 10_000),
    hookMaxInFlightPerSubscription: int('HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION', 4, 1, 10_000),
    hookMaxStatusSends: int('HOOK_MAX_STATUS_SENDS', 8, 1, 10_000),
    retentionDeliveredEventsDays: int('RETENTION_DELIVERED_EVENTS_DAYS', 7, 0, 36_500),
    retentionNativeRecordsDays: int('RETENTION_NATIVE_RECORDS_DAYS', 30, 0, 36_500),
    retentionConditionalKeysHours: int('RETENTION_CONDITIONAL_KEYS_HOURS', 24, 0, 876_000),
    retentionIntervalSeconds: int('RETENTION_INTERVAL_SECONDS', 600, 1, 7 * 24 * 3600),
    retentionBatchSize: int('RETENTION_BATCH_SIZE', 500, 1, 100_000),
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 6000, 0, 10_000_000),
    maxConcurrentWrites: int('MAX_CONCURRENT_WRITES', 8, 0, 10_000),
    boardTargets: env.BOARD_TARGETS || undefined,
    unitStaleSeconds: int('UNIT_STALE_SECONDS', 120, 1, 86_400),
    unitHistoryHours: int('UNIT_HISTORY_HOURS', 24, 1, 24 * 365),
    unitMaxClockSkewSeconds: int('UNIT_MAX_CLOCK_SKEW_SECONDS', 30, 0, 3600),
    mapTileUrl: mapTileUrl(env.MAP_TILE_URL, problems),
  };
  // Node refuses a headers timeout longer than the request timeout; the body timeout should fire before Node's cut-off.
  if (config.httpTimeouts.headersMs > config.httpTimeouts.requestMs) problems.push('HTTP_HEADERS_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS');
  if (config.httpTimeouts.bodyMs > config.httpTimeouts.requestMs) problems.push('HTTP_BODY_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS');
  // The lease must outlive the deadline by the time it takes to record the outcome; otherwise another instance
  // could claim and send the same notification while the first send is still allowed to run.
  if (config.hookLeaseSeconds < config.hookSendDeadlineSeconds + LEASE_MARGIN_SECONDS) {
    problems.push(`HOOK_LEASE_SECONDS (${config.hookLeaseSeconds}) must be at least HOOK_SEND_DEADLINE_SECONDS (${config.hookSendDeadlineSeconds}) + ${LEASE_MARGIN_SECONDS}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Whether a URL names this machine only: `localhost` (and `*.localhost`), 127.0.0.0/8 or ::1. */
export function isLoopbackUrl(url: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  if (hostname === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** `{"90004567": ["https://hooks.rav.example"], "*": []}`: origins per URA (or `*`), each an absolute http(s) origin. */
function parseAllowedOrigins(raw: string): Record<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('must be a JSON object of URA to a list of origins');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object of URA to a list of origins');
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [ura, list] of Object.entries(parsed)) {
    if (ura !== '*' && !/^\d{8}$/.test(ura)) throw new Error(`has a key '${ura}' that is neither a URA (8 digits) nor '*'`);
    if (!Array.isArray(list) || !list.every((o) => typeof o === 'string')) throw new Error(`must map '${ura}' to a list of origins`);
    out[ura] = (list as string[]).map((o) => {
      let url: URL;
      try {
        url = new URL(o);
      } catch {
        throw new Error(`has '${o}', which is not an origin such as https://hooks.example.nl`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`has '${o}': only http(s) origins`);
      return url.origin;
    });
  }
  return out;
}

/** An http(s) URL template with {z}, {x} and {y}, or nothing. */
function mapTileUrl(raw: string | undefined, problems: string[]): string | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw.replace(/\{[zxy]\}/g, '0'));
    if ((url.protocol === 'https:' || url.protocol === 'http:') && ['{z}', '{x}', '{y}'].every((p) => raw.includes(p))) return raw;
  } catch {
    // reported below
  }
  problems.push(`MAP_TILE_URL must be an http(s) URL template with {z}, {x} and {y}, got '${raw}'`);
  return undefined;
}
