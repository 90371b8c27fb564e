// The Provenance of one native record: what it wrote (each version), who sent it and on whose behalf, and the record
// (format, id, sequence) it came from.
import type { Organization, Provenance, Reference } from '@medplum/fhirtypes';
import type { OrganizationDirectory } from '../access/organizations.ts';
import type { Repository, WriteResult } from '../fhir/repository.ts';
import type { MappedRecord, NativeFormat } from '../native/types.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { BIG_SYSTEM, nativeRecordSystem } from '../fhir/identifier-systems.ts';

/** One resource version a record wrote, with the status its transaction-response entry reports. */
export interface Written {
  result: WriteResult;
  status: number;
}

function ref(v: StoredVersion): Reference<Organization> {
  return { reference: `${v.resourceType}/${v.id}` };
}

/** Writes the Provenance of what `written` holds (nothing when nothing was written) and adds it to `written`. */
export async function writeProvenance(repo: Repository, orgs: OrganizationDirectory, format: NativeFormat, mapped: MappedRecord, written: Written[]): Promise<void> {
  if (written.length === 0) return;
  const sender = await orgs.byUra(repo, mapped.senderUra);
  const agent: Provenance['agent'] = [
    {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
      who: sender ? { ...ref(sender), display: (sender.content as { name?: string }).name } : { display: `URA ${mapped.senderUra}` },
      onBehalfOf: undefined,
    },
  ];
  if (mapped.onBehalfOf) {
    agent.push({
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'enterer' }] },
      who: {
        display: mapped.onBehalfOf.name,
        ...(mapped.onBehalfOf.big ? { identifier: { system: BIG_SYSTEM, value: mapped.onBehalfOf.big } } : {}),
      },
      onBehalfOf: sender ? ref(sender) : undefined,
    });
  }
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: written.map((w) => ({ reference: `${w.result.stored.resourceType}/${w.result.stored.id}/_history/${w.result.stored.versionId}` })),
    recorded: new Date().toISOString(),
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: written.some((w) => w.result.created) ? 'CREATE' : 'UPDATE' }],
    },
    agent,
    entity: [
      {
        role: 'source',
        what: {
          identifier: { system: nativeRecordSystem(format, mapped.senderUra), value: `${mapped.recordId}#${mapped.sequence}` },
          display: `${format} record ${mapped.recordId}, sequence ${mapped.sequence}`,
        },
      },
    ],
  };
  // Provenance is the gateway's (clients cannot write it): written with the gateway's authority, for the sender.
  const result = await repo.asGateway().create(provenance);
  written.push({ result, status: 201 });
}
