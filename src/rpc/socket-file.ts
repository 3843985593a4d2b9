// The socket file's life on disk: clearing a stale one left by a crash (but never stealing the
// path from a live daemon), and the mode and group that decide who may connect (SPEC §4).
import { chmod, chown, lstat, mkdir, readFile, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';

/** How long a probe of an existing socket waits for an answer before calling it dead. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Makes `path` free to listen on: creates the parent folder, removes a socket nobody answers on.
 * Throws if a live daemon answers there, or if the path is something other than a socket.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await isAlive(path)) throw new Error(`another vpc-peerd is listening on ${path}`);
  await unlink(path);
}

/** True if something accepts connections on the socket; false if it is stale. */
function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect({ path });
    const timer = setTimeout(() => {
      // A listener that accepts nothing in time is wedged, not gone: refuse rather than unlink.
      probe.destroy();
      resolve(true);
    }, PROBE_TIMEOUT_MS);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err) => {
      clearTimeout(timer);
      if (errnoOf(err) === 'ECONNREFUSED') resolve(false);
      else reject(err);
    });
  });
}

/**
 * Applies mode and group to the listening socket. Until this runs the socket has the process
 * umask's mode, which under systemd (UMask=0022) denies connect to everyone but the owner, so
 * the window can only be stricter than the final mode.
 */
export async function applySocketAccess(path: string, mode: number, group: string | null): Promise<void> {
  await chmod(path, mode);
  if (group === null) return;
  const gid = resolveGroupId(group, await readFile('/etc/group', 'utf8'));
  await chown(path, -1, gid);
}

/**
 * A group name or numeric gid → gid, from the text of /etc/group (`name:password:gid:members`).
 * Node has no getgrnam(3); the local groups a socket is shared with live in this file.
 */
export function resolveGroupId(group: string, groupFileText: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of groupFileText.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`socket.group "${group}" is not a group of this host (not in /etc/group)`);
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
