// One daemon per store: `${path}.lock` holds the pid of the process that has the journal open.
// Two writers appending to one journal would interleave lines and corrupt it, and nothing else
// (a different socket.path, say) would stop a second daemon. A lock left by a dead process
// (kill -9, power loss) is taken over; pid reuse could in theory keep a stale lock alive, and
// the error then names the file to remove.
import { readFile, rm, writeFile } from 'node:fs/promises';

export interface StoreLock {
  release(): Promise<void>;
}

export async function acquireStoreLock(lockPath: string): Promise<StoreLock> {
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return { release: () => rm(lockPath, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(lockPath, err);
    }
    const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `refusing to start: process ${holder} holds the store lock ${lockPath} (another vpc-peerd on the same store.path?)`,
      );
    }
    await rm(lockPath, { force: true }); // stale: its holder is gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockError(lockPath: string, err: unknown): Error {
  return new Error(`cannot take the store lock ${lockPath}: ${(err as Error).message}`);
}
