// The connection-independent core of the API: one JSON text in, one JSON text (or nothing) out.
// It owns the JSON-RPC 2.0 rules (envelope, batches, notifications, error mapping) and, per call,
// authentication, authorisation (the permission the method spec declares: the one place it is
// checked) and params validation before the method's handler runs.
//
// Per-request dispatch (method lookup, reply vs notification, reply construction) is
// json-rpc-2.0's JSONRPCServer. Everything around it is ours, because the library leaves these
// to the caller or gets them wrong for us (FIELD-NOTES): it validates neither `id` types nor
// `method`, sends a plain Error's message with code 0, unwraps one-element batch replies,
// rejects on `[null]`, has no batch cap, and its errors carry no `data.reason`. So batches never
// reach it, every request is checked before it, and every error it sees is already an RpcError.
import { JSONRPCServer, createJSONRPCErrorResponse, type JSONRPCID, type JSONRPCResponse } from 'json-rpc-2.0';
import type { z } from 'zod';
import { RpcError, invalidParams, isRpcError } from '../errors.js';
import { requireOperator, requirePermission } from '../domain/rbac.js';
import type { Principal } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionState, MethodSpec } from './method.js';
import { TOP_LEVEL, scanJson } from './json-scan.js';
import { checkRequest, isPlainObject, type Request, type RequestId } from './messages.js';

export interface DispatcherOptions {
  readonly methods: readonly MethodSpec[];
  /** Turns a token into a principal; throws RpcError (UNAUTHENTICATED, TOKEN_INVALID, TOKEN_EXPIRED). */
  readonly authenticate: (token: string) => Promise<Principal>;
  readonly logger: Logger;
  /** The most requests one batch may hold; a larger batch is refused whole (BATCH_TOO_LARGE). */
  readonly maxBatchSize: number;
  /** Told of every call of a known method once it ends (metrics); ok is false for any error reply. */
  readonly onCall?: (method: string, ms: number, ok: boolean) => void;
  /** The clock a connection's login is checked against, in ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

export interface Dispatcher {
  /** Handles one line: the reply line (without newline), or null when nothing is to be sent. */
  handleLine(line: string, conn: ConnectionState): Promise<string | null>;
  /** The method table, in declaration order (rpc.discover reads it). */
  readonly methods: readonly MethodSpec[];
}

/** What the library threads through to our handlers for one request. */
interface CallEnv {
  readonly conn: ConnectionState;
  readonly requestId: string;
}

/** The longest method name quoted back in a METHOD_NOT_FOUND message. */
const MAX_QUOTED_METHOD = 64;
/** How many validation issues -32602 lists in `data.issues`. */
const MAX_ISSUES = 10;
/**
 * The deepest nesting of arrays and objects a line may have (NESTING_TOO_DEEP beyond). The deepest
 * request of the API nests 4 levels (a batch of calls whose params hold an array); JSON.parse of
 * deep nesting is slow enough to stall every other client, so the line is refused unparsed.
 */
