// The Unix-socket transport: accepts connections, frames their bytes into lines, hands each line to
// the dispatcher and writes the reply back. It owns every per-connection limit (line length,
// calls in flight, unread output) and the shutdown order: stop accepting, let in-flight calls
// finish, flush their replies, then close.
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
  inFlight: number;
  /** The client has half-closed: end our side once its last reply is written. */
  inputEnded: boolean;
}

/** After the drain, how long ended connections get to flush before they are destroyed. */
const FLUSH_GRACE_MS = 1000;

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const { path, dispatcher, logger, maxLineBytes, maxConnections } = opts;
  const maxInFlight = opts.maxInFlightPerConnection ?? 128;
  const maxPendingOutput = opts.maxPendingOutputBytes ?? 16 * 1024 * 1024;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;

  const live = new Set<Connection>();
  let nextConnectionId = 0;
  let totalInFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let draining = false;
  let listening: Promise<void> | null = null;
  let closing: Promise<void> | null = null;

  // allowHalfOpen: a client that sends its requests and then shuts down its writing side
  // (`printf ... | socat - UNIX:...`) still gets its replies.
  const server: Server = createServer({ allowHalfOpen: true }, onConnection);

  function onConnection(socket: Socket): void {
    socket.on('error', (err) => logger.debug('connection error', { err }));
    if (draining || live.size >= maxConnections) {
      const why = draining ? 'The daemon is shutting down.' : `The daemon serves at most ${maxConnections} connections; try again later.`;
      refuse(socket, encodeError(null, new RpcError('UNAVAILABLE', why)));
      return;
    }
    const conn: Connection = { state: { id: ++nextConnectionId, principal: null }, socket, inFlight: 0, inputEnded: false };
    live.add(conn);
    const framer = new LineFramer(maxLineBytes);
    logger.debug('connection opened', { connection: conn.state.id });

    socket.on('data', (chunk: Buffer) => {
      // While shutting down, new requests are not started; reading goes on so that EOF is seen.
      if (draining) return;
      for (const frame of framer.push(chunk)) {
        if (frame.kind === 'line') dispatch(conn, frame.text);
        else if (frame.kind === 'invalid-utf8') send(conn, encodeError(null, new RpcError('PARSE_ERROR', 'The line is not valid UTF-8.')));
        else {
          logger.warn('line too long; closing the connection', { connection: conn.state.id, maxLineBytes });
          refuse(socket, encodeError(null, new RpcError('LINE_TOO_LONG', `A line may hold at most ${maxLineBytes} bytes.`, { maxLineBytes })));
        }
      }
    });
    socket.on('end', () => {
      conn.inputEnded = true;
      endIfDone(conn);
    });
    socket.on('drain', () => updateFlow(conn));
    socket.on('close', () => {
      live.delete(conn);
      logger.debug('connection closed', { connection: conn.state.id });
    });
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
        updateFlow(conn);
        endIfDone(conn);
        if (totalInFlight === 0) {
          for (const wake of idleWaiters) wake();
          idleWaiters = [];
        }
      });
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
    if (socket.destroyed) return;
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
