// vpc-peerctl as a function: argv and streams in, exit code out, so tests run it in-process.
// Exit codes (EXIT in commands.ts): 0 success; 1 the daemon refused, a wait timed out or a
// reconcile had errors; 2 the command line is wrong; 3 a local problem (config or token file
// unreadable, daemon unreachable or silent).
import { connectClient, RpcClientError, RpcTransportError, type RpcClient } from '../rpc/client.js';
import {
  type Action,
  type Call,
  commandOf,
  DEFAULT_CALL_TIMEOUT_S,
  DEFAULT_WAIT_TIMEOUT_S,
  EXIT,
  type GlobalOptions,
  type Invocation,
  parseInvocation,
  TERMINAL_STATUSES,
  UsageError,
  type WaitTarget,
} from './commands.js';
import { rejectedTokenHint, transportProblem } from './hints.js';
import { COLOUR, isRecord, PLAIN, render, renderJson, renderStatus, type RenderContext } from './render.js';
import { rereadToken, resolveSettings, SetupError, type Settings } from './settings.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Ends `status --watch` (exit 0) or any other command (exit 130); main.ts aborts it on SIGINT. */
  readonly signal?: AbortSignal;
  /** The clock, for "3m ago" in status; tests fix it. */
  readonly now?: () => Date;
}

/** The exit code of a command interrupted by the user (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation(argv, { writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`error: ${err.message}\nRun '${commandOf(argv)} --help' for usage.\n`);
    return EXIT.usage;
  }
  if (invocation.kind === 'exit') return invocation.code;
  const { globals, action } = invocation;
  if (action.kind === 'print') {
    io.stdout.write(action.text);
    return EXIT.ok;
  }

  let settings: Settings;
  try {
    settings = await resolveSettings(globals, io.env);
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    io.stderr.write(`error: ${err.message}\n`);
    return EXIT.local;
  }
  const session = new Session(settings, globals, io);
  const onAbort = (): void => void session.close();
  io.signal?.addEventListener('abort', onAbort);
  try {
    if (action.kind === 'call') return await runCall(session, action.call, globals, io);
    if (action.kind === 'wait') return await runWait(session, action, globals, io);
    return await runWatch(session, action.intervalMs, globals, io);
  } catch (err) {
    if (io.signal?.aborted === true) return INTERRUPTED;
    if (err instanceof RpcClientError) {
      reportRpcError(err, globals.json, session.settings, io);
      // Asked for a token the implicit token file could not give: fix this host's set-up (3).
      return err.code === 401 && session.settings.token === undefined && session.settings.tokenNote !== undefined ? EXIT.local : EXIT.refused;
    }
    if (err instanceof RpcTransportError) {
      for (const line of await transportProblem(err, session.settings, session.timeoutMs)) io.stderr.write(line + '\n');
      return EXIT.local;
    }
    throw err;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
}


/**
 * One connection to the daemon, opened on first use and again after it failed (watch, wait).
 * Its settings change when the token is read again after a refusal.
 */
class Session {
  readonly timeoutMs: number;
  private client: Promise<RpcClient> | undefined;

  constructor(
    public settings: Settings,
    private readonly globals: GlobalOptions,
    private readonly io: CliIo,
  ) {
    this.timeoutMs = globals.timeoutMs ?? DEFAULT_CALL_TIMEOUT_S * 1000;
  }

  /**
   * Calls with the token as params.auth; an explicit `auth` in the params of `call` is kept.
   * With `renewToken` (watch, wait: they outlive a daemon restart, which rewrites
   * auth.adminTokenFile), a 401 reads the token file again and, if its token changed, retries once.
   */
  async call(method: string, params: Record<string, unknown>, renewToken = false): Promise<unknown> {
    try {
      return await this.send(method, params);
    } catch (err) {
      if (!renewToken || !(err instanceof RpcClientError && err.code === 401) || 'auth' in params) throw err;
      const before = this.settings.token;
      this.settings = await rereadToken(this.settings);
      if (this.settings.token === before) throw err;
      return await this.send(method, params);
    }
  }

