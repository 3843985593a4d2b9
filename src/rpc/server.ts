// The Unix-socket transport: accepts connections, frames their bytes into lines, hands each line to
// the dispatcher and writes the reply back. It owns every per-connection limit (line length,
// calls in flight, unread output, idle and partial-line deadlines), the limits across connections
// (slots, some reserved for logged-in clients; bytes of unfinished lines) and the shutdown order:
// stop accepting, let in-flight calls finish, flush their replies, then close.
import { createServer, type Server, type Socket } from 'node:net';
import { RpcError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Dispatcher } from './dispatcher.js';
import { LineFramer } from './framing.js';
import { encodeError } from './messages.js';
import type { ConnectionState } from './method.js';
import { applySocketAccess, prepareSocketPath } from './socket-file.js';

export interface RpcServerOptions {
  readonly path: string;
  /** File mode of the socket, e.g. 0o660. */
  readonly mode: number;
  /** Group name or numeric gid given the socket; null keeps the daemon's own. */
  readonly group: string | null;
  /** The longest request line; a longer one gets LINE_TOO_LONG and the connection is closed. */
  readonly maxLineBytes: number;
  /** Connections beyond this are told UNAVAILABLE and closed. */
  readonly maxConnections: number;
  /**
   * Of maxConnections, the slots a connection that has not logged in cannot keep: once the other
   * slots are all held by such connections, a newcomer gets a reserved slot on probation. Its first
   * line must log it in (auth.login), or it is closed; and a later newcomer evicts the oldest
   * probationer that has no call running. So clients that never log in cannot lock out those that
   * do. Default 0.
   */
  readonly reservedConnections?: number;
  /** A connection with no byte received and no call running for this long is closed. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** From the first byte of a line to its newline; slower, the connection is closed. Default 10 s. */
  readonly lineTimeoutMs?: number;
  /** Bytes of unfinished lines held across all connections; a connection that would pass it is closed. Default 64 MiB. */
  readonly maxBufferedBytes?: number;
  readonly dispatcher: Pick<Dispatcher, 'handleLine'>;
  readonly logger: Logger;
  /** Calls one connection may have running before its reading pauses. Default 128. */
  readonly maxInFlightPerConnection?: number;
  /** Replies a client has not read, in bytes, past which it is disconnected. Default 16 MiB. */
  readonly maxPendingOutputBytes?: number;
  /** How long close() lets in-flight calls run before cutting connections. Default 10 s. */
  readonly closeTimeoutMs?: number;
}

export interface RpcServer {
  /** Clears a stale socket, listens, applies mode and group. Rejects if a daemon is live there. */
  listen(): Promise<void>;
  /** Stops accepting, waits (up to closeTimeoutMs) for in-flight calls, then closes. Idempotent. */
  close(): Promise<void>;
  /** Open connections. */
  connections(): number;
}

interface Connection {
  readonly state: ConnectionState;
  readonly socket: Socket;
  readonly framer: LineFramer;
  inFlight: number;
  /** The client has half-closed: end our side once its last reply is written. */
  inputEnded: boolean;
  /** In a reserved slot and not logged in yet: its first line must be a successful auth.login. */
  probation: boolean;
  /** Bytes of this connection's unfinished line counted in the server-wide total. */
  buffered: number;
  /** Fires when the unfinished line has taken lineTimeoutMs. */
  lineTimer: NodeJS.Timeout | null;
  /** A last line was sent and the connection is being closed: its input is ignored. */
  refused: boolean;
}

