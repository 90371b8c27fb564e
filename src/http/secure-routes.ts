import express, { type NextFunction, type Request, type Response } from 'express';
import { requireScope, type Interaction, type Permission } from '../auth/scopes.ts';
import type { RequestContext } from '../context.ts';

/**
 * Who may call an Express route outside the FHIR router (native records, the unit feed, the board's data), checked
 * before its handler runs, as the FHIR router checks its routes (src/fhir/router.ts):
 * - `authenticated`: any caller with a token;
 * - `scopes`: every one of these permissions, checked in order (the first missing one is named in the 403).
 */
export type ExpressAccess = 'authenticated' | { scopes: readonly Permission[] };

/** A handler that runs once the caller is authorized, with the caller's context. */
export type SecureHandler = (req: Request, res: Response, ctx: RequestContext) => Promise<void>;

/** A registered route as the Express route test lists it. */
export interface ExpressRouteListing {
  method: 'GET' | 'POST';
  path: string;
  access: string;
}

export interface SecureRoutesOptions {
  /** Where the router is mounted; the listing shows each route's whole path. */
  mount: string;
  /**
   * For routes mounted before the gateway's authentication (the board's data, beside its page that needs no token):
   * the token is verified here. Without it the caller's context is the one the HTTP wiring put in `res.locals.ctx`.
   */
  authenticate?: (authorizationHeader: string | undefined, requestId: string) => Promise<RequestContext>;
  /** Told when the access check refuses a request (the native routes count refused records). */
  refused?: (req: Request) => void;
  /** Express's strict routing (`/board/events/` is not `/board/events`). */
  strict?: boolean;
}

const PERMISSION = /^([A-Z][A-Za-z]{0,63})\.([cruds])$/;

function isLetter(letter: string): letter is Interaction {
  return ['c', 'r', 'u', 'd', 's'].includes(letter);
}

/**
 * The permissions to check, each as a type and a letter; `[]` for `authenticated`. Checked at run time as well: access
 * declared from untyped code (or not at all) would otherwise let a route run unchecked.
 */
function neededBy(method: string, path: string, access: ExpressAccess): { type: string; letter: Interaction }[] {
  if (access === 'authenticated') return [];
  const scopes: unknown = typeof access === 'object' && access !== null ? access.scopes : undefined;
  const needed = (Array.isArray(scopes) ? scopes : []).map((p: unknown) => PERMISSION.exec(String(p))).map((m) => (m && isLetter(m[2]) ? { type: m[1], letter: m[2] } : undefined));
  if (needed.length === 0 || needed.some((n) => n === undefined)) {
    throw new Error(`Express route ${method} ${path} declares no valid access (authenticated, or scopes such as Task.s)`);
  }
  return needed.filter((n) => n !== undefined);
}

function describeAccess(access: ExpressAccess): string {
  return access === 'authenticated' ? 'authenticated' : `scope ${access.scopes.join(' + ')}`;
}

/**
 * Express routes that need a token, each declaring who may call it when it is registered; the check runs before the
 * handler, so no handler checks a scope itself. A route cannot be registered here without its access (a type error,
 * and refused at start), and `protectedRoutes` of the HTTP wiring takes nothing else; `test/http/express-routes.test.ts`
 * lists every such route with its access.
 */
export class SecureRoutes {
  readonly router: express.Router;
  readonly mount: string;
  private readonly table: ExpressRouteListing[] = [];
  private readonly options: SecureRoutesOptions;

  constructor(options: SecureRoutesOptions) {
    this.options = options;
    this.mount = options.mount;
    this.router = express.Router({ strict: options.strict ?? false });
  }

  /**
   * A path parameter checked before access, as the FHIR router checks a route's type before its scope: an unknown
   * native format is 404 whatever the token may do.
   */
  param(name: string, check: (value: string) => void): this {
    this.router.param(name, (_req, _res, next, value: unknown) => {
      try {
        check(String(value));
        next();
      } catch (err) {
        next(err);
      }
    });
    return this;
  }

  get(path: string, access: ExpressAccess, handler: SecureHandler): this {
    return this.add('GET', path, access, handler);
  }

  post(path: string, access: ExpressAccess, handler: SecureHandler): this {
    return this.add('POST', path, access, handler);
  }

  /** Every registered route with its whole path and declared access. */
  routes(): ExpressRouteListing[] {
    return this.table.map((r) => ({ ...r, path: `${this.mount}${r.path === '/' ? '' : r.path}` }));
  }

  private add(method: ExpressRouteListing['method'], path: string, access: ExpressAccess, handler: SecureHandler): this {
    const needed = neededBy(method, path, access);
    if (this.table.some((r) => r.method === method && r.path === path)) throw new Error(`Express route ${method} ${this.mount}${path} is registered twice`);
    this.table.push({ method, path, access: describeAccess(access) });
    const authorize = (req: Request, res: Response, next: NextFunction): void => {
      this.authorize(req, res, needed).then(
        () => next(),
        (err: unknown) => {
          if (res.locals.ctx !== undefined) this.options.refused?.(req);
          next(err);
        },
      );
    };
    const run = async (req: Request, res: Response): Promise<void> => {
      const ctx = res.locals.ctx as RequestContext;
      await handler(req, res, ctx);
    };
    if (method === 'GET') this.router.get(path, authorize, run);
    else this.router.post(path, authorize, run);
    return this;
  }

  private async authorize(req: Request, res: Response, needed: readonly { type: string; letter: Interaction }[]): Promise<void> {
    const { authenticate } = this.options;
    if (authenticate) res.locals.ctx = await authenticate(req.headers.authorization, res.locals.requestId as string);
    const ctx = res.locals.ctx as RequestContext | undefined;
    // The wiring's fault, not the caller's: a protected router mounted where nothing authenticates.
    if (!ctx) throw new Error(`${req.method} ${req.originalUrl} reached a secure route unauthenticated`);
    for (const { type, letter } of needed) requireScope(ctx, type, letter);
  }
}
