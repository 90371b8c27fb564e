// Retention (src/store/retention.ts): delivered notifications, old ledger rows of native records, native answers
// withheld for a Twiin invitation that never ended, and old conditional-create keys are pruned after their windows; what is undelivered, recent, or still needed (each
// record's latest ledger row) stays, and the audit trail is never touched. Rows are made old by moving their
// timestamps back, then one pruning run is asked for, as the timer would.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { DEMO_CLIENTS, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient } from '../support/fhir-builders.ts';
import { BSN_SYSTEM, example, fillHandover, nativeClient, setBsn, uniqueBsn, uniqueId, type Native } from '../support/native.ts';
import { startReceiver, subscribe, type Receiver } from '../support/receiver.ts';
import { Retention } from '../../src/store/retention.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';
const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';

let tg: TestGateway;
let native: Native;
let rav: Receiver;
beforeAll(async () => {
  // Batches of 2, so that a run needs several of them.
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', RETENTION_BATCH_SIZE: '2', HOOK_RETRY_BASE_MS: '60000' });
  native = nativeClient(tg);
  rav = await startReceiver();
});
afterAll(async () => {
  await tg?.stop();
  await rav?.close();
});

const count = async (sql: string, params: unknown[]): Promise<number> => Number((await tg.gateway.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${sql}`, params)).rows[0]!.n);
// What the audit trail held at a moment, to show later that none of it was removed. Rows written since (the delivered
// marks of notifications and their audit rows go in the worker's next claim, in the background) do not count.
interface AuditMark {
  maxId: string;
  rows: number;
}
const auditMark = async (): Promise<AuditMark> => {
  const r = await tg.gateway.db.query<{ max_id: string; n: string }>(`SELECT coalesce(max(id), 0)::text AS max_id, count(*)::text AS n FROM audit_events`);
  return { maxId: r.rows[0]!.max_id, rows: Number(r.rows[0]!.n) };
};
const expectAuditKept = async (mark: AuditMark): Promise<void> => {
  expect(await count('audit_events WHERE id <= $1::bigint', [mark.maxId])).toBe(mark.rows);
};

it('prunes delivered notifications after RETENTION_DELIVERED_EVENTS_DAYS, keeping recent and undelivered ones', async () => {
  const sub = await subscribe(tg, 'rav-noordoost', rav, RAV);
  const handovers: string[] = [];
  for (let i = 0; i < 5; i++) handovers.push((await native.createHandover(U1, 'hap-vechtdal')).taskId);
  await rav.waitFor(() => rav.events().length === 5, 'five notifications');
  for (let i = 0; i < 100 && (await count(`subscription_events WHERE subscription_id = $1 AND state = 'delivered'`, [sub.id])) < 5; i++) await new Promise((r) => setTimeout(r, 20));
  // One more while the receiver is down: it waits for a retry (a minute away), undelivered.
  rav.status = 503;
  const waiting = (await native.createHandover(U1, 'hap-vechtdal')).taskId;
  for (let i = 0; i < 200 && (await count(`subscription_events WHERE handover_id = $1 AND attempts > 0 AND state = 'pending'`, [waiting])) === 0; i++) await new Promise((r) => setTimeout(r, 20));

  // Four delivered eight days ago, one delivered now; the waiting one old too: it was made long ago.
  await tg.gateway.db.query(`UPDATE subscription_events SET delivered_at = now() - interval '8 days' WHERE handover_id = ANY($1::text[])`, [handovers.slice(0, 4)]);
  await tg.gateway.db.query(`UPDATE subscription_events SET occurred = now() - interval '30 days' WHERE handover_id = $1`, [waiting]);
  const audit = await auditMark();

  const pruned = await tg.gateway.retention.runOnce();
  expect(pruned.deliveredEvents).toBe(4);
  const left = await tg.gateway.db.query<{ handover_id: string; state: string }>(`SELECT handover_id, state FROM subscription_events WHERE subscription_id = $1 ORDER BY event_number`, [sub.id]);
  expect(left.rows).toEqual([
    { handover_id: handovers[4], state: 'delivered' },
    { handover_id: waiting, state: 'pending' },
  ]);
  await expectAuditKept(audit);
  rav.status = 200;
});

it('prunes old ledger rows of native records but each record\'s latest: a re-send of the latest stays idempotent, an older one is superseded', async () => {
  const { record, taskId } = await native.createHandover(U1, 'hap-vechtdal');
  const v2 = { ...record, volgnummer: 2, overdracht: { ...record.overdracht, toelichting: 'Nu ook kortademig.' } };
  const v3 = { ...record, volgnummer: 3, overdracht: { ...record.overdracht, toelichting: 'Nu ook misselijk.' } };
  const second = await native.sendOk('nts', v2);
  await native.sendOk('nts', v3);
  // A record received recently: all of its rows stay.
  const recent = await native.createHandover(U1, 'hap-vechtdal');
  await native.sendOk('nts', { ...recent.record, volgnummer: 2 });

  await tg.gateway.db.query(`UPDATE native_records SET received_at = now() - interval '31 days' WHERE record_id = $1`, [record.contactId]);
  const audit = await auditMark();
  const pruned = await tg.gateway.retention.runOnce();
  expect(pruned.nativeRecords).toBe(2);
  expect((await tg.gateway.db.query<{ sequence: number }>(`SELECT sequence FROM native_records WHERE record_id = $1`, [record.contactId])).rows).toEqual([{ sequence: 3 }]);
  expect(await count(`native_records WHERE record_id = $1`, [recent.record.contactId])).toBe(2);
  await expectAuditKept(audit);

  // The latest, sent again: the same answer as the first time, nothing changed.
  const history = (await native.history(`Task/${taskId}`)).length;
  const again = await native.send('nts', v3);
  expect(again.status).toBe(200);
  expect(again.headers.location).toBe(second.headers.location);
  expect(again.headers['x-handover-note']).toMatch(/identical re-send/i);
  // An older one whose row was pruned, even with other content: superseded (200, the latest Location), nothing changed.
  const older = await native.send('nts', { ...v2, overdracht: { ...v2.overdracht, toelichting: 'Anders' } });
  expect(older.status).toBe(200);
  expect(older.headers.location).toBe(second.headers.location);
  expect(older.headers['x-handover-note']).toMatch(/superseded/i);
  expect(await native.history(`Task/${taskId}`)).toHaveLength(history);
});

/** A Twiin invitation (test/fixtures/twiin) from the HAP to a VVT, which answers it natively: its answer is withheld until a selection. */
async function withheldAnswer(): Promise<string> {
  const fixture = <T>(name: string): T => {
    const text = readFileSync(join(process.cwd(), 'test', 'fixtures', 'twiin', `${name}.json`), 'utf8').split('"12345678"').join(`"${DEMO_CLIENTS['hap-vechtdal']}"`);
    const resource = JSON.parse(text) as { id?: string };
    delete resource.id;
    return resource as T;
  };
  const created = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await native.post(path, body);
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${res.text}`);
    return JSON.parse(res.text) as T;
  };
  const bsn = uniqueBsn();
  const patient = await created<Patient>('/fhir/Patient', { ...fixture<Patient>('patient'), identifier: [{ system: BSN_SYSTEM, value: bsn }] });
  const sr = await created<ServiceRequest>('/fhir/ServiceRequest', { ...fixture<ServiceRequest>('servicerequest'), subject: { reference: `Patient/${patient.id}` } });
  const invitation: Task = { ...fixture<Task>('coordination-task-invited'), focus: { reference: `ServiceRequest/${sr.id}` }, identifier: [{ system: 'https://placer.example.org/task', value: randomUUID() }], owner: { reference: await tg.organizationRef('vvt-ijsseldelta') } };
  delete invitation.location;
  const task = await created<Task>('/fhir/Task', invitation);
  await native.sendOk('vvt', fillHandover(setBsn('vvt', example('vvt-antwoord-ingepland'), bsn), task.id ?? ''), 'vvt-ijsseldelta');
  return task.id ?? '';
}

