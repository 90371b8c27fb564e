// A received message Bundle read as a graph: its entries and the references between them, resolved by the R4 rules.
import type { Bundle, MessageHeader, Resource } from '@medplum/fhirtypes';
import { badRequest, HttpError, outcome } from '../fhir/outcomes.ts';
import { FHIR_ID } from '../fhir/resource-types.ts';

export interface MessageEntry {
  index: number;
  fullUrl: string;
  resource: Resource;
}

/** A reference inside an entry's resource: where it is (FHIRPath-like path) and the entry it resolves to. */
interface ResolvedReference {
  from: MessageEntry;
  path: string;
  holder: { reference?: string };
  target: MessageEntry;
}

export interface ParsedMessage {
  bundle: Bundle;
  header: MessageHeader;
  entries: MessageEntry[];
  references: ResolvedReference[];
  /** The entry `holder.reference` of `from` resolves to, if any. */
  targetOf(from: MessageEntry, reference: string | undefined): MessageEntry | undefined;
  ofType<T extends Resource>(type: T['resourceType']): (MessageEntry & { resource: T })[];
}

const MAX_ENTRIES = 100;
/** A RESTful reference or fullUrl: [1] the base, if any, [2] the type, [3] the id, [4] `/_history/<version>` (a version id has an id's shape). */
const RESTFUL = new RegExp(`^(.*/)?([A-Z][A-Za-z]+)/(${FHIR_ID})(/_history/${FHIR_ID})?$`);

/**
 * R4 (Bundle, "Resolving references in Bundles"): an absolute reference or a `urn:` is looked up as a fullUrl;
 * a relative one (`Type/id`) is made absolute against the base of the referring entry's RESTful fullUrl, and
 * then looked up. A reference to a version (`/_history/n`) resolves to the entry without it.
 */
function resolve(byFullUrl: Map<string, MessageEntry>, from: MessageEntry, reference: string): MessageEntry | undefined {
  const direct = byFullUrl.get(reference) ?? byFullUrl.get(reference.replace(/\/_history\/[^/]+$/, ''));
  if (direct) return direct;
  const rel = RESTFUL.exec(reference);
  if (!rel || rel[1]) return undefined;
  const base = RESTFUL.exec(from.fullUrl)?.[1];
  return base ? byFullUrl.get(`${base}${rel[2]}/${rel[3]}`) : undefined;
}

function walk(value: unknown, path: string, visit: (holder: { reference?: string }, path: string) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, `${path}[${i}]`, visit));
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.reference === 'string') visit(obj as { reference: string }, path);
    for (const [k, v] of Object.entries(obj)) if (k !== 'reference' && !k.startsWith('_')) walk(v, `${path}.${k}`, visit);
  }
}

/**
 * Reads a message Bundle: every entry needs a fullUrl and a resource, fullUrls are unique, the first entry is the
 * MessageHeader, and every reference between resources resolves to an entry of the message (a message is sent
 * whole: a reference the receiver cannot follow would leave the letter without its patient or author). Profile
 * rules (profiles/az-ig) are checked before this, so their messages name the element first.
 */
export function parseMessage(body: unknown): ParsedMessage {
  const bundle = body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw badRequest('A message is a Bundle of type message', ['Bundle']);
  if (bundle.type !== 'message') throw badRequest(`Bundle.type must be message, got '${String(bundle.type)}'`, ['Bundle.type']);
  // A referral message holds some ten resources; each is a write, so their number is bounded before any is made.
  if ((bundle.entry ?? []).length > MAX_ENTRIES) throw new HttpError(422, outcome('too-costly', `A message may hold at most ${MAX_ENTRIES} entries`, ['Bundle.entry']));
  const entries: MessageEntry[] = (bundle.entry ?? []).map((e, index) => {
    if (!e.resource || typeof e.fullUrl !== 'string') {
      throw new HttpError(422, outcome('required', `Bundle.entry[${index}] needs a fullUrl and a resource`, [`Bundle.entry[${index}]`]));
    }
    return { index, fullUrl: e.fullUrl, resource: e.resource };
  });
  const byFullUrl = new Map<string, MessageEntry>();
  for (const e of entries) {
    if (byFullUrl.has(e.fullUrl)) throw new HttpError(422, outcome('invalid', `Bundle.entry[${e.index}].fullUrl ${e.fullUrl} is used twice`, [`Bundle.entry[${e.index}].fullUrl`]));
    byFullUrl.set(e.fullUrl, e);
  }
  const header = entries[0]?.resource;
  if (header?.resourceType !== 'MessageHeader') {
    throw new HttpError(422, outcome('required', 'The first entry of a message must be its MessageHeader', ['Bundle.entry[0].resource']));
  }
  const references: ResolvedReference[] = [];
  for (const from of entries) {
    walk(from.resource, from.resource.resourceType, (holder, path) => {
      const reference = holder.reference ?? '';
      // A local reference (#id) points into the resource itself.
      if (reference.startsWith('#')) return;
      const target = resolve(byFullUrl, from, reference);
      if (!target) {
        throw new HttpError(422, outcome('not-found', `${path} (Bundle.entry[${from.index}]) refers to ${reference}, which is not in the message: a message carries every resource it refers to`, [`Bundle.entry[${from.index}].resource.${path.slice(from.resource.resourceType.length + 1)}`]));
      }
      references.push({ from, path, holder, target });
    });
  }
  return {
    bundle,
    header: header as MessageHeader,
    entries,
    references,
    targetOf: (from, reference) => (reference ? resolve(byFullUrl, from, reference) : undefined),
    ofType: <T extends Resource>(type: T['resourceType']) => entries.filter((e) => e.resource.resourceType === type) as (MessageEntry & { resource: T })[],
  };
}
