import type { AuditEvent, Bundle, BundleEntry, Organization, Provenance, Resource, Task } from '@medplum/fhirtypes';
import { notFound } from '../fhir/outcomes.ts';
import type { Queryable } from '../store/database.ts';
import { orderedResource, type VersionRow } from '../store/resource-store.ts';
import type { AuditorReach } from '../access/auditor.ts';
import { AUDIT_CONTENT, servedEvent } from './store.ts';
import { organizationOf, uraOfOrganization } from '../access/organizations.ts';
import { REFERENCE_PATTERN } from '../fhir/resource-types.ts';

const REF = REFERENCE_PATTERN;

interface Timed {
  at: string;
  entry: BundleEntry;
}

const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

async function versionsOf(q: Queryable, baseUrl: string, refs: string[]): Promise<Timed[]> {
  const pairs = refs.map((r) => REF.exec(r)).filter((m): m is RegExpExecArray => m !== null);
  if (pairs.length === 0) return [];
  const rows = await q.query<VersionRow>(
    `SELECT resource_type, id, version_id::text AS version_id, last_updated, deleted, content, number_texts FROM resource_versions
     WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY last_updated, version_id`,
    [pairs.map((m) => m[1]), pairs.map((m) => m[2])],
  );
  return rows.rows.map((v) => ({
    at: iso(v.last_updated),
    entry: {
      fullUrl: `${baseUrl}/${v.resource_type}/${v.id}/_history/${v.version_id}`,
      ...(v.deleted ? {} : { resource: orderedResource(v.content, v.number_texts) }),
      request: { method: v.deleted ? 'DELETE' : v.version_id === '1' ? 'POST' : 'PUT', url: `${v.resource_type}/${v.id}` },
    },
  }));
}

/** Provenance names the versions it is about (`Task/1/_history/2`): looked up by every version trailed, and by the resource. */
async function provenanceOf(q: Queryable, baseUrl: string, refs: string[], versions: Timed[]): Promise<Timed[]> {
  if (refs.length === 0) return [];
  const targets = [...refs, ...versions.map((v) => v.entry.fullUrl?.slice(baseUrl.length + 1) ?? '')].map((r) => `target=${r}`);
  const rows = await q.query<{ id: string; content: Provenance }>(
    `SELECT id, content FROM resources WHERE resource_type = 'Provenance' AND NOT deleted AND tokens && $1::text[]`,
    [targets],
  );
  return rows.rows.map((p) => ({ at: p.content.recorded ?? '', entry: { fullUrl: `${baseUrl}/Provenance/${p.id}`, resource: orderedResource(p.content) } }));
}

async function auditEventsAbout(q: Queryable, baseUrl: string, refs: string[], patient?: string): Promise<Timed[]> {
  const rows = await q.query<{ recorded: Date | string; content: AuditEvent }>(
    // A row's patient is among its entities (migration 029): one lookup of the entities' GIN index finds both kinds.
    `SELECT recorded, ${AUDIT_CONTENT('audit_events')} AS content FROM audit_events
      WHERE entities && $3::text[] AND (entities && $1::text[] OR ($2::text IS NOT NULL AND patient = $2)) ORDER BY id`,
    [refs, patient ?? null, patient ? [...refs, patient] : refs],
  );
  return rows.rows.map((r) => ({ at: iso(r.recorded), entry: { fullUrl: `${baseUrl}/AuditEvent/${r.content.id ?? ''}`, resource: servedEvent(r.content) } }));
}

async function current<T extends Resource>(q: Queryable, type: string, id: string): Promise<T | undefined> {
  const r = await q.query<{ content: T }>('SELECT content FROM resources WHERE resource_type = $1 AND id = $2', [type, id]);
  return r.rows[0]?.content;
}

