// The write phases (src/fhir/write-phases.ts): the order is the declared phase list's, whatever order the
// participants are named in, and what a transaction collects lives in its state, which each attempt gets new.
// No database: a stand-in `transaction` runs the work on a plain handle and can fail an attempt as PostgreSQL does.
import type { Resource } from '@medplum/fhirtypes';
import { systemContext } from '../../src/context.ts';
import type { Tx } from '../../src/store/database.ts';
import type { StoredVersion } from '../../src/store/resource-store.ts';
import { TxSlot, TxState, WRITE_PHASES, WritePipeline, type OpenTransaction, type WritePhase, type WritePhases, type WriteHooks } from '../../src/fhir/write-phases.ts';

const ctx = systemContext('phases-test');
const resource: Resource = { resourceType: 'Patient', id: 'p1' };
const stored: StoredVersion = { resourceType: 'Patient', id: 'p1', versionId: '1', lastUpdated: '2026-01-01T00:00:00Z', deleted: false, content: resource };

/** A handle no phase here uses: the phases under test only collect and record. */
function handle(): Tx {
  return {
    query: async () => {
      throw new Error('no database in the unit tier');
    },
    exec: async () => {
      throw new Error('no database in the unit tier');
    },
  };
}

/** Runs each attempt's work on a new handle; `fail(attempt)` breaks an attempt off after its work, as a conflict at COMMIT. */
function standIn(fail: (attempt: number) => boolean): { transaction: <T>(work: (tx: Tx) => Promise<T>) => Promise<T>; attempts: () => number } {
  let attempts = 0;
  return {
    transaction: async (work) => {
      attempts++;
      const result = await work(handle());
      if (fail(attempts)) throw Object.assign(new Error('could not serialize access'), { code: '40001' });
      return result;
    },
    attempts: () => attempts,
  };
}

/** A participant that writes `name` into `log` at every kind of call. */
function recorder(name: string, log: Record<'lock' | 'before' | 'after' | 'commit', string[]>): WriteHooks {
  return {
    lockKeys: () => {
      log.lock.push(name);
      return [`lock-${name}`];
    },
    beforeWrite: async () => {
      log.before.push(name);
    },
    afterWrite: async () => {
      log.after.push(name);
    },
    beforeCommit: async () => {
      log.commit.push(name);
    },
  };
}

test('every kind of call runs the phases in the declared order, whatever order they are named in', async () => {
  const log = { lock: [] as string[], before: [] as string[], after: [] as string[], commit: [] as string[] };
  // Named backwards, two participants in the first phase: each phase's list keeps its own order.
  const reversed = [...WRITE_PHASES].reverse();
  const phases: WritePhases = Object.fromEntries(reversed.map((phase) => [phase, phase === 'resolve' ? [recorder('resolve-1', log), recorder('resolve-2', log)] : [recorder(phase, log)]]));
  expect(Object.keys(phases)[0]).toBe('audit');
  const pipeline = new WritePipeline(phases);
  const expected = WRITE_PHASES.flatMap((phase: WritePhase) => (phase === 'resolve' ? ['resolve-1', 'resolve-2'] : [phase]));

  const db = standIn(() => false);
  await pipeline.transaction(db, ctx, async (open) => {
    expect(pipeline.lockKeys(resource)).toEqual(expected.map((name) => `lock-${name}`).sort());
    await pipeline.beforeWrite({ ...open, ctx }, { interaction: 'create', next: resource, warnings: [] });
    await pipeline.afterWrite({ ...open, ctx }, { interaction: 'create', stored });
  });
  expect(log).toEqual({ lock: expected, before: expected, after: expected, commit: expected });
});

test('a phase the list does not name is refused: a type error, and at start', () => {
  // @ts-expect-error: 'notify' is not a write phase.
  expect(() => new WritePipeline({ notify: [] })).toThrow(/Unknown write phases: notify/);
});

test('what a transaction collects is per attempt: a retried transaction starts with a fresh state', async () => {
  const seen = new TxSlot<string[]>('test.seen', () => []);
  const committed: string[][] = [];
  const states: TxState[] = [];
  const pipeline = new WritePipeline({
    outbox: [{ afterWrite: async ({ state }, event) => void state.get(seen).push(`${event.stored.id} in attempt ${states.length}`) }],
    audit: [{ beforeCommit: async ({ state }) => void committed.push([...state.get(seen)]) }],
  });
  // The first attempt is broken off after its phases ran (a serialization failure at COMMIT); the second commits.
  const db = standIn((attempt) => attempt === 1);
  const result = await pipeline.transaction(db, ctx, async (open: OpenTransaction) => {
    states.push(open.state);
    await pipeline.afterWrite({ ...open, ctx }, { interaction: 'create', stored });
    return 'stored';
  });
  expect(result).toBe('stored');
  expect(db.attempts()).toBe(2);
  expect(states[0]).not.toBe(states[1]);
  // Each attempt's commit work saw only what that attempt collected, not the broken-off attempt's as well.
  expect(committed).toEqual([['p1 in attempt 1'], ['p1 in attempt 2']]);
  expect(states[1].get(seen)).toEqual(['p1 in attempt 2']);
});

test('an error that is not a conflict is not retried', async () => {
  const pipeline = new WritePipeline({});
  let attempts = 0;
  const db = {
    transaction: async <T>(work: (tx: Tx) => Promise<T>): Promise<T> => {
      attempts++;
      return work(handle());
    },
  };
  await expect(
    pipeline.transaction(db, ctx, async () => {
      throw Object.assign(new Error('duplicate key'), { code: '23505' });
    }),
  ).rejects.toMatchObject({ code: '23505' });
  expect(attempts).toBe(1);
});

test('a slot is one value within a state and a new one in the next', () => {
  const slot = new TxSlot<string[]>('test.slot', () => []);
  const first = new TxState();
  first.get(slot).push('a');
  expect(first.get(slot)).toEqual(['a']);
  expect(new TxState().get(slot)).toEqual([]);
});
