// The repository on the real store, without HTTP: versions and history, If-Match, conditional create races,
// transactions that roll back. Runs on PostgreSQL (npm test) and on PGlite (npm run test:pglite).
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { systemContext } from '../../src/context.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';
import { Repository, type RepositoryDeps } from '../../src/fhir/repository.ts';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { WritePipeline } from '../../src/fhir/write-phases.ts';
import { ROOT_DIR } from '../../src/gateway.ts';
import { aboveLedgerHead, readLedgerHead } from '../../src/handover/ledger.ts';
import type { MappedRecord } from '../../src/native/types.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { buildPatient, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';

let testDb: TestDatabase;
let repo: Repository;

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'store' });
  const deps: RepositoryDeps = {
    db: testDb.db,
    registry: SearchParameterRegistry.load(join(ROOT_DIR, 'profiles/search-parameters/bundle.json')),
    phases: new WritePipeline({}),
  };
  repo = new Repository(deps, systemContext('store-test'));
});
afterAll(async () => {
  await testDb?.drop();
});

/** The status of the HttpError `work` throws. */
async function failure(work: () => Promise<unknown>): Promise<number> {
  try {
    await work();
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
  throw new Error('expected an HttpError');
}

const withIdentifier = (value: string): Patient => buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value }] });
const byIdentifier = (value: string) => repo.search({ ...repo.parseSearch('Patient', { identifier: [`${IDENTIFIER_SYSTEM}|${value}`] }), count: 50 });

it('creates, updates and deletes in versions, keeping every version', async () => {
  const created = await repo.create(buildPatient());
  expect(created).toMatchObject({ created: true, changed: true });
  const id = created.stored.id;
  expect(created.stored.versionId).toBe('1');
  expect(created.stored.content).toMatchObject({ resourceType: 'Patient', id, meta: { versionId: '1' } });

  const v2 = await repo.update({ ...(created.stored.content as Patient), gender: 'female' });
  expect(v2.stored.versionId).toBe('2');
  const same = await repo.update(v2.stored.content);
  expect(same).toMatchObject({ changed: false, created: false });
  expect(same.stored.versionId).toBe('2');

  const deleted = await repo.delete('Patient', id);
  expect(deleted?.stored).toMatchObject({ versionId: '3', deleted: true });
  expect(await repo.delete('Patient', id)).toBeUndefined();
  expect(await failure(() => repo.read('Patient', id))).toBe(410);
  expect(((await repo.vread('Patient', id, '1')).content as Patient).gender).toBe('male');
  expect(((await repo.vread('Patient', id, '2')).content as Patient).gender).toBe('female');
  expect(await failure(() => repo.vread('Patient', id, '3'))).toBe(410);
  expect(await failure(() => repo.vread('Patient', id, '4'))).toBe(404);

  const history = await repo.history({ resourceType: 'Patient', id }, 10, 0);
  expect(history.total).toBe(3);
  expect(history.versions.map((v) => [v.versionId, v.deleted])).toEqual([
    ['3', true],
    ['2', false],
    ['1', false],
  ]);
  // An update after a delete brings the resource back as a new version.
  const back = await repo.update({ ...(created.stored.content as Patient) });
  expect(back.stored.versionId).toBe('4');
  expect((await repo.read('Patient', id)).versionId).toBe('4');
});

it('keeps the search index in step with the current version', async () => {
  const before = unique('before');
  const after = unique('after');
  const { stored } = await repo.create(withIdentifier(before));
  expect((await byIdentifier(before)).resources.map((r) => r.id)).toEqual([stored.id]);
  await repo.update({ ...(stored.content as Patient), identifier: [{ system: IDENTIFIER_SYSTEM, value: after }], name: [{ family: 'Nieuw' }] });
  expect((await byIdentifier(before)).resources).toEqual([]);
  expect((await byIdentifier(after)).resources.map((r) => r.versionId)).toEqual(['2']);
  const byName = async (family: string) => (await repo.search(repo.parseSearch('Patient', { _id: [stored.id], family: [family] }))).resources.length;
  expect(await byName('nieuw')).toBe(1);
  expect(await byName('jong')).toBe(0);
  await repo.delete('Patient', stored.id);
  expect((await byIdentifier(after)).resources).toEqual([]);
});

