import type { Encounter, Provenance, Resource, Task } from '@medplum/fhirtypes';
import type { Repository } from '../fhir/repository.ts';

const RIDE_TIMES = 'https://handover-gateway.nl/fhir/StructureDefinition/ride-times';

export interface TimelineItem {
  at: string;
  /** status: a Task version; ride: a ride's status time; visit: the planned visit; record: a native record received. */
  kind: 'status' | 'ride' | 'visit' | 'record';
  text: string;
  by?: string;
}

/**
 * The handover's timeline as the viewer may see it: built through the viewer's repository from the Task's
 * versions, the Provenance of them (who sent which record) and the receiver's ride times and planned visit.
 * Not the auditor's `$trail`: no AuditEvents (who read what is the auditor's business, not the board's).
 */
export async function timelineOf(repo: Repository, taskId: string): Promise<{ items: TimelineItem[]; resources: Resource[] }> {
  const history = await repo.history({ resourceType: 'Task', id: taskId }, 100, 0);
  const versions = [...history.versions].sort((a, b) => Number(a.versionId) - Number(b.versionId));
  const resources: Resource[] = versions.map((v) => v.content);
  const provenance = await repo.search({ ...repo.parseSearch('Provenance', { target: [`Task/${taskId}`] }), count: 100, total: 'none' });
  const provs = provenance.resources.map((p) => p.content as Provenance);
  resources.push(...provs);
  const byVersion = new Map<string, Provenance>();
  for (const p of provs) for (const t of p.target ?? []) if (t.reference) byVersion.set(t.reference, p);

  const items: TimelineItem[] = [];
  let previous: string | undefined;
  for (const v of versions) {
    const t = v.content as Task;
    const p = byVersion.get(`Task/${taskId}/_history/${v.versionId}`);
    const author = p?.agent?.find((a) => a.type?.coding?.[0]?.code === 'author')?.who?.display;
    const business = t.businessStatus?.text ?? t.businessStatus?.coding?.[0]?.code;
    const reason = t.statusReason?.text;
    if (t.status !== previous || v.versionId === '1') {
      items.push({ at: v.lastUpdated, kind: 'status', text: `${t.status ?? '?'}${business ? ` (${business})` : ''}${reason ? `: ${reason}` : ''}`, by: author });
    } else if (p) {
      items.push({ at: v.lastUpdated, kind: 'record', text: p.entity?.[0]?.what?.display ?? 'bijgewerkt', by: author });
    }
    previous = t.status;
  }
  const current = versions.at(-1)?.content as Task | undefined;
  if (current?.executionPeriod?.start) items.push({ at: current.executionPeriod.start, kind: 'visit', text: 'bezoek gepland' });
  if (current?.focus?.reference) {
    const rides = await repo.search({ ...repo.parseSearch('Encounter', { 'based-on': [current.focus.reference] }), count: 10, total: 'none' });
    for (const r of rides.resources) {
      const e = r.content as Encounter;
      resources.push(e);
      for (const x of e.extension?.find((ext) => ext.url === RIDE_TIMES)?.extension ?? []) {
        if (x.valueDateTime) items.push({ at: x.valueDateTime, kind: 'ride', text: x.url, by: e.serviceProvider?.display });
      }
    }
  }
  items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return { items, resources };
}
