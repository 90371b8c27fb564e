import express from 'express';
import type { Database } from '../store/database.ts';
import { pendingMigrations } from '../store/migrate.ts';

/**
 * Liveness (the process answers) and readiness (the database answers, every migration is applied and the
 * delivery worker runs); no token.
 */
export function healthRouter(db: Database, delivering: () => boolean): express.Router {
  const router = express.Router();
  router.get('/health/live', (_req, res) => {
    res.status(200).json({ status: 'pass' });
  });
  router.get('/health/ready', (_req, res) => {
    const delivery = delivering() ? 'pass' : 'fail';
    pendingMigrations(db)
      .then((pending) => {
        const ok = pending.length === 0 && delivery === 'pass';
        const checks = { database: 'pass', migrations: pending.length > 0 ? `pending: ${pending.join(', ')}` : 'pass', delivery };
        res.status(ok ? 200 : 503).json({ status: ok ? 'pass' : 'fail', checks });
      })
      .catch(() => res.status(503).json({ status: 'fail', checks: { database: 'fail', delivery } }));
  });
  return router;
}
