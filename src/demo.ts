import type { Organization } from '@medplum/fhirtypes';
import type { Repository } from './fhir/repository.ts';
import { AGB_SYSTEM, URA_SYSTEM } from './fhir/identifier-systems.ts';


/** The demo organisations of the region's scenarios (docs/scenarios.md). */
export const DEMO_ORGANIZATIONS: { ura: string; agb?: string; name: string; type: string }[] = [
  { ura: '90001234', agb: '03059876', name: 'Huisartsenpost Vechtdal', type: 'HAP' },
  { ura: '90004567', name: 'RAV Noordoost', type: 'RAV' },
  { ura: '90007890', name: 'Thuiszorg IJsseldelta', type: 'VVT' },
  { ura: '90007891', name: 'Zorggroep Sallandse Heuvelrug', type: 'VVT' },
  { ura: '90009999', name: 'ZCC IJsselland', type: 'ZCC' },
];

export function organizationResource(org: (typeof DEMO_ORGANIZATIONS)[number]): Organization {
  return {
    resourceType: 'Organization',
    active: true,
    name: org.name,
    identifier: [
      { system: URA_SYSTEM, value: org.ura },
      ...(org.agb ? [{ system: AGB_SYSTEM, value: org.agb }] : []),
    ],
    type: [{ coding: [{ system: 'https://handover-gateway.nl/fhir/CodeSystem/organization-type', code: org.type }] }],
  };
}

/** Creates the demo organisations once (conditional create by URA: safe to run on every start, by several instances). */
export async function seedDemoOrganizations(repo: Repository): Promise<void> {
  for (const org of DEMO_ORGANIZATIONS) {
    await repo.create(organizationResource(org), { ifNoneExist: `identifier=${URA_SYSTEM}|${org.ura}` });
  }
}
