import type { Resource } from '@medplum/fhirtypes';
import type { Database } from '../../store/database.ts';
import { TxState, type OpenTransaction } from '../write-phases.ts';
import { resourceStore } from '../../store/resource-store.ts';
import { extractIndexValues } from './index-values.ts';
import type { SearchParameterRegistry } from './parameters.ts';
import { FHIR_ID } from '../resource-types.ts';

export interface ReindexBatch {
  /** Resources whose index was rewritten in this batch. */
  reindexed: number;
  /** Of those, how many had tokens that differed from what the gateway derives now. */
  outOfDate: number;
  /** Where the next batch starts (`Type/id`), or null when this was the last. */
  next: string | null;
}

const CURSOR = new RegExp(`^([A-Za-z]{1,64})/(${FHIR_ID})$`);

export function isReindexCursor(value: string): boolean {
  return CURSOR.test(value);
}

/**
 * Rewrites the search index of current resources, one batch in key order after `after` (`Type/id`), in one
 * transaction. Needed when a gateway update derives more from the same content (a new search parameter, a
 * token form it did not write before): rows stored earlier are found by the new searches only once reindexed.
 * The rows of the batch are locked while it runs, so a write in between cannot be overwritten with an index of
 * the content before it.
 */
export async function reindexBatch(
  db: Database,
  registry: SearchParameterRegistry,
  after: string | undefined,
  count: number,
  /** The tokens the write hooks derive beside the resource's own (WriteHooks.indexTokens), so a reindex keeps them. */
  derived: (open: OpenTransaction, resource: Resource) => Promise<string[]> = async () => [],
): Promise<ReindexBatch> {
  const cursor = after ? CURSOR.exec(after) : null;
  if (after && !cursor) throw new Error(`not a resource key: ${after}`);
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ resource_type: string; id: string; content: Resource; tokens: string[] }>(
      `SELECT resource_type, id, content, tokens FROM resources
       WHERE NOT deleted AND (resource_type, id) > ($1, $2)
       ORDER BY resource_type, id LIMIT $3 FOR UPDATE`,
      [cursor?.[1] ?? '', cursor?.[2] ?? '', count],
    );
    // No write under way: the derivations get a state of their own, with nothing written in it.
    const open: OpenTransaction = { tx, state: new TxState() };
    let outOfDate = 0;
    for (const row of rows.rows) {
      const index = extractIndexValues(registry, row.content);
      index.tokens = [...new Set([...index.tokens, ...(await derived(open, row.content))])];
      const before = [...(row.tokens ?? [])].sort();
      const now = [...index.tokens].sort();
      if (before.length !== now.length || before.some((t, i) => t !== now[i])) outOfDate++;
      await resourceStore.writeIndex(tx, row.resource_type, row.id, index);
    }
    const last = rows.rows.at(-1);
    return { reindexed: rows.rows.length, outOfDate, next: rows.rows.length === count && last ? `${last.resource_type}/${last.id}` : null };
  });
}

/** How many current resources a full reindex goes through. */
export async function reindexTotal(db: Database): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM resources WHERE NOT deleted');
  return Number(r.rows[0]?.n ?? 0);
}
