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
  demo: boolean;
  demoClientSecret: string;
  clientsFile?: string;
  maxBodyBytes: number;
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
  /** Failed notifications are retried for this long before the subscription goes to error. */
  hookRetryHorizonSeconds: number;
  /** The first retry waits about this long; each next one twice as long (with jitter). */
  hookRetryBaseMs: number;
  /** The longest wait between two retries. */
  hookRetryMaxMs: number;
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
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push(`DATABASE_URL must start with postgres:// or postgresql://`);
  let publicUrl = env.PUBLIC_URL || `http://localhost:${port}`;
  try {
    publicUrl = new URL(publicUrl).toString().replace(/\/+$/, '');
  } catch {
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
  const config: Config = {
    port,
    host: env.HOST || '0.0.0.0',
    publicUrl,
    databaseUrl,
    dataDir: env.DATA_DIR || './data',
    dbPoolSize: int('DB_POOL_SIZE', 20, 1, 500),
    // The embedded default is a sandbox: demo organisations unless told otherwise.
    demo: bool('DEMO', !databaseUrl),
    demoClientSecret: env.DEMO_CLIENT_SECRET || 'demo-secret',
    clientsFile: env.CLIENTS_FILE || undefined,
    maxBodyBytes: int('MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    tokenLifetimeSeconds: int('TOKEN_LIFETIME_SECONDS', 300, 1, 300),
    logLevel,
    metricsToken: env.METRICS_TOKEN || undefined,
    // The embedded sandbox has a known operator token so that its CLI works out of the box.
    adminToken: env.ADMIN_TOKEN || (!databaseUrl && !['0', 'false', 'no'].includes((env.DEMO ?? '').toLowerCase()) ? 'demo-admin' : undefined),
    // The embedded demo runs its receivers on this machine; a production PostgreSQL deployment does not.
    allowHttpLoopbackHooks: bool('ALLOW_HTTP_LOOPBACK_HOOKS', !databaseUrl),
    hookAllowedOrigins,
    hookRetryHorizonSeconds: int('HOOK_RETRY_HORIZON_SECONDS', 72 * 3600, 1, 30 * 24 * 3600),
    hookRetryBaseMs: int('HOOK_RETRY_BASE_MS', 1000, 1, 60_000),
    hookRetryMaxMs: int('HOOK_RETRY_MAX_MS', 15 * 60_000, 1, 24 * 3600_000),
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 6000, 0, 10_000_000),
    maxConcurrentWrites: int('MAX_CONCURRENT_WRITES', 8, 0, 10_000),
    boardTargets: env.BOARD_TARGETS || undefined,
    unitStaleSeconds: int('UNIT_STALE_SECONDS', 120, 1, 86_400),
    unitHistoryHours: int('UNIT_HISTORY_HOURS', 24, 1, 24 * 365),
    unitMaxClockSkewSeconds: int('UNIT_MAX_CLOCK_SKEW_SECONDS', 30, 0, 3600),
    mapTileUrl: mapTileUrl(env.MAP_TILE_URL, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
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
