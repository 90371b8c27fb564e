// The units on the FHIR side: `GET Location/{unit id}`, `GET Location?near=...` (and `physical-type=ve`) answered
// from the units a caller may see, and `GET Task/{id}/$candidates`. Every other Location request goes on to the
// directory (the generic REST routes). The audited router around all FHIR routes records every read.
import type { Bundle, BundleEntry, Location, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { projectRow } from '../board/rows.ts';
import type { BoardTargets } from '../board/targets.ts';
import { badRequest, HttpError, notFound, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { FhirRequest, FhirResponse } from '../fhir/rest-types.ts';
import { BY_SCOPE, type FhirRouter } from '../fhir/router.ts';
import { distanceKm, LOCATION_DISTANCE, parseNear, searchBundle, UNIT_KIND_SYSTEM, UNIT_STATUS_SYSTEM } from './location.ts';
import { placeOfPatient } from './places.ts';
import type { UnitRow } from './store.ts';
import type { UnitTables } from './tables.ts';
import type { UnitView } from './view.ts';

const UNIT_ID = /^unit-\d{8}-[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
const ETA_EXTENSION = 'https://handover-gateway.nl/fhir/StructureDefinition/estimated-travel-minutes';
/** The search parameters a unit search understands (R4 Location's, of what a unit has). */
const UNIT_PARAMS = new Set(['near', 'physical-type', 'type', 'operational-status', 'organization', '_id', '_count']);

interface Deps {
  view: UnitView;
  tables: UnitTables;
  targets: BoardTargets;
  baseUrl: string;
  /** The generic REST routes: a Location request that is not about units goes on there. */
  directory: FhirRouter;
}

function tokenMatches(values: string[] | undefined, system: string, code: string): boolean {
  if (!values) return true;
  // Each repeat of the parameter must hold (AND); commas within one are alternatives (OR).
  return values.every((v) => v.split(',').some((t) => (t.includes('|') ? t === `${system}|${code}` : t === code)));
}

function unitMatches(row: UnitRow, query: FhirRequest['query'], organizationId: string | undefined): boolean {
  if (!tokenMatches(query.type, UNIT_KIND_SYSTEM, row.kind)) return false;
  if (!tokenMatches(query['operational-status'], UNIT_STATUS_SYSTEM, row.status)) return false;
  if (!tokenMatches(query['physical-type'], 'http://terminology.hl7.org/CodeSystem/location-physical-type', 've')) return false;
  if (query._id && !query._id.every((v) => v.split(',').includes(row.id))) return false;
  if (query.organization) {
    const refs = query.organization.flatMap((v) => v.split(','));
    if (!refs.some((r) => r === `Organization/${organizationId ?? ''}` || r === organizationId)) return false;
  }
  return true;
}

function versionHeaders(baseUrl: string, row: UnitRow): Record<string, string> {
  return { ETag: `W/"${row.version}"`, 'Last-Modified': new Date(row.received).toUTCString(), 'Content-Location': `${baseUrl}/Location/${row.id}/_history/${row.version}` };
}

function isUnitSearch(query: FhirRequest['query']): boolean {
  return query.near !== undefined || (query['physical-type'] ?? []).some((v) => v.split(',').some((t) => t === 've' || t.endsWith('|ve')));
}

function selfUrl(baseUrl: string, path: string, query: FhirRequest['query']): string {
  const qs = new URLSearchParams(Object.entries(query).flatMap(([k, vs]) => vs.map((v): [string, string] => [k, v]))).toString();
  return `${baseUrl}/${path}${qs ? `?${qs}` : ''}`;
}

export function registerUnitRoutes(fhir: FhirRouter, deps: Deps): void {
  const { view } = deps;

  // The same scope as the directory's route for the same request: a unit or not, a caller without it learns nothing.
  fhir.add('GET', 'Location/:id', { interaction: 'read', type: 'Location', access: BY_SCOPE }, async (req, { params, repo }) => {
    if (!UNIT_ID.test(params.id)) return deps.directory.handle(req, repo);
    const row = await view.one(req.ctx, params.id);
    if (!row) throw notFound(`Location/${params.id} is not known`);
    return { status: 200, body: await view.location(row), headers: versionHeaders(deps.baseUrl, row) };
  });

  // Only the current version of a unit is kept as a version (its positions are history only as unit_positions).
  fhir.add('GET', 'Location/:id/_history/:vid', { interaction: 'vread', type: 'Location', access: BY_SCOPE }, async (req, { params, repo }) => {
    if (!UNIT_ID.test(params.id)) return deps.directory.handle(req, repo);
    const row = await view.one(req.ctx, params.id);
    if (!row || row.version !== params.vid) throw notFound(`Location/${params.id}/_history/${params.vid} is not known (a unit keeps its current version only)`);
    return { status: 200, body: await view.location(row), headers: versionHeaders(deps.baseUrl, row) };
  });

  fhir.add('GET', 'Location', { interaction: 'search-type', type: 'Location', access: BY_SCOPE }, async (req, { repo }) => {
    if (!isUnitSearch(req.query)) return deps.directory.handle(req, repo);
    const count = req.query._count?.[0];
    if (count !== undefined && !/^\d{1,4}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
    const near = req.query.near ? parseNear(req.query.near[0]) : undefined;
    if ((req.query.near?.length ?? 0) > 1) throw badRequest('near may be given once', ['near']);
    const unknown = Object.keys(req.query).filter((k) => !UNIT_PARAMS.has(k) && !k.startsWith('_format'));
    const now = Date.now();
    const found: { location: Location; distanceKm?: number }[] = [];
    for (const row of await view.visible(req.ctx)) {
      const org = await view.organizationRef(row.ura);
      if (!unitMatches(row, req.query, org.reference?.replace(/^Organization\//, ''))) continue;
      const d = near ? distanceKm(near, row) : undefined;
      if (d !== undefined && near && d > near.km) continue;
      found.push({ location: await view.location(row, now), distanceKm: d });
    }
    // Nearest first when searching near a point (R4: results may be sorted by distance).
    if (near) found.sort((a, b) => (a.distanceKm ?? 0) - (b.distanceKm ?? 0));
    const limited = found.slice(0, Math.min(Number(count ?? 100), 1000));
    const bundle = searchBundle(deps.baseUrl, limited, selfUrl(deps.baseUrl, 'Location', req.query));
    bundle.total = found.length;
    if (unknown.length > 0) {
      const warn: OperationOutcome = outcome('not-supported', `Ignored search parameters a unit search does not support: ${unknown.join(', ')}`, unknown, 'warning');
      bundle.entry = [...(bundle.entry ?? []), { resource: warn, search: { mode: 'outcome' } }];
    }
    return { status: 200, body: bundle };
  });

  // Reads a handover and searches units; changes nothing, so by GET or POST.
  fhir.operation('Task/:id/$candidates', { interaction: 'operation', type: 'Task', access: { any: ['r'], also: [{ type: 'Location', letter: 's' }] } }, async (req, { params, repo }) =>
    candidates(deps, req, params.id, repo),
  );
}

/**
 * Who is nearest and free for an open handover: the available units of the kinds its urgency calls for
 * (mappings/eenheid/candidates.json), of the organisations the caller may see, by straight-line distance from
 * the patient's area divided by the kind's speed. Busy, off-duty and stale units are never listed.
 */
async function candidates(deps: Deps, req: FhirRequest, taskId: string, repo: Repository): Promise<FhirResponse> {
  const projected = await projectRow(repo, taskId, deps.targets);
  if (!projected) throw notFound(`Task/${taskId} is not known`);
  if (!projected.open) throw new HttpError(422, outcome('business-rule', `Task/${taskId} is ${projected.row.status}: only an open handover has candidates`));
  const code = projected.row.urgency.code;
  const kinds = deps.tables.kindsByUrgency[code];
  if (!kinds) throw new HttpError(422, outcome('business-rule', `No unit kinds are configured for urgency ${code} (mappings/eenheid/candidates.json)`));
  const patient = projected.resources.find((r): r is Patient => r.resourceType === 'Patient');
  const place = placeOfPatient(deps.tables, patient);
  if (!place) throw new HttpError(422, outcome('business-rule', `Task/${taskId}: the patient's place is unknown (no address with a postcode area or city in mappings/eenheid/places.json)`));
  const now = Date.now();
  const ranked: { row: UnitRow; km: number; minutes: number }[] = [];
  for (const row of await deps.view.visible(req.ctx)) {
    if (!kinds.includes(row.kind) || !deps.view.available(row) || deps.view.isStale(row, now)) continue;
    const km = distanceKm(place, row);
    ranked.push({ row, km, minutes: (km / deps.tables.speedKmPerHour[row.kind]) * 60 });
  }
  ranked.sort((a, b) => a.minutes - b.minutes || a.row.id.localeCompare(b.row.id));
  const entries: BundleEntry[] = [];
  for (const r of ranked) {
    entries.push({
      fullUrl: `${deps.baseUrl}/Location/${r.row.id}`,
      resource: await deps.view.location(r.row, now),
      search: {
        mode: 'match',
        extension: [
          { url: LOCATION_DISTANCE, valueDistance: { value: Math.round(r.km * 100) / 100, unit: 'km', system: 'http://unitsofmeasure.org', code: 'km' } },
          { url: ETA_EXTENSION, valueDecimal: Math.round(r.minutes * 10) / 10 },
        ],
      },
    });
  }
  const note = outcome('informational', `Urgency ${code}: ${kinds.join(', ')}; measured from ${place.name} (straight line, speed per kind); busy, off-duty and stale units left out`, undefined, 'information');
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: ranked.length, entry: [...entries, { resource: note, search: { mode: 'outcome' } }] };
  return { status: 200, body: bundle };
}
