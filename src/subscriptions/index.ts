import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { RequestContext } from '../context.ts';
import type { CapabilityContribution } from '../fhir/capability.ts';
import type { Repository, WriteHooks } from '../fhir/repository.ts';
import type { FhirRequest } from '../fhir/rest-types.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { NativeMapper } from '../native/mapping/index.ts';
import type { Database } from '../store/database.ts';
import type { EndpointPolicy } from './endpoint.ts';
import { nativeRenderer } from './native-payload.ts';
import { outboxHooks } from './outbox.ts';
import { registerSubscriptionRoutes } from './routes.ts';
import { topicCapability, topicUrl } from './topic.ts';
import { DeliveryWorker } from './worker.ts';

export { verify as verifySignature } from './signing.ts';

export interface Subscriptions {
  hooks: WriteHooks;
  capability: CapabilityContribution;
  /** Registers Subscription, $status, $events and the topic; before the generic REST routes. */
  registerRoutes(router: FhirRouter, services: { repo: (req: FhirRequest) => Repository; requireScope: (req: FhirRequest, type: string, interaction: 'c' | 'r' | 'u' | 'd' | 's') => void }): void;
  /** Starts the delivery worker (after the routes and hooks exist). */
  start(repository: (ctx: RequestContext) => Repository, mapper: NativeMapper): Promise<void>;
  close(): Promise<void>;
}

/** The handover topic, its subscriptions, the outbox and the delivery worker, composed from configuration. */
export function createSubscriptions(args: { db: Database; logger: Logger; config: Config; fhirBaseUrl: string }): Subscriptions {
  const { db, logger, config, fhirBaseUrl } = args;
  const policy: EndpointPolicy = { allowHttpLoopback: config.allowHttpLoopbackHooks, allowedOrigins: config.hookAllowedOrigins };
  let worker: DeliveryWorker | undefined;
  return {
    hooks: outboxHooks(),
    capability: topicCapability(fhirBaseUrl),
    registerRoutes: (router, services) =>
      registerSubscriptionRoutes(router, { fhirBaseUrl, db, policy, repo: services.repo, requireScope: services.requireScope, kick: () => worker?.wake(true) }),
    start: async (repository, mapper) => {
      worker = new DeliveryWorker({
        db,
        logger,
        fhirBaseUrl,
        topic: topicUrl(fhirBaseUrl),
        policy,
        retry: { baseMs: config.hookRetryBaseMs, maxMs: config.hookRetryMaxMs, horizonSeconds: config.hookRetryHorizonSeconds },
        renderNative: nativeRenderer(repository, mapper),
      });
      await worker.start();
    },
    close: async () => {
      await worker?.close();
    },
  };
}
