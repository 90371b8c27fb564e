// A native answer to a Twiin invitation not selected yet (issue 18): the candidate's visit record and findings wait
// (table withheld_answers) until the placer selects it, and are then written in the selecting transaction, as the
// candidate's own, with their Provenance; an invitation that ends otherwise (not selected, refused) drops them.
import type { Task } from '@medplum/fhirtypes';
import type { OrganizationDirectory } from '../access/organizations.ts';
import { systemContext } from '../context.ts';
import { parseKeepingNumberTexts } from '../fhir/number-text.ts';
import { Repository, type RepositoryDeps } from '../fhir/repository.ts';
import type { MappedRecord } from '../native/types.ts';
import type { Tx } from '../store/database.ts';
import type { OpenTransaction } from '../fhir/write-phases.ts';
import { writeVisit } from './record-writes.ts';
import { writeProvenance, type Written } from './ingest-provenance.ts';

/** Keeps the answer's mapped record for the invitation; a later answer (higher sequence) replaces an earlier one. */
export async function withholdAnswer(tx: Tx, taskId: string, mapped: MappedRecord): Promise<void> {
  await tx.query(
    `INSERT INTO withheld_answers (task_id, sender_ura, sequence, mapped) VALUES ($1, $2, $3, $4)
     ON CONFLICT (task_id) DO UPDATE SET sender_ura = EXCLUDED.sender_ura, sequence = EXCLUDED.sequence, mapped = EXCLUDED.mapped, received = now()
      WHERE withheld_answers.sequence <= EXCLUDED.sequence`,
    [taskId, mapped.senderUra, mapped.sequence, JSON.stringify(mapped)],
  );
}

/** The invitation ended without being selected: what its candidate sent is not the placer's to see. */
export async function dropWithheld(tx: Tx, taskId: string): Promise<void> {
  await tx.query('DELETE FROM withheld_answers WHERE task_id = $1', [taskId]);
}

/**
 * The placer selected `task` (now with `for`): the candidate's withheld answer takes effect in this transaction —
 * its visit record and findings written as the candidate's (its organisation is the writer, so it is their party),
 * about the patient the selection names, with a Provenance naming the candidate as author, as when it had sent
 * the record now. The selection's own notifications carry the news; the answer's status change was applied when
 * it came.
 */
export async function releaseWithheld(open: OpenTransaction, deps: RepositoryDeps, orgs: OrganizationDirectory, requestId: string, task: Task, taskId: string): Promise<void> {
  const row = await open.tx.query<{ sender_ura: string; mapped: string }>('DELETE FROM withheld_answers WHERE task_id = $1 RETURNING sender_ura, mapped', [taskId]);
  const found = row.rows[0];
  if (!found) return;
  const mapped = parseKeepingNumberTexts(found.mapped) as MappedRecord;
  const repo = new Repository(deps, { ...systemContext(requestId), organizationUra: found.sender_ura }, open);
  const written: Written[] = [];
  await writeVisit(repo, orgs, mapped, task, taskId, written);
  await writeProvenance(repo, orgs, mapped.format, mapped, written);
}
