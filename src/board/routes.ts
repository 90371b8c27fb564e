import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import type { RequestContext } from '../context.ts';
import { badRequest, notFound } from '../fhir/outcomes.ts';
import { SecureRoutes } from '../http/secure-routes.ts';
import { projectRow } from './rows.ts';
import { openStream, type StreamDeps } from './stream.ts';
import { timelineOf } from './timeline.ts';

const PUBLIC_DIR = join(import.meta.dirname, 'public');

// Nothing inline and nothing from elsewhere: scripts, styles and data from the gateway only.
const BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface BoardRouteDeps extends StreamDeps {
  authenticate(header: string | undefined, requestId: string): Promise<RequestContext>;
  /** MAP_TILE_URL: the one other origin the map may load images from (issue 20); none by default. */
  mapTileUrl?: string;
}

/** The board's CSP, with the tile server's origin among the image sources when one is configured. */
function boardCsp(mapTileUrl?: string): string {
  if (!mapTileUrl) return BOARD_CSP;
  const origin = new URL(mapTileUrl.replace(/\{[zxy]\}/g, '0')).origin;
  return BOARD_CSP.replace("img-src 'self' data:", `img-src 'self' data: ${origin}`);
}

/** The `exp` of a token that `authenticate` has just verified. */
function expiryOf(header: string | undefined): number {
  const payload = header?.split(' ')[1]?.split('.')[1];
  try {
    const exp = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : Date.now();
  } catch {
    return Date.now();
  }
}

/**
 * `/board` (the page, no token) and its data: `/board/events` (server-sent events) and `/board/handovers/{id}`, with a
 * Bearer token (`data`, whose routes declare their access).
 */
export function boardRouter(deps: BoardRouteDeps): { router: express.Router; data: SecureRoutes } {
  // Strict: `/board/` is not `/board`. Served at `/board/`, the page's relative URLs (its style sheet, script and
  // data) would resolve under `/board/board/…` and the page would be dead; it is redirected instead.
  const router = express.Router({ strict: true });
  const files: Record<string, { type: string; body: string }> = {
    '/board': { type: 'text/html', body: readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8') },
    '/board/board.js': { type: 'text/javascript', body: readFileSync(join(PUBLIC_DIR, 'board.js'), 'utf8') },
    '/board/board.css': { type: 'text/css', body: readFileSync(join(PUBLIC_DIR, 'board.css'), 'utf8') },
    // The map (issue 20): its script and style, and the region's outline shipped with the gateway.
    '/board/map.js': { type: 'text/javascript', body: readFileSync(join(PUBLIC_DIR, 'map.js'), 'utf8') },
    '/board/map.css': { type: 'text/css', body: readFileSync(join(PUBLIC_DIR, 'map.css'), 'utf8') },
    '/board/region.geojson': { type: 'application/geo+json', body: readFileSync(join(PUBLIC_DIR, 'region.geojson'), 'utf8') },
  };
  const csp = boardCsp(deps.mapTileUrl);
  for (const [path, file] of Object.entries(files)) {
    router.get(path, (_req, res) => {
      res.status(200).type(file.type).set({ 'Content-Security-Policy': csp, 'Cache-Control': 'no-cache', 'Referrer-Policy': 'no-referrer' }).send(file.body);
    });
  }
  router.get('/board/', (req, res) => {
    // Relative, so that it also holds behind a proxy that serves the gateway under a path; the query (`?wand=1`) stays.
    const query = req.originalUrl.indexOf('?');
    res.status(301).location(`../board${query >= 0 ? req.originalUrl.slice(query) : ''}`).end();
  });

  // The data need a token, verified here: the board is mounted before the gateway's authentication, for its page.
  const data = new SecureRoutes({ mount: '', authenticate: deps.authenticate, strict: true });
  data.get('/board/events', { scopes: ['Task.s'] }, async (req, res, ctx) => {
    const given = req.headers['last-event-id'];
    let last: number | undefined;
    if (typeof given === 'string' && given !== '') {
      if (!/^\d{1,15}$/.test(given)) throw badRequest('Last-Event-ID is the number of the last board event received');
      last = Number(given);
    }
    await openStream(deps, ctx, res, last, expiryOf(req.headers.authorization));
  });

  data.get('/board/handovers/:id', { scopes: ['Task.r'] }, async (req, res, ctx) => {
    const repo = deps.repository(ctx);
    const id = String(req.params.id);
    const projected = await projectRow(repo, id, deps.targets, deps.locate);
    if (!projected) throw notFound(`No handover with id ${id} is known`);
    const timeline = await timelineOf(repo, id);
    await deps.audit(ctx, [...projected.resources, ...timeline.resources]);
    res.status(200).type('application/json').set('Cache-Control', 'no-store').send(JSON.stringify({ row: projected.row, open: projected.open, timeline: timeline.items }));
  });
  router.use(data.router);
  return { router, data };
}
