import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Task } from '@medplum/fhirtypes';
import { extractIndexValues } from '../../src/fhir/search/index-values.ts';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { resourceStore } from '../../src/store/resource-store.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { benchTask } from './bench-resources.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PER_TRANSACTION = 500;

/**
 * `count` requested Tasks from `requesterRef` to `ownerRef`, stored through the gateway's own store (current row,
 * history, search index, parties) in large transactions: the searches and reads of the benchmark then run on a
 * table of the size issue 19 measured (20,000+ Tasks, all matching `status=requested&owner=`), which creating
 * them through the API would take minutes to build. No audit rows: nobody asked for these.
 */
export async function seedTasks(databaseUrl: string, count: number, ownerRef: string, requesterRef: string, parties: string[]): Promise<void> {
  const registry = SearchParameterRegistry.load(join(ROOT, 'profiles/search-parameters/bundle.json'));
  const db = new PostgresDatabase({ connectionString: databaseUrl, maxConnections: 2 });
  const now = new Date().toISOString();
  const template: Task = { ...benchTask(requesterRef, ownerRef, now), lastModified: now };

  const index = extractIndexValues(registry, template);
  try {
    const batches = Array.from({ length: Math.ceil(count / PER_TRANSACTION) }, (_, b) => Math.min(PER_TRANSACTION, count - b * PER_TRANSACTION));
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        for (let b = next++; b < batches.length; b = next++) {
          await db.transaction(async (tx) => {
            for (let i = 0; i < (batches[b] ?? 0); i++) {
              const id = randomUUID();
              await resourceStore.write(tx, { resourceType: 'Task', id, versionId: '1', lastUpdated: now, deleted: false, content: { ...template, id, meta: { versionId: '1', lastUpdated: now } } }, index, parties, true);
            }
          });
        }
      }),
    );
  } finally {
    await db.close();
  }
}
