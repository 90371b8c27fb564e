import type { Basic, Task } from '@medplum/fhirtypes';
import type { CapabilityContribution } from '../fhir/capability.ts';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const TOPIC_ID = 'handover';

/** The filters the handover topic offers, and the Task search parameter each one is. */
export const TOPIC_FILTERS = ['owner', 'requester', 'status', 'priority', 'group-identifier'] as const;

export function topicUrl(fhirBaseUrl: string): string {
  return `${fhirBaseUrl}/SubscriptionTopic/${TOPIC_ID}`;
}

/** Whether a Task write is an event of the topic: every create and every status change. */
export function firesOn(interaction: string, task: Task, previous: Task | undefined): boolean {
  if (interaction === 'create') return true;
  if (interaction === 'delete') return false;
  return previous?.status !== task.status;
}

const XVER = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic';

/** The topic as R4 can carry it: a Basic with the cross-version SubscriptionTopic extensions (Backport IG 1.1.0). */
export function topicResource(fhirBaseUrl: string): Basic {
  const url = topicUrl(fhirBaseUrl);
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

/** The CapabilityStatement lines for subscriptions: the topic (readable at its canonical URL and as Basic/handover) and Subscription with its operations. */
export function topicCapability(fhirBaseUrl: string): CapabilityContribution {
  return {
    extension: [{ url: `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`, valueCanonical: topicUrl(fhirBaseUrl) }],
    resources: [
      {
        type: 'Subscription',
        supportedProfile: [`${BACKPORT}/backport-subscription`],
        interaction: [{ code: 'read' }, { code: 'create' }, { code: 'update' }, { code: 'delete' }, { code: 'search-type' }],
        operation: [
          { name: 'status', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status' },
          { name: 'events', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events' },
        ],
      },
    ],
  };
}
