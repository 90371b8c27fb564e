import type { Parameters, Resource } from '@medplum/fhirtypes';
import type { CapabilityContribution } from './capability.ts';
import { allOk, badRequest, outcomeOf } from './outcomes.ts';
import { isWritableType } from './resource-types.ts';
import type { FhirRouter } from './router.ts';
import type { ProfileValidator } from './validation/index.ts';
import { WRITABLE_TYPES } from './resource-types.ts';

/** `POST [type]/$validate`: the same checks every write of that type passes, without storing anything. */
export function registerValidateRoutes(router: FhirRouter, profiles: ProfileValidator): CapabilityContribution {
  const type = {
    param: 'type',
    check: (t: string) => {
      if (!isWritableType(t)) throw badRequest(`Resource type '${t}' is not supported here`);
    },
  };
  // $validate answers "would this create or update pass?": it is for clients that may write the type.
  router.add('POST', ':type/$validate', { interaction: 'operation', type, access: { any: ['c', 'u'] } }, async (req, { params: { type } }) => {
    let resource = req.body as Resource | Parameters | undefined;
    let profile = req.query.profile?.[0];
    if (resource?.resourceType === 'Parameters') {
      const params = resource.parameter ?? [];
      const part = params.find((p) => p.name === 'profile');
      profile = part?.valueUri ?? part?.valueCanonical ?? profile;
      resource = params.find((p) => p.name === 'resource')?.resource;
    }
    if (!resource || resource.resourceType !== type) throw badRequest(`$validate takes a ${type} (or Parameters with a 'resource' part)`);
    const issues = profile ? profiles.validateAgainst(resource, profile) : profiles.validate(resource);
    return { status: 200, body: issues.length ? outcomeOf(issues) : allOk('The resource is valid') };
  });
  return {
    operations: WRITABLE_TYPES.map((type) => ({ type, operation: { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' } })),
  };
}
