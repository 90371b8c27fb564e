import type { Basic, Bundle, Task } from '@medplum/fhirtypes';
import type { CapabilityContribution } from '../fhir/capability.ts';
import { badRequest, notFound } from '../fhir/outcomes.ts';
import type { FhirRequest } from '../fhir/rest-types.ts';
import type { FhirRouter } from '../fhir/router.ts';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const TOPIC_ID = 'handover';

/** The filters the handover topic offers, and the Task search parameter each one is. */
export const TOPIC_FILTERS = ['owner', 'requester', 'status', 'priority', 'group-identifier'] as const;

/** How the topic is named: its canonical, and what `Subscription.criteria` may say. */
export interface TopicNames {
  canonical: string;
  /** The canonical, and the topic's address on this server (what earlier versions took as its canonical). */
  accepted: string[];
}

export function topicNames(canonical: string, fhirBaseUrl: string): TopicNames {
  return { canonical, accepted: [...new Set([canonical, `${fhirBaseUrl}/SubscriptionTopic/${TOPIC_ID}`])] };
}

/** Whether a Task write is an event of the topic: every create and every status change. */
export function firesOn(interaction: string, task: Task, previous: Task | undefined): boolean {
  if (interaction === 'create') return true;
  if (interaction === 'delete') return false;
  return previous?.status !== task.status;
}

const XVER = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic';

/** The topic as R4 can carry it: a Basic with the cross-version SubscriptionTopic extensions (Backport IG 1.1.0). */
function topicResource(url: string): Basic {
  return {
    resourceType: 'Basic',
    id: TOPIC_ID,
    code: { coding: [{ system: 'http://hl7.org/fhir/fhir-types', code: 'SubscriptionTopic' }] },
    extension: [
      { url: `${XVER}.url`, valueUri: url },
      { url: `${XVER}.version`, valueString: '1' },
      { url: `${XVER}.name`, valueString: 'Handover' },
      { url: `${XVER}.title`, valueString: 'Handover created or changed status' },
      { url: `${XVER}.status`, valueCode: 'active' },
      { url: `${XVER}.description`, valueMarkdown: 'Fires on every create of a handover Task and on every change of its status.' },
      {
        url: `${XVER}.resourceTrigger`,
        extension: [
          { url: 'description', valueMarkdown: 'A handover Task is created or changes status' },
          { url: 'resource', valueUri: 'http://hl7.org/fhir/StructureDefinition/Task' },
          { url: 'supportedInteraction', valueCode: 'create' },
          { url: 'supportedInteraction', valueCode: 'update' },
          { url: 'queryCriteria', extension: [{ url: 'resultForCreate', valueCode: 'test-passes' }, { url: 'resultForDelete', valueCode: 'test-fails' }, { url: 'requireBoth', valueBoolean: false }] },
        ],
      },
      ...TOPIC_FILTERS.map((code) => ({
        url: `${XVER}.canFilterBy`,
        extension: [
          { url: 'resource', valueUri: 'Task' },
          { url: 'filterParameter', valueString: code },
          { url: 'filterDefinition', valueUri: `http://hl7.org/fhir/SearchParameter/Task-${code}` },
        ],
      })),
      {
        url: `${XVER}.notificationShape`,
        extension: [{ url: 'resource', valueUri: 'Task' }],
      },
    ],
  };
}

const TOPIC_CODE = { system: 'http://hl7.org/fhir/fhir-types', code: 'SubscriptionTopic' };

/** Whether the topic matches a `code` token (`SubscriptionTopic`, `system|SubscriptionTopic`, `system|`) and a `url`. */
function topicMatches(query: Record<string, string[] | undefined>, url: string): boolean {
  const code = query.code?.[0];
  if (code !== undefined) {
    const ok = code.split(',').some((c) => {
      const [system, value] = c.includes('|') ? c.split('|', 2) : [undefined, c];
      return (system === undefined || system === TOPIC_CODE.system) && (value === '' ? system !== undefined : value === TOPIC_CODE.code);
    });
    if (!ok) return false;
  }
  const id = query._id?.[0];
  if (id !== undefined && !id.split(',').includes(TOPIC_ID)) return false;
  const wanted = query.url?.[0];
  return wanted === undefined || wanted.split('|')[0] === url;
}

/**
 * The topic as a resource: `SubscriptionTopic/handover` and `Basic/handover`, and found by search as the
 * Backport IG's R4 topics are (`Basic?code=SubscriptionTopic`, `url=` its canonical; `SubscriptionTopic?url=`).
 * Every authenticated client may read it: it describes the API and holds no data.
 */
export function registerTopicRoutes(router: FhirRouter, fhirBaseUrl: string, url: string): void {
  const search = (type: string, params: string[]) => async (req: FhirRequest) => {
    const unknown = Object.keys(req.query).filter((k) => !params.includes(k) && !['_count', '_format', '_summary', '_total', '_sort'].includes(k));
    if (unknown.length) throw badRequest(`${type} can be searched here by ${params.join(', ')}; not by ${unknown.join(', ')}`, unknown);
    const match = topicMatches(req.query, url) && req.query._summary?.[0] !== 'count' && req.query._count?.[0] !== '0';
    const total = topicMatches(req.query, url) ? 1 : 0;
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total };
    if (match) bundle.entry = [{ fullUrl: `${fhirBaseUrl}/${type}/${TOPIC_ID}`, resource: topicResource(url), search: { mode: 'match' } }];
    return { status: 200, body: bundle };
  };
  // The topic is the gateway's, the same for every caller: any token reads it.
  router.add('GET', 'Basic', { interaction: 'search-type', type: 'Basic', access: 'authenticated' }, search('Basic', ['code', 'url', '_id']));
  router.add('GET', 'SubscriptionTopic', { interaction: 'search-type', type: 'SubscriptionTopic', access: 'authenticated' }, search('SubscriptionTopic', ['url', '_id']));
  for (const type of ['SubscriptionTopic', 'Basic']) {
    router.add('GET', `${type}/:id`, { interaction: 'read', type, access: 'authenticated' }, async (_req, { params: { id } }) => {
      if (id !== TOPIC_ID) throw notFound(`${type}/${id} is not known`);
      return { status: 200, body: topicResource(url) };
    });
  }
}

/**
 * The CapabilityStatement lines for subscriptions: Subscription with its profile, operations and, as the Backport
 * IG puts it (extension context CapabilityStatement.rest.resource), the topic's canonical; the IG's R4 server
 * statement as what the gateway instantiates.
 */
export function topicCapability(url: string): CapabilityContribution {
  return {
    instantiates: ['http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4'],
    resources: [
      {
        extension: [{ url: `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`, valueCanonical: url }],
        type: 'Subscription',
        supportedProfile: [`${BACKPORT}/backport-subscription`],
        interaction: [{ code: 'read' }, { code: 'create' }, { code: 'update' }, { code: 'patch' }, { code: 'delete' }, { code: 'search-type' }],
        // The Backport IG's Subscription searches (src/subscriptions/routes.ts).
        searchParam: [
          { name: 'status', type: 'token' },
          { name: 'url', type: 'uri' },
        ],
        operation: [
          { name: 'status', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status' },
          { name: 'events', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events' },
        ],
      },
    ],
  };
}
