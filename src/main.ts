import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.ts';
import { createGateway } from './gateway.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const gateway = await createGateway(config);
  const server: Server = gateway.serve().listen(config.port, config.host, () => {
    const store = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite (${config.dataDir})`;
    gateway.logger.info({ url: config.publicUrl, store }, 'handover gateway listening');
    if (config.demo) {
      console.log(`\nHandover gateway: ${config.publicUrl}  (FHIR base ${gateway.fhirBaseUrl}, store: ${store})`);
      console.log(`Get a demo token:\n  curl -s -u hap-vechtdal:${config.demoClientSecret} -d grant_type=client_credentials ${config.publicUrl}/oauth2/token\n`);
    }
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'shutting down');
    server.close(() => {
      gateway
        .close()
        .then(() => process.exit(0))
        .catch(() => process.exit(1));
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 15_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('The gateway could not start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
