import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/store/data-dir-lock.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'data-dir-lock-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A process id no process can have: Linux's largest pid_max is 2^22. */
const NO_PROCESS = 2 ** 22 + 1;

describe('the embedded database folder is held by one gateway at a time', () => {
  it('creates the folder, names this process in it and gives it back', () => {
    const dataDir = join(root, 'data');
    const unlock = lockDataDir(dataDir);
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    unlock();
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    // Given back, it can be taken again.
    lockDataDir(dataDir)();
  });

  it('refuses a folder held by a process that runs, naming the folder, the process and the way out', () => {
    // The parent of this test's process runs as long as the test does.
    writeFileSync(join(root, LOCK_FILE), `${process.ppid}\n`);
    let refusal: unknown;
    try {
      lockDataDir(root);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(DataDirInUseError);
    const message = (refusal as Error).message;
    expect(message).toContain(root);
    expect(message).toContain(`process ${process.ppid}`);
    expect(message).toMatch(/DATA_DIR/);
    expect(message).toContain(join(root, LOCK_FILE));
    // The holder's lock is left as it was, and nothing of this attempt stays behind.
    expect(readFileSync(join(root, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
    expect(existsSync(join(root, `${LOCK_FILE}.${process.pid}`))).toBe(false);
  });

  it('takes over a lock left by a process that no longer runs', () => {
    writeFileSync(join(root, LOCK_FILE), `${NO_PROCESS}\n`);
    const unlock = lockDataDir(root);
    expect(readFileSync(join(root, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    unlock();
  });

  it('takes over a lock naming this very process that it does not hold (a restart with the same pid), or naming none', () => {
    writeFileSync(join(root, LOCK_FILE), `${process.pid}\n`);
    lockDataDir(root)();
    writeFileSync(join(root, LOCK_FILE), '');
    lockDataDir(root)();
  });

  it('refuses a folder this very process holds, by any spelling of its path', () => {
    const unlock = lockDataDir(root);
    expect(() => lockDataDir(join(root, '.'))).toThrow(DataDirInUseError);
    // The refusal gave nothing back.
    expect(readFileSync(join(root, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    unlock();
    lockDataDir(root)();
  });

  it('a folder that cannot be made says which and why', () => {
    writeFileSync(join(root, 'a-file'), 'x');
    expect(() => lockDataDir(join(root, 'a-file', 'data'))).toThrow(/The embedded database could not be created in .*a-file\/data: ENOTDIR/);
  });

  it('giving back leaves a lock another process has since taken over', () => {
    const unlock = lockDataDir(root);
    writeFileSync(join(root, LOCK_FILE), `${process.ppid}\n`);
    unlock();
    expect(readFileSync(join(root, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
  });
});
