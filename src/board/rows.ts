import type { Encounter, Extension, HumanName, Organization, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { isAbsent } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { uraOfOrganization } from '../access/organizations.ts';
import { OPEN_STATUSES } from '../handover/state-machine.ts';
import { invitationState } from '../handover/selection.ts';
import { candidateGroupName, type GroupName } from '../handover/candidate-group.ts';
import type { BoardTargets } from './targets.ts';
import { readOrganizationOf, readReference } from '../handover/references.ts';

const NATIVE_CODE = 'https://handover-gateway.nl/fhir/StructureDefinition/native-code';
const NATIVE_STATUS = 'https://handover-gateway.nl/fhir/StructureDefinition/native-status';
const RIDE_TIMES = 'https://handover-gateway.nl/fhir/StructureDefinition/ride-times';

/** States in which the receiver has not answered yet: past its target, the board warns. */
const UNANSWERED = new Set(['requested', 'received', 'ready']);

interface Party {
  ura?: string;
  name?: string;
  kind?: string;
}

/**
 * One handover as the board shows it. Patient data is limited to initials and age: enough to tell two rows
 * apart on a wall screen and to call about the right person, without names or BSN in a room full of people.
 */
export interface BoardRow {
  id: string;
  version: string;
  status: string;
  /** The receiver's own status word (GEACCEPTEERD, INGEPLAND, ...), when it gave one. */
  nativeStatus?: string;
  /** `code` is the handover's own (native) urgency code, `badge` what the badge shows, `also` the other scale's. */
  urgency: { code: string; badge: string; label: string; colour: string; rank: number; targetMinutes: number | null; also?: string };
  complaint?: string;
  careNeeds: string[];
  request?: string;
  from: Party;
  to: Party;
  /** When the gateway first held the handover: its age and time left count from here. */
  received: string;
  answered?: string;
  unanswered: boolean;
  lastChange: string;
  ride?: { status?: string; step: string; at: string; callSign?: string };
  visit?: { planned?: string; windowStart?: string; windowEnd?: string };
  /**
   * Initials and age; an unknown patient (no name, or a name that says `onbekend`) as `unknown` with the gender
   * and the age the record gives (`ageEstimated`: the crew's estimate, no birth date).
   */
  patient?: { initials?: string; unknown?: true; gender?: 'male' | 'female'; age?: number; ageEstimated?: true };
  /** The group of candidates it is in (src/handover/candidate-group.ts): its groupIdentifier, or a Twiin invitation's focus ServiceRequest. */
  group?: GroupName;
  /** A Twiin TA Workflow invitation's state (issue 18): invited, then selected or not selected by the placer. */
  invitation?: 'invited' | 'selected' | 'not-selected';
  /** The viewer asked for it and it has not started: the board offers to cancel it. */
  mayCancel: boolean;
  /** Where the map puts it: the centre of the patient's postcode area (src/units/places.ts), never the address. */
  place?: { lat: number; lon: number; name: string };
}

/** Puts a handover on the map from its patient (issue 20); the board without a map passes none. */
export type Locate = (patient: Patient | undefined) => BoardRow['place'];

export interface Projection {
  row: BoardRow;
  open: boolean;
  /** What was read for it, for the audit. */
  resources: Resource[];
}

function nativeCode(el: { extension?: Extension[] } | undefined): string | undefined {
  return el?.extension?.find((e) => e.url === NATIVE_CODE)?.valueCoding?.code;
}

const ESTIMATED_AGE = 'https://handover-gateway.nl/fhir/StructureDefinition/estimated-age';
/** A name as spoken that says the patient is not known (the ambulance's `onbekende man`, `onbekend`). */
const UNKNOWN_NAME = /^\s*onbekend/i;

/**
 * The calendar date in Amsterdam, made once: a formatter is costly to make (its time zone data and locale resolved),
 * and a board's snapshot asks it for every row (a new one per row was most of a snapshot's time).
 */
const AMSTERDAM_DATE = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Amsterdam', year: 'numeric', month: '2-digit', day: '2-digit' });

/** Today's date on the region's calendar: an age turns at midnight in Amsterdam, not where the server's clock is set. */
function todayInAmsterdam(): [number, number, number] {
  const parts = AMSTERDAM_DATE.formatToParts(new Date());
  const part = (type: string): number => Number(parts.find((x) => x.type === type)?.value);
  return [part('year'), part('month'), part('day')];
}

function ageOf(p: Patient): { age?: number; ageEstimated?: true } {
  if (p.birthDate && /^\d{4}-\d{2}-\d{2}$/.test(p.birthDate)) {
    const [y, m, d] = p.birthDate.split('-').map(Number);
    const [ty, tm, td] = todayInAmsterdam();
    return { age: ty - y - (tm < m || (tm === m && td < d) ? 1 : 0) };
  }
  // No birth date: the crew's estimate (ambulance `geschatteLeeftijd`), shown as such.
  const estimate = p.extension?.find((e) => e.url === ESTIMATED_AGE)?.valueAge?.value;
  return typeof estimate === 'number' ? { age: Math.round(estimate), ageEstimated: true } : {};
}

/** Initials of a name that is only text (as spoken, not parsed into parts): `Piet de Jong` → `P. de J.`. */
function initialsOfText(text: string): string {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => (/^\p{Lu}/u.test(w) ? `${w.charAt(0)}.` : w))
    .join(' ');
}

