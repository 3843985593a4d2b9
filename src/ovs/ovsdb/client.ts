// One persistent OVSDB connection (RFC 7047: JSON-RPC 1.0 over ovsdb-server's Unix socket,
// `<ovs.rundir>/db.sock`), the way OVN and Neutron's native interface keep one instead of an
// ovs-vsctl per operation. It owns the link and the monitor cache; what to change is the
// transaction builders' business (transactions.ts), what the rows mean topology-parser.ts's.
//
// What it does: connects on first use and from then on keeps the link, reconnecting with backoff
// (a call made while it is down starts an attempt at once and fails with OvsError 'unavailable'
// if that fails); on every link, one `monitor` of the MONITORED columns, whose initial reply
// replaces the cache whole; `update` notifications applied in order; the server's `echo`
// answered; an echo of ours when the link is idle, and the link dropped when nothing at all comes
// back within another interval; requests matched to replies by id, each call bounded by the
// request timeout. A dropped link fails every call waiting on it with 'unavailable' (or
// 'bad-output' for a stream it could not read).
//
// Ordering it relies on (ovsdb/jsonrpc-server.c, ovsdb_jsonrpc_session_run): ovsdb-server sends a
// session its pending monitor updates before it reads the session's next request. So when the
// reply to a request arrives, the cache already holds every transaction committed before the
// server read that request: an echo is a barrier (sync()), and a transaction refused because the
// cache was stale can be rebuilt from the cache as soon as its reply is read.
//
// The socket keeps the process alive only while a call waits on it (ref/unref): an idle client
// never holds a process that is otherwise done; the daemon closes it on shutdown.
import { createConnection, type Socket } from 'node:net';
import type { Logger } from '../../log/logger.js';
import { type Backoff, createKeepAlive, discardSocket, reconnectDelayMs } from '../link.js';
import { OvsError } from '../runner.js';
import { OvsdbProtocolError } from './errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, JsonTextSplitter } from './framing.js';
import { echoReplyText, errorText, type Incoming, parseIncoming, requestText } from './messages.js';
import { MonitorCache, monitorRequests, type Rows } from './monitor-cache.js';
import { nextCfgOf, retryable, type TxnPlan, txnOutcome } from './transactions.js';
import type { Json } from './values.js';

export interface OvsdbClientOptions {
  /** ovsdb-server's Unix socket. */
  readonly path: string;
  readonly logger: Logger;
  /** How long one call may take, a transaction's wait for vswitchd included (ms). */
  readonly requestTimeoutMs?: number;
  /** Idle time before an echo of ours; also how long the link may then stay silent (ms). */
  readonly echoIntervalMs?: number;
  readonly backoff?: Backoff;
  /** Cap on one JSON text from the server (framing.ts). */
  readonly maxMessageBytes?: number;
  /** Attempts of a transaction refused because the cache was stale (transactions.ts retryable()). */
  readonly maxAttempts?: number;
}

export interface OvsdbClient {
  /** Whether the link is up with its monitor's rows in. */
  readonly connected: boolean;
  /**
   * The monitored rows, at least as new as the call: connects if needed, then one echo round
   * trip (the barrier above). `generation` changes with every change of a Bridge, Port or
   * Interface row. The maps are live: read them before the next await.
   */
  sync(): Promise<{ readonly rows: Rows; readonly generation: number }>;
  /**
   * Builds a transaction from the rows and runs it; resolves once ovs-vswitchd has applied it
   * (the monitor shows `cur_cfg` ≥ the `next_cfg` it set) and every interface it inserted has an
   * ofport. `build` returning null: nothing to change, nothing sent. A transaction refused for a
   * stale cache is built again from the newer rows, at most maxAttempts times in all. OvsError:
   * 'failed' (refused), 'unavailable', 'timeout', 'bad-output', or what `build` throws.
   */
  commit(build: (rows: Rows) => TxnPlan | null): Promise<void>;
  /**
   * Calls `listener` (synchronously, no argument) each time the cache applied a change that
   * raised `generation`: an update, or a link's initial monitor reply (which replaces the rows
   * whole, so it counts as a change even when they came back the same). Changes made by our own
   * transactions included. Nothing is opened for it: it hears the link that the calls keep. What
   * a listener throws is logged and goes no further. Returns the function that removes it.
   */
  watch(listener: () => void): () => void;
  /** Closes the link for good; calls waiting fail with 'unavailable'. Idempotent. */
  close(): void;
}

const DEFAULTS = { requestTimeoutMs: 5_000, echoIntervalMs: 5_000, backoff: { minMs: 50, maxMs: 1_000 }, maxAttempts: 3, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES };
const DB = 'Open_vSwitch';
/** Our monitor's id (RFC 7047 §4.1.5 <json-value>): the updates name it. */
const MONITOR_ID = 'vpc-peerd';

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Waiter {
  /** Checked after every change of the cache; true settles the waiter. */
  readonly check: () => boolean;
  readonly reject: (err: Error) => void;
}

