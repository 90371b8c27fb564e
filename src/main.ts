import { ConfigError, loadConfig, type Config } from './config.ts';
import { createGateway, type Gateway } from './gateway.ts';
import { safeError } from './observability/logging.ts';
import { listenFailure, listeningPort, reportListening, serve, shutdown } from './http/serve.ts';

/** Whatever happens, the process is gone by then (an orchestrator's SIGKILL usually follows at 30 s). */
const HARD_LIMIT_MS = 15_000;

/** A start-up failure: one clear line on stderr (whatever LOG_LEVEL says), what was opened closed, exit 1. */
async function failStart(message: string, gateway?: Gateway): Promise<never> {
  console.error(`The gateway could not start: ${message}`);
  if (gateway) {
    // The delivery worker, board feed and audit linker already run: stop them and close the pool, but not forever.
    setTimeout(() => process.exit(1), 5_000).unref();
    await gateway.close().catch((err: unknown) => gateway.logger.error({ err: safeError(err) }, 'closing after a failed start failed'));
  }
  process.exit(1);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  let gateway: Gateway;
  try {
    gateway = await createGateway(config);
  } catch (err) {
    return failStart(err instanceof Error ? err.message : String(err));
  }
  // The gateway's own HTTP server: request, header and keep-alive timeouts, and audited refusals of what
  // Node's parser refuses before express (src/http/server.ts).
  const server = gateway.serve();
  try {
    await serve(server, config.port, config.host);
  } catch (err) {
    return failStart(listenFailure(err, config.host, config.port), gateway);
  }
  const { logger } = gateway;
  const store = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite (${config.dataDir})`;
  const port = listeningPort(server, config.port);
  logger.info({ url: config.publicUrl, port, store }, 'handover gateway listening');
  reportListening(port);
  if (config.demo) {
    console.log(`\nHandover gateway: ${config.publicUrl}  (FHIR base ${gateway.fhirBaseUrl}, store: ${store})`);
    console.log(`Get a demo token:\n  curl -s -u hap-vechtdal:${config.demoClientSecret} -d grant_type=client_credentials ${config.publicUrl}/oauth2/token\n`);
  }

  let stopping = false;
  const stop = (reason: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    setTimeout(() => {
      logger.error({ reason }, `shutdown did not finish within ${HARD_LIMIT_MS / 1000} s; exiting`);
      process.exit(1);
    }, HARD_LIMIT_MS).unref();
    shutdown(server, gateway).then(
      () => {
        logger.info({ reason }, 'stopped');
        process.exit(code);
      },
      (err: unknown) => {
        logger.error({ err: safeError(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // After a successful listen, an error of the server itself (not of a request) ends this instance cleanly.
  server.on('error', (err) => {
    logger.error({ err: safeError(err) }, 'the HTTP server failed');
    stop('server error', 1);
  });
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGINT', () => stop('SIGINT', 0));
}

main().catch((err: unknown) => {
  console.error('The gateway could not start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
