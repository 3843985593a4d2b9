// OVSDB values as the wire carries them (RFC 7047 §5.1), read strictly, in one place for every
// reader of OVSDB JSON: a uuid is ["uuid", U]; a set is ["set", [...]], except that a set of
// exactly one element may be that element; a map is ["map", [[k, v], ...]]; an optional column
// (min 0, max 1) is the empty set or its value. Pure; a value of the wrong shape throws
// OvsdbProtocolError 'bad-value'. The writers at the end build the same shapes for transactions.
import { excerpt, OvsdbProtocolError } from './errors.js';

/** Reads one value of a column; `what` names it in the error. */
export type Decoder<T> = (v: unknown, what: string) => T;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** RFC 7047 §5.1 `<id>`: what a named-uuid may be called. */
const ID = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function bad(what: string, v: unknown, expected: string): OvsdbProtocolError {
  return new OvsdbProtocolError('bad-value', `${what}: expected ${expected}, got ${excerpt(v)}`);
}

export const stringValue: Decoder<string> = (v, what) => {
  if (typeof v !== 'string') throw bad(what, v, 'a string');
  return v;
};

export const integerValue: Decoder<number> = (v, what) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(what, v, 'an integer');
  return v;
};

export const uuidValue: Decoder<string> = (v, what) => {
  if (Array.isArray(v) && v.length === 2 && v[0] === 'uuid' && typeof v[1] === 'string' && UUID.test(v[1])) return v[1];
  throw bad(what, v, '["uuid", U]');
};

function isSet(v: unknown): v is ['set', unknown[]] {
  return Array.isArray(v) && v.length === 2 && v[0] === 'set' && Array.isArray(v[1]);
}

/** A set column: ["set", [...]], or the bare element for a set of one. */
export function setOf<T>(element: Decoder<T>): Decoder<T[]> {
  return (v, what) => (isSet(v) ? v[1].map((e, i) => element(e, `${what}[${i}]`)) : [element(v, what)]);
}

/** An optional column (min 0, max 1): the empty set is null. */
export function optionalOf<T>(element: Decoder<T>): Decoder<T | null> {
  return (v, what) => {
    if (!isSet(v)) return element(v, what);
    if (v[1].length === 0) return null;
    if (v[1].length === 1) return element(v[1][0], what);
    throw bad(what, v, 'at most one value');
  };
}

/** A map column: ["map", [[k, v], ...]], keys unique. */
export function mapOf<K, V>(key: Decoder<K>, value: Decoder<V>): Decoder<ReadonlyMap<K, V>> {
  return (v, what) => {
    if (!Array.isArray(v) || v.length !== 2 || v[0] !== 'map' || !Array.isArray(v[1])) throw bad(what, v, '["map", [...]]');
    const out = new Map<K, V>();
    for (const pair of v[1] as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) throw bad(what, pair, 'a [key, value] pair');
      const k = key(pair[0], `${what} key`);
      if (out.has(k)) throw bad(what, pair, 'unique keys');
      out.set(k, value(pair[1], `${what}[${excerpt(pair[0])}]`));
    }
    return out;
  };
}

/** A JSON value as a transaction carries it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

export const uuidRef = (uuid: string): Json => ['uuid', uuid];

/** A reference to a row inserted by the same transaction under `uuid-name` `name` (RFC 7047 §5.1). */
export function namedUuid(name: string): Json {
  if (!ID.test(name)) throw new Error(`not a named-uuid: ${JSON.stringify(name)}`);
  return ['named-uuid', name];
}

export const setValue = (elements: readonly Json[]): Json => ['set', elements];

export const mapValue = (pairs: Iterable<readonly [string, string]>): Json => ['map', [...pairs].map(([k, v]) => [k, v])];
