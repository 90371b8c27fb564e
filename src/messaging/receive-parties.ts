// The parties of a received message, found in the gateway's directory: organisations by URA, the receiver by
// destination, endpoint or performer (all that are given must agree).
import type { PractitionerRole, ServiceRequest } from '@medplum/fhirtypes';
import { uraOfOrganization, type OrganizationDirectory } from '../access/organizations.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import type { Repository } from '../fhir/repository.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import type { MessageEntry, ParsedMessage } from './message.ts';
import { err422 } from './receive-check.ts';

/** The organisation an entry stands for, by URA, in the gateway's directory; refused when it has none there. */
export async function directoryOrg(orgs: OrganizationDirectory, repo: Repository, entry: MessageEntry, element: string): Promise<StoredVersion> {
  const ura = uraOfOrganization(entry.resource);
  if (!ura) throw err422(`The Organization ${entry.fullUrl} carries no URA (${URA_SYSTEM}): the gateway knows organisations by URA`, element, 'required');
  const org = await orgs.byUra(repo, ura);
  if (!org) throw err422(`No organisation with URA ${ura} is known to the gateway; nothing was stored`, element, 'not-found');
  return org;
}

/** The receiving organisation: destination.receiver, else the endpoint in the directory, else the referral's performer; all that are given must agree. */
export async function destination(orgs: OrganizationDirectory, repo: Repository, message: ParsedMessage, sr: MessageEntry & { resource: ServiceRequest }): Promise<StoredVersion> {
  const header = message.entries[0];
  const found: { org: StoredVersion; element: string }[] = [];
  for (const [i, d] of (message.header.destination ?? []).entries()) {
    const element = `Bundle.entry[0].resource.destination[${i}]`;
    const receiver = message.targetOf(header, d.receiver?.reference);
    if (receiver) {
      const orgEntry = receiver.resource.resourceType === 'PractitionerRole' ? message.targetOf(receiver, (receiver.resource as PractitionerRole).organization?.reference) : receiver;
      if (orgEntry?.resource.resourceType !== 'Organization') throw err422('MessageHeader.destination.receiver must be (or work for) an Organization of the message', `${element}.receiver`);
      found.push({ org: await directoryOrg(orgs, repo, orgEntry, `${element}.receiver`), element: `${element}.receiver` });
    } else if (d.endpoint) {
      const listed = await byEndpoint(repo, d.endpoint);
      if (listed) found.push({ org: listed, element: `${element}.endpoint` });
    }
  }
  for (const [i, p] of (sr.resource.performer ?? []).entries()) {
    const target = message.targetOf(sr, p.reference);
    if (target?.resource.resourceType === 'Organization') found.push({ org: await directoryOrg(orgs, repo, target, `Bundle.entry[${sr.index}].resource.performer[${i}]`), element: `Bundle.entry[${sr.index}].resource.performer[${i}]` });
  }
  if (found.length === 0) throw err422('The message names no receiver the gateway knows: MessageHeader.destination (receiver or an endpoint in the directory) or ServiceRequest.performer must be a known organisation', 'Bundle.entry[0].resource.destination', 'not-found');
  const first = found[0];
  const other = found.find((f) => f.org.id !== first.org.id);
  if (other) throw err422(`${first.element} and ${other.element} name different organisations: the message has one receiver`, other.element);
  return first.org;
}

/**
 * The Organization of the directory that lists `endpoint` as its address (a telecom of system url), when exactly one
 * does. Organizations are the directory, which everyone reads, so the plain lookup reveals nothing.
 */
async function byEndpoint(repo: Repository, endpoint: string): Promise<StoredVersion | undefined> {
  const r = await repo.txHandle().query<{ id: string }>(
    `SELECT id FROM resources WHERE resource_type = 'Organization' AND NOT deleted AND content->'telecom' @> $1::jsonb LIMIT 2`,
    [JSON.stringify([{ system: 'url', value: endpoint }])],
  );
  if (r.rows.length !== 1) return undefined;
  return repo.read('Organization', r.rows[0].id);
}
