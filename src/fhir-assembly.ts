// The FHIR API's routes, assembled once: the router with its capabilities (metadata), transaction and batch, terminology,
// validation, conformance, subscriptions, the audit trail, units, messaging and the generic REST routes, in the order
// the router needs (src/fhir/router.ts picks the most specific route; messaging before REST claims `POST Bundle`).
import { join } from 'node:path';
import type { Bundle, CapabilityStatement, OperationDefinition } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { Audit } from './audit/index.ts';
import { auditorReach } from './access/auditor.ts';
import type { OrganizationDirectory } from './access/organizations.ts';
import type { RequestContext } from './context.ts';
import { buildCapabilityStatement, type CapabilityContribution } from './fhir/capability.ts';
import { badRequest } from './fhir/outcomes.ts';
import type { Repository } from './fhir/repository.ts';
import { registerRestRoutes, type RestServices } from './fhir/rest.ts';
import { FhirRouter, type RouterDeps } from './fhir/router.ts';
import type { SearchParameterRegistry } from './fhir/search/parameters.ts';
import { processBatch, processTransaction } from './fhir/transaction.ts';
import { registerTerminologyRoutes } from './fhir/terminology-routes.ts';
import { registerValidateRoutes } from './fhir/validate-routes.ts';
import { registerConformanceRoutes, servedSearchParameters } from './fhir/conformance-routes.ts';
import type { ProfileValidator } from './fhir/validation/index.ts';
import { MessageReceiver } from './messaging/receive.ts';
import { MessageRenderer } from './messaging/render.ts';
import { registerMessagingRoutes } from './messaging/routes.ts';
import { loadMessageRules } from './messaging/rules.ts';
import type { Terminology } from './native/mapping/index.ts';
import type { Database } from './store/database.ts';
import type { Subscriptions } from './subscriptions/index.ts';
import type { Units } from './units/index.ts';

export interface FhirAssemblyDeps {
  /** The repository's root (profiles/ under it) and the gateway's version, for the CapabilityStatement. */
  rootDir: string;
  version: string;
  db: Database;
  logger: Logger;
  fhirBaseUrl: string;
  registry: SearchParameterRegistry;
  profiles: ProfileValidator;
  operationDefinitions: OperationDefinition[];
  terminology: Terminology;
  repository: (ctx: RequestContext) => Repository;
  organizations: OrganizationDirectory;
  audit: Audit;
  subscriptions: Subscriptions;
  units: Units;
}

/** The gateway's FHIR router with every route registered, and the renderer of AZ-IG messages (for delivery). */
export function assembleFhirRoutes(deps: FhirAssemblyDeps): { fhir: FhirRouter; messages: MessageRenderer } {
  const { rootDir, version, db, logger, fhirBaseUrl, registry, profiles, operationDefinitions, terminology, repository, organizations, audit, subscriptions, units } = deps;
  const routerDeps: RouterDeps = { repository, auditorReach: (ctx) => auditorReach(db, ctx) };
  const fhir = new FhirRouter(routerDeps);
  const services: RestServices = { baseUrl: fhirBaseUrl, logger };
  const contributions: CapabilityContribution[] = [];
  let capability: CapabilityStatement | undefined;
  fhir.add('GET', 'metadata', { interaction: 'capabilities', access: 'public' }, async () => {
    capability ??= buildCapabilityStatement({
      baseUrl: fhirBaseUrl,
      version,
      registry,
      contributions,
      conformance: { profiles: profiles.profiles.filter((p) => p.type !== 'Extension'), operations: operationDefinitions },
    });
    return { status: 200, body: capability };
  });
  // Each entry is authorized by the router as it is routed (or, for a create or conditional update, by its interaction).
  fhir.add('POST', '', { interaction: 'transaction', access: 'authenticated' }, async (req, { repo }) => {
    const bundle = req.body as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle') throw badRequest('POST to the base takes a Bundle of type transaction or batch');
    if (bundle.type === 'transaction') return { status: 200, body: await processTransaction(services, fhir, req, bundle, repo) };
    if (bundle.type === 'batch') return { status: 200, body: await processBatch(services, fhir, req, bundle) };
    throw badRequest(`Bundle.type must be transaction or batch, got '${String(bundle.type)}'`, ['Bundle.type']);
  });
  contributions.push(registerTerminologyRoutes(fhir, fhirBaseUrl, terminology));
  contributions.push(registerValidateRoutes(fhir, profiles));
  registerConformanceRoutes(fhir, fhirBaseUrl, { structureDefinitions: profiles.profiles.map((p) => p.structureDefinition), searchParameters: servedSearchParameters(registry), operationDefinitions });
  subscriptions.registerRoutes(fhir);
  contributions.push(subscriptions.capability);
  // The router picks the most specific route whatever the order: `AuditEvent` before `:type`, `Location/:id` before `:type/:id`.
  contributions.push(audit.registerRoutes(fhir, fhirBaseUrl));
  // Units are Locations too: their routes hand any other Location request to the directory's.
  const directory = new FhirRouter(routerDeps);
  registerRestRoutes(directory, services);
  units.registerRoutes(fhir, directory);
  // Before the generic REST routes, which would claim `POST Bundle` as a create of an unsupported type.
  const messageRules = loadMessageRules(join(rootDir, 'profiles/az-ig/referral-message.json'));
  contributions.push(registerMessagingRoutes(fhir, services, new MessageReceiver(fhirBaseUrl, organizations, messageRules)));
  const messages = new MessageRenderer(fhirBaseUrl, messageRules, db);
  registerRestRoutes(fhir, services);
  return { fhir, messages };
}
