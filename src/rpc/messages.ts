// JSON-RPC 2.0 message shapes, the guards that tell a valid envelope from anything else a peer
// may send, and the encoders of replies. Shared by the dispatcher, the server and the client.
import { RpcError } from '../errors.js';

export type RequestId = string | number | null;

/** A request whose envelope is valid; `id` absent means a notification. */
export interface Request {
  readonly jsonrpc: '2.0';
  readonly method: string;
  readonly params?: Readonly<Record<string, unknown>> | readonly unknown[];
  readonly id?: RequestId;
}

export interface WireError {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

export type Response =
  | { readonly jsonrpc: '2.0'; readonly id: RequestId; readonly result: unknown }
  | { readonly jsonrpc: '2.0'; readonly id: RequestId; readonly error: WireError };

function isRequestId(v: unknown): v is RequestId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || v === null;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks one element of a call against JSON-RPC 2.0 §4: `jsonrpc` is exactly "2.0", `method` a
 * string, `id` (if present) a string, number or null, `params` (if present) an object or array.
 * Returns the RpcError to send otherwise, with the id to send it under.
 */
export function checkRequest(raw: unknown): { ok: true; request: Request } | { ok: false; id: RequestId; error: RpcError } {
  if (!isPlainObject(raw)) return invalid(null, 'A request must be a JSON object.');
  const id = 'id' in raw && isRequestId(raw.id) ? raw.id : null;
  if (raw.jsonrpc !== '2.0') return invalid(id, 'The request must carry "jsonrpc": "2.0".');
  if (typeof raw.method !== 'string') return invalid(id, 'The request must carry a "method" string.');
  if ('id' in raw && !isRequestId(raw.id)) return invalid(null, 'The request "id" must be a string, a number or null.');
  if ('params' in raw && (typeof raw.params !== 'object' || raw.params === null)) {
    return invalid(id, 'The request "params" must be an object or an array when present.');
  }
  return { ok: true, request: raw as unknown as Request };
}

function invalid(id: RequestId, message: string): { ok: false; id: RequestId; error: RpcError } {
  return { ok: false, id, error: new RpcError('INVALID_REQUEST', message) };
}

/** One reply line (without newline) carrying `error`. */
export function encodeError(id: RequestId, error: RpcError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: error.toJSON() });
}

/** Whether a parsed line from the daemon is a reply, as the client needs to tell. */
export function isResponse(v: unknown): v is Response {
  if (!isPlainObject(v) || v.jsonrpc !== '2.0' || !('id' in v) || !isRequestId(v.id)) return false;
  if ('error' in v) return isPlainObject(v.error) && typeof v.error.code === 'number' && typeof v.error.message === 'string';
  return 'result' in v;
}
