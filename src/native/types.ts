import type { Composition, DocumentReference, Encounter, Observation, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';

/** The three native formats the region's systems speak (the region's native formats; examples in test/fixtures/native-examples). */
export type NativeFormat = 'nts' | 'ambulance' | 'vvt';
export const NATIVE_FORMATS: readonly NativeFormat[] = ['nts', 'ambulance', 'vvt'];

/** A native record as parsed from JSON. */
export type NativeRecord = Record<string, unknown>;

/** One problem with a native record, named by its JSON path in the record (e.g. `$.patient.bsn`). */
export interface NativeIssue {
  path: string;
  message: string;
}

export type NativeValidationResult =
  | { ok: true }
  /** 400: the record does not follow the format's schema; 422: it follows the schema but breaks a rule. */
  | { ok: false; status: 400 | 422; issues: NativeIssue[] };

/**
 * What a native record says, in FHIR terms, before it is stored. Produced by the mapping engine
 * (pure: record in, resources out; no ids, no database). References between the resources of one
 * record use the `urn:uuid:` fullUrls in `fullUrls`; organisations are referenced conditionally,
 * `Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|<ura>`, and resolved when stored.
 */
export interface MappedRecord {
  format: NativeFormat;
  /** `request`: the sender's own record (may address a handover); `answer`: it answers handover `handoverId`. */
  kind: 'request' | 'answer';
  /** URA of the sending organisation, as the record names it (must equal the token's). */
  senderUra: string;
  /** The record's identity within the sender: contactId, ritnummer, aanvraag_id, or the handover id for answers. */
  recordId: string;
  /** The sender's sequence number (volgnummer / mutatie_nr). */
  sequence: number;
  /** The person on whose behalf the sending system acts (triagist, first crew member, nurse). */
  onBehalfOf?: { name: string; role?: string; big?: string };
  handoverId?: string;
  patient: Patient;
  encounter?: Encounter;
  serviceRequest?: ServiceRequest;
  task?: Task;
  observations: Observation[];
  /** fullUrl (urn:uuid:…) of each resource above, keyed by `patient`, `encounter`, `serviceRequest`, `task`, `observation/<n>`. */
  fullUrls: Record<string, string>;
  /** For a request: the organisation asked to take over (absent: no handover, or it was withdrawn). */
  receiver?: { ura: string; kind: 'RAV' | 'VVT' | 'HAP'; name?: string };
  /** For a request: the sender cancels its open handover (GEANNULEERD). */
  cancelled?: { reason?: string };
  /** For an answer: the handover transition the record asks for, in Task terms. */
  transition?: {
    status: Task['status'];
    businessStatus?: string;
    statusReason?: string;
    /**
     * Set for a native cancel (`GEANNULEERD`) by the receiver: `status` is `rejected`, but when the Task was
     * already accepted (or later) the handover becomes `failed` instead.
     */
    failsIfAccepted?: boolean;
    /** The receiver's own reference for the handover (the ride number), for the ServiceRequest's identifiers. */
    reference?: { system: string; value: string };
    /** Planned start (vvt `gepland_*`) and done time (vvt `uitgevoerd_*`), for Task.executionPeriod. */
    executionPeriod?: { start?: string; end?: string };
    /** The receiver's report (vvt `verslag`), for Task.output. */
    output?: string;
  };
}

/** A stored handover and what belongs to it, as the renderer needs it. */
export interface HandoverView {
  task: Task;
  serviceRequest?: ServiceRequest;
  /** The requester's encounter (triage contact or ride) and, after acceptance, the receiver's own. */
  encounters: Encounter[];
  patient?: Patient;
  observations: Observation[];
  /**
   * What the request carries as `supportingInfo`: the letter (Composition) and attachments (DocumentReference) of an
   * AZ-IG referral message (issue 17). Absent for handovers that came as native records.
   */
  letters?: Composition[];
  documents?: DocumentReference[];
  requester: { ura: string; name?: string; kind?: string };
  owner: { ura: string; name?: string; kind?: string };
}

/** Whose view of a handover a rendered record gives. */
export type Perspective = 'requester' | 'receiver';
