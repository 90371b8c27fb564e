import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import type express from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.ts';
import { gatewaySubtype, REST_TYPE } from '../audit/event.ts';
import type { RequestContext } from '../context.ts';
import type { Repository } from '../fhir/repository.ts';
import type { SecureRoutes } from '../http/secure-routes.ts';
import type { Database } from '../store/database.ts';
import { BoardFeed } from './feed.ts';
import type { UnitSource } from '../units/board-stream.ts';
import type { Locate } from './rows.ts';
import { boardRouter } from './routes.ts';
import { OpenStreams } from './stream.ts';
import { loadBoardTargets } from './targets.ts';

export { boardFeedHooks } from './feed.ts';

export interface Board {
  router: express.Router;
  /** The board's data routes, which need a token, with their declared access. */
  data: SecureRoutes;
  start(): Promise<void>;
  /** Ends the open board streams (and any opened later), so that the HTTP server can close. */
  endStreams(): void;
  close(): Promise<void>;
}

/** The regional coordination board (issue 7): its feed, page and data routes, composed from the gateway's parts. */
export function createBoard(args: {
  db: Database;
  logger: Logger;
  rootDir: string;
  targetsSetting?: string;
  repository: (ctx: RequestContext) => Repository;
  authenticate(header: string | undefined, requestId: string): Promise<RequestContext>;
  audit: AuditLog;
  /** The map (issue 20): where a handover is, the units and their changes, an optional tile server. */
  locate?: Locate;
  units?: UnitSource;
  mapTileUrl?: string;
}): Board {
  const feed = new BoardFeed(args.db, args.logger);
  const streams = new OpenStreams();
  const targets = loadBoardTargets(join(args.rootDir, 'mappings/board/targets.json'), args.targetsSetting);
  const audit = async (ctx: RequestContext, resources: Resource[]): Promise<void> => {
    // A fresh context per message: each is audited as a request of its own, its record carried on the context.
    const c = { ...ctx };
    args.audit.begin(c, { type: REST_TYPE, subtype: gatewaySubtype('board'), action: 'R', description: 'GET /board' });
    await args.audit.completed(c, { status: 200, resources });
  };
  const { router, data } = boardRouter({ feed, streams, targets, repository: args.repository, audit, logger: args.logger, authenticate: args.authenticate, locate: args.locate, units: args.units, mapTileUrl: args.mapTileUrl });
  return {
    router,
    data,
    start: () => feed.start(),
    endStreams: () => streams.endAll(),
    close: async () => {
      streams.endAll();
      await feed.close();
    },
  };
}
