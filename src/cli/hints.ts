// What vpc-peerctl tells an operator to do when a call fails for a reason outside the daemon's
// answer: nothing at the socket path, a path that is not a socket, a daemon run from a checkout
// while the CLI looks at the production path, a token of an earlier daemon start.
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { RpcTransportError } from '../rpc/client.js';
import { OPERATOR_TOKEN_KID } from '../config/schema.js';
import type { Settings } from './settings.js';

/** A vpc-peerd process found in /proc: its pid and the absolute --config it was started with. */
export interface RunningDaemon {
  readonly pid: number;
  readonly config: string | undefined;
}

/** /proc entries read at most when looking for a running daemon: bounded on a busy host. */
const MAX_PROCESSES = 4096;

/** The daemons this user can see running, by their command line (`node .../dist/src/main.js`). */
export async function findRunningDaemons(proc = '/proc'): Promise<RunningDaemon[]> {
  let entries: string[];
  try {
    entries = (await readdir(proc)).filter((e) => /^\d+$/.test(e)).slice(0, MAX_PROCESSES);
  } catch {
    return [];
  }
  const found: RunningDaemon[] = [];
  for (const entry of entries) {
    try {
      const argv = (await readFile(`${proc}/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      const cwd = await readlink(`${proc}/${entry}/cwd`).catch(() => '/');
      const script = argv.find((a, i) => i > 0 && a.endsWith('dist/src/main.js'));
      if (script === undefined || !(await isVpcPeerd(resolve(cwd, script)))) continue;
      const at = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
      const raw = at === -1 ? undefined : argv[at]?.startsWith('--config=') ? argv[at].slice('--config='.length) : argv[at + 1];
      found.push({ pid: Number(entry), config: raw === undefined ? undefined : isAbsolute(raw) ? raw : resolve(cwd, raw) });
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return found;
}

/** True if `script` is the daemon of this package (its package.json two folders up says so). */
async function isVpcPeerd(script: string): Promise<boolean> {
  try {
    const pkg = JSON.parse(await readFile(resolve(dirname(script), '../../package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === 'vpc-peerd';
  } catch {
    return false;
  }
}

/** The error line and the hints for a call that got no answer from the daemon (exit 3). */
export async function transportProblem(err: RpcTransportError, settings: Settings, timeoutMs: number, proc?: string): Promise<string[]> {
  const path = settings.socketPath;
  if (err.kind === 'timeout') {
    return [`error: no reply from vpc-peerd at ${path} within ${timeoutMs / 1000} s`, 'hint: the daemon may be stuck or very busy; --timeout SECONDS waits longer'];
  }
  if (err.kind !== 'unreachable') return [`error: ${err.message}`];
  if (err.errno === 'EACCES') {
    return [`error: permission denied on ${path}`, "hint: run as root or as a member of the socket's group (vpc-peerd)"];
  }
  const what = await stat(path).then(
    (s) => (s.isSocket() ? 'socket' : s.isDirectory() ? 'a directory' : s.isFile() ? 'a regular file' : 'not a socket'),
    () => 'missing',
  );
  if (what !== 'socket' && what !== 'missing') {
    return [`error: ${path} is not a socket (it is ${what})`, 'hint: --socket and socket.path name the Unix socket vpc-peerd listens on'];
  }
  const lines = [
    what === 'missing'
      ? `error: cannot reach vpc-peerd: no socket at ${path}`
      : `error: cannot reach vpc-peerd at ${path}: nothing listens there (${err.errno ?? err.message}); a daemon that died leaves its socket behind`,
  ];
  if (settings.socketSource === 'default') {
    // Newest first: the one just started from a checkout is the likely one.
    const running = (await findRunningDaemons(proc)).filter((d) => d.config !== undefined).sort((a, b) => b.pid - a.pid).slice(0, 3);
    for (const d of running) lines.push(`hint: vpc-peerd runs as pid ${d.pid} with --config ${d.config}: add --config ${d.config}`);
    lines.push(
      running.length === 0
        ? 'hint: is it running (systemctl status vpc-peerd)? A daemon started from a checkout listens on its config\'s socket.path: pass --config PATH or --socket PATH, or set $VPC_PEERCTL_SOCKET'
        : 'hint: or pass --socket PATH, or set $VPC_PEERCTL_SOCKET',
    );
  } else {
    lines.push(`hint: is vpc-peerd running? The socket came from ${SOURCE_TEXT[settings.socketSource]}`);
  }
  return lines;
}

const SOURCE_TEXT: Readonly<Record<Exclude<Settings['socketSource'], 'default'>, string>> = {
  flag: '--socket',
  config: 'socket.path of --config',
  env: '$VPC_PEERCTL_SOCKET',
};

/** Whether a token's JWS header names the operator key (RFC 7515 §4.1.4); false for anything that does not parse. */
function isOperatorToken(token: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && (header as { kid?: unknown }).kid === OPERATOR_TOKEN_KID;
  } catch {
    return false;
  }
}

/**
 * The hint after the daemon rejected the token (401 TOKEN_INVALID), by where the token came from;
 * undefined for a platform token given with --token (the daemon's message says what is wrong with
 * it, and the operator token's restarts are beside the point).
 */
export function rejectedTokenHint(settings: Settings): string | undefined {
  if (settings.tokenFile === undefined) {
    if (settings.token !== undefined && !isOperatorToken(settings.token)) return undefined;
    return 'hint: the operator token changes at each start of vpc-peerd (it rewrites auth.adminTokenFile): a token copied before a restart no longer works; pass --token-file FILE or --config PATH to read the current one';
  }
  // Read before the call, and read again after a refusal by watch and wait: the file itself holds the refused token.
  return `hint: the token now in ${settings.tokenFile} is refused; vpc-peerd rewrites its auth.adminTokenFile at each start, so this file is not the running daemon's: check that --config or --socket name the same daemon`;
}
