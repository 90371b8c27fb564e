import type { OperationOutcome } from '@medplum/fhirtypes';
import type { CapabilityContribution } from '../fhir/capability.ts';
import { methodNotAllowed } from '../fhir/outcomes.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { Database } from '../store/database.ts';
import { AUDIT_SEARCH_PARAMETERS, readAuditEvent, searchAuditEvents } from './search.ts';
import { patientTrail, taskTrail } from './trail.ts';
import { verifyChain, type VerifyResult } from './verify.ts';

function verifyOutcome(result: VerifyResult): OperationOutcome {
  const summary = `${result.linked + result.pending} audit records: ${result.linked} linked, ${result.pending} not yet linked; head ${result.head ? `${result.head.seq} ${result.head.hash}` : '(empty)'}`;
  if (result.intact) return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `Intact. ${summary}` }] };
  return {
    resourceType: 'OperationOutcome',
    issue: [
      ...result.problems.map((p) => ({
        severity: 'error' as const,
        code: 'security' as const,
        details: { coding: [{ system: 'https://handover-gateway.nl/fhir/CodeSystem/audit-chain-problem', code: p.kind }], text: p.kind },
        diagnostics: p.detail,
        ...(p.eventId ? { expression: [`AuditEvent/${p.eventId}`] } : {}),
      })),
      { severity: 'information', code: 'informational', diagnostics: summary },
    ],
  };
}

/** The auditor's FHIR routes; registered before the generic REST routes, which would otherwise claim `AuditEvent`. */
export function registerAuditRoutes(router: FhirRouter, db: Database, baseUrl: string): CapabilityContribution {
  // The auditor's: the router checks the role and hands over what the auditor may read (src/access/auditor.ts).
  router.operation('AuditEvent/$verify', { interaction: 'operation', type: 'AuditEvent', access: 'auditor' }, async (req) => {
    const head = req.query.head?.[0];
    const result = await verifyChain(db, head);
    return { status: 200, body: verifyOutcome(result) };
  });
  router.add('GET', 'AuditEvent', { interaction: 'search-type', type: 'AuditEvent', access: 'auditor' }, async (req, { reach }) => ({
    status: 200,
    body: await searchAuditEvents(db, baseUrl, req.query, reach),
  }));
  router.add('GET', 'AuditEvent/:id', { interaction: 'read', type: 'AuditEvent', access: 'auditor' }, async (_req, { params: { id }, reach }) => ({
    status: 200,
    body: await readAuditEvent(db, id, reach),
  }));
  const readOnly = async (): Promise<never> => {
    throw methodNotAllowed('AuditEvent is written by the gateway only: it cannot be created, changed or deleted');
  };
  // Refused to everyone alike, whatever the token may do.
  const refused = (interaction: 'create' | 'update' | 'patch' | 'delete') => ({ interaction, type: 'AuditEvent', access: 'authenticated' }) as const;
  router.add('POST', 'AuditEvent', refused('create'), readOnly);
  for (const [method, interaction] of [['PUT', 'update'], ['PATCH', 'patch'], ['DELETE', 'delete']] as const) {
    router.add(method, 'AuditEvent', refused(interaction), readOnly);
    router.add(method, 'AuditEvent/:id', refused(interaction), readOnly);
  }
  router.add('POST', 'AuditEvent/:id', refused('create'), readOnly);
  router.operation('Task/:id/$trail', { interaction: 'operation', type: 'Task', access: 'auditor' }, async (_req, { params: { id }, reach }) => ({
    status: 200,
    body: await taskTrail(db, baseUrl, id, reach),
  }));
  router.operation('Patient/:id/$trail', { interaction: 'operation', type: 'Patient', access: 'auditor' }, async (_req, { params: { id }, reach }) => ({
    status: 200,
    body: await patientTrail(db, baseUrl, id, reach),
  }));

  const op = (name: string, definition: string) => ({ name, definition });
  return {
    resources: [
      {
        type: 'AuditEvent',
        profile: 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read',
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        searchParam: AUDIT_SEARCH_PARAMETERS.filter((p) => !p.startsWith('_')).map((name) => ({ name, type: name === 'date' ? 'date' : name === 'entity' || name === 'patient' ? 'reference' : 'token' })),
        operation: [op('verify', 'https://handover-gateway.nl/fhir/OperationDefinition/AuditEvent-verify')],
      },
    ],
    operations: [
      { type: 'Task', operation: op('trail', 'https://handover-gateway.nl/fhir/OperationDefinition/Task-trail') },
      { type: 'Patient', operation: op('trail', 'https://handover-gateway.nl/fhir/OperationDefinition/Patient-trail') },
    ],
  };
}
