import type { Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import { forbidden, methodNotAllowed } from '../fhir/outcomes.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';

/**
 * Who may read and change what, decided from the RequestContext alone. The Repository applies these
 * rules to every read, search, history and write, whichever route the request took; handlers never do.
 */

/**
 * The region's directory and the gateway's terminology: every authenticated client reads these. Every
 * other type holds patient data and is read only through a handover the reader is party to (fail closed:
 * a type added later is protected until it is listed here).
 */
export const DIRECTORY_TYPES: readonly string[] = ['Organization', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Location', 'Endpoint', 'CodeSystem', 'ConceptMap'];

/**
 * Read by their owner only, whatever role reads the rest of the region: a Subscription holds its organisation's
 * endpoint and the credentials it sends there (`channel.header`). The ZCC reads every handover, not other
 * organisations' delivery configuration; the auditor (read-only, with the ZCC's URA) reads none at all: who
 * made or changed a Subscription is in the audit trail, its credentials are nobody's business but the owner's.
 */
export const OWNER_ONLY_TYPES: readonly string[] = ['Subscription'];

/** Written by the gateway only (native ingest, audit): a client can neither create nor change them through /fhir. */
export const SERVER_OWNED_TYPES: readonly string[] = ['Provenance', 'AuditEvent'];

function isProtectedType(type: string): boolean {
  return !DIRECTORY_TYPES.includes(type);
}

/** The gateway acting on its own (seeding, workers, ingest's server-owned writes). */
export function isGateway(ctx: RequestContext): boolean {
  return ctx.roles.includes('system');
}

/**
 * The organisations whose handovers `ctx` may read, or undefined for all of them: the gateway itself, the
 * ZCC (every handover of its region; the gateway serves one region, so all of them) and the auditor.
 */
export function readableParties(ctx: RequestContext): string[] | undefined {
  if (isGateway(ctx) || ctx.roles.includes('zcc') || ctx.roles.includes('auditor')) return undefined;
  return [ctx.organizationUra];
}

/** Whose owner-only resources (OWNER_ONLY_TYPES) `ctx` reads: undefined for all (the gateway), none for the auditor. */
export function ownedParties(ctx: RequestContext): string[] | undefined {
  if (isGateway(ctx)) return undefined;
  if (ctx.roles.includes('auditor')) return [];
  return [ctx.organizationUra];
}

/**
 * The parties of which a stored resource of `type` must have one for `ctx` to read it, or undefined when any such
 * resource is readable: what `canRead` decides, for a check made in SQL (`parties && these`).
 */
export function partiesToRead(ctx: RequestContext, type: string): string[] | undefined {
  if (!isProtectedType(type)) return undefined;
  return OWNER_ONLY_TYPES.includes(type) ? ownedParties(ctx) : readableParties(ctx);
}

/** Whether `ctx` may read a resource of `type` whose parties are `parties`. */
export function canRead(ctx: RequestContext, type: string, parties: readonly string[] | undefined): boolean {
  const needed = partiesToRead(ctx, type);
  return needed === undefined || needed.some((p) => parties?.includes(p) === true);
}

/**
 * Whether `ctx` may change a stored resource of `type`. Reading the whole region gives the ZCC no right
 * to change it: it changes only handovers it is party to (those it requested), like everyone else.
 */
export function canChange(ctx: RequestContext, type: string, parties: readonly string[] | undefined): boolean {
  if (isGateway(ctx)) return true;
  if (!isProtectedType(type)) return true;
  return parties?.includes(ctx.organizationUra) === true;
}

/** Refuses a write before anything is looked up: the auditor writes nothing, server-owned types are the gateway's. */
export function checkWriteAllowed(ctx: RequestContext, type: string): void {
  if (isGateway(ctx)) return;
  if (ctx.roles.includes('auditor')) throw forbidden('The auditor role reads; it cannot create, change or delete anything');
  if (SERVER_OWNED_TYPES.includes(type)) throw methodNotAllowed(`${type} is written by the gateway itself; clients cannot create, change or delete it`);
}


function urasOf(resource: Resource | undefined): string[] {
  const identifiers = (resource as { identifier?: { system?: string; value?: string }[] } | undefined)?.identifier ?? [];
  return identifiers.filter((i) => i.system === URA_SYSTEM && typeof i.value === 'string').map((i) => i.value as string);
}

/**
 * An organisation manages only its own Organization: the URA on it decides who is requester and owner of
 * a handover, so a client that could put another URA there (or change another's) could make itself party.
 */
export function checkOrganizationWrite(ctx: RequestContext, previous: Resource | undefined, next: Resource | undefined): void {
  if (isGateway(ctx)) return;
  const named = [...urasOf(previous), ...urasOf(next)];
  if (named.some((ura) => ura !== ctx.organizationUra)) {
    throw forbidden(`An organisation may only create or change its own Organization (URA ${ctx.organizationUra})`, ['Organization.identifier']);
  }
}

/**
 * Units on the road (issue 20): their positions are personal data of the staff. The ZCC (which dispatches) and
 * the gateway see every organisation's units; any other organisation, the auditor included, only its own. The
 * answer is the URAs whose units `ctx` may read, or undefined for all of them.
 */
export function unitReaders(ctx: RequestContext): string[] | undefined {
  if (isGateway(ctx) || ctx.roles.includes('zcc')) return undefined;
  return [ctx.organizationUra];
}

const VEHICLE_TYPE = 've';

/**
 * A Location of physical type vehicle is a unit on the road: it is served from the unit-status feed, readable by
 * the ZCC and its own organisation only. Written to the directory (which everyone reads) it would leak, so a
 * client may not write one through /fhir.
 */
export function checkDirectoryLocation(ctx: RequestContext, resource: Resource): void {
  if (isGateway(ctx) || resource.resourceType !== 'Location') return;
  const physical = (resource as { physicalType?: { coding?: { code?: string }[] } }).physicalType;
  if (physical?.coding?.some((c) => c.code === VEHICLE_TYPE)) {
    throw forbidden('A Location of physical type vehicle (ve) is a unit on the road: it is reported through POST /native/eenheid, not written to the directory', ['Location.physicalType']);
  }
}