it('refuses a stale If-Match on update, patch and delete (412) and changes nothing', async () => {
  const { stored } = await repo.create(buildPatient());
  await repo.update({ ...(stored.content as Patient), gender: 'female' }, { ifMatch: '1' });
  expect(await failure(() => repo.update({ ...(stored.content as Patient), gender: 'other' }, { ifMatch: '1' }))).toBe(412);
  expect(await failure(() => repo.patch('Patient', stored.id, [{ op: 'replace', path: '/gender', value: 'other' }], { ifMatch: '1' }))).toBe(412);
  expect(await failure(() => repo.delete('Patient', stored.id, { ifMatch: '1' }))).toBe(412);
  const current = await repo.read('Patient', stored.id);
  expect(current.versionId).toBe('2');
  expect((current.content as Patient).gender).toBe('female');
  expect((await repo.history({ resourceType: 'Patient', id: stored.id }, 10, 0)).total).toBe(2);
});

it('makes one resource from concurrent identical conditional creates', async () => {
  const value = unique('race');
  const results = await Promise.all(Array.from({ length: 10 }, () => repo.create(withIdentifier(value), { ifNoneExist: `identifier=${IDENTIFIER_SYSTEM}|${value}` })));
  expect(results.filter((r) => r.created)).toHaveLength(1);
  expect(new Set(results.map((r) => r.stored.id)).size).toBe(1);
  expect((await byIdentifier(value)).resources).toHaveLength(1);
});

it('answers reads arriving together (read in one statement) each with its own resource, a copy of its own', async () => {
  const made = await Promise.all(Array.from({ length: 6 }, (_, n) => repo.create(buildPatient({ birthDate: `1950-01-0${n + 1}` }))));
  const ids = made.map((m) => m.stored.id);
  const gone = ids[5]!;
  await repo.delete('Patient', gone);
  const asked = [...ids.slice(0, 5), ids[0]!, ids[2]!, '00000000-0000-4000-8000-000000000000', gone, 'not an id!'];
  const answers = await Promise.all(asked.map(async (id) => repo.read('Patient', id).then((v) => v, (err: unknown) => (err instanceof HttpError ? err.status : err))));
  answers.slice(0, 7).forEach((a, i) => {
    const content = (a as { content: Patient }).content;
    expect(content).toMatchObject({ resourceType: 'Patient', id: asked[i], birthDate: (made[ids.indexOf(asked[i]!)]!.stored.content as Patient).birthDate });
    // FHIR order survives the gathering: resourceType, id and meta first.
    expect(Object.keys(content).slice(0, 3)).toEqual(['resourceType', 'id', 'meta']);
  });
  expect(answers.slice(7)).toEqual([404, 410, 404]);
  // The same resource asked twice at once: two objects, so that one caller's change is not the other's.
  expect((answers[5] as { content: Patient }).content).not.toBe((answers[0] as { content: Patient }).content);
  expect((answers[5] as { content: Patient }).content.name).not.toBe((answers[0] as { content: Patient }).content.name);
  // A read sees every write committed before it was asked.
  const updated = await repo.update({ ...(made[1]!.stored.content as Patient), gender: 'female' });
  const after = await Promise.all([repo.read('Patient', ids[1]!), repo.read('Patient', ids[3]!), repo.read('Patient', ids[1]!)]);
  expect(after.map((v) => v.versionId)).toEqual([updated.stored.versionId, '1', updated.stored.versionId]);
});

