// The one place that starts Open vSwitch tools. Argv arrays and never a shell; a minimal
// environment (PATH and OVS_RUNDIR, which is how the tools find a private OVS); a timeout and an
// output cap that kill the child; and one classification of failures into OvsError kinds, so
// callers branch on `kind` and never on stderr wording.
import { spawn } from 'node:child_process';

export type OvsBinary = 'ovs-ofctl' | 'ovs-vsctl' | 'ovs-appctl';

/**
 * - `unavailable`: OVS does not answer (no database, no vswitchd, a socket that refuses);
 * - `no-such-bridge`: OVS answers and has no bridge of that name (`ovs-vsctl: no bridge named`);
 * - `timeout`, `bad-output` (unreadable or oversized output), `missing-binary`;
 * - `failed`: anything else (a command OVS refused).
 */
export type OvsErrorKind = 'unavailable' | 'no-such-bridge' | 'timeout' | 'failed' | 'bad-output' | 'missing-binary';

/** A fault of OVS or of its tools (the world, not a bug): callers turn it into state. */
export class OvsError extends Error {
  override readonly name = 'OvsError';
  constructor(
    readonly kind: OvsErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunOptions {
  /** Text written to the child's stdin (then closed). */
  readonly stdin?: string;
  /** Overrides the runner's timeout for this call. */
  readonly timeoutMs?: number;
}

export interface Runner {
  readonly rundir: string;
  /** Runs to completion; resolves only on exit code 0 with no silent-failure line on stderr. */
  run(bin: OvsBinary, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export interface RunnerOptions {
  readonly rundir: string;
  readonly timeoutMs?: number;
  /** Cap on stdout + stderr bytes; past it the child is killed. */
  readonly maxOutputBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const STDERR_EXCERPT = 600;

/** Stderr of a failed run that means "OVS is not there" rather than "the command is wrong". */
const UNAVAILABLE = [
  /database connection failed/,
  /is not a bridge or a socket/,
  /Connection refused/,
  /No such file or directory/,
  /cannot read pidfile/,
  /cannot connect to/,
  /vconn_recv \(End of file\)/,
  // A vswitchd that dies while a tool connects (SIGKILL, a crash) resets the socket instead of
  // refusing it: still "not there", not a wrong command.
  /\((?:Connection reset by peer|Broken pipe|End of file)\)/,
];

const NO_SUCH_BRIDGE = /no bridge named/;

/**
 * Lines after which a run that exited 0 did not do what was asked: ovs-ofctl silently drops a
 * match field that lacks its protocol (the flow then matches more than written), and ovs-vsctl
 * commits an interface that vswitchd could not set up.
 */
const SILENT_FAILURES = [/normalization changed/, /Error detected while setting up/];

export function createRunner(opts: RunnerOptions): Runner {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', OVS_RUNDIR: opts.rundir };

  const run = (bin: OvsBinary, args: readonly string[], runOpts: RunOptions = {}): Promise<RunResult> => {
    const command = commandLine(bin, args);
    const limitMs = runOpts.timeoutMs ?? timeoutMs;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let bytes = 0;
      let killedFor: 'timeout' | 'cap' | null = null;
      const kill = (why: 'timeout' | 'cap'): void => {
        if (killedFor !== null) return;
        killedFor = why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => kill('timeout'), limitMs);
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxOutputBytes) kill('cap');
        else into.push(chunk);
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      // A child that exits before reading its stdin (it could not connect) makes the write fail
      // with EPIPE; the exit code says what happened, so the write error itself is not news.
      child.stdin.on('error', () => undefined);
      child.stdin.end(runOpts.stdin ?? '');

      child.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOENT') reject(new OvsError('missing-binary', `${bin} is not installed (not found on PATH): ${command}`));
        else reject(new OvsError('failed', `${command}: cannot start: ${e.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const durationMs = performance.now() - started;
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (killedFor === 'timeout') {
          reject(new OvsError('timeout', `${command}: no answer within ${limitMs} ms (killed)${excerpt(stderr)}`));
        } else if (killedFor === 'cap') {
          reject(new OvsError('bad-output', `${command}: output exceeded ${maxOutputBytes} bytes (killed)`));
        } else if (code !== 0) {
          const how = code === null ? `killed by ${signal ?? 'a signal'}` : `exit ${code}`;
          reject(new OvsError(classify(stderr), `${command}: ${how}${excerpt(stderr)}`));
        } else if (SILENT_FAILURES.some((re) => re.test(stderr))) {
          reject(new OvsError('failed', `${command}: exit 0 but OVS reported a silent change${excerpt(stderr)}`));
        } else {
          resolve({ code, stdout, stderr, durationMs });
        }
      });
    });
  };

  return { rundir: opts.rundir, run };
}

/**
 * ovs-vsctl's `no bridge named` comes from a database that answered. ovs-ofctl's `is not a bridge
 * or a socket` does not tell a missing bridge from a stopped vswitchd (which removes every
 * `BRIDGE.mgmt`): it counts as unavailable, and the topology read tells the two apart.
 */
export function classify(stderr: string): OvsErrorKind {
  if (UNAVAILABLE.some((re) => re.test(stderr))) return 'unavailable';
  return NO_SUCH_BRIDGE.test(stderr) ? 'no-such-bridge' : 'failed';
}

/** The command as a person would type it; arguments are our own validated names, flows and flags. */
function commandLine(bin: string, args: readonly string[]): string {
  return [bin, ...args].join(' ');
}

function excerpt(stderr: string): string {
  const text = stderr.trim();
  if (text === '') return '';
  return `: ${text.length > STDERR_EXCERPT ? `${text.slice(0, STDERR_EXCERPT)}…` : text}`;
}
