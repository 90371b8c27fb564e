import { addSorted } from '../../src/access/parties.ts';

// The form before: every list spread into one, made unique by a Set and sorted by Array.prototype.sort.
const before = (...lists: string[][]): string[] => [...new Set(lists.flat())].sort();

describe('addSorted', () => {
  it('collects parties as the Set and sort did, for lists in any order, with repeats', () => {
    const pool = ['00000001', '00000002', '90000123', '90000124', '1', '10', '9', 'É', 'a', 'B', ''];
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 500; round++) {
      const lists = Array.from({ length: 4 }, () => Array.from({ length: next(5) }, () => pool[next(pool.length)] as string));
      const sorted: string[] = [];
      for (const list of lists) addSorted(sorted, list);
      expect(sorted).toEqual(before(...lists));
    }
  });
});