it('keeps a linear history under concurrent If-Match updates', async () => {
  const { stored } = await repo.create(buildPatient());
  const writers = 10;
  const write = async (n: number): Promise<void> => {
    for (;;) {
      const current = await repo.read('Patient', stored.id);
      const content = current.content as Patient;
      const next: Patient = { ...content, name: [...(content.name ?? []), { text: `writer ${n}` }] };
      try {
        await repo.update(next, { ifMatch: current.versionId });
        return;
      } catch (err) {
        if (!(err instanceof HttpError) || err.status !== 412) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, n) => write(n)));
  const history = await repo.history({ resourceType: 'Patient', id: stored.id }, 100, 0);
  expect(history.versions.map((v) => Number(v.versionId)).sort((a, b) => a - b)).toEqual(Array.from({ length: writers + 1 }, (_, i) => i + 1));
  const final = (await repo.read('Patient', stored.id)).content as Patient;
  expect(final.name!.slice(1).map((n) => n.text).sort()).toEqual(Array.from({ length: writers }, (_, n) => `writer ${n}`).sort());
});

it('rolls back everything a failed transaction wrote, conditional keys included', async () => {
  const value = unique('rollback');
  const before = await repo.history({}, 1, 0);
  const existing = await repo.create(buildPatient());
  await expect(
    repo.transaction(async (tx) => {
      await tx.create(withIdentifier(value), { ifNoneExist: `identifier=${IDENTIFIER_SYSTEM}|${value}` });
      await tx.update({ ...(existing.stored.content as Patient), gender: 'female' });
      await tx.delete('Patient', existing.stored.id);
      throw new Error('abandon the transaction');
    }),
  ).rejects.toThrow('abandon the transaction');
  expect((await byIdentifier(value)).resources).toEqual([]);
  const current = await repo.read('Patient', existing.stored.id);
  expect(current.versionId).toBe('1');
  expect((await repo.history({}, 1, 0)).total).toBe(before.total + 1);
  // The conditional key went with the rollback: the same conditional create now creates.
  const again = await repo.create(withIdentifier(value), { ifNoneExist: `identifier=${IDENTIFIER_SYSTEM}|${value}` });
  expect(again.created).toBe(true);
  expect((await byIdentifier(value)).resources.map((r) => r.id)).toEqual([again.stored.id]);
});

it('a conditional create finds a resource made without a condition, and makes a new one once it is deleted', async () => {
  const value = unique('plain');
  const plain = await repo.create(withIdentifier(value));
  const found = await repo.create(withIdentifier(value), { ifNoneExist: `identifier=${value}` });
  expect(found).toMatchObject({ created: false });
  expect(found.stored.id).toBe(plain.stored.id);
  await repo.delete('Patient', plain.stored.id);
  const fresh = await repo.create(withIdentifier(value), { ifNoneExist: `identifier=${value}` });
  expect(fresh.created).toBe(true);
  expect(fresh.stored.id).not.toBe(plain.stored.id);
  // Two matches: the condition is ambiguous.
  await repo.create(withIdentifier(value));
  expect(await failure(() => repo.create(withIdentifier(value), { ifNoneExist: `identifier=${IDENTIFIER_SYSTEM}|${value}&gender=male` }))).toBe(412);
});

it('a conditional create does not answer with a resource that no longer matches the condition', async () => {
  const value = unique('moved');
  const condition = `identifier=${IDENTIFIER_SYSTEM}|${value}`;
  const first = await repo.create(withIdentifier(value), { ifNoneExist: condition });
  expect(first.created).toBe(true);
  await repo.update({ ...(first.stored.content as Patient), identifier: [{ system: IDENTIFIER_SYSTEM, value: unique('elsewhere') }] });
  const second = await repo.create(withIdentifier(value), { ifNoneExist: condition });
  expect(second.created).toBe(true);
  expect(second.stored.id).not.toBe(first.stored.id);
  const third = await repo.create(withIdentifier(value), { ifNoneExist: condition });
  expect(third).toMatchObject({ created: false });
  expect(third.stored.id).toBe(second.stored.id);
});