/** A client of `opts.path`; nothing is opened until the first call. Never throws; failures reach the calls. */
export function createOvsdbClient(opts: OvsdbClientOptions): OvsdbClient {
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
  const echoIntervalMs = opts.echoIntervalMs ?? DEFAULTS.echoIntervalMs;
  const backoff = opts.backoff ?? DEFAULTS.backoff;
  const maxAttempts = opts.maxAttempts ?? DEFAULTS.maxAttempts;
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
  const log = opts.logger.child({ component: 'ovsdb', socket: opts.path });

  const cache = new MonitorCache();
  let socket: Socket | null = null;
  let splitter = new JsonTextSplitter({ maxMessageBytes });
  let ready = false;
  let started = false;
  let closed = false;
  let failures = 0;
  let everReady = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let lastId = 0;
  const pending = new Map<number, Pending>();
  /** Calls waiting for the link (ready: resolve; an attempt failed: reject). */
  const linkWaiters = new Set<{ readonly resolve: () => void; readonly reject: (err: Error) => void }>();
  /** Calls waiting for the cache to reach a state (vswitchd's cur_cfg). */
  const waiters = new Set<Waiter>();
  /** watch()'s listeners. */
  const watchers = new Set<() => void>();

  /** The socket holds the process only while someone waits on it. */
  const updateRef = (): void => {
    if (!socket) return;
    if (pending.size + linkWaiters.size + waiters.size > 0) socket.ref();
    else socket.unref();
  };

  const send = (text: string): void => {
    socket?.write(text);
  };

  /** Sends a request on the current link; `deadline` (performance.now()) bounds the wait for its reply. */
  const request = (method: string, params: readonly Json[], deadline: number): Promise<unknown> => {
    if (closed) return Promise.reject(new OvsError('unavailable', `the OVSDB client of ${opts.path} is closed`));
    if (!socket) return Promise.reject(new OvsError('unavailable', `not connected to ${opts.path}`));
    const id = ++lastId;
    return new Promise((resolve, reject) => {
      const ms = Math.max(0, deadline - performance.now());
      const timer = setTimeout(() => {
        pending.delete(id);
        updateRef();
        reject(new OvsError('timeout', `ovsdb-server at ${opts.path} did not answer ${method} within ${Math.round(ms)} ms`));
      }, ms);
      pending.set(id, { resolve, reject, timer });
      updateRef();
      send(requestText(id, method, params));
    });
  };

  const notifyWaiters = (): void => {
    for (const w of [...waiters]) if (w.check()) waiters.delete(w);
    updateRef();
  };

  /** Tells the watchers when the cache's generation moved past `before`. */
  const announce = (before: number): void => {
    if (cache.generation === before) return;
    for (const listener of [...watchers]) {
      try {
        listener();
      } catch (err) {
        log.error('a topology watcher threw', { err: err instanceof Error ? err.message : String(err) });
      }
    }
  };

  /** Idle for an interval: an echo; nothing at all back within another: the link is dead. */
  const keepAlive = createKeepAlive(
    echoIntervalMs,
    // Its outcome does not matter: any byte that comes back counts as the answer.
    () => void request('echo', [], performance.now() + echoIntervalMs).catch(() => undefined),
    () => dropLink(new OvsError('timeout', `no answer from ${opts.path} to an echo in ${echoIntervalMs} ms`)),
  );

  const dropLink = (cause: Error): void => {
    const s = socket;
    if (!s) return;
    socket = null;
    const wasReady = ready;
    ready = false;
    keepAlive.stop();
    discardSocket(s);
    const kind = cause instanceof OvsdbProtocolError ? 'bad-output' : 'unavailable';
    const why = wasReady ? `the OVSDB link to ${opts.path} dropped` : `cannot reach ovsdb-server at ${opts.path}`;
    const err = new OvsError(kind, closed ? `the OVSDB client of ${opts.path} is closed` : `${why}: ${cause.message}`);
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
    for (const w of [...linkWaiters]) w.reject(err);
    linkWaiters.clear();
    for (const w of [...waiters]) w.reject(err);
    waiters.clear();
    if (wasReady && !closed) log.warn('OVSDB link dropped', { err: cause.message });
    scheduleConnect();
  };

  const scheduleConnect = (): void => {
    if (closed || retryTimer || socket) return;
    failures++;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, reconnectDelayMs(failures, backoff));
    retryTimer.unref();
  };

  const onMessage = (msg: Incoming): void => {
    if (msg.kind === 'echo') {
      send(echoReplyText(msg.id, msg.params));
      return;
    }
    if (msg.kind === 'update') {
      if (!ready) throw new OvsdbProtocolError('bad-message', 'an update before the monitor replied');
      if (msg.monitorId !== MONITOR_ID) throw new OvsdbProtocolError('bad-message', 'an update of a monitor that is not ours');
      const before = cache.generation;
      cache.apply(msg.updates);
      notifyWaiters();
      announce(before);
      return;
    }
    const p = pending.get(msg.id);
    if (!p) {
      log.debug('OVSDB reply to no request', { id: msg.id });
      return;
    }
    pending.delete(msg.id);
    clearTimeout(p.timer);
    updateRef();
    if (msg.error !== null) p.reject(new OvsError('failed', `ovsdb-server refused the request: ${errorText(msg.error)}`));
    else p.resolve(msg.result);
  };

  const onData = (chunk: Buffer): void => {
    if (ready) keepAlive.heard();
    try {
      for (const text of splitter.push(chunk)) {
        onMessage(parseIncoming(text));
        if (!socket) return;
      }
    } catch (err) {
      if (!(err instanceof OvsdbProtocolError)) throw err;
      log.warn('unreadable OVSDB stream; reconnecting', { err: err.message, code: err.code });
      dropLink(err);
    }
  };

  const connect = (): void => {
    if (closed || socket) return;
    started = true;
    splitter = new JsonTextSplitter({ maxMessageBytes });
    const s = createConnection(opts.path);
    socket = s;
    updateRef();
    s.on('connect', () => {
      request('monitor', [DB, MONITOR_ID, monitorRequests()], performance.now() + requestTimeoutMs).then(
        (initial) => {
          if (socket !== s) return;
          const before = cache.generation;
          try {
            cache.replace(initial);
          } catch (err) {
            if (err instanceof OvsdbProtocolError) dropLink(err);
            else throw err;
            return;
          }
          ready = true;
          failures = 0;
          if (everReady) log.info('OVSDB link back; monitor rows replaced', { bridges: cache.rows.Bridge.size });
          everReady = true;
          keepAlive.heard();
          for (const w of [...linkWaiters]) w.resolve();
          linkWaiters.clear();
          notifyWaiters();
          announce(before);
        },
        (err: Error) => {
          if (socket === s) dropLink(err);
        },
      );
    });
    s.on('data', onData);
    s.on('error', (err) => dropLink(err));
    s.on('close', () => dropLink(new Error('ovsdb-server closed the connection')));
  };

  /** Resolves when the link is up with its rows; an attempt starts now unless one is under way. */
  const linkUp = (deadline: number): Promise<void> => {
    if (closed) return Promise.reject(new OvsError('unavailable', `the OVSDB client of ${opts.path} is closed`));
    if (ready) return Promise.resolve();
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        linkWaiters.delete(waiter);
        updateRef();
        reject(new OvsError('timeout', `no OVSDB link to ${opts.path} within ${requestTimeoutMs} ms`));
      }, Math.max(0, deadline - performance.now()));
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      linkWaiters.add(waiter);
      if (!socket) connect();
      updateRef();
    });
  };

  /** Resolves once `cond()` holds for the cache (at once if it does); bounded by `deadline`. */
  const until = (what: string, cond: () => boolean, deadline: number): Promise<void> => {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        updateRef();
        reject(new OvsError('timeout', `${what}: not within ${requestTimeoutMs} ms`));
      }, Math.max(0, deadline - performance.now()));
      const waiter: Waiter = {
        check: () => {
          if (!cond()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      waiters.add(waiter);
      updateRef();
    });
  };


  return {
    get connected() {
      return ready;
    },

    async sync() {
      const deadline = performance.now() + requestTimeoutMs;
      await linkUp(deadline);
      await request('echo', ['sync'], deadline);
      return { rows: cache.rows, generation: cache.generation };
    },

    async commit(build) {
      const deadline = performance.now() + requestTimeoutMs;
      await linkUp(deadline);
      for (let attempt = 1; ; attempt++) {
        const plan = build(cache.rows);
        if (plan === null) return;
        const started = performance.now();
        const outcome = txnOutcome(plan.ops, await request('transact', [DB, ...plan.ops], deadline));
        if (!outcome.ok) {
          const why = `${outcome.error}${outcome.details === null ? '' : `: ${outcome.details}`}`;
          // The reply came after every update committed before the transaction: the cache is as new as what refused it.
          if (retryable(outcome.error) && attempt < maxAttempts) {
            log.debug('OVSDB transaction built from stale rows; building it again', { attempt, err: why });
            continue;
          }
          throw new OvsError('failed', `ovsdb-server refused the transaction${attempt > 1 ? ` (attempt ${attempt})` : ''}: ${why}`);
        }
        const cfg = nextCfgOf(outcome.results);
        await until(`ovs-vswitchd applying configuration ${cfg}`, () => [...cache.rows.Open_vSwitch.values()].some((r) => r.cur_cfg >= cfg), deadline);
        for (const name of plan.inserted) {
          const iface = [...cache.rows.Interface.values()].find((i) => i.name === name);
          // ovs-vsctl's own check after its wait ("Error detected while setting up"), which exits 0.
          if (iface !== undefined && (iface.ofport === -1 || iface.error !== null)) {
            throw new OvsError('failed', `Error detected while setting up '${name}': ${iface.error ?? 'no ofport'}`);
          }
        }
        log.debug('OVSDB transaction applied', { ops: plan.ops.length, cfg, durationMs: Math.round(performance.now() - started) });
        return;
      }
    },

    watch(listener) {
      const own = (): void => listener();
      watchers.add(own);
      return () => void watchers.delete(own);
    },

    close() {
      if (closed) return;
      closed = true;
      watchers.clear();
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      if (started) dropLink(new Error('closed'));
    },
  };
}
