// A JSON-RPC client over the daemon's Unix socket, for vpc-peerctl, tests and benchmarks. Calls
// may overlap: replies are matched to calls by id. Two error families, as in the server: what the
// daemon answered (RpcClientError: code, message, data) and what went wrong locally
// (RpcTransportError: unreachable, timeout, connection closed).
//
// Not json-rpc-2.0's JSONRPCClient: it reports a timeout or a dropped connection as a reply with
// code 0, which a caller cannot tell apart from an answer of the daemon.
import { connect, type Socket } from 'node:net';
import { LineFramer } from './framing.js';
import { isResponse, type Response, type WireError } from './messages.js';

/** An error the daemon sent in reply to a call. */
export class RpcClientError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data: unknown) {
    super(message);
    this.name = 'RpcClientError';
    this.code = code;
    this.data = data;
  }

  /** The stable `data.reason` of the daemon's error catalogue, if it sent one. */
  get reason(): string | undefined {
    const data = this.data as { reason?: unknown } | null | undefined;
    return typeof data?.reason === 'string' ? data.reason : undefined;
  }
}

export type TransportFailure = 'unreachable' | 'timeout' | 'closed' | 'bad-reply';

/** The call did not get a reply from the daemon; `errno` is set for 'unreachable'. */
export class RpcTransportError extends Error {
  readonly kind: TransportFailure;
  readonly errno: string | undefined;

  constructor(kind: TransportFailure, message: string, errno?: string) {
    super(message);
    this.name = 'RpcTransportError';
    this.kind = kind;
    this.errno = errno;
  }
}

export interface ClientOptions {
  /** Per call; 0 waits forever. Default 30 s. */
  readonly timeoutMs?: number;
  /** The longest reply line accepted. Default 64 MiB (a list of every record is one line). */
  readonly maxLineBytes?: number;
  /** Sees every line sent and received, without its newline (vpc-peerctl --verbose). */
  readonly onLine?: (direction: 'send' | 'receive', line: string) => void;
}

export interface RpcClient {
  /** Calls `method`; resolves with its result, rejects with RpcClientError or RpcTransportError. */
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  /** Closes the connection at once; calls still pending reject with RpcTransportError 'closed'. */
  close(): Promise<void>;
}

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export async function connectClient(path: string, opts: ClientOptions = {}): Promise<RpcClient> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const framer = new LineFramer(opts.maxLineBytes ?? 64 * 1024 * 1024);
  const socket = await open(path);
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let failure: RpcTransportError | null = null;

  const rejectAll = (err: Error): void => {
    for (const [id, call] of pending) {
      clearTimeout(call.timer);
      pending.delete(id);
      call.reject(err);
    }
  };

  /** Fails every pending call and all later ones: the connection is no longer usable. */
  const fail = (err: RpcTransportError): void => {
    failure ??= err;
    rejectAll(failure);
    socket.destroy();
  };

  const settle = (response: Response): void => {
    // An error with id null is one the daemon could not tie to a call (a line it could not
    // read); it closes the connection after it, so the error is every pending call's.
    if (response.id === null) {
      if ('error' in response) rejectAll(clientError(response.error));
      return;
    }
    // Our ids are numbers; an unknown one is the late reply to a call that timed out.
    if (typeof response.id !== 'number') return;
    const call = pending.get(response.id);
    if (!call) return;
    clearTimeout(call.timer);
    pending.delete(response.id);
    if ('error' in response) call.reject(clientError(response.error));
    else call.resolve(response.result);
  };

  socket.on('data', (chunk: Buffer) => {
    for (const frame of framer.push(chunk)) {
      if (frame.kind !== 'line') {
        fail(new RpcTransportError('bad-reply', `the daemon sent an unreadable reply (${frame.kind})`));
        return;
      }
      opts.onLine?.('receive', frame.text);
      let parsed: unknown;
      try {
        parsed = JSON.parse(frame.text);
      } catch {
        parsed = undefined;
      }
      if (!isResponse(parsed)) {
        fail(new RpcTransportError('bad-reply', 'the daemon sent a line that is not a JSON-RPC reply'));
        return;
      }
      settle(parsed);
    }
  });
  socket.on('error', (err) => fail(new RpcTransportError('closed', `connection to ${path} failed: ${err.message}`, errnoOf(err))));
  socket.on('close', () => fail(new RpcTransportError('closed', `vpc-peerd closed the connection on ${path}`)));

  function call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    if (failure) return Promise.reject(failure);
    const id = ++nextId;
    // Serialised first: params JSON cannot carry throw here, before anything is registered.
    const line = JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n';
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              pending.delete(id);
              reject(new RpcTransportError('timeout', `no reply to ${method} within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      pending.set(id, { resolve, reject, timer });
      opts.onLine?.('send', line.slice(0, -1));
      socket.write(line);
    });
  }

  function close(): Promise<void> {
    fail(new RpcTransportError('closed', 'the client was closed'));
    if (socket.closed) return Promise.resolve();
    return new Promise((resolve) => socket.once('close', () => resolve()));
  }

  return { call, close };
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      reject(new RpcTransportError('unreachable', `cannot connect to ${path}: ${err.message}`, errnoOf(err)));
    };
    socket.once('error', onError);
  });
}

function clientError(error: WireError): RpcClientError {
  return new RpcClientError(error.code, error.message, error.data);
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
