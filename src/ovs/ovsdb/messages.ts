// The JSON-RPC 1.0 messages of RFC 7047 §4 that the client exchanges with ovsdb-server, checked
// at the boundary. What the server may send us: a reply to one of our requests (numeric ids are
// ours), an `update` notification of our monitor (§4.1.6), an `echo` request (§4.1.11). Anything
// else throws OvsdbProtocolError 'bad-message'. Pure.
import { excerpt, OvsdbProtocolError } from './errors.js';
import type { Json } from './values.js';

export type Incoming =
  /** `error` null: `result` is the answer; otherwise the request failed and `error` says why (§4.1.1: any JSON). */
  | { readonly kind: 'reply'; readonly id: number; readonly result: unknown; readonly error: unknown }
  | { readonly kind: 'update'; readonly monitorId: unknown; readonly updates: object }
  | { readonly kind: 'echo'; readonly id: unknown; readonly params: readonly unknown[] };

function bad(why: string, msg: unknown): OvsdbProtocolError {
  return new OvsdbProtocolError('bad-message', `${why}: ${excerpt(msg)}`);
}

/** Classifies one JSON text of the stream. */
export function parseIncoming(msg: object): Incoming {
  const m = msg as { readonly id?: unknown; readonly method?: unknown; readonly params?: unknown; readonly result?: unknown; readonly error?: unknown };
  if ('method' in m) {
    if (!Array.isArray(m.params)) throw bad('a request or notification without params', msg);
    if (m.method === 'update') {
      if (m.id !== null && m.id !== undefined) throw bad('an update sent as a request', msg);
      const updates: unknown = m.params[1];
      if (m.params.length !== 2 || typeof updates !== 'object' || updates === null || Array.isArray(updates)) throw bad('an update without [monitor-id, table-updates]', msg);
      return { kind: 'update', monitorId: m.params[0], updates };
    }
    if (m.method === 'echo') {
      if (m.id === null || m.id === undefined) throw bad('an echo without an id', msg);
      return { kind: 'echo', id: m.id, params: m.params };
    }
    throw bad('a method the client does not serve', msg);
  }
  if (typeof m.id !== 'number' || !Number.isSafeInteger(m.id)) throw bad('a reply without a numeric id', msg);
  if (!('result' in m) && !('error' in m)) throw bad('a reply with neither result nor error', msg);
  return { kind: 'reply', id: m.id, result: m.result ?? null, error: m.error ?? null };
}

/** A request of ours (§4.1): its JSON text. */
export function requestText(id: number, method: string, params: readonly Json[]): string {
  return JSON.stringify({ id, method, params });
}

/** The reply to the server's echo: the same params back (§4.1.11). */
export function echoReplyText(id: unknown, params: readonly unknown[]): string {
  return JSON.stringify({ id, result: params, error: null });
}

/** Text of a reply's `error` (RFC 7047 §3.1: an object with `error` and maybe `details`, or anything). */
export function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const e = error as { error?: unknown; details?: unknown };
    if (typeof e.error === 'string') return typeof e.details === 'string' ? `${e.error}: ${e.details}` : e.error;
  }
  return excerpt(error);
}
