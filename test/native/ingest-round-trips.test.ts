// A native handover's transaction on its connection, once its statements are prepared there: BEGIN with the group's
// lock, the ledger's head and the identity lookups (with the group's open Tasks), then the writes with the commit
// batch and COMMIT. The Task's parties were a round trip of their own (the owners of the group's other open Tasks):
// they now come from the group's Tasks looked up under its lock; and the ledger's head was one before the lookups.
import type { Patient, Task } from '@medplum/fhirtypes';
import type { TestGateway } from '../support/gateway.ts';
import { withNativeGateway, type Native, type NativeRecord } from '../support/native.ts';
import { recordSent, steadyRoundTrips } from '../support/pg-sent.ts';
import { postgresOnly } from '../support/database.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
const U3 = 'nts-u3-naar-wijkverpleging.json';
/** The NTS receiver of VVT Sallandse Heuvelrug. */
const SALLAND = { soort: 'VVT', ura: '90007891', naam: 'Zorggroep Sallandse Heuvelrug' };
const LEDGER = 'INSERT INTO native_record_heads';
const GROUP_PARTIES = 'WITH others AS';
// Counted on pg's connections: the embedded store (PGlite) sends nothing through them.
const onPostgres = postgresOnly(it);

describe('a native handover', () => {
  onPostgres('is two round trips once its statements are prepared, and asks for no party of its Task', async () => {
    // Every connection of the pool prepares the statements in its first such transaction: those are left out.
    for (let i = 0; i < 25; i++) await native.createHandover(U1, 'hap-vechtdal');
    expect(await steadyRoundTrips(LEDGER, () => native.createHandover(U1, 'hap-vechtdal'))).toEqual([2, 2, 2, 2, 2]);

    const { result, sent } = await recordSent(() => native.createHandover(U1, 'hap-vechtdal'));
    const texts = [...sent.values()].flat().flatMap((e) => (e.kind === 'bind' ? [e.text] : []));
    expect(texts.filter((t) => t.includes(GROUP_PARTIES))).toEqual([]);
    // Its parties as before: the HAP and the ambulance service.
    const task = await tg.gateway.db.query<{ parties: string[] }>(`SELECT parties FROM resources WHERE resource_type = 'Task' AND id = $1`, [result.taskId]);
    expect(task.rows[0]?.parties).toEqual(['90001234', '90004567']);
  });

  onPostgres('its next sequence, to the same receiver, locks its Task and its request with its patient: five round trips', async () => {
    // Eight before: the request read, then it and the Task each read again to lock them, in round trips of their own.
    const made: { taskId: string; record: NativeRecord; bsn: string }[] = [];
    for (let i = 0; i < 40; i++) made.push(await native.createHandover(U1, 'hap-vechtdal'));
    const next = (m: (typeof made)[number]): NativeRecord => ({ ...m.record, volgnummer: m.record.volgnummer + 1, patient: { ...m.record.patient, telefoon: '0612345678' } });
    // Every connection of the pool prepares the statements in its first such transaction: those are left out.
    for (const m of made.slice(20)) await native.sendOk('nts', next(m));
    const measured = made.slice(0, 20).values();
    const once = async (): Promise<void> => {
      const m = measured.next().value;
      if (m) expect((await native.sendOk('nts', next(m))).status).toBe(200);
    };
    expect(await steadyRoundTrips(LEDGER, once, 5, 20)).toEqual([5, 5, 5, 5, 5]);
    // Each Task went on to its second version, its request and patient with it.
    const task = await native.read<Task>(`Task/${made[0]!.taskId}`);
    expect(task.meta?.versionId).toBe('2');
    const patients = await native.search<Patient>('Patient', { identifier: `http://fhir.nl/fhir/NamingSystem/bsn|${made[0]!.bsn}` });
    expect(patients.map((p) => p.telecom?.map((t) => t.value))).toEqual([expect.arrayContaining(['0612345678'])]);
  });

  it('re-addressed, gives the new Task the HAP and its new receiver only: the cancelled Task is no candidate any more', async () => {
    const { taskId, record } = await native.createHandover(U3, 'hap-vechtdal');
    const next = { ...record, volgnummer: record.volgnummer + 1, overdracht: { ...record.overdracht, naar: SALLAND } };
    const { result: res, sent } = await recordSent(() => native.send('nts', next));
    expect(res.status).toBe(200);
    const newId = res.headers.location?.match(/Task\/([^/]+)/)?.[1];
    expect(newId).toBeDefined();
    expect(newId).not.toBe(taskId);
    const parties = async (id: string): Promise<string[]> =>
      (await tg.gateway.db.query<{ parties: string[] }>(`SELECT parties FROM resources WHERE resource_type = 'Task' AND id = $1`, [id])).rows[0]?.parties ?? [];
    // The cancelled Task keeps its parties; the new one has none of the receiver it replaced.
    expect(await parties(taskId)).toEqual(['90001234', '90007890']);
    expect(await parties(newId!)).toEqual(['90001234', '90007891']);
    if (process.env.TEST_STORE !== 'pglite') {
      expect([...sent.values()].flat().filter((e) => e.kind === 'bind' && e.text.includes(GROUP_PARTIES))).toEqual([]);
    }
  });
});
