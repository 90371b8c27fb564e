import express from 'express';
import type { Logger } from 'pino';
import { safeError } from '../observability/logging.ts';
import type { Database } from '../store/database.ts';
import { pendingMigrations } from '../store/migrate.ts';

/**
 * Liveness (the process answers) and readiness (the database answers, every migration is applied, the
 * delivery worker runs and every LISTEN connection listens); no token. A LISTEN connection lost with the
 * database is opened again by itself (src/store/pg-listener.ts); until then notifications wait for the
 * worker's poll, and readiness says so.
 */
export function healthRouter(db: Database, delivering: () => boolean, logger: Logger): express.Router {
  const router = express.Router();
  router.get('/health/live', (_req, res) => {
    res.status(200).json({ status: 'pass' });
  });
  router.get('/health/ready', (_req, res) => {
    const delivery = delivering() ? 'pass' : 'fail';
    const notListening = db.listenStatus().filter((l) => !l.listening).map((l) => l.channel);
    const listen = notListening.length === 0 ? 'pass' : `fail: ${notListening.join(', ')}`;
    pendingMigrations(db)
      .then((pending) => {
        const ok = pending.length === 0 && delivery === 'pass' && listen === 'pass';
        const checks = { database: 'pass', migrations: pending.length > 0 ? `pending: ${pending.join(', ')}` : 'pass', delivery, listen };
        res.status(ok ? 200 : 503).json({ status: ok ? 'pass' : 'fail', checks });
      })
      .catch((err: unknown) => {
        logger.warn({ err: safeError(err) }, 'readiness: the database does not answer');
        res.status(503).json({ status: 'fail', checks: { database: 'fail', delivery, listen } });
      });
  });
  return router;
}