function initials(p: Patient | undefined): BoardRow['patient'] {
  if (!p) return undefined;
  const name = (p.name?.find((n) => n.use === 'official') ?? p.name?.[0]) as (HumanName & { _family?: { extension?: Extension[] } }) | undefined;
  const given = (name?.given ?? []).map((g) => `${g.replace(/\.$/, '').charAt(0).toUpperCase()}.`).join('');
  const own = name?._family?.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/humanname-own-name')?.valueString ?? name?.family ?? '';
  const prefix = name?._family?.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix')?.valueString;
  const family = own ? `${prefix ? `${prefix} ` : ''}${own.charAt(0).toUpperCase()}.` : '';
  const fromParts = [given, family].filter(Boolean).join(' ');
  const text = name?.text?.trim() ?? '';
  const known = fromParts || (text && !UNKNOWN_NAME.test(text) ? initialsOfText(text) : '');
  if (known) return { initials: known, ...ageOf(p) };
  // Nobody knows who this is: the board says so, with what the record does tell (gender, estimated age).
  const gender = p.gender === 'male' || p.gender === 'female' ? p.gender : undefined;
  return { unknown: true, ...(gender ? { gender } : {}), ...ageOf(p) };
}

function party(org: Organization | undefined, display: string | undefined): Party {
  return { ura: uraOfOrganization(org), name: org?.name ?? display, kind: org?.type?.[0]?.coding?.[0]?.code };
}

/** The latest of the ride's status times (melding, alarmering, vertrek, ter plaatse, ...), with its step. */
function lastRideStep(e: Encounter): { step: string; at: string } | undefined {
  const times = e.extension?.find((x) => x.url === RIDE_TIMES)?.extension ?? [];
  let last: { step: string; at: string } | undefined;
  for (const t of times) {
    if (!t.valueDateTime) continue;
    if (!last || Date.parse(t.valueDateTime) >= Date.parse(last.at)) last = { step: t.url, at: t.valueDateTime };
  }
  return last;
}