it('token lookups with a condition find nothing when it is false, and what there is when it is true', async () => {
  const value = unique('lookup');
  const created = await repo.create(withIdentifier(value));
  const lookups = [
    { resourceType: 'Patient', tokens: [`identifier=${IDENTIFIER_SYSTEM}|${value}`], limit: 1 },
    { resourceType: 'Patient', tokens: [`identifier=${IDENTIFIER_SYSTEM}|${value}`, 'identifier=none|none'], limit: 5 },
  ];
  // SQL of its own, read once before the lookups' scans.
  const above = (sequence: number): string => `${sequence} > 2`;
  expect((await repo.currentByTokens(lookups, above(3))).map((found) => found.map((v) => v.id))).toEqual([[created.stored.id], [created.stored.id]]);
  expect(await repo.currentByTokens(lookups, above(2))).toEqual([[], []]);
  expect((await repo.currentByTokens(lookups)).map((found) => found.length)).toEqual([1, 1]);
});

it("a native record's identity lookups, sent with its ledger head, find something only above the head's last sequence", async () => {
  const value = unique('ledger');
  const created = await repo.create(withIdentifier(value));
  const lookups = [{ resourceType: 'Patient', tokens: [`identifier=${IDENTIFIER_SYSTEM}|${value}`], limit: 1 }];
  const recordId = unique('record');
  /** As the native ingest sends them: the head held, then the lookups carrying it in their round trip. */
  const sendAt = (sequence: number) =>
    repo.transaction(async (txRepo) => {
      const head = readLedgerHead(txRepo.txHandle(), 'nts', { senderUra: '90001234', recordId, sequence } as MappedRecord);
      const found = await txRepo.currentByTokens(lookups, aboveLedgerHead);
      return { last: (await head.rows())[0]?.last_sequence, found: found.map((f) => f.map((v) => v.id)) };
    });
  // A record never received: its head is made at 0, and its lookups find the patient.
  expect(await sendAt(1)).toEqual({ last: 0, found: [[created.stored.id]] });
  await testDb.db.query(`UPDATE native_record_heads SET last_sequence = 2 WHERE sender_ura = '90001234' AND format = 'nts' AND record_id = $1`, [recordId]);
  // Its last sequence again (a re-send) or an older one: the ledger answers, and the lookups read nothing.
  expect(await sendAt(2)).toEqual({ last: 2, found: [[]] });
  expect(await sendAt(1)).toEqual({ last: 2, found: [[]] });
  // Its next sequence: the lookups find the patient.
  expect(await sendAt(3)).toEqual({ last: 2, found: [[created.stored.id]] });
});

it('keeps a version of 3 kB in its row as it is, neither compressed nor moved out of line, and its history too (migration 031)', async () => {
  // About 3 kB of JSON, as a native handover's Encounter: above the 2 kB at which PostgreSQL would compress it by default.
  const names = Array.from({ length: 40 }, (_, i) => ({ family: `Achternaam-${i}-${unique('x')}`, given: [`Voornaam-${i}`] }));
  const created = await repo.create(buildPatient({ name: names }));
  expect(JSON.stringify(created.stored.content).length).toBeGreaterThan(2500);
  const { id } = created.stored;
  await repo.update({ ...(created.stored.content as Patient), gender: 'female' });
  const current = await testDb.db.query<{ compression: string | null }>(`SELECT pg_column_compression(content) AS compression FROM resources WHERE resource_type = 'Patient' AND id = $1`, [id]);
  const replaced = await testDb.db.query<{ compression: string | null }>(`SELECT pg_column_compression(content) AS compression FROM resource_history WHERE resource_type = 'Patient' AND id = $1`, [id]);
  expect(current.rows).toEqual([{ compression: null }]);
  expect(replaced.rows).toEqual([{ compression: null }]);
});
