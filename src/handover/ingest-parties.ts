import type { Reference } from '@medplum/fhirtypes';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import type { MappedRecord } from '../native/types.ts';

/**
 * Which of a native record's resources are given the receiver at once, as they are written, instead of by the
 * party propagation when the record's Task is written after them (src/access/parties.ts, `sharedAhead`). Pure.
 *
 * Only what that propagation would reach from the Task: its patient (`for`), its request (`focus`), its encounter
 * (`encounter`) and the Observations of that encounter; and only when the record asks a receiver and makes a Task
 * owned by it (`owner`: the receiver's URA), whose parties then hold that URA. Anything else keeps the usual way.
 */
export interface AheadPlan {
  /** The URAs to give ahead: the receiver's, or none. */
  uras: string[];
  patient: boolean;
  encounter: boolean;
  serviceRequest: boolean;
  /** Per Observation of `mapped.observations`, in order. */
  observations: boolean[];
}

const refOf = (r: Reference | undefined): string | undefined => r?.reference;

export function aheadPlan(mapped: MappedRecord): AheadPlan {
  const none: AheadPlan = { uras: [], patient: false, encounter: false, serviceRequest: false, observations: mapped.observations.map(() => false) };
  const receiver = mapped.cancelled ? undefined : mapped.receiver;
  const task = mapped.task;
  if (mapped.kind !== 'request' || !receiver || !task || !mapped.serviceRequest) return none;
  if (refOf(task.owner) !== `Organization?identifier=${URA_SYSTEM}|${receiver.ura}`) return none;
  const urls = mapped.fullUrls;
  const reaches = (key: string, ref: Reference | undefined): boolean => urls[key] !== undefined && refOf(ref) === urls[key];
  const encounter = mapped.encounter !== undefined && reaches('encounter', task.encounter);
  return {
    uras: [receiver.ura],
    patient: reaches('patient', task.for),
    encounter,
    serviceRequest: reaches('serviceRequest', task.focus),
    observations: mapped.observations.map((o) => encounter && reaches('encounter', o.encounter)),
  };
}
