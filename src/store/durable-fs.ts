// The few file operations durability rests on. A rename is only durable once the folder that
// holds it is fsynced, and a file's content only once the file is; these helpers do both, in the
// order that leaves either the old or the new file in place after a crash at any step.
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const FILE_MODE = 0o600;
const DIR_MODE = 0o750;

/** Truncate whatever a crash left under this name; O_APPEND keeps every later write at the end. */
const CREATE_APPEND = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;

/** Creates the folder (and its parents) when missing; an existing folder keeps its mode. */
export async function ensureDir(dir: string): Promise<void> {
  const target = resolve(dir);
  const firstCreated = await mkdir(target, { recursive: true, mode: DIR_MODE });
  if (firstCreated === undefined) return;
  // A new folder's entry is only durable once its parent is fsynced: do each, up to the first made.
  for (let d = target; d !== dirname(d); d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (d === firstCreated) break;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `data` at the handle's position (the end, for an append handle). */
export async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done);
    done += bytesWritten;
  }
}

/**
 * Creates `path` afresh from `pieces` (written one at a time, so that producing a large file lets
 * other work run in between), fsyncs it and returns it open for appending, with its size. On
 * failure the half-written file is removed.
 */
export async function createSynced(path: string, pieces: Iterable<string | Buffer>): Promise<{ handle: FileHandle; bytes: number }> {
  const handle = await open(path, CREATE_APPEND, FILE_MODE);
  try {
    let bytes = 0;
    for (const piece of pieces) {
      const data = typeof piece === 'string' ? Buffer.from(piece) : piece;
      await writeAll(handle, data);
      bytes += data.length;
    }
    await handle.sync();
    return { handle, bytes };
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
}

/**
 * Replaces `path` atomically and durably (temp file, fsync, rename, folder fsync); returns the
 * new size. A failure before the rename leaves `path` as it was.
 */
export async function replaceFile(path: string, pieces: Iterable<string | Buffer>): Promise<number> {
  const tmp = `${path}.tmp`;
  const { handle, bytes } = await createSynced(tmp, pieces);
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
  return bytes;
}
