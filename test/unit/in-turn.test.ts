import { inTurn } from '../../src/board/in-turn.ts';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('inTurn (a board snapshot projects its rows a few at a time)', () => {
  test('gives the results in the order of the items, whatever order they finish in', async () => {
    const results = await inTurn([30, 5, 20, 1, 10], 3, async (ms) => {
      await tick(ms);
      return ms * 2;
    });
    expect(results).toEqual([60, 10, 40, 2, 20]);
  });

  test('has at most the given number under way at once, and all of them busy while there is work', async () => {
    let running = 0;
    let most = 0;
    await inTurn([...Array(20).keys()], 4, async () => {
      running++;
      most = Math.max(most, running);
      await tick(2);
      running--;
    });
    expect(most).toBe(4);
  });

  test('rejects with the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    const run = inTurn([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      await tick(1);
      if (n === 2) throw new Error('row 2 could not be read');
      return n;
    });
    await expect(run).rejects.toThrow('row 2 could not be read');
    await tick(10);
    expect(started).toEqual([1, 2, 3]);
  });

  test('starts nothing once stopped (the board connection went away); the work under way ends, the rest has no result', async () => {
    const started: number[] = [];
    let stopped = false;
    const results = await inTurn(
      [1, 2, 3, 4, 5, 6, 7, 8],
      2,
      async (n) => {
        started.push(n);
        await tick(1);
        if (n === 3) stopped = true;
        return n * 10;
      },
      () => stopped,
    );
    expect(started).toEqual([1, 2, 3, 4]);
    expect(results).toEqual([10, 20, 30, 40, undefined, undefined, undefined, undefined]);
  });

  test('an empty list is an empty result', async () => {
    expect(await inTurn([], 8, async () => 1)).toEqual([]);
  });
});
