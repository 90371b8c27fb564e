import type { HealthcareService, Reference, Task } from '@medplum/fhirtypes';
import { HttpError, outcome } from '../fhir/outcomes.ts';
import type { WriteHooks } from '../fhir/repository.ts';
import { ID_PATTERN } from '../fhir/resource-types.ts';
import { resourceStore } from '../store/resource-store.ts';

/** Where the HealthcareService a client named as owner is kept (profiles/owner-healthcareservice.json). */
const OWNER_SERVICE_EXTENSION = 'https://handover-gateway.nl/fhir/StructureDefinition/owner-healthcareservice';

const refused = (message: string): HttpError => new HttpError(422, outcome('business-rule', message, ['Task.owner']));

/**
 * A Task whose owner is a HealthcareService (the Twiin TA Workflow IG names the receiving service) gets the
 * Organization that provides it as owner, before it is validated: the workflow, the parties and the
 * notifications are decided by organisations. The client's reference is kept in an extension on `owner`, so
 * nothing it sent is lost. Runs right after the reference hook, before every other write hook (rule review, profiles/README.md).
 */
export function ownerServiceHooks(): WriteHooks {
  return {
    beforeWrite: async (tx, _ctx, { interaction, next }) => {
      if (next.resourceType !== 'Task' || interaction === 'delete') return;
      const task = next as Task;
      const owner = task.owner;
      const literal = owner?.reference;
      if (!owner || !literal?.startsWith('HealthcareService/')) return;
      const id = literal.slice('HealthcareService/'.length);
      if (!ID_PATTERN.test(id)) throw refused(`Task.owner ${literal} is not a reference to a HealthcareService`);
      const stored = await resourceStore.current(tx, 'HealthcareService', id);
      if (!stored || stored.deleted) throw refused(`Task.owner ${literal} is not known here: send owner = Reference(Organization) of the receiver, or a HealthcareService of the directory`);
      const provider = (stored.content as HealthcareService).providedBy?.reference;
      if (!provider || !/^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(provider)) {
        throw refused(`Task.owner ${literal} names no providedBy Organization, so the receiving organisation is not known: send owner = Reference(Organization) of the receiver`);
      }
      const service: Reference = { reference: literal, ...(owner.identifier ? { identifier: owner.identifier } : {}), ...(owner.display ? { display: owner.display } : {}) };
      const kept = (owner.extension ?? []).filter((e) => e.url !== OWNER_SERVICE_EXTENSION);
      task.owner = { reference: provider, extension: [...kept, { url: OWNER_SERVICE_EXTENSION, valueReference: service }] };
    },
  };
}
