import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { RequestContext } from '../context.ts';
import type { CapabilityContribution } from '../fhir/capability.ts';
import type { Repository } from '../fhir/repository.ts';
import type { WriteHooks } from '../fhir/write-phases.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { NativeMapper } from '../native/mapping/index.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Database } from '../store/database.ts';
import type { EndpointPolicy } from './endpoint.ts';
import { nativeRenderer, type RenderMessage } from './native-payload.ts';
import { outboxHooks } from './outbox.ts';
import { registerSubscriptionRoutes } from './routes.ts';
import { registerTopicRoutes, topicCapability, topicNames } from './topic.ts';
import { DeliveryWorker } from './worker.ts';

export { verify as verifySignature } from './signing.ts';

export interface Subscriptions {
  hooks: WriteHooks;
  capability: CapabilityContribution;
  /** Registers Subscription, $status, $events and the topic; before the generic REST routes. */
  registerRoutes(router: FhirRouter): void;
  /** Starts the delivery worker (after the routes and hooks exist). */
  start(repository: (ctx: RequestContext) => Repository, mapper: NativeMapper, renderMessage?: RenderMessage): Promise<void>;
  /** Whether this instance's delivery worker is started and not stuck (readiness). */
  delivering(): boolean;
  close(): Promise<void>;
}

/** The handover topic, its subscriptions, the outbox and the delivery worker, composed from configuration. */
export function createSubscriptions(args: { db: Database; logger: Logger; config: Config; fhirBaseUrl: string; metrics: Metrics }): Subscriptions {
  const { db, logger, config, fhirBaseUrl, metrics } = args;
  watchOutbox(db, metrics);
  const policy: EndpointPolicy = { allowHttpLoopback: config.allowHttpLoopbackHooks, allowedOrigins: config.hookAllowedOrigins };
  let worker: DeliveryWorker | undefined;
  const topic = topicNames(config.subscriptionTopicUrl, fhirBaseUrl);
  return {
    hooks: outboxHooks(),
    capability: topicCapability(topic.canonical),
    registerRoutes: (router) => {
      registerTopicRoutes(router, fhirBaseUrl, topic.canonical);
      registerSubscriptionRoutes(router, { fhirBaseUrl, topic, db, policy, kick: () => worker?.wake(true) });
    },
    start: async (repository, mapper, renderMessage) => {
      worker = new DeliveryWorker({
        db,
        logger,
        fhirBaseUrl,
        topic: topic.canonical,
        policy,
        retry: { baseMs: config.hookRetryBaseMs, maxMs: config.hookRetryMaxMs, horizonSeconds: config.hookRetryHorizonSeconds },
        leaseSeconds: config.hookLeaseSeconds,
        sendDeadlineSeconds: config.hookSendDeadlineSeconds,
        maxInFlight: config.hookMaxInFlight,
        maxInFlightPerSubscription: config.hookMaxInFlightPerSubscription,
        maxStatusSends: config.hookMaxStatusSends,
        renderNative: nativeRenderer(repository, mapper, renderMessage),
        onAttempt: (outcome, seconds) => {
          metrics.deliveryAttempts.inc({ outcome });
          metrics.deliveryDuration.observe({ outcome }, seconds);
        },
      });
      await worker.start();
    },
    // A cycle starts every second (the poll); one that has not begun or ended for half a minute is stuck.
    delivering: () => worker?.running(30_000) ?? false,
    close: async () => {
      await worker?.close();
    },
  };
}

/** What operators watch of the outbox, read from the database at each scrape: the same figures from every instance. */
function watchOutbox(db: Database, metrics: Metrics): void {
  const value = async (sql: string): Promise<number> => Number((await db.query<{ n: string | null }>(sql)).rows[0]?.n ?? 0);
  metrics.gauge('gateway_outbox_backlog', 'Notifications stored and not yet delivered (waiting, being sent or waiting for a retry)', () =>
    value(`SELECT count(*)::text AS n FROM subscription_events WHERE state IN ('pending', 'sending')`),
  );
  metrics.gauge('gateway_outbox_oldest_event_age_seconds', 'Age of the oldest notification not yet delivered; 0 when there is none', () =>
    value(`SELECT coalesce(extract(epoch FROM now() - min(occurred)), 0)::text AS n FROM subscription_events WHERE state IN ('pending', 'sending')`),
  );
  metrics.gauge('gateway_outbox_dead_letters', 'Notifications given up after the retry horizon, kept until their subscription is re-activated', () =>
    value(`SELECT count(*)::text AS n FROM subscription_events WHERE state = 'dead'`),
  );
  metrics.gauge('gateway_subscriptions_in_error', 'Subscriptions in status error (a failed handshake, or retries exhausted)', () =>
    value(`SELECT count(*)::text AS n FROM subscription_state WHERE status = 'error'`),
  );
}
