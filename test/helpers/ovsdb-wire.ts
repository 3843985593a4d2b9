// The captured OVSDB streams of test/fixtures/ovsdb/ (scripts/capture-ovsdb.ts), for the tests of
// the client's pure layers and of its connection.
import { readFileSync } from 'node:fs';
import { JsonTextSplitter } from '../../src/ovs/ovsdb/framing.js';

export const STREAMS = [
  'monitor-initial',
  'update-add-pair',
  'update-modify',
  'update-delete',
  'transact-applied',
  'transact-wait-failed',
  'transact-constraint',
  'rpc-error',
  'echo-reply',
  'update-vswitchd-down',
] as const;
export type StreamName = (typeof STREAMS)[number];

/** The bytes ovsdb-server sent in one captured step. */
export function stream(name: StreamName): Buffer {
  return readFileSync(new URL(`../fixtures/ovsdb/${name}.stream`, import.meta.url));
}

/** The JSON texts of a captured step, in order. */
export function texts(name: StreamName): Record<string, unknown>[] {
  return new JsonTextSplitter().push(stream(name)) as Record<string, unknown>[];
}

/** The table-updates of a step's `update` notifications, in order. */
export function updatesOf(name: StreamName): unknown[] {
  return texts(name).flatMap((m) => (m.method === 'update' ? [(m.params as unknown[])[1]] : []));
}

/** The monitor's initial rows (the reply to id 1 of monitor-initial). */
export function initialRows(): unknown {
  const reply = texts('monitor-initial').find((m) => m.id === 1);
  if (reply === undefined) throw new Error('monitor-initial holds no reply');
  return reply.result;
}