export const MAX_NESTING_DEPTH = 16;

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const { authenticate, logger, maxBatchSize } = opts;
  const now = opts.now ?? Date.now;
  if (!Number.isSafeInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  const methods = [...opts.methods];
  let sequence = 0;

  const server = new JSONRPCServer<CallEnv>({
    // Every error reaching the library is an RpcError already (internal faults were logged and
    // replaced in invoke), so there is nothing left for its listener (console.warn by default).
    errorListener: () => undefined,
  });
  server.mapErrorToJSONRPCErrorResponse = (id: JSONRPCID, err: unknown) => {
    const wire = isRpcError(err) ? err : new RpcError('INTERNAL_ERROR', 'Internal error');
    const { code, message, data } = wire.toJSON();
    return createJSONRPCErrorResponse(id, code, message, data);
  };
  server.handleMethodNotFound = (request) => {
    const name = JSON.stringify(request.method.slice(0, MAX_QUOTED_METHOD));
    return Promise.reject(new RpcError('METHOD_NOT_FOUND', `There is no method ${name}; rpc.discover lists them.`));
  };
  for (const spec of methods) {
    if (server.hasMethod(spec.name)) throw new Error(`method ${spec.name} is declared twice`);
    server.addMethod(spec.name, (params: unknown, env: CallEnv) => observed(spec.name, () => invoke(spec, params, env)));
  }

  /** Runs one call and tells onCall how long it took and whether it succeeded. */
  async function observed<T>(method: string, call: () => Promise<T>): Promise<T> {
    const { onCall } = opts;
    if (!onCall) return call();
    const started = performance.now();
    let ok = false;
    try {
      const result = await call();
      ok = true;
      return result;
    } finally {
      onCall(method, performance.now() - started, ok);
    }
  }

  /** Authenticates, authorises, validates and runs one method; any fault that is not an RpcError is logged and hidden. */
  async function invoke(spec: MethodSpec, rawParams: unknown, env: CallEnv): Promise<unknown> {
    try {
      const { token, rest } = splitAuth(rawParams);
      // A per-call token wins over the connection's login, as SPEC §4 says.
      const principal = token === undefined ? loginOf(env.conn) : await authenticate(token);
      const base = { connection: env.conn, requestId: env.requestId };
      if (spec.auth === 'none') return await spec.handler(validate(spec.params, rest), { ...base, principal: principal instanceof RpcError ? null : principal });
      if (principal instanceof RpcError) throw principal;
      // Authentication and authorisation come before validation so that a caller who may not
      // call the method learns nothing of its params.
      if (!principal) {
        throw new RpcError('UNAUTHENTICATED', 'This method needs a token: call auth.login first or pass params.auth.');
      }
      requirePermission(principal, spec.permission);
      if (spec.operatorOnly) requireOperator(principal);
      return await spec.handler(validate(spec.params, rest), { ...base, principal });
    } catch (err) {
      if (isRpcError(err)) throw err;
      logger.error('method failed', { method: spec.name, requestId: env.requestId, connection: env.conn.id, err, stack: stackOf(err) });
      throw internalError(env.requestId);
    }
  }

  /**
   * The connection's login, or the TOKEN_EXPIRED error once the token behind it has expired (SPEC
   * §4: `exp` holds for the whole connection, not only at auth.login); an expired login is cleared.
   */
  function loginOf(conn: ConnectionState): Principal | RpcError | null {
    const { principal } = conn;
    if (principal?.expiresAt === undefined || now() < principal.expiresAt) return principal;
    conn.principal = null;
    return new RpcError('TOKEN_EXPIRED', 'The token of this connection\'s auth.login has expired; call auth.login with a fresh one.');
  }

  /**
   * One element of a call, checked and dispatched: its reply line, or null for a notification.
   * `idText` is the source text of a numeric id, echoed as sent.
   */
  async function handleOne(raw: unknown, conn: ConnectionState, idText: string | undefined): Promise<string | null> {
    const checked = checkRequest(raw);
    if (!checked.ok) return encodeReply(checked.id, idText, { error: checked.error.toJSON() });
    const request: Request = checked.request;
    const requestId = `${conn.id}.${++sequence}`;
    const response = await server.receive(request, { conn, requestId });
    return response === null ? null : serialize(response, idText, requestId, request.method);
  }

  /** A reply as text; a result that JSON cannot carry (BigInt, a cycle) is a fault of ours. */
  function serialize(response: JSONRPCResponse, idText: string | undefined, requestId: string, method: string): string {
    try {
      return encodeReply(response.id, idText, response.error ? { error: response.error } : { result: response.result ?? null });
    } catch (err) {
      logger.error('result is not JSON-serialisable', { method, requestId, err });
      return encodeReply(response.id, idText, { error: internalError(requestId).toJSON() });
    }
  }

  async function handleLine(line: string, conn: ConnectionState): Promise<string | null> {
    const scan = scanJson(line, MAX_NESTING_DEPTH);
    if (scan.tooDeep) {
      const error = new RpcError('NESTING_TOO_DEEP', `A request may nest arrays and objects at most ${MAX_NESTING_DEPTH} deep.`, {
        maxDepth: MAX_NESTING_DEPTH,
      });
      return encodeReply(null, undefined, { error: error.toJSON() });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return encodeReply(null, undefined, { error: new RpcError('PARSE_ERROR', 'The line is not valid JSON.').toJSON() });
    }
    if (!Array.isArray(parsed)) return handleOne(parsed, conn, scan.numericIds.get(TOP_LEVEL));
    if (parsed.length === 0) return encodeReply(null, undefined, { error: new RpcError('EMPTY_BATCH', 'A batch must hold at least one request.').toJSON() });
    if (parsed.length > maxBatchSize) {
      const error = new RpcError('BATCH_TOO_LARGE', `A batch may hold at most ${maxBatchSize} requests.`, { maxBatchSize });
      return encodeReply(null, undefined, { error: error.toJSON() });
    }
    // In order, one at a time: a batch such as [create VPC a, create VPC b, peer a with b] then
    // means what it says. Concurrency comes from separate lines and connections.
    const replies: string[] = [];
    for (const [index, element] of parsed.entries()) {
      const reply = await handleOne(element, conn, scan.numericIds.get(index));
      if (reply !== null) replies.push(reply);
    }
    // A batch reply is always an array, even of one; a batch of notifications gets nothing.
    return replies.length === 0 ? null : `[${replies.join(',')}]`;
  }

  return { handleLine, methods };
}

