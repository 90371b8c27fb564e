import { describeNativeRequest, nativeRecordEntity, type AuditLog } from '../audit/index.ts';
import { nativePermissions } from '../auth/scopes.ts';
import type { RequestContext } from '../context.ts';
import { badRequest, HttpError, notFound, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { NativeIngest } from '../handover/ingest.ts';
import { loadHandoverView } from '../handover/view.ts';
import type { NativeMapper } from '../native/mapping/index.ts';
import { NATIVE_FORMATS, type NativeFormat, type NativeRecord } from '../native/types.ts';
import { toOperationOutcome, type NativeValidators } from '../native/validation.ts';
import { sendFhir } from './app.ts';
import type { Metrics } from '../observability/metrics.ts';
import { parseJsonBody } from './json-body.ts';
import { checkAccept, requireContentType } from './media-types.ts';
import { SecureRoutes } from './secure-routes.ts';

export interface NativeRouteDeps {
  validators: NativeValidators;
  mapper: NativeMapper;
  ingest: NativeIngest;
  repository: (ctx: RequestContext) => Repository;
  /** Records each record received (its writes are audited in the ingest transaction) and each rendering. */
  audit?: AuditLog;
  metrics?: Metrics;
}

/** The format each kind of organisation's system speaks (the ZCC's VVT centralist uses the vvt format). */
const FORMAT_OF_KIND: Record<string, NativeFormat> = { HAP: 'nts', RAV: 'ambulance', VVT: 'vvt', ZCC: 'vvt' };

function formatOf(raw: string | string[] | undefined): NativeFormat {
  if (typeof raw === 'string' && (NATIVE_FORMATS as readonly string[]).includes(raw)) return raw as NativeFormat;
  throw notFound(`Unknown native format '${String(raw)}'; the gateway speaks ${NATIVE_FORMATS.join(', ')}`);
}

/**
 * POST /native/{format}: a system's own record in; GET /native/{format}/{handoverId}: a handover rendered in that format.
 * The format is checked first (404), then the scopes (403; a refused record is counted), then the handler runs.
 */
export function nativeRoutes(deps: NativeRouteDeps): SecureRoutes {
  const routes = new SecureRoutes({
    mount: '/native',
    refused: (req) => {
      if (req.method === 'POST') deps.metrics?.nativeRecords.inc({ format: formatOf(req.params.format), outcome: 'refused' });
    },
  });
  routes.param('format', formatOf);

  // The body is read by the HTTP wiring (src/http/app.ts) before the write slot is taken, under its size and time limits.
  routes.post(
    '/:format',
    { scopes: nativePermissions('POST') },
    async (req, res, ctx) => {
      const format = formatOf(req.params.format);
      // A refusal before this point (format, scopes) is audited as the same description, made from the path (src/audit/http.ts).
      deps.audit?.begin(ctx, describeNativeRequest('POST', `/${format}`));
      try {
        checkAccept(req);
        requireContentType(req);
        if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw badRequest('The request body is empty');
        const record = parseJsonBody(req.body);
        if (!record || typeof record !== 'object' || Array.isArray(record)) throw badRequest(`A ${format} record is a JSON object`);
        const result = deps.validators.validate(format, record);
        if (!result.ok) throw new HttpError(result.status, toOperationOutcome(result));
        const mapped = deps.mapper.toFhir(format, record as NativeRecord);
        // NEN 7513: the person on whose behalf the system sends (triagist, crew, nurse) goes with every audit row of this record.
        if (mapped.onBehalfOf) ctx.onBehalfOf = mapped.onBehalfOf.big ? `${mapped.onBehalfOf.name} (BIG ${mapped.onBehalfOf.big})` : mapped.onBehalfOf.name;
        deps.audit?.describe(ctx, { detail: [nativeRecordEntity(format, mapped)] });
        const outcome = await deps.ingest.ingest(deps.repository(ctx), format, record as NativeRecord, mapped);
        const headers: Record<string, string> = {};
        if (outcome.location) headers.Location = outcome.location;
        if (outcome.note) headers['X-Handover-Note'] = outcome.note;
        const bundle = outcome.note
          ? { ...outcome.bundle, entry: [...(outcome.bundle.entry ?? []), { resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: outcome.note }] } }] }
          : outcome.bundle;
        deps.metrics?.nativeRecords.inc({ format, outcome: outcome.status === 201 ? 'created' : outcome.note ? 'unchanged' : 'updated' });
        // A re-send changes nothing, so the ingest transaction audited nothing: it is audited here, before the answer.
        await deps.audit?.completed(ctx, { status: outcome.status, entities: outcome.location ? [outcome.location.replace(/^.*\/fhir\//, '')] : [] });
        sendFhir(res, outcome.status, bundle, headers);
      } catch (err) {
        deps.metrics?.nativeRecords.inc({ format, outcome: 'refused' });
        throw err;
      }
    },
  );

  routes.get(
    '/:format/:handoverId',
    { scopes: nativePermissions('GET') },
    async (req, res, ctx) => {
      const format = formatOf(req.params.format);
      deps.audit?.begin(ctx, describeNativeRequest('GET', `/${format}/${String(req.params.handoverId)}`));
      const { view, perspective, version } = await loadHandoverView(deps.repository(ctx), String(req.params.handoverId));
      // Each side reads a handover in its own system's format; another format has no place for its side of it.
      const side = perspective === 'receiver' ? view.owner : view.requester;
      const own = FORMAT_OF_KIND[side.kind ?? ''];
      if (own && own !== format) {
        throw new HttpError(
          422,
          outcome('business-rule', `A ${side.kind} reads its handovers as ${own} records: ask GET /native/${own}/${String(req.params.handoverId)}`, ['format']),
        );
      }
      const rendered = deps.mapper.render(format, view, perspective, version);
      const shown = [view.task, view.serviceRequest, view.patient, ...view.encounters, ...view.observations].filter((r) => r !== undefined);
      await deps.audit?.completed(ctx, { status: 200, resources: shown });
      res.status(200).type('application/json').send(JSON.stringify(rendered));
    },
  );
  return routes;
}
