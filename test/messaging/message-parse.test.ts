// The message graph (src/messaging/message.ts), pure: references resolved by the R4 Bundle rules, dangling ones refused.
import type { Bundle } from '@medplum/fhirtypes';
import { HttpError } from '../../src/fhir/outcomes.ts';
import { parseMessage } from '../../src/messaging/message.ts';
import { referenceMessage } from '../support/az-ig.ts';

function refusal(body: unknown): HttpError {
  try {
    parseMessage(body);
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('parseMessage', () => {
  it('resolves the reference message: relative references against the base of the entry RESTful fullUrl', () => {
    const m = parseMessage(referenceMessage());
    expect(m.header.id).toBe('hg-ReferralMessageHeader-AmbulanceHAP-referral');
    // focus, sender; SR subject, requester, performer, 2 supportingInfo; Composition subject, author; PractitionerRole 2; DocumentReference author
    expect(m.references).toHaveLength(12);
    const sr = m.ofType('ServiceRequest')[0];
    expect(m.targetOf(sr, 'Patient/hg-Patient-AmbulanceHAP-patrick')?.resource.resourceType).toBe('Patient');
    expect(m.targetOf(sr, 'http://nictiz.nl/fhir/Patient/hg-Patient-AmbulanceHAP-patrick')?.resource.resourceType).toBe('Patient');
    expect(m.targetOf(sr, 'Patient/hg-Patient-AmbulanceHAP-patrick/_history/1')?.resource.resourceType).toBe('Patient');
    expect(m.targetOf(sr, 'https://elders.example/fhir/Patient/hg-Patient-AmbulanceHAP-patrick')).toBeUndefined();
  });

  it('resolves urn:uuid fullUrls', () => {
    const b: Bundle = {
      resourceType: 'Bundle',
      type: 'message',
      entry: [
        { fullUrl: 'urn:uuid:8d3f0c1e-0000-4000-8000-000000000001', resource: { resourceType: 'MessageHeader', eventCoding: { code: '145' }, source: { endpoint: 'x' }, focus: [{ reference: 'urn:uuid:8d3f0c1e-0000-4000-8000-000000000002' }] } },
        { fullUrl: 'urn:uuid:8d3f0c1e-0000-4000-8000-000000000002', resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'urn:uuid:8d3f0c1e-0000-4000-8000-000000000001' } } },
      ],
    };
    expect(parseMessage(b).references.map((r) => r.target.index)).toEqual([1, 0]);
  });

  it('refuses a reference to nothing in the message, naming the element', () => {
    const b = referenceMessage();
    const entry = b.entry?.[2];
    if (entry?.resource?.resourceType === 'Composition') entry.resource.author = [{ reference: 'PractitionerRole/elsewhere' }];
    const err = refusal(b);
    expect(err.status).toBe(422);
    expect(err.outcome.issue[0].expression).toEqual(['Bundle.entry[2].resource.author[0]']);
  });

  it('refuses a message whose first entry is not the MessageHeader, and a repeated fullUrl', () => {
    const b = referenceMessage();
    b.entry?.reverse();
    expect(refusal(b).outcome.issue[0].expression).toEqual(['Bundle.entry[0].resource']);
    const c = referenceMessage();
    if (c.entry?.[1]) c.entry[1].fullUrl = c.entry[0].fullUrl;
    expect(refusal(c).status).toBe(422);
  });

  it('bounds the number of entries', () => {
    const b = referenceMessage();
    const patient = b.entry?.[3];
    for (let i = 0; i < 100 && patient; i++) b.entry?.push({ ...patient, fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` });
    expect(refusal(b).status).toBe(422);
  });
});