  private async send(method: string, params: Record<string, unknown>): Promise<unknown> {
    const token = this.settings.token;
    const withAuth = token !== undefined && !('auth' in params) ? { ...params, auth: token } : params;
    this.client ??= connectClient(this.settings.socketPath, {
      timeoutMs: this.timeoutMs,
      onLine: this.globals.verbose ? (direction, line) => this.io.stderr.write(`${direction === 'send' ? '-->' : '<--'} ${masked(line)}\n`) : undefined,
    });
    const client = this.client;
    try {
      return await (await client).call(method, withAuth);
    } catch (err) {
      // A connection that failed is dropped, so that the next call (of watch) connects again.
      if (err instanceof RpcTransportError && this.client === client) await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.then((c) => c.close(), () => undefined);
  }
}

/** A sent line with its token replaced: --verbose output gets pasted into tickets. */
function masked(line: string): string {
  try {
    const message = JSON.parse(line) as unknown;
    if (isRecord(message) && isRecord(message.params) && typeof message.params.auth === 'string') {
      return JSON.stringify({ ...message, params: { ...message.params, auth: '***' } });
    }
  } catch {
    // Not JSON: shown as it came.
  }
  return line;
}

function renderContext(io: CliIo): RenderContext {
  // https://no-color.org: set and not empty means no colour.
  const colour = io.stdout.isTTY === true && (io.env.NO_COLOR ?? '') === '';
  return { style: colour ? COLOUR : PLAIN, now: io.now?.() ?? new Date() };
}

async function runCall(session: Session, call: Call, globals: GlobalOptions, io: CliIo): Promise<number> {
  const result = narrow(await session.call(call.method, call.params), call);
  io.stdout.write(globals.json ? renderJson(result) : render(call, result, renderContext(io)));
  if (call.view === 'reconcile' && isRecord(result) && Array.isArray(result.errors) && result.errors.length > 0) {
    if (!globals.json) {
      for (const e of result.errors) {
        const r = isRecord(e) ? e : {};
        const [bridge, error] = [typeof r.bridge === 'string' ? r.bridge : '?', typeof r.error === 'string' ? r.error : JSON.stringify(e)];
        io.stderr.write(`error: ${bridge}: ${error}${typeof r.reason === 'string' ? ` (${r.reason})` : ''}\n`);
      }
    }
    return EXIT.refused;
  }
  return EXIT.ok;
}

/** Applies a list's client-side filter (tenant, several statuses) to `{items}`. */
function narrow(result: unknown, call: Call): unknown {
  const filter = call.filter;
  if (filter === undefined || !isRecord(result) || !Array.isArray(result.items)) return result;
  const items = result.items.filter(
    (item) =>
      isRecord(item) &&
      (filter.tenantId === undefined || item.tenantId === filter.tenantId) &&
      (filter.statuses === undefined || filter.statuses.includes(String(item.status))),
  );
  return { ...result, items };
}

function reportRpcError(err: RpcClientError, json: boolean, settings: Settings, io: CliIo): void {
  if (json) {
    // Machines get the error object itself, reason and all, still on stderr.
    io.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, data: err.data } }) + '\n');
    return;
  }
  io.stderr.write(`error: ${err.message} (${err.reason ?? `code ${err.code}`})\n`);
  if (err.code === 401 && settings.token === undefined && settings.tokenNote !== undefined) {
    io.stderr.write(`hint: ${settings.tokenNote}; pass --token, --token-file or --config\n`);
  } else if (err.reason === 'TOKEN_INVALID' && settings.token !== undefined) {
    const hint = rejectedTokenHint(settings);
    if (hint !== undefined) io.stderr.write(hint + '\n');
  }
}

// peering wait

type Verdict = { readonly kind: 'reached' | 'waiting' | 'never'; readonly state: string; readonly why?: string };

/** Data-plane states in which flows of the peering may still be on a host. */
const FLOWS_PRESENT = ['programmed', 'pending'];

/**
 * Where a peering stands against what is awaited; `hosts` only with --all-hosts. `p` undefined:
 * the peering was seen earlier in this wait and is gone now (compacted away after deletion).
 */
export function judge(p: Record<string, unknown> | undefined, target: WaitTarget, allHosts: boolean): Verdict {
  if (p === undefined) return target === 'deleted' ? { kind: 'reached', state: 'gone' } : { kind: 'never', state: 'gone', why: 'it no longer exists' };
  const status = String(p.status);
  const dataplane = isRecord(p.dataplane) ? String(p.dataplane.state) : 'unknown';
  const hosts = Array.isArray(p.hosts) ? p.hosts.filter(isRecord) : [];
  const hostStates = hosts.map((h) => `${String(h.nodeId)} ${String(h.state)}${h.stale === true ? ' (not heard from lately)' : ''}`).join(', ');
  const why = dataplane === 'not-local' ? ' (a bridge of one of its VPCs is not on this host)' : '';
  const state = `status ${status}, data plane ${dataplane}${why}${allHosts ? ` (hosts: ${hostStates || 'none'})` : ''}`;
  switch (target) {
    case 'active':
      if (status === 'active') return { kind: 'reached', state };
      return TERMINAL_STATUSES.includes(status) ? { kind: 'never', state, why: `it is ${status}` } : { kind: 'waiting', state };
    case 'programmed': {
      if (TERMINAL_STATUSES.includes(status)) return { kind: 'never', state, why: `it is ${status}` };
      if (dataplane === 'disabled') return { kind: 'never', state, why: 'OVS is disabled on this host (no-op mode)' };
      // not-local is not final here (a bridge the platform creates later is picked up at the next
      // interval pass), but on another host (--all-hosts) it means nothing to program there.
      const everywhere = !allHosts || hosts.every((h) => h.state === 'programmed' || h.state === 'not-local');
      return status === 'active' && dataplane === 'programmed' && everywhere ? { kind: 'reached', state } : { kind: 'waiting', state };
    }
    case 'deleted': {
      if (status !== 'deleted') return TERMINAL_STATUSES.includes(status) ? { kind: 'never', state, why: `it is ${status}` } : { kind: 'waiting', state };
      // A stale host (not heard from lately) may still hold flows: it is not counted as done.
      const gone = !FLOWS_PRESENT.includes(dataplane) && (!allHosts || hosts.every((h) => h.stale !== true && !FLOWS_PRESENT.includes(String(h.state))));
      return gone ? { kind: 'reached', state } : { kind: 'waiting', state };
    }
  }
}