it('prunes a withheld native answer of an invitation that never ended after RETENTION_NATIVE_RECORDS_DAYS, keeping a recent one and the invitation', async () => {
  const [old, recent] = [await withheldAnswer(), await withheldAnswer()];
  expect(await count('withheld_answers WHERE task_id = ANY($1::text[])', [[old, recent]])).toBe(2);
  await tg.gateway.db.query(`UPDATE withheld_answers SET received = now() - interval '31 days' WHERE task_id = $1`, [old]);
  const audit = await auditMark();

  const pruned = await tg.gateway.retention.runOnce();
  expect(pruned.withheldAnswers).toBe(1);
  expect(await count('withheld_answers WHERE task_id = $1', [old])).toBe(0);
  expect(await count('withheld_answers WHERE task_id = $1', [recent])).toBe(1);
  await expectAuditKept(audit);
  // The invitation itself is a handover's record, not pruned: it still stands, accepted by the answer.
  expect((await native.read<Task>(`Task/${old}`)).status).toBe('accepted');
});

it('prunes conditional-create keys after RETENTION_CONDITIONAL_KEYS_HOURS; a conditional create afterwards still finds the resource', async () => {
  const auth = await tg.auth('hap-vechtdal');
  const create = (value: string) =>
    request(tg.app)
      .post('/fhir/Patient')
      .set('Authorization', auth)
      .set('Content-Type', 'application/fhir+json')
      .set('If-None-Exist', `identifier=urn:test:retention|${value}`)
      .send(JSON.stringify(buildPatient({ identifier: [{ system: 'urn:test:retention', value }] })));
  const oldValue = uniqueId('old');
  const old = await create(oldValue);
  const fresh = await create(uniqueId('new'));
  expect([old.status, fresh.status]).toEqual([201, 201]);
  const oldId = (old.body as Patient).id!;
  const freshId = (fresh.body as Patient).id!;
  await tg.gateway.db.query(`UPDATE conditional_keys SET created_at = now() - interval '25 hours' WHERE id = $1`, [oldId]);

  const pruned = await tg.gateway.retention.runOnce();
  expect(pruned.conditionalKeys).toBe(1);
  expect(await count('conditional_keys WHERE id = $1', [oldId])).toBe(0);
  expect(await count('conditional_keys WHERE id = $1', [freshId])).toBe(1);

  const again = await create(oldValue);
  expect(again.status).toBe(200);
  expect((again.body as Patient).id).toBe(oldId);
});

