import type { HealthcareService, Identifier, Reference, Task } from '@medplum/fhirtypes';
import { forbidden, HttpError, outcome } from '../fhir/outcomes.ts';
import type { WriteHooks } from '../fhir/write-phases.ts';
import { ID_PATTERN, referencePatternOf } from '../fhir/resource-types.ts';
import type { Tx } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { organizationOf, type OrganizationDirectory } from '../access/organizations.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { isGateway } from '../access/policy.ts';

const ORGANIZATION_REFERENCE = referencePatternOf('Organization');


/** An assigner named by KvK number: Twiin TA Workflow refuses such an identifier (twiin-aid-1). */
const KVK_SYSTEM = 'http://kvk.nl';

const refused = (message: string, expression = 'Task.owner'): HttpError => new HttpError(422, outcome('business-rule', message, [expression]));

/** A Reference that names a HealthcareService by its identifier alone (Twiin: `owner.type` and the AssignedId). */
function serviceIdentifier(owner: Reference): Identifier | undefined {
  const identifier = owner.identifier;
  if (owner.reference || !identifier?.value || !identifier.system || identifier.system === URA_SYSTEM) return undefined;
  if (owner.type !== undefined && owner.type !== 'HealthcareService') return undefined;
  return identifier;
}

/**
 * The HealthcareService holding `identifier`, found through the search index (HealthcareService.identifier).
 * One service only: two services of the directory with one identifier cannot say which organisation receives.
 */
async function serviceByIdentifier(tx: Tx, identifier: Identifier): Promise<string> {
  const label = `${identifier.system}|${identifier.value}`;
  if (identifier.assigner?.identifier?.system === KVK_SYSTEM) {
    throw refused(`Task.owner.identifier ${label} has an assigner named by KvK number, which the Twiin TA Workflow does not allow (twiin-aid-1)`, 'Task.owner.identifier.assigner');
  }
  const found = await tx.query<{ id: string }>(
    `SELECT id FROM resources WHERE resource_type = 'HealthcareService' AND NOT deleted AND tokens && $1::text[] ORDER BY id LIMIT 2`,
    [[`identifier=${label}`]],
  );
  if (found.rows.length === 0) {
    throw refused(`Task.owner.identifier ${label} names no HealthcareService of the directory: the receiving organisation publishes its HealthcareService (with this identifier and providedBy) first`, 'Task.owner.identifier');
  }
  if (found.rows.length > 1) throw refused(`Task.owner.identifier ${label} is held by more than one HealthcareService of the directory, so the receiver is not known`, 'Task.owner.identifier');
  return `HealthcareService/${found.rows[0].id}`;
}

/**
 * A Task whose owner is a HealthcareService (the Twiin TA Workflow IG names the receiving service, by reference
 * or by its identifier alone) keeps its owner as sent (issue 18: everything a Twiin Task carries is read back):
 * one named by identifier alone gains the literal reference to the service, as a URA identifier gains the
 * Organization's (src/fhir/references/hooks.ts). The service must be in the directory with a providing
 * Organization; the workflow, the parties, the outbox and search follow that organisation
 * (`organizationOf`, `uraOfReferenceSql` in src/access/organizations.ts; the index tokens below). Second in the `resolve`
 * write phase, right after the references, before every other phase (rule review, profiles/README.md).
 */
export function ownerServiceHooks(orgs: OrganizationDirectory): WriteHooks {
  return {
    beforeWrite: async ({ tx }, { interaction, next }) => {
      if (next.resourceType !== 'Task' || interaction === 'delete') return;
      const task = next as Task;
      const owner = task.owner;
      if (!owner) return;
      const byIdentifier = serviceIdentifier(owner);
      const literal = byIdentifier ? await serviceByIdentifier(tx, byIdentifier) : owner.reference;
      if (!literal?.startsWith('HealthcareService/')) return;
      const id = literal.slice('HealthcareService/'.length);
      if (!ID_PATTERN.test(id)) throw refused(`Task.owner ${literal} is not a reference to a HealthcareService`);
      const stored = await resourceStore.current(tx, 'HealthcareService', id);
      if (!stored || stored.deleted) throw refused(`Task.owner ${literal} is not known here: send owner = Reference(Organization) of the receiver, or a HealthcareService of the directory`);
      const provider = (stored.content as HealthcareService).providedBy?.reference;
      if (!provider || !ORGANIZATION_REFERENCE.test(provider)) {
        throw refused(`Task.owner ${literal} names no providedBy Organization, so the receiving organisation is not known: send owner = Reference(Organization) of the receiver`);
      }
      task.owner = { ...owner, reference: literal };
    },
    // `owner=Organization/<id>` (and by URA) finds a Task owned by a service of that organisation, as its parties do.
    indexTokens: async (open, resource) => {
      if (resource.resourceType !== 'Task') return [];
      const ref = (resource as Task).owner?.reference;
      if (!ref?.startsWith('HealthcareService/')) return [];
      const organization = await organizationOf(open.tx, ref);
      if (!organization) return [];
      const ura = await orgs.uraOf(open, organization);
      // Each value once, as index-values.ts indexes it (`owner=<id>` and `owner:identifier=<system>|` are searched as these).
      return [`owner=${organization}`, ...(ura ? [`owner:identifier=${URA_SYSTEM}|${ura}`, `owner:identifier=${ura}`] : [])];
    },
  };
}

/**
 * A HealthcareService is a directory resource its organisation manages for itself, like its Organization
 * (`checkOrganizationWrite`): its providedBy decides which organisation receives the Tasks addressed to it, so a
 * client that could name another provider (or change another's service) could make itself or another party.
 * A service naming no provider may be written by anyone and receives nothing (the owner hook refuses it).
 */
export function serviceDirectoryHooks(orgs: OrganizationDirectory): WriteHooks {
  return {
    beforeWrite: async (w, { previous, next }) => {
      const { ctx } = w;
      if (next.resourceType !== 'HealthcareService' || isGateway(ctx)) return;
      const providers = [previous && !previous.deleted ? (previous.content as HealthcareService).providedBy : undefined, (next as HealthcareService).providedBy];
      for (const provider of providers) {
        if (!provider) continue;
        const ura = await orgs.uraOf(w, provider);
        if (ura !== ctx.organizationUra) {
          throw forbidden(`An organisation may only create or change its own HealthcareServices (providedBy its Organization, URA ${ctx.organizationUra})`, ['HealthcareService.providedBy']);
        }
      }
    },
  };
}
