import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AuthService } from '../auth/index.ts';
import { InvalidRegistration, validateRegistration } from '../auth/clients.ts';
import { systemContext } from '../context.ts';
import { organizationResource, URA_SYSTEM } from '../demo.ts';
import { badRequest, unauthorized } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { Database } from '../store/database.ts';
import { parseJsonBody } from './json-body.ts';

export interface AdminDeps {
  token: string | undefined;
  db: Database;
  auth: AuthService;
  repository: (ctx: ReturnType<typeof systemContext>) => Repository;
  /** Further operator routes (subscriptions, audit) mounted behind the same token. */
  extra?: express.Router[];
}

const handle =
  (fn: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next);
  };

/**
 * Operator endpoints behind `ADMIN_TOKEN` (the CLI's way in, for the embedded store and for several
 * instances alike): register a client organisation with its public keys, list clients. Without a
 * configured token they do not exist.
 */
export function adminRouter(deps: AdminDeps): express.Router {
  const router = express.Router();
  const { token } = deps;
  if (!token) return router;
  const wanted = Buffer.from(`Bearer ${token}`);
  router.use('/admin', (req, _res, next) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      next(unauthorized('The operator endpoints need Authorization: Bearer <ADMIN_TOKEN>'));
      return;
    }
    next();
  });

  router.post(
    '/admin/clients',
    express.raw({ type: () => true, limit: 256 * 1024 }),
    handle(async (req, res) => {
      let registration;
      try {
        registration = validateRegistration(parseJsonBody(req.body as Buffer));
      } catch (err) {
        if (err instanceof InvalidRegistration) throw badRequest(err.message);
        throw err;
      }
      await deps.auth.registerClient(registration);
      // A client acts for an organisation the gateway must know, to address handovers to it and from it.
      await deps.repository(systemContext('admin')).create(
        organizationResource({ ura: registration.organizationUra, name: registration.organizationName, type: 'CLIENT' }),
        { ifNoneExist: `identifier=${URA_SYSTEM}|${registration.organizationUra}` },
      );
      res.status(201).json({ clientId: registration.clientId, organizationUra: registration.organizationUra, scopes: registration.scopes, roles: registration.roles });
    }),
  );

  router.get(
    '/admin/clients',
    handle(async (_req, res) => {
      const rows = await deps.db.query<{ client_id: string; organization_ura: string; organization_name: string; roles: string[]; scopes: string[]; has_jwks: boolean; has_secret: boolean }>(
        `SELECT client_id, organization_ura, organization_name, roles, scopes, jwks IS NOT NULL AS has_jwks, secret_hash IS NOT NULL AS has_secret
         FROM oauth_clients ORDER BY client_id`,
      );
      res.json(
        rows.rows.map((r) => ({
          clientId: r.client_id,
          organizationUra: r.organization_ura,
          organizationName: r.organization_name,
          roles: r.roles,
          scopes: r.scopes,
          authentication: [r.has_jwks ? 'private_key_jwt' : undefined, r.has_secret ? 'client_secret_basic' : undefined].filter(Boolean),
        })),
      );
    }),
  );

  for (const extra of deps.extra ?? []) router.use(extra);
  return router;
}