/** The first poll comes fast (a peering often is there already); then every second. */
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 1000;

async function runWait(session: Session, action: Extract<Action, { kind: 'wait' }>, globals: GlobalOptions, io: CliIo): Promise<number> {
  const timeoutMs = globals.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_S * 1000;
  const deadline = Date.now() + timeoutMs;
  let delay = FIRST_POLL_MS;
  // Once the daemon has answered, a lost connection is a restart to ride through (as `aws ec2
  // wait` does) until the timeout; before that it is a wrong socket or a daemon not running (exit 3).
  let answered = false;
  let seen = false;
  let lastState: string;
  for (;;) {
    try {
      let peering: Record<string, unknown> | undefined;
      try {
        const result = await session.call('peering.get', { id: action.id }, true);
        peering = isRecord(result) ? result : {};
        seen = true;
      } catch (err) {
        if (!(err instanceof RpcClientError && err.reason === 'PEERING_NOT_FOUND')) throw err;
        // A deleted peering is compacted away in time: not found is deleted if this wait saw it
        // before; an id never seen is a typo, not a success.
        if (!seen) {
          io.stderr.write(`error: no such peering ${action.id} (PEERING_NOT_FOUND): it was not seen in this wait, so it is not counted as ${action.target}\n`);
          return EXIT.refused;
        }
      }
      answered = true;
      if (action.allHosts && peering !== undefined && !Array.isArray(peering.hosts)) {
        io.stderr.write('error: --all-hosts needs gossip: this daemon reports only its own data plane (peering.get has no hosts)\n');
        return EXIT.refused;
      }
      const verdict = judge(peering, action.target, action.allHosts);
      if (verdict.kind === 'reached') {
        io.stdout.write(globals.json ? renderJson(peering ?? { id: action.id, deleted: true }) : `${action.id} is ${action.target}${action.allHosts ? ' on every host' : ''}\n`);
        return EXIT.ok;
      }
      if (verdict.kind === 'never') {
        io.stderr.write(`error: ${action.id} will not become ${action.target}: ${verdict.why ?? verdict.state} (${verdict.state})\n`);
        return EXIT.refused;
      }
      lastState = verdict.state;
    } catch (err) {
      if (!(answered && err instanceof RpcTransportError) || io.signal?.aborted === true) throw err;
      lastState = `vpc-peerd not answering (${err.message})`;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      io.stderr.write(`error: timed out after ${timeoutMs / 1000} s waiting for ${action.id} to be ${action.target}; last state: ${lastState}\n`);
      return EXIT.refused;
    }
    if (await sleep(Math.min(delay, left), io.signal)) throw new Error('interrupted');
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
}

// status --watch

async function runWatch(session: Session, intervalMs: number, globals: GlobalOptions, io: CliIo): Promise<number> {
  const terminal = io.stdout.isTTY === true;
  let answered = false;
  for (;;) {
    const ctx = renderContext(io);
    let screen: string;
    try {
      const result = await session.call('status', {}, true);
      answered = true;
      screen = globals.json ? renderJson(result) : isRecord(result) ? renderStatus(result, ctx) : renderJson(result);
    } catch (err) {
      if (io.signal?.aborted === true) return EXIT.ok;
      // The daemon restarting is what one watches for: say so on the screen and keep going. A
      // token refused even after reading its file again ends the watch only before any answer.
      if (err instanceof RpcTransportError) screen = `${ctx.style.bad('● not answering')}: ${err.message}\n`;
      else if (answered && err instanceof RpcClientError && err.code === 401) {
        screen = `${ctx.style.bad('● token refused')}: ${err.message} (${err.reason ?? `code ${err.code}`}); the token file is read again at the next refresh\n`;
      } else throw err;
    }
    const header = `every ${intervalMs / 1000} s · ${ctx.now.toISOString()} · Ctrl-C to stop\n\n`;
    // On a terminal the screen is redrawn in place; into a file or pipe, snapshots follow each other.
    io.stdout.write(terminal ? `\x1b[H\x1b[2J${header}${screen}` : `${screen}\n`);
    if (await sleep(intervalMs, io.signal)) return EXIT.ok;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; true if it was aborted. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
