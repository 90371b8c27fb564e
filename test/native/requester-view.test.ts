// What the sender reads back: its own record, whole, with the receiver's feedback (README "Rendered records").
import type { Task } from '@medplum/fhirtypes';
import { withNativeGateway, type Native } from '../support/native.ts';

let native: Native;
withNativeGateway((g) => ({ native } = g));

test("the HAP's own triage comes back whole: ABCD check, criteria and pain score included", async () => {
  const { taskId, record } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const res = await native.get(`/native/nts/${taskId}`, 'hap-vechtdal');
  expect(res.status).toBe(200);
  const rendered = JSON.parse(res.text) as { triage: Record<string, unknown>; contactId: string };
  expect(rendered.contactId).toBe(record.contactId);
  expect(rendered.triage.abcdVeilig).toBe(true);
  expect(rendered.triage.pijnscore).toBe(record.triage.pijnscore);
  const byCode = (list: { code: string }[]) => [...list].sort((a, b) => a.code.localeCompare(b.code));
  expect(byCode(rendered.triage.criteria as { code: string }[])).toEqual(byCode(record.triage.criteria));
  expect(rendered.triage.urgentie).toBe('U1');
});

test('a re-send with a higher sequence number updates the triage findings instead of adding a second set', async () => {
  const { taskId, record } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const task = await native.read<Task>(`Task/${taskId}`);
  const before = await native.count('Observation', { encounter: task.encounter?.reference ?? '' });
  await native.sendOk('nts', { ...record, volgnummer: 2, triage: { ...record.triage, pijnscore: 9 } }, 'hap-vechtdal');
  expect(await native.count('Observation', { encounter: task.encounter?.reference ?? '' })).toBe(before);
  const rendered = JSON.parse((await native.get(`/native/nts/${taskId}`, 'hap-vechtdal')).text) as { triage: { pijnscore: number } };
  expect(rendered.triage.pijnscore).toBe(9);
});
