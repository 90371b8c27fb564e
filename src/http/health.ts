import express from 'express';
import type { Database } from '../store/database.ts';
import { pendingMigrations } from '../store/migrate.ts';

/** Liveness (the process answers) and readiness (the database answers and every migration is applied); no token. */
export function healthRouter(db: Database): express.Router {
  const router = express.Router();
  router.get('/health/live', (_req, res) => {
    res.status(200).json({ status: 'pass' });
  });
  router.get('/health/ready', (_req, res) => {
    pendingMigrations(db)
      .then((pending) => {
        if (pending.length > 0) res.status(503).json({ status: 'fail', checks: { database: 'pass', migrations: `pending: ${pending.join(', ')}` } });
        else res.status(200).json({ status: 'pass', checks: { database: 'pass', migrations: 'pass' } });
      })
      .catch(() => res.status(503).json({ status: 'fail', checks: { database: 'fail' } }));
  });
  return router;
}