it('keeps everything when a window is 0, and only one instance prunes at a time (PostgreSQL)', async () => {
  const keepAll = new Retention({ db: tg.gateway.db, logger: tg.gateway.logger, policy: { deliveredEventsDays: 0, nativeRecordsDays: 0, conditionalKeysHours: 0, batchSize: 2, intervalSeconds: 600 } });
  await tg.gateway.db.query(`UPDATE conditional_keys SET created_at = now() - interval '1000 days'`);
  expect(await keepAll.runOnce()).toEqual({ deliveredEvents: 0, nativeRecords: 0, withheldAnswers: 0, conditionalKeys: 0 });
  expect(await count('conditional_keys', [])).toBeGreaterThan(0);
  // Another instance is pruning (holds the lock): this one skips its turn and deletes nothing. PGlite has one
  // connection and serves one instance: there is no other instance to wait for.
  if (tg.gateway.db.kind === 'pglite') return;
  const held = await tg.gateway.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(75132027)');
    return tg.gateway.retention.runOnce();
  });
  expect(held).toEqual({ deliveredEvents: 0, nativeRecords: 0, withheldAnswers: 0, conditionalKeys: 0 });
  expect((await tg.gateway.retention.runOnce()).conditionalKeys).toBeGreaterThan(0);
  expect(await count('conditional_keys', [])).toBe(0);
});
