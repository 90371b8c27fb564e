// A clone of this repository stands on its own: no code that the tests, the bench, CI or the gateway run
// names a path outside it (the region's shared folder sits beside our working copies, not beside a user's
// clone). .ci/run also runs a quick suite in a clone with nothing beside it; this test finds the mistake earlier.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const CODE = /\.(ts|js|mjs|cjs|sh)$|^\.ci\/run$/;

function trackedCode(): string[] {
  const out = execFileSync('git', ['ls-files', 'src', 'test', 'bench', 'scripts', 'examples', '.ci', 'package.json'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\n').filter((f) => CODE.test(f) || f === 'package.json');
}

/** String literals that start with ../ and, taken from the file's folder, lead out of the repository. */
function pathsLeavingRepo(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(['"`])((?:\.\.\/)+[^'"`\s]*)\1/g)) {
    const target = resolve(dirname(join(ROOT, file)), m[2]);
    if (relative(ROOT, target).startsWith('..')) found.push(m[2]);
  }
  return found;
}

test('no code the tests, bench or CI run reads outside the repository', () => {
  const files = trackedCode();
  expect(files.length).toBeGreaterThan(50);
  const offenders = files.flatMap((f) => pathsLeavingRepo(f).map((p) => `${f}: ${p}`));
  expect(offenders).toEqual([]);
});
