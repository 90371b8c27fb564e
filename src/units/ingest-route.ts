// POST /native/eenheid: one fix of one unit, or an array of fixes (a system reporting all its units at once). Cheap on purpose (sent every few seconds by every unit): the record is
// checked, then stored in one statement. Accepted fixes are not audited one by one (they are the staff's positions,
// not patient data, and kept only UNIT_HISTORY_HOURS); refusals are, like every refused request, and every read is.
import type { RequestContext } from '../context.ts';
import { badRequest, HttpError, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { sendFhir } from '../http/app.ts';
import { parseJsonBody } from '../http/json-body.ts';
import { checkAccept, requireContentType } from '../http/media-types.ts';
import { SecureRoutes } from '../http/secure-routes.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Database } from '../store/database.ts';
import type { UnitFormat } from './format.ts';
import { unitStore, type FixOutcome } from './store.ts';

const MESSAGE = { stored: 'The fix is stored as the unit\'s current position', duplicate: 'This fix (unit, time) was stored before; nothing changed', older: 'A newer fix of this unit is already stored; this one is ignored' };

/** `POST /native/eenheid`: creates a unit the first time and updates it after, so it needs both on Location (403 before the handler, counted). */
export function unitIngestRoutes(deps: { db: Database; format: UnitFormat; repository: (ctx: RequestContext) => Repository; fhirBaseUrl: string; metrics?: Metrics }): SecureRoutes {
  const routes = new SecureRoutes({ mount: '/native/eenheid', refused: () => deps.metrics?.nativeRecords.inc({ format: 'eenheid', outcome: 'refused' }) });
  // The body is read by the HTTP wiring (src/http/app.ts) under MAX_BODY_BYTES, as for every protected route.
  routes.post('/', { scopes: ['Location.c', 'Location.u'] }, async (req, res, ctx) => {
    try {
      checkAccept(req);
      requireContentType(req);
      if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw badRequest('The request body is empty');
      const { fixes, batch } = deps.format.parseBody(parseJsonBody(req.body), ctx.organizationUra, new Date());
      // The handover a busy unit serves must be one its organisation is party to (it is shown beside the unit).
      for (const handoverId of new Set(fixes.map((f) => f.handoverId).filter((h): h is string => h !== undefined))) {
        try {
          await deps.repository(ctx).read('Task', handoverId);
        } catch (err) {
          if (err instanceof HttpError && (err.status === 404 || err.status === 410)) {
            throw new HttpError(422, outcome('business-rule', `overdrachtId ${handoverId} is no handover of organisation ${ctx.organizationUra}`, ['$.overdrachtId']));
          }
          throw err;
        }
      }
      const results = await unitStore.recordFixes(deps.db, fixes);
      const counts: Record<FixOutcome, number> = { stored: 0, duplicate: 0, older: 0 };
      for (const r of results) counts[r]++;
      deps.metrics?.nativeRecords.inc({ format: 'eenheid', outcome: 'updated' }, counts.stored);
      deps.metrics?.nativeRecords.inc({ format: 'eenheid', outcome: 'unchanged' }, counts.duplicate + counts.older);
      if (!batch) {
        const result = results[0] ?? 'older';
        sendFhir(res, 200, outcome('informational', MESSAGE[result], undefined, 'information'), {
          'Content-Location': `${deps.fhirBaseUrl}/Location/${fixes[0]?.unitId ?? ''}`,
          'X-Unit-Fix': result,
        });
        return;
      }
      const summary = `${counts.stored} stored, ${counts.duplicate} duplicate, ${counts.older} older (ignored)`;
      sendFhir(res, 200, outcome('informational', `${fixes.length} fixes: ${summary}`, undefined, 'information'), {
        'X-Unit-Fixes': `stored=${counts.stored}, duplicate=${counts.duplicate}, older=${counts.older}`,
      });
    } catch (err) {
      deps.metrics?.nativeRecords.inc({ format: 'eenheid', outcome: 'refused' });
      throw err;
    }
  });
  return routes;
}
