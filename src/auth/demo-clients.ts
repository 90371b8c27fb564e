import type { ClientRegistration } from './types.ts';

const ALL = ['system/*.cruds'];
const READ_ONLY = ['system/*.rs'];

/** The demo region's clients (see docs/scenarios.md), all with one shared secret: for demos and tests only. */
export function demoClients(secret: string): ClientRegistration[] {
  const client = (clientId: string, organizationUra: string, organizationName: string, roles: string[] = [], scopes = ALL): ClientRegistration => ({
    clientId,
    organizationUra,
    organizationName,
    roles,
    scopes,
    secret,
  });
  return [
    client('hap-vechtdal', '90001234', 'Huisartsenpost Vechtdal'),
    client('rav-noordoost', '90004567', 'RAV Noordoost'),
    client('vvt-ijsseldelta', '90007890', 'Thuiszorg IJsseldelta'),
    client('vvt-sallandse-heuvelrug', '90007891', 'Zorggroep Sallandse Heuvelrug'),
    client('zcc-ijsselland', '90009999', 'ZCC IJsselland', ['zcc']),
    // Reads everything, AuditEvent included, and can change nothing.
    client('auditor', '90009999', 'ZCC IJsselland', ['auditor'], READ_ONLY),
  ];
}
