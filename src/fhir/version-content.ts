// The content of a stored version as the repository writes it: the server's meta on the client's resource, labels
// that an update cannot drop, what counts as a change, and a JSON Patch applied to a copy.
import type { Coding, Meta, Resource } from '@medplum/fhirtypes';
import { applyPatch, InvalidOperationError, type Operation } from '@medplum/core';
import { badRequest, unprocessable } from './outcomes.ts';
import { cloneKeepingNumberTexts, copyNumberTexts, keepPatchedNumberTexts } from './number-text.ts';

/**
 * `content` with a JSON Patch applied (a copy): 400 for an invalid patch or one that changes resourceType or
 * id, 422 for one that cannot be applied (missing path, failed `test`).
 */
export function patchedCopy<T extends Resource>(content: T, patch: Operation[]): T {
  // The number texts (37.0 stays 37.0) travel with the copy; a patched value takes the text the patch gave it.
  const patched = cloneKeepingNumberTexts(content);
  let failure: Error | null | undefined;
  try {
    // applyPatch reports failed operations (unknown op, missing path, failed `test`) in its result, not by throwing.
    failure = applyPatch(patched, patch).find((e) => e !== null);
  } catch (err) {
    throw badRequest(`The JSON Patch could not be applied: ${(err as Error).message}`);
  }
  if (failure instanceof InvalidOperationError) throw badRequest(`The JSON Patch is invalid: ${failure.message}`);
  if (failure) throw unprocessable(`The JSON Patch could not be applied: ${failure.message}`);
  keepPatchedNumberTexts(patched, patch);
  if (patched.resourceType !== content.resourceType || patched.id !== content.id) throw badRequest('A patch may not change resourceType or id');
  return patched;
}

export function withMeta(resource: Resource, id: string, versionId: string, lastUpdated: string, previous?: Resource): Resource {
  // The server owns versionId and lastUpdated; what else the client sent in meta (profile, tag, security, source,
  // extensions) is kept as sent (issue 16.3). resourceType, id and meta come first, as on a read (orderedResource):
  // a write answers with the same shape.
  const { resourceType, id: _id, meta: sent, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...clientMeta } = sent ?? {};
  const security = keptSecurity(clientMeta.security, previous?.meta?.security);
  const meta: Meta = { versionId, lastUpdated, ...clientMeta, ...(security && { security }) };
  const next = { resourceType, id, meta, ...rest } as Resource;
  copyNumberTexts(resource, next);
  return next;
}

/**
 * Security labels are never lost by an update: a label the current version has and the update leaves out is
 * carried to the new version (a client or a native record that does not know about labels cannot lower the
 * confidentiality of what it updates). The gateway keeps labels and does not interpret them (docs/architecture.md).
 */
function keptSecurity(sent: Coding[] | undefined, previous: Coding[] | undefined): Coding[] | undefined {
  if (!previous?.length) return sent;
  const key = (c: Coding): string => `${c.system ?? ''}|${c.code ?? ''}`;
  const present = new Set((sent ?? []).map(key));
  const missing = previous.filter((c) => !present.has(key(c)));
  return missing.length > 0 ? [...(sent ?? []), ...missing] : sent;
}

export function sameContent(stored: Resource, incoming: Resource): boolean {
  // The server's part of meta does not count; the client's (tags, labels, profiles, source) does.
  const strip = (r: Resource): string => {
    const { meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta ?? {};
    return JSON.stringify(sortKeys({ ...rest, clientMeta }));
  };
  return strip(stored) === strip(incoming);
}

function sortKeys(value: unknown): unknown {
  // The texts of numbers go along (src/fhir/number-text.ts): 37 and 37.0 are different content.
  let sorted: unknown = value;
  if (Array.isArray(value)) sorted = value.map(sortKeys);
  else if (value && typeof value === 'object') {
    sorted = Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  if (sorted !== value) copyNumberTexts(value as object, sorted as object);
  return sorted;
}