async function uraOf(q: Queryable, ref: string | undefined): Promise<string | undefined> {
  // A Twiin owner is a HealthcareService, stored as sent: the organisation providing it is the party.
  const m = REF.exec((await organizationOf(q, ref)) ?? '');
  if (m?.[1] !== 'Organization') return undefined;
  return uraOfOrganization(await current<Organization>(q, 'Organization', m[2]));
}

async function withinReach(q: Queryable, task: Task, reach: AuditorReach): Promise<boolean> {
  if (reach.all) return true;
  const parties = await Promise.all([uraOf(q, task.requester?.reference), uraOf(q, task.owner?.reference)]);
  return parties.includes(reach.ura);
}

/** The resources of one handover: the Task, its ServiceRequest, the requester's encounter and the receivers' (based on the request). */
async function handoverRefs(q: Queryable, taskId: string): Promise<string[]> {
  const refs = new Set<string>([`Task/${taskId}`]);
  const versions = await q.query<{ content: Task }>(`SELECT content FROM resource_versions WHERE resource_type = 'Task' AND id = $1`, [taskId]);
  for (const { content } of versions.rows) {
    for (const r of [content.focus?.reference, content.encounter?.reference]) if (r && REF.test(r)) refs.add(r);
  }
  const requests = [...refs].filter((r) => r.startsWith('ServiceRequest/'));
  if (requests.length) {
    const encounters = await q.query<{ id: string }>(`SELECT id FROM resources WHERE resource_type = 'Encounter' AND tokens && $1::text[]`, [
      requests.map((r) => `based-on=${r}`),
    ]);
    for (const e of encounters.rows) refs.add(`Encounter/${e.id}`);
  }
  return [...refs];
}

function bundle(entries: Timed[]): Bundle {
  const seen = new Set<string>();
  const unique = entries.filter((e) => {
    const key = e.entry.fullUrl ?? '';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // Stable: versions, provenance and audit events of one instant keep the order they were gathered in.
  unique.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return { resourceType: 'Bundle', type: 'collection', total: unique.length, entry: unique.map((e) => e.entry) } as Bundle;
}

async function trailOf(q: Queryable, baseUrl: string, refs: string[], patient?: string): Promise<Timed[]> {
  const versions = await versionsOf(q, baseUrl, refs);
  const provenance = await provenanceOf(q, baseUrl, refs, versions);
  const audit = await auditEventsAbout(q, baseUrl, refs, patient);
  return [...versions, ...provenance, ...audit];
}

/** `Task/{id}/$trail`: every version of the handover's resources, their Provenance and every AuditEvent about them, in time order. */
export async function taskTrail(q: Queryable, baseUrl: string, taskId: string, reach: AuditorReach): Promise<Bundle> {
  const task = await current<Task>(q, 'Task', taskId);
  if (!task || !(await withinReach(q, task, reach))) throw notFound(`No handover with id ${taskId} is known`);
  return bundle(await trailOf(q, baseUrl, await handoverRefs(q, taskId)));
}

/** `Patient/{id}/$trail`: the trails of every handover of the patient, and every access to the patient's data by anyone. */
export async function patientTrail(q: Queryable, baseUrl: string, patientId: string, reach: AuditorReach): Promise<Bundle> {
  const patient = await current<Resource>(q, 'Patient', patientId);
  if (!patient) throw notFound(`Patient/${patientId} is not known`);
  const ref = `Patient/${patientId}`;
  const tasks = await q.query<{ id: string; content: Task }>(`SELECT id, content FROM resources WHERE resource_type = 'Task' AND tokens @> ARRAY[$1::text]`, [`patient=${ref}`]);
  const refs = new Set<string>([ref]);
  let reachable = reach.all;
  for (const t of tasks.rows) {
    if (!(await withinReach(q, t.content, reach))) continue;
    reachable = true;
    for (const r of await handoverRefs(q, t.id)) refs.add(r);
  }
  if (!reachable) throw notFound(`Patient/${patientId} is not known`);
  return bundle(await trailOf(q, baseUrl, [...refs], ref));
}
