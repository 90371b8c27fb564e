import type { Request } from 'express';
import { notAcceptable, unsupportedMediaType } from '../fhir/outcomes.ts';

export const FHIR_JSON = 'application/fhir+json';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json']);

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/** Checks Content-Type on requests with a body: JSON (FHIR or plain), or what the route allows besides. */
export function requireContentType(req: Request, allowed: string[] = []): string {
  const type = mediaType(req.headers['content-type']);
  if (!type) throw unsupportedMediaType('A request body needs a Content-Type: application/fhir+json or application/json');
  if (JSON_TYPES.has(type) || allowed.includes(type)) return type;
  throw unsupportedMediaType(`Content-Type ${type} is not supported here; use application/fhir+json or application/json`);
}

/** Refuses an Accept header that admits no JSON (406); `_format` may say json too. */
export function checkAccept(req: Request, produces: string[] = [FHIR_JSON, 'application/json']): void {
  // The gateway's query parser gives every parameter as an array of values.
  const given = req.query?._format as string | string[] | undefined;
  const format = Array.isArray(given) ? given[0] : given;
  if (format && !['json', 'application/json', 'application/fhir+json'].includes(format)) {
    throw notAcceptable(`_format=${format} is not supported; this server speaks JSON`);
  }
  const accept = req.headers.accept;
  if (!accept) return;
  const ok = accept.split(',').some((part) => {
    const t = part.split(';')[0].trim().toLowerCase();
    const q = /;\s*q=([0-9.]+)/.exec(part)?.[1];
    if (q !== undefined && Number(q) === 0) return false;
    return t === '*/*' || t === 'application/*' || produces.includes(t);
  });
  if (!ok) throw notAcceptable(`Accept: ${accept} admits none of ${produces.join(', ')}`);
}