/** After the drain, how long ended connections get to flush before they are destroyed. */
const FLUSH_GRACE_MS = 1000;

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const { path, dispatcher, logger, maxLineBytes, maxConnections } = opts;
  const maxInFlight = opts.maxInFlightPerConnection ?? 128;
  const maxPendingOutput = opts.maxPendingOutputBytes ?? 16 * 1024 * 1024;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  const reserved = opts.reservedConnections ?? 0;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const lineTimeoutMs = opts.lineTimeoutMs ?? 10_000;
  const maxBuffered = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
  if (!Number.isSafeInteger(reserved) || reserved < 0 || reserved >= maxConnections) {
    throw new RangeError(`reservedConnections must be an integer from 0 to maxConnections - 1, got ${reserved}`);
  }

  const live = new Set<Connection>();
  let nextConnectionId = 0;
  let totalInFlight = 0;
  /** Sum of every live connection's `buffered`. */
  let bufferedBytes = 0;
  let idleWaiters: (() => void)[] = [];
  let draining = false;
  let listening: Promise<void> | null = null;
  let closing: Promise<void> | null = null;

  // allowHalfOpen: a client that sends its requests and then shuts down its writing side
  // (`printf ... | socat - UNIX:...`) still gets its replies.
  const server: Server = createServer({ allowHalfOpen: true }, onConnection);

  function onConnection(socket: Socket): void {
    socket.on('error', (err) => logger.debug('connection error', { err }));
    const slot = draining ? 'draining' : admit();
    if (slot === 'draining' || slot === 'full') {
      const why = slot === 'draining' ? 'The daemon is shutting down.' : `The daemon serves at most ${maxConnections} connections; try again later.`;
      refuse(socket, encodeError(null, new RpcError('UNAVAILABLE', why)));
      return;
    }
    const conn: Connection = {
      state: { id: ++nextConnectionId, principal: null },
      socket,
      framer: new LineFramer(maxLineBytes),
      inFlight: 0,
      inputEnded: false,
      probation: slot === 'reserved',
      buffered: 0,
      lineTimer: null,
      refused: false,
    };
    live.add(conn);
    logger.debug('connection opened', { connection: conn.state.id, probation: conn.probation });
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => {
      // A call still running or a line still arriving is not idleness (the line has its own deadline).
      if (conn.inFlight > 0 || conn.framer.pendingBytes > 0) return;
      logger.info('connection idle; closing it', { connection: conn.state.id, idleTimeoutMs });
      closeConnection(conn, new RpcError('IDLE_TIMEOUT', `The connection was idle for ${idleTimeoutMs} ms; connect again when needed.`, { idleTimeoutMs }));
    });

    socket.on('data', (chunk: Buffer) => {
      // While shutting down, new requests are not started; reading goes on so that EOF is seen.
      if (draining || conn.refused) return;
      const frames = conn.framer.push(chunk);
      for (const frame of frames) {
        if (frame.kind === 'line') dispatch(conn, frame.text);
        else if (frame.kind === 'invalid-utf8') send(conn, encodeError(null, new RpcError('PARSE_ERROR', 'The line is not valid UTF-8.')));
        else {
          logger.warn('line too long; closing the connection', { connection: conn.state.id, maxLineBytes });
          closeConnection(conn, new RpcError('LINE_TOO_LONG', `A line may hold at most ${maxLineBytes} bytes.`, { maxLineBytes }));
        }
      }
      if (!conn.refused) track(conn, frames.length > 0);
    });
    socket.on('end', () => {
      conn.inputEnded = true;
      endIfDone(conn);
    });
    socket.on('drain', () => updateFlow(conn));
    socket.on('close', () => {
      release(conn);
      live.delete(conn);
      logger.debug('connection closed', { connection: conn.state.id });
    });
  }

  /**
   * Which slot a new connection gets. Anonymous connections (not logged in) may hold all but
   * `reserved` slots; past that, a newcomer is put on probation in a reserved slot, evicting the
   * oldest idle probationer when no slot is free.
   */
  function admit(): 'open' | 'reserved' | 'full' {
    let anonymous = 0;
    const probationers: Connection[] = [];
    for (const conn of live) {
      if (conn.state.principal === null && !conn.refused) anonymous += 1;
      if (conn.probation && !conn.refused) probationers.push(conn);
    }
    const occupied = live.size - [...live].filter((c) => c.refused).length;
    if (occupied < maxConnections && anonymous < maxConnections - reserved) return 'open';
    if (reserved === 0) return 'full';
    if (occupied < maxConnections && probationers.length < reserved) return 'reserved';
    // Set order is arrival order: the first idle probationer is the oldest.
    const victim = probationers.find((c) => c.inFlight === 0);
    if (victim === undefined) return 'full';
    logger.info('reserved slot taken back from a connection that did not log in', { connection: victim.state.id });
    closeConnection(victim, new RpcError('UNAVAILABLE', 'This connection held a reserved slot without logging in; it was given to a newer one.'));
    return 'reserved';
  }

  /**
   * After a chunk: counts the connection's unfinished line in the server-wide total (closing the
   * connection if that passes maxBufferedBytes) and runs its deadline while a line is unfinished.
   * @param lineEnded a line (or more) ended in this chunk, so any unfinished rest is a new line.
   */
  function track(conn: Connection, lineEnded: boolean): void {
    const pending = conn.framer.pendingBytes;
    bufferedBytes += pending - conn.buffered;
    conn.buffered = pending;
    if (bufferedBytes > maxBuffered) {
      logger.warn('unfinished lines fill the input budget; closing the connection that passed it', {
        connection: conn.state.id,
        bufferedBytes,
        maxBufferedBytes: maxBuffered,
      });
      closeConnection(conn, new RpcError('UNAVAILABLE', 'The daemon holds too many unfinished lines; send whole lines, or try again later.'));
      return;
    }
    if (lineEnded || pending === 0) clearLineTimer(conn);
    if (pending > 0 && conn.lineTimer === null) {
      conn.lineTimer = setTimeout(() => {
        logger.info('line not completed in time; closing the connection', { connection: conn.state.id, lineTimeoutMs });
        closeConnection(conn, new RpcError('LINE_TIMEOUT', `A line must be completed within ${lineTimeoutMs} ms of its first byte.`, { lineTimeoutMs }));
      }, lineTimeoutMs);
    }
  }

  function clearLineTimer(conn: Connection): void {
    if (conn.lineTimer !== null) clearTimeout(conn.lineTimer);
    conn.lineTimer = null;
  }

  /** Gives back what a connection holds across the server: its buffered bytes and its timer. */
  function release(conn: Connection): void {
    clearLineTimer(conn);
    bufferedBytes -= conn.buffered;
    conn.buffered = 0;
  }

  /** Sends `error` as a last line and closes the connection; its slot and buffers are free at once. */
  function closeConnection(conn: Connection, error: RpcError): void {
    if (conn.refused) return;
    conn.refused = true;
    release(conn);
    // Read no more of what it sends: it would only be thrown away (and cost memory until then).
    conn.socket.pause();
    refuse(conn.socket, encodeError(null, error));
  }

  /**
   * Sends a last line and closes the connection both ways once it is flushed: half-closing alone
   * would let a peer that keeps writing hold its connection slot forever.
   */
  function refuse(socket: Socket, line: string): void {
    socket.end(line + '\n', () => socket.destroy());
  }

  function dispatch(conn: Connection, line: string): void {
    conn.inFlight += 1;
    totalInFlight += 1;
    updateFlow(conn);
    dispatcher
      .handleLine(line, conn.state)
      .then(
        (reply) => {
          if (reply !== null) send(conn, reply);
        },
        // The dispatcher turns every fault into a reply; reaching this is a bug in it.
        (err: unknown) => logger.error('dispatcher failed', { connection: conn.state.id, err }),
      )
      .finally(() => {
        conn.inFlight -= 1;
        totalInFlight -= 1;
        if (conn.probation) endProbation(conn);
        updateFlow(conn);
        endIfDone(conn);
        if (totalInFlight === 0) {
          for (const wake of idleWaiters) wake();
          idleWaiters = [];
        }
      });
  }

  /** After the first line of a connection in a reserved slot: it logged in and keeps it, or it goes. */
  function endProbation(conn: Connection): void {
    conn.probation = false;
    if (conn.state.principal !== null) return;
    closeConnection(conn, new RpcError('UNAVAILABLE', 'All open slots are taken: a connection in a reserved slot must begin with a successful auth.login.'));
  }

  function send(conn: Connection, line: string): void {
    const { socket } = conn;
    if (socket.destroyed || socket.writableEnded) return;
    // Checked before writing, so one large reply to a reading client is never refused.
    if (socket.writableLength > maxPendingOutput) {
      logger.warn('client does not read its replies; closing the connection', {
        connection: conn.state.id,
        pendingBytes: socket.writableLength,
      });
      socket.destroy();
      return;
    }
    socket.write(line + '\n');
    updateFlow(conn);
  }

  /** Reads from a connection only while it has room for more calls and reads its replies. */
  function updateFlow(conn: Connection): void {
    const { socket } = conn;
    if (socket.destroyed || conn.refused) return;
    const hold = conn.inFlight >= maxInFlight || socket.writableNeedDrain;
    if (hold && !socket.isPaused()) socket.pause();
    else if (!hold && socket.isPaused()) socket.resume();
  }

  function endIfDone(conn: Connection): void {
    if (conn.inputEnded && conn.inFlight === 0 && !conn.socket.writableEnded) conn.socket.end();
  }

  function listen(): Promise<void> {
    if (listening) throw new Error('listen() may be called once');
    listening = (async () => {
      await prepareSocketPath(path);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => logger.error('socket server error', { err }));
      try {
        await applySocketAccess(path, opts.mode, opts.group);
      } catch (err) {
        await closeServer();
        throw err;
      }
      logger.info('socket listening', { path, mode: opts.mode.toString(8), group: opts.group });
    })();
    return listening;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      draining = true;
      const closed = closeServer();
      if (totalInFlight > 0) {
        const finished = await within(closeTimeoutMs, new Promise<void>((resolve) => idleWaiters.push(resolve)));
        if (!finished) logger.warn('calls still running at the shutdown deadline', { inFlight: totalInFlight });
      }
      const gone = [...live].map((conn) => new Promise<void>((resolve) => conn.socket.once('close', () => resolve())));
      for (const conn of live) conn.socket.end();
      if (!(await within(FLUSH_GRACE_MS, Promise.all(gone)))) {
        for (const conn of live) conn.socket.destroy();
      }
      await closed;
    })();
    return closing;
  }

  /** Stops accepting; resolves once every connection is gone. Node unlinks the socket file. */
  function closeServer(): Promise<void> {
    if (!server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  return { listen, close, connections: () => live.size };
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
async function within(ms: number, p: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
