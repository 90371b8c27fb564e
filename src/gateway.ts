import { join } from 'node:path';
import type { RequestListener, Server } from 'node:http';
import pino, { type Logger } from 'pino';
import type express from 'express';
import { createAudit, GATEWAY_ROLE, type Audit } from './audit/index.ts';
import type { ChainBacklog } from './audit/chain.ts';
import { OrganizationDirectory } from './access/organizations.ts';
import { partiesAtWrite, partyPropagation } from './access/parties.ts';
import { boardFeedHooks, createBoard } from './board/index.ts';
import { ClientDirectory, createAuth, demoClients, loadClientsFile, type AuthService } from './auth/index.ts';
import type { Config } from './config.ts';
import { systemContext, type RequestContext } from './context.ts';
import { seedDemoOrganizations } from './demo.ts';
import { Repository, type RepositoryDeps } from './fhir/repository.ts';
import { WritePipeline } from './fhir/write-phases.ts';
import type { RouteListing } from './fhir/router.ts';
import { SearchParameterRegistry } from './fhir/search/parameters.ts';
import { createApp } from './http/app.ts';
import { createHttpServer } from './http/server.ts';
import { nativeRoutes } from './http/native-routes.ts';
import type { ExpressRouteListing } from './http/secure-routes.ts';
import { healthRouter } from './http/health.ts';
import { docsRouter } from './http/docs.ts';
import { gatewayOpenApi } from './http/openapi-document.ts';
import { adminRouter } from './http/admin-routes.ts';
import { OUTBOX_CHANNEL } from './subscriptions/outbox.ts';
import { metricsRouter, requestObserver } from './http/observability.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { WriteLimit } from './http/write-limit.ts';
import { redactingLogger, safeError } from './observability/logging.ts';
import { Metrics } from './observability/metrics.ts';
import { RouteLabels } from './observability/route-labels.ts';
import { WRITABLE_TYPES } from './fhir/resource-types.ts';
import { ownerServiceHooks, serviceDirectoryHooks } from './handover/owner-service.ts';
import { loadOperationDefinitions } from './fhir/conformance-routes.ts';
import { loadProfileValidator, validationHooks } from './fhir/validation/index.ts';
import { NativeIngest } from './handover/ingest.ts';
import { loadIngestTexts } from './handover/ingest-texts.ts';
import { workflowHooks } from './handover/workflow.ts';
import { cancellationHooks } from './handover/cancellation.ts';
import { referenceHooks } from './fhir/references/hooks.ts';
import { loadNativeMapper } from './native/mapping/index.ts';
import { loadNativeValidators } from './native/validation.ts';
import type { Database, ListenStatus } from './store/database.ts';
import { migrate } from './store/migrate.ts';
import { PGliteDatabase } from './store/pglite.ts';
import { PostgresDatabase } from './store/postgres.ts';
import { createSubscriptions } from './subscriptions/index.ts';
import { Retention } from './store/retention.ts';
import { createUnits, type Units } from './units/index.ts';
import { assembleFhirRoutes } from './fhir-assembly.ts';

export const ROOT_DIR = join(import.meta.dirname, '..');
export const VERSION = '0.1.0';

export interface Gateway {
  app: express.Express;
  /** An HTTP server for `handler` (the app by default) with the gateway's timeouts and audited early refusals; not listening. */
  serve(handler?: RequestListener): Server;
  db: Database;
  auth: AuthService;
  /** The audit trail: its log, the hash chain (link, head, verify). */
  audit: Audit;
  logger: Logger;
  fhirBaseUrl: string;
  /** Every FHIR route with the interaction, type and access it declared (the route-metadata test lists them). */
  fhirRoutes(): RouteListing[];
  /** Every Express route that needs a token, with the access it declared (the Express route test lists them). */
  expressRoutes(): ExpressRouteListing[];
  /** Responders on the road: the unit-status feed, its view and the pruning of positions. */
  units: Units;
  /** A repository acting for `ctx` (tests, seeding, workers). */
  repository(ctx: RequestContext): Repository;
  /** Pruning of delivered notifications, old ledger rows and conditional-create keys (runs by itself; `runOnce` for tests and operators). */
  retention: Retention;
  /** Ends the responses that never end by themselves (board streams), so that the HTTP server can close (shutdown). */
  endStreams(): void;
  /** Stops delivery (claims given back), the board feed and the audit linker, then closes the database. */
  close(): Promise<void>;
}

async function openDatabase(config: Config, logger?: Logger): Promise<Database> {
  if (config.databaseUrl) {
    return new PostgresDatabase({
      connectionString: config.databaseUrl,
      maxConnections: config.dbPoolSize,
      idleTimeoutMs: config.dbPoolIdleMs,
      maxLifetimeSeconds: config.dbConnectionLifetimeSeconds,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      queryTimeoutMs: config.dbQueryTimeoutMs,
      // What the gateway lives through is logged (kind, SQLSTATE, stack; never a message that may quote a row).
      onFault: (err, what) => logger?.warn({ err: safeError(err) }, what),
    });
  }
  return PGliteDatabase.open(config.dataDir);
}

