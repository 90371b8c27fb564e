import { badRequest, methodNotAllowed, notFound } from './outcomes.ts';
import type { FhirHandler, FhirRequest, FhirResponse } from './rest-types.ts';

interface Route {
  method: FhirRequest['method'];
  segments: string[];
  handler: FhirHandler;
}

/**
 * A table of FHIR routes (`GET :type/:id`) matched against plain-data requests. Used by the HTTP
 * adapter and by transaction/batch processing alike, so an entry of a Bundle takes the same path
 * as the same request made on its own.
 */
export class FhirRouter {
  private readonly routes: Route[] = [];

  add(method: FhirRequest['method'], pattern: string, handler: FhirHandler): this {
    this.routes.push({ method, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  async handle(req: FhirRequest): Promise<FhirResponse> {
    const parts = req.path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const params = match(route.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      return route.handler(req, params);
    }
    if (pathMatched) throw methodNotAllowed(`${req.method} is not allowed on /${req.path}`);
    throw notFound(`No FHIR endpoint at /${req.path}`);
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i];
    const part = parts[i];
    if (seg.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        throw badRequest(`Malformed path segment '${part}'`);
      }
      // Operations ($x) and _history are never ids or types.
      if (part.startsWith('$') || part.startsWith('_')) return undefined;
      params[seg.slice(1)] = value;
    } else if (seg !== part) {
      return undefined;
    }
  }
  return params;
}