/**
 * One reply line (without newline). A numeric id is written from `idText`, its source text, when
 * the request carried one: JSON numbers beyond 2^53 do not survive JSON.parse, and JSON-RPC 2.0
 * wants the id back as sent.
 */
function encodeReply(id: RequestId, idText: string | undefined, member: { result: unknown } | { error: unknown }): string {
  const idJson = typeof id === 'number' && idText !== undefined ? idText : JSON.stringify(id);
  const [key, value] = 'error' in member ? ['error', member.error] : ['result', member.result];
  return `{"jsonrpc":"2.0","id":${idJson},"${key}":${JSON.stringify(value)}}`;
}

/** Takes `auth` out of the params: it is a credential, not an argument of the method. */
function splitAuth(params: unknown): { token: string | undefined; rest: Record<string, unknown> } {
  if (params === undefined) return { token: undefined, rest: {} };
  if (!isPlainObject(params)) {
    throw new RpcError('INVALID_PARAMS', 'Params must be an object of named parameters.', { field: '' });
  }
  if (!('auth' in params)) return { token: undefined, rest: params };
  const { auth, ...rest } = params;
  if (typeof auth !== 'string' || auth.length === 0) throw invalidParams('auth', 'Parameter "auth" must be a token string.');
  return { token: auth, rest };
}

function validate<P>(schema: z.ZodType<P>, params: Record<string, unknown>): P {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, MAX_ISSUES).map((issue) => describeIssue(issue, params));
  const first = issues[0] ?? { field: '', message: 'Invalid params.' };
  throw new RpcError('INVALID_PARAMS', first.message, { field: first.field, issues });
}

/** A -32602 detail: the dotted path of the offending parameter and a sentence about it. */
function describeIssue(issue: z.core.$ZodIssue, params: Record<string, unknown>): { field: string; message: string } {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    return { field, message: `Unknown parameter "${field}".` };
  }
  const field = path.join('.');
  if (field === '') return { field, message: `Invalid params: ${issue.message}` };
  if (issue.code === 'invalid_type' && valueAt(params, issue.path) === undefined) {
    return { field, message: `Missing parameter "${field}".` };
  }
  // zod's own wording ("Invalid input: expected string, received number") is not a sentence for a user.
  if (issue.code === 'invalid_type') return { field, message: `Parameter "${field}" must be ${article(issue.expected)}.` };
  // The schemas' own messages are predicates ("must be ...", "is too long ..."): they end the sentence.
  if (/^[a-z]/.test(issue.message)) return { field, message: `Parameter "${field}" ${issue.message.replace(/\.$/, '')}.` };
  return { field, message: `Parameter "${field}": ${issue.message}` };
}

/** `a string`, `an object`, `an array`, ... for zod's expected type names. */
function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The -32603 a client sees: no internal text, only the id that finds the log line. */
function internalError(requestId: string): RpcError {
  return new RpcError('INTERNAL_ERROR', 'Internal error', { requestId });
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined;
}