/** Reads a handover through the viewer's repository; undefined when the viewer may not see it. */
export async function projectRow(repo: Repository, taskId: string, targets: BoardTargets, locate?: Locate): Promise<Projection | undefined> {
  let stored;
  try {
    stored = await repo.read('Task', taskId);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
  const task = stored.content as Task & { _priority?: { extension?: Extension[] } };
  const resources: Resource[] = [task];
  const [requesterOrg, ownerOrg, sr, patient, contact] = await Promise.all([
    readReference<Organization>(repo, task.requester?.reference),
    readOrganizationOf(repo, task.owner?.reference),
    readReference<ServiceRequest & { _priority?: { extension?: Extension[] } }>(repo, task.focus?.reference),
    readReference<Patient>(repo, task.for?.reference),
    readReference<Encounter>(repo, task.encounter?.reference),
  ]);
  const receiverEncounters: Encounter[] = [];
  if (task.focus?.reference) {
    const found = await repo.search({ ...repo.parseSearch('Encounter', { 'based-on': [task.focus.reference] }), count: 10, total: 'none' });
    receiverEncounters.push(...found.resources.map((r) => r.content as Encounter));
  }
  const history = await repo.history({ resourceType: 'Task', id: taskId }, 100, 0);
  const versions = [...history.versions].sort((a, b) => Number(a.versionId) - Number(b.versionId));
  for (const r of [sr, patient, contact, ...receiverEncounters]) if (r) resources.push(r);

  const code = nativeCode(task._priority) ?? nativeCode(sr?._priority) ?? targets.byPriority[task.priority ?? ''] ?? 'U4';
  const u = targets.urgencies[code];
  const to = party(ownerOrg, task.owner?.display);
  // The receiver's scale beside the requester's: U1 to an ambulance is A1, BINNEN_4_UUR is U3.
  const vvtShort = (c: string | undefined): string | undefined => (c ? (targets.urgencies[c]?.short ?? c) : undefined);
  const also = u?.scale === 'nts' && to.kind === 'RAV' ? u.ambulance : u?.scale === 'nts' && to.kind === 'VVT' ? vvtShort(u.vvt) : u?.scale === 'vvt' ? u.short : u?.nts;
  const badge = u?.scale === 'vvt' ? (u.nts ?? code) : code;
  const answeredVersion = versions.find((v) => !UNANSWERED.has((v.content as Task).status ?? ''));
  const ride = receiverEncounters.map((e) => ({ e, step: lastRideStep(e) })).find((x) => x.step);
  const receiverEncounter = receiverEncounters[0];
  const status = task.status ?? 'unknown';
  const row: BoardRow = {
    id: taskId,
    version: stored.versionId,
    status,
    nativeStatus: task.businessStatus?.coding?.[0]?.code ?? task.businessStatus?.text,
    urgency: { code, badge, label: u?.label ?? code, colour: u?.colour ?? 'grijs', rank: u?.rank ?? 9, targetMinutes: u ? u.targetMinutes : null, also },
    complaint: contact?.reasonCode?.[0]?.text ?? contact?.reasonCode?.[0]?.coding?.[0]?.display ?? receiverEncounter?.reasonCode?.[0]?.text,
    careNeeds: (sr?.orderDetail ?? []).map((d) => d.coding?.[0]?.display ?? d.text ?? d.coding?.[0]?.code ?? '').filter(Boolean),
    request: sr?.note?.[0]?.text ?? sr?.code?.coding?.[0]?.display,
    from: party(requesterOrg, task.requester?.display),
    to,
    received: versions[0]?.lastUpdated ?? stored.lastUpdated,
    answered: answeredVersion?.lastUpdated,
    unanswered: UNANSWERED.has(status),
    lastChange: stored.lastUpdated,
    ride: ride?.step && {
      status: ride.e.extension?.find((x) => x.url === NATIVE_STATUS)?.valueCoding?.code,
      step: ride.step.step,
      at: ride.step.at,
      callSign: ride.e.extension?.find((x) => x.url.endsWith('/ambulance-unit'))?.extension?.find((x) => x.url === 'callSign')?.valueString,
    },
    visit:
      task.executionPeriod?.start || task.restriction?.period
        ? { planned: task.executionPeriod?.start, windowStart: task.restriction?.period?.start, windowEnd: task.restriction?.period?.end }
        : undefined,
    patient: initials(patient),
    group: candidateGroupName(task),
    invitation: invitationState(task),
    place: locate?.(patient),
    mayCancel: to.ura !== repo.ctx.organizationUra && party(requesterOrg, undefined).ura === repo.ctx.organizationUra && ['requested', 'received', 'accepted', 'ready'].includes(status),
  };
  return { row, open: (OPEN_STATUSES as readonly string[]).includes(status), resources };
}

/** Every open handover the viewer may see. */
export async function openHandoverIds(repo: Repository): Promise<string[]> {
  const found = await repo.search({ ...repo.parseSearch('Task', { status: [OPEN_STATUSES.join(',')] }), count: 1000, total: 'none' });
  return found.resources.map((r) => r.id);
}
