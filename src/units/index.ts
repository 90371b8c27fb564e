// Responders on the road (issue 20): the unit-status feed, units as FHIR Locations, $candidates, the board's live
// unit events and the retention of positions, composed from the gateway's parts.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { checkDirectoryLocation } from '../access/policy.ts';
import { loadBoardTargets } from '../board/targets.ts';
import type { RequestContext } from '../context.ts';
import type { Repository } from '../fhir/repository.ts';
import type { WriteHooks } from '../fhir/write-phases.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { SecureRoutes } from '../http/secure-routes.ts';
import type { Metrics } from '../observability/metrics.ts';
import { safeError } from '../observability/logging.ts';
import type { Database } from '../store/database.ts';
import type { Locate } from '../board/rows.ts';
import { unitBoardSource, type UnitSource } from './board-stream.ts';
import { UnitFeed } from './feed.ts';
import { placeOfPatient } from './places.ts';
import { registerUnitRoutes } from './fhir-routes.ts';
import { loadUnitFormat, type UnitFormat } from './format.ts';
import { unitIngestRoutes } from './ingest-route.ts';
import { unitStore } from './store.ts';
import { loadUnitTables, type UnitTables } from './tables.ts';
import { UnitView } from './view.ts';
import type { OrganizationDirectory } from '../access/organizations.ts';

export interface UnitSettings {
  /** A position older than this is shown as stale and not offered as a candidate. */
  staleSeconds: number;
  /** Positions are kept this long, then pruned. */
  historyHours: number;
  /** A fix this far ahead of the gateway's clock is refused as from the future. */
  maxClockSkewSeconds: number;
  boardTargets?: string;
}

export interface Units {
  tables: UnitTables;
  format: UnitFormat;
  view: UnitView;
  feed: UnitFeed;
  /** `POST /native/eenheid`, mounted behind authentication. */
  ingestRoutes: SecureRoutes;
  /** Refuses vehicle Locations written to the directory (they would be readable by everyone). */
  hooks: WriteHooks;
  registerRoutes(fhir: FhirRouter, directory: FhirRouter): void;
  /** Where the board's map puts a handover: its patient's postcode area. */
  locate: Locate;
  /** The units on the board's map, for the board's stream. */
  boardSource(tileUrl?: string): UnitSource;
  /** Forgets positions older than the configured history (also run every minute once started). */
  prune(now?: Date): Promise<{ positions: number; units: number }>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 60_000;

export function createUnits(args: { db: Database; logger: Logger; rootDir: string; fhirBaseUrl: string; settings: UnitSettings; repository: (ctx: RequestContext) => Repository; organizations: OrganizationDirectory; metrics?: Metrics }): Units {
  const mappings = join(args.rootDir, 'mappings');
  const tables = loadUnitTables(mappings);
  const format = loadUnitFormat(mappings, tables, args.settings.maxClockSkewSeconds);
  const view = new UnitView({ db: args.db, tables, staleSeconds: args.settings.staleSeconds, repository: args.repository, organizations: args.organizations });
  const feed = new UnitFeed(args.db, args.logger);
  const targets = loadBoardTargets(join(mappings, 'board/targets.json'), args.settings.boardTargets);
  let timer: NodeJS.Timeout | undefined;
  const prune = (now = new Date()): Promise<{ positions: number; units: number }> => unitStore.prune(args.db, new Date(now.getTime() - args.settings.historyHours * 3600_000));

  return {
    tables,
    format,
    view,
    feed,
    ingestRoutes: unitIngestRoutes({ db: args.db, format, repository: args.repository, fhirBaseUrl: args.fhirBaseUrl, metrics: args.metrics }),
    hooks: { beforeWrite: async ({ ctx }, change) => checkDirectoryLocation(ctx, change.next) },
    registerRoutes: (fhir, directory) => registerUnitRoutes(fhir, { view, tables, targets, baseUrl: args.fhirBaseUrl, directory }),
    locate: (patient) => placeOfPatient(tables, patient),
    boardSource: (tileUrl) => unitBoardSource(view, feed, { tileUrl }),
    prune,
    start: async () => {
      await feed.start();
      const run = (): void => {
        prune().catch((err: unknown) => args.logger.warn({ err: safeError(err) }, 'pruning unit positions failed'));
      };
      run();
      timer = setInterval(run, PRUNE_EVERY_MS);
      timer.unref();
    },
    close: async () => {
      if (timer) clearInterval(timer);
      await feed.close();
    },
  };
}
