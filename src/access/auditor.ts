import type { Organization } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import { forbidden } from '../fhir/outcomes.ts';
import type { Queryable } from '../store/database.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';

// The organisation type of the region's coordination centre (src/demo.ts), which sees every handover of the region.
const REGION_WIDE_TYPE = 'ZCC';

/** What an auditor may read: its own organisation's audit data and handovers, or the whole region's for the ZCC's auditor. */
export type AuditorReach = { all: true } | { all: false; ura: string };

export async function auditorReach(q: Queryable, ctx: RequestContext): Promise<AuditorReach> {
  // Role-based, not per object: the same answer for every id, so it tells nothing about what exists.
  if (!ctx.roles.includes('auditor')) throw forbidden('Audit data is for the auditor role only');
  const r = await q.query<{ content: Organization }>(
    `SELECT content FROM resources WHERE resource_type = 'Organization' AND NOT deleted AND tokens @> ARRAY[$1::text] LIMIT 1`,
    [`identifier=${URA_SYSTEM}|${ctx.organizationUra}`],
  );
  const org = r.rows[0]?.content;
  const regionWide = org?.type?.some((t) => t.coding?.some((c) => c.code === REGION_WIDE_TYPE)) ?? false;
  return regionWide ? { all: true } : { all: false, ura: ctx.organizationUra };
}
