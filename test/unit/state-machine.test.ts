// The handover Task's life as the table it is (src/handover/state-machine.ts): who may make which step, which
// states are final, and the usual path a skipping answer is filled in along.
import fc from 'fast-check';
import { describeTransition, isFinal, OPEN_STATUSES, pathTo, whoMay, type TaskStatus } from '../../src/handover/state-machine.ts';

const FINAL: TaskStatus[] = ['rejected', 'cancelled', 'completed', 'failed'];
const ALL: TaskStatus[] = [...OPEN_STATUSES, ...FINAL];

describe('whoMay', () => {
  test.each<[TaskStatus, TaskStatus, 'owner' | 'requester']>([
    ['requested', 'received', 'owner'],
    ['requested', 'accepted', 'owner'],
    ['requested', 'rejected', 'owner'],
    ['requested', 'on-hold', 'owner'],
    ['requested', 'cancelled', 'requester'],
    ['received', 'accepted', 'owner'],
    ['received', 'rejected', 'owner'],
    ['received', 'on-hold', 'owner'],
    ['received', 'cancelled', 'requester'],
    ['on-hold', 'requested', 'requester'],
    ['on-hold', 'cancelled', 'requester'],
    ['accepted', 'in-progress', 'owner'],
    ['accepted', 'failed', 'owner'],
    ['accepted', 'cancelled', 'requester'],
    ['in-progress', 'completed', 'owner'],
    ['in-progress', 'failed', 'owner'],
  ])('%s → %s: the %s', (from, to, by) => {
    expect(whoMay(from, to)).toBe(by);
  });

  test('exactly those sixteen steps exist', () => {
    const steps = ALL.flatMap((from) => ALL.filter((to) => whoMay(from, to) !== undefined).map((to) => `${from}→${to}`));
    expect(steps).toHaveLength(16);
  });

  test('no one moves a Task out of a final state, nor back to where it is', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FINAL), fc.constantFrom(...ALL), (from, to) => whoMay(from, to) === undefined),
    );
    for (const status of ALL) expect(whoMay(status, status)).toBeUndefined();
  });

  test('a requester cannot cancel once the work is in progress; an owner cannot cancel at all', () => {
    expect(whoMay('in-progress', 'cancelled')).toBeUndefined();
    for (const from of ALL) expect(whoMay(from, 'cancelled')).not.toBe('owner');
  });
});

describe('isFinal', () => {
  test('the four final states are, the open ones are not, and no status is neither', () => {
    for (const status of FINAL) expect(isFinal(status)).toBe(true);
    for (const status of OPEN_STATUSES) expect(isFinal(status)).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });
});

describe('pathTo', () => {
  test('fills in the states an answer skips, along the usual path', () => {
    expect(pathTo('requested', 'completed')).toEqual(['accepted', 'in-progress', 'completed']);
    expect(pathTo('accepted', 'completed')).toEqual(['in-progress', 'completed']);
    expect(pathTo('received', 'in-progress')).toEqual(['accepted', 'in-progress']);
    expect(pathTo('requested', 'rejected')).toEqual(['rejected']);
    expect(pathTo('accepted', 'accepted')).toEqual([]);
  });

  test('never passes through on-hold or received, and finds no way out of a final state', () => {
    expect(pathTo('requested', 'on-hold')).toBeUndefined();
    expect(pathTo('requested', 'received')).toBeUndefined();
    expect(pathTo('completed', 'in-progress')).toBeUndefined();
    expect(pathTo('in-progress', 'requested')).toBeUndefined();
  });

  test('every path it gives is made of allowed steps and ends where asked', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL), fc.constantFrom(...ALL), (from, to) => {
        const path = pathTo(from, to);
        if (path === undefined || path.length === 0) return true;
        let at = from;
        for (const next of path) {
          if (whoMay(at, next) === undefined) return false;
          at = next;
        }
        return at === to;
      }),
    );
  });
});

describe('describeTransition', () => {
  test('says why a step is refused: final, not a step, or the other party’s', () => {
    expect(describeTransition('completed', 'failed')).toBe('The handover is completed, which is final: it cannot become failed');
    expect(describeTransition('requested', 'completed')).toBe('A handover cannot go from requested to completed');
    expect(describeTransition('requested', 'accepted')).toMatch(/^Only the receiving organisation \(Task\.owner\) may/);
    expect(describeTransition('requested', 'cancelled')).toMatch(/^Only the requesting organisation \(Task\.requester\) may/);
  });
});
