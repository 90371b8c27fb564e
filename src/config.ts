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
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
