// One daemon per store: `${path}.lock` holds the pid of the process that has the journal open.
// Two writers appending to one journal would interleave lines and corrupt it, and nothing else
// (a different socket.path, say) would stop a second daemon. A lock left by a dead process
// (kill -9, power loss) is taken over, and so is one held by a zombie (exited, not yet reaped by
// its parent: kill(pid, 0) still finds it, /proc says Z); pid reuse could in theory keep a stale
// lock alive, and the error then names the file to remove.
import { existsSync } from 'node:fs';
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
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && (await isAlive(holder))) {
      throw new Error(
        `refusing to start: process ${holder} holds the store lock ${lockPath} (another vpc-peerd on the same store.path?)`,
      );
    }
    await rm(lockPath, { force: true }); // stale: its holder is gone
  }
}

/** Whether `pid` is a running process: one that exists and is not a zombie (Z) or dead (X). */
async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // Gone since the signal; or no /proc here, or hidden (hidepid): then the signal's answer stands.
    return !((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat'));
  }
  // proc(5): the state is the field after the command name in parentheses (which may itself hold
  // spaces and parentheses, hence the last ')').
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X';
}

function lockError(lockPath: string, err: unknown): Error {
  return new Error(`cannot take the store lock ${lockPath}: ${(err as Error).message}`);
}