export interface GatewayOptions {
  /** An open database (tests); otherwise opened from the configuration. */
  db?: Database;
  logger?: Logger;
}

/** Builds the whole gateway from configuration: database, migrations, FHIR, auth, HTTP. */
export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  // Whoever made the logger, patient data stays out of it (src/observability/logging.ts).
  const logger = redactingLogger(options.logger ?? pino({ level: config.logLevel }));
  const db = options.db ?? (await openDatabase(config, logger));
  try {
    return await assemble(config, db, logger);
  } catch (err) {
    // A start that fails half-way leaves no pool open; a database the caller gave is the caller's to close.
    if (!options.db) await db.close().catch(() => undefined);
    throw err;
  }
}

async function assemble(config: Config, db: Database, logger: Logger): Promise<Gateway> {
  const applied = await migrate(db);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  // From here on the gateway works as a role that can only append to the audit trail.
  await db.useRole(GATEWAY_ROLE);
  const audit = createAudit(db, logger);

  const registry = SearchParameterRegistry.load(join(ROOT_DIR, 'profiles/search-parameters/bundle.json'));
  // Data over code: profiles, native schemas, rules and mappings are loaded and compiled once, here.
  const profiles = loadProfileValidator(join(ROOT_DIR, 'profiles'));
  const operationDefinitions = loadOperationDefinitions(join(ROOT_DIR, 'profiles/operations'));
  const validators = await loadNativeValidators(join(ROOT_DIR, 'mappings'));
  const mapper = loadNativeMapper(join(ROOT_DIR, 'mappings'));
  // Organization ↔ URA, one cache per instance, cleared on every instance when an Organization changes.
  const organizations = new OrganizationDirectory();
  const stopOrganizations = await organizations.listen(db);
  const fhirBaseUrl = `${config.publicUrl}/fhir`;
  const metrics = new Metrics();
  const subscriptions = createSubscriptions({ db, logger, config, fhirBaseUrl, metrics });
  const units = createUnits({
    db,
    logger,
    rootDir: ROOT_DIR,
    fhirBaseUrl,
    repository: (ctx) => repository(ctx),
    organizations,
    metrics,
    settings: { staleSeconds: config.unitStaleSeconds, historyHours: config.unitHistoryHours, maxClockSkewSeconds: config.unitMaxClockSkewSeconds, boardTargets: config.boardTargets },
  });
  // Who does each write phase; they run in the order of WRITE_PHASES (src/fhir/write-phases.ts), not the order here.
  const phases = new WritePipeline({
    // References first: the workflow decides on the literal requester/owner a URA identifier or an own absolute URL
    // resolves to. Then a Task's owner named as a HealthcareService gains its literal reference (kept as sent; what decides
    // by organisation follows the one behind the service), before anything checks it.
    resolve: [referenceHooks({ baseUrl: fhirBaseUrl, orgs: organizations }), ownerServiceHooks(organizations)],
    authorize: [serviceDirectoryHooks(organizations), units.hooks],
    workflow: [workflowHooks(() => repoDeps, organizations), cancellationHooks(() => repoDeps, organizations)],
    validate: [validationHooks(profiles)],
    caches: [organizations.hooks()],
    parties: [partyPropagation()],
    outbox: [subscriptions.hooks],
    board: [boardFeedHooks()],
    // Last: the audit rows of a transaction are written when every other phase has had its say.
    audit: [audit.hooks],
  });
  const repoDeps: RepositoryDeps = { db, registry, phases, partiesOf: partiesAtWrite(organizations) };
  const repository = (ctx: RequestContext): Repository => new Repository(repoDeps, ctx);

  // Client rows behind tokens, one cache per instance, dropped on every instance when a registration changes.
  const clients = new ClientDirectory(db);
  const stopClients = await clients.listen();
  const auth = await createAuth(db, { issuer: config.publicUrl, tokenLifetimeSeconds: config.tokenLifetimeSeconds, audit: (attempt) => audit.token(attempt), clients });
  if (config.clientsFile) {
    for (const client of await loadClientsFile(config.clientsFile)) await auth.registerClient(client);
  }
  if (config.demo) {
    await seedDemoOrganizations(repository(systemContext('demo-seed')));
    for (const client of demoClients(config.demoClientSecret)) await auth.registerClient(client);
  }

  const { fhir, messages } = assembleFhirRoutes({ rootDir: ROOT_DIR, version: VERSION, db, logger, fhirBaseUrl, registry, profiles, operationDefinitions, terminology: mapper.terminology, repository, organizations, audit, subscriptions, units });

  const board = createBoard({
    db,
    logger,
    rootDir: ROOT_DIR,
    targetsSetting: config.boardTargets,
    repository,
    authenticate: (h, id) => auth.authenticate(h, id),
    audit: audit.log,
    locate: units.locate,
    units: units.boardSource(config.mapTileUrl),
    mapTileUrl: config.mapTileUrl,
  });
  const ingest = new NativeIngest(fhirBaseUrl, organizations, loadIngestTexts(join(ROOT_DIR, 'mappings')));
  // A unit's position fix is one statement: it does not queue behind handovers, or the map would lag them (issue 20).
  const writeLimit = config.maxConcurrentWrites > 0 ? new WriteLimit(config.maxConcurrentWrites, (req) => req.originalUrl.startsWith('/native/eenheid')) : undefined;
  if (writeLimit) {
    metrics.gauge('gateway_writes_active', 'Write requests at work in this instance (at most MAX_CONCURRENT_WRITES)', async () => writeLimit.state.active);
    metrics.gauge('gateway_writes_waiting', 'Write requests in this instance waiting for their turn', async () => writeLimit.state.waiting);
  }
  // The hash chain behind the trail: a backlog that grows, or an oldest row that ages, is a linker that does not keep up.
  // Both gauges of a scrape (collected together) share one statement.
  let backlog: Promise<ChainBacklog> | undefined;
  const chainBacklog = (): Promise<ChainBacklog> => (backlog ??= audit.backlog().finally(() => (backlog = undefined)));
  metrics.gauge('gateway_audit_chain_backlog', 'Committed audit records not yet linked into the hash chain (all instances; one instance links at a time)', async () => (await chainBacklog()).rows);
  metrics.gauge('gateway_audit_chain_oldest_unlinked_age_seconds', 'Age of the oldest audit record not yet linked into the hash chain; 0 when there is none', async () => (await chainBacklog()).oldestAgeSeconds);
  // LISTEN/NOTIFY: whether every LISTEN connection is up, and what it heard: a count that grows after a database
  // restart shows that NOTIFY, not the poll, wakes the delivery worker and the board again.
  const sumListen = (f: (l: ListenStatus) => number) => async (): Promise<number> => db.listenStatus().reduce((n, l) => n + f(l), 0);
  metrics.gauge('gateway_db_listen_connections', 'Channels this instance listens on now, all on its one LISTEN connection (named when each channel had a connection of its own)', sumListen((l) => (l.listening ? 1 : 0)));
  metrics.gauge('gateway_db_notifications_received', 'NOTIFYs heard by this instance since it started', sumListen((l) => l.notifications));
  metrics.gauge('gateway_db_listen_reconnects', 'Times a lost LISTEN connection was opened again since this instance started', sumListen((l) => l.reconnects));
  // The unit feed first: `/native/eenheid` is not a format of `/native/{format}`.
  const protectedRoutes = [units.ingestRoutes, nativeRoutes({ validators, mapper, ingest, repository, audit: audit.log, metrics })];
  const app = createApp({
    logger,
    fhir: audit.router(fhir),
    auth,
    auditFailures: audit.failures,
    maxBodyBytes: config.maxBodyBytes,
    bodyTimeoutMs: config.httpTimeouts.bodyMs,
    rateLimiter: config.rateLimitPerMinute > 0 ? new RateLimiter(config.rateLimitPerMinute) : undefined,
    writeLimit,
    observers: [requestObserver(logger, metrics, RouteLabels.fromOpenApi(join(ROOT_DIR, 'openapi/openapi.yaml'), WRITABLE_TYPES))],
    publicRoutes: [healthRouter(db, () => subscriptions.delivering(), logger), docsRouter(() => gatewayOpenApi({ rootDir: ROOT_DIR, publicUrl: config.publicUrl, version: VERSION, registry })), metricsRouter(metrics, config.metricsToken), adminRouter({ token: config.adminToken, db, auth, repository, audit, registry, indexTokens: (open, resource) => phases.indexTokens(open, resource), outboxChannel: OUTBOX_CHANNEL }), board.router],
    protectedRoutes,
  });

  try {
    await subscriptions.start(repository, mapper, (repo, taskId) => messages.render(repo, taskId));
    await board.start();
    await units.start();
  } catch (err) {
    // Nothing left running half-started: the delivery worker stops and gives back what it claimed.
    await subscriptions.close().catch(() => undefined);
    await board.close().catch(() => undefined);
    await units.close().catch(() => undefined);
    throw err;
  }

  audit.start();
  const retention = new Retention({
    db,
    logger,
    policy: {
      deliveredEventsDays: config.retentionDeliveredEventsDays,
      nativeRecordsDays: config.retentionNativeRecordsDays,
      conditionalKeysHours: config.retentionConditionalKeysHours,
      batchSize: config.retentionBatchSize,
      intervalSeconds: config.retentionIntervalSeconds,
    },
  });
  retention.start();

  return {
    app,
    serve: (handler = app) => createHttpServer(handler, { timeouts: config.httpTimeouts, logger, refused: audit.earlyRefusals }),
    db,
    auth,
    audit,
    logger,
    fhirBaseUrl,
    fhirRoutes: () => fhir.routes(),
    expressRoutes: () => [board.data, ...protectedRoutes].flatMap((r) => r.routes()),
    units,
    repository,
    endStreams: () => board.endStreams(),
    retention,
    close: async () => {
      // Delivery stops first and gives back what it claimed, while the database is still open.
      await subscriptions.close();
      await retention.close();
      await board.close();
      await units.close();
      await audit.close();
      await stopOrganizations();
      await stopClients();
      await db.close();
    },
  };
}
