// The work queue of one reconcile pass: the bridges it works through, BRIDGE_CONCURRENCY at a
// time, the dumps it has read ahead of its workers, and the drift that joins it while it runs
// (at the head of the queue). No I/O of its own: the work per bridge is injected.
import type { Desired } from './desired.js';
import type { Dumped } from './installed.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { PatchPair, PortRef } from '../ovs/ovs.js';

/** How many bridges are dumped and patched at once (each is a child process). */
export const BRIDGE_CONCURRENCY = 4;

/**
 * What a pass does with what it finds: `apply` repairs and records (the loop, reconcile.run);
 * `dry-run` only reports what it would change.
 */
export type PassMode = 'apply' | 'dry-run';

/**
 * Where a pass takes its topology and desired flows from: `reuse` works from what the last pass
 * knew when that is enough (the loop's passes); `fresh` reads the topology and computes the
 * desired flows first, whatever the scope (reconcile.run).
 */
export type TopologyRead = 'reuse' | 'fresh';

/** What a pass works from once the topology is known. */
export interface Prepared {
  /** The state version the desired flows were computed from. */
  readonly version: number;
  readonly topology: Topology;
  readonly desired: Desired;
  /** New patch pairs, with requested ofports: created once their flows are in. */
  readonly pairs: readonly PatchPair[];
  /** Ports of ours to delete (stale, or in the way of a pair): deleted by an `apply` pass before its flows. */
  readonly doomed: readonly PortRef[];
  /** The topology as it will be once the stale ports are gone and the pairs exist. */
  readonly planned: Topology;
  /** The bridges of the topology this pass must reconcile, sorted. */
  readonly inScope: readonly string[];
  /** The bridges of the new pairs. */
  readonly touched: ReadonlySet<string>;
}

/** The bridges a running pass works through; drift of a bridge it knows jumps the queue. */
export interface Pass {
  readonly queue: string[];
  readonly busy: Set<string>;
  /** Busy bridges that drifted again meanwhile: done once more when their worker is free. */
  readonly again: Set<string>;
  /** Bridges dumped before the topology was known, waiting for it with their dump. */
  readonly parked: Map<string, Dumped>;
  /** Dumps read ahead of the workers, by bridge; and how many run. */
  readonly ahead: Map<string, Promise<Dumped>>;
  readonly pending: Set<Promise<Dumped>>;
  reading: number;
  /** No more dumps to start: the pass is over, or failed. */
  halted: boolean;
  /** Bridges that drifted before the topology was known: queued once it is. */
  readonly early: Set<string>;
  /** Bridges that drifted and were taken into this pass, not dumped since: if it ends first, a pass follows. */
  readonly drifted: Set<string>;
  /** Known once the topology is. */
  prepared: Prepared | null;
  /** Takes drift: an `apply` pass that has not ended. */
  open: boolean;
}

export function createPass(mode: PassMode): Pass {
  return {
    queue: [],
    busy: new Set(),
    again: new Set(),
    parked: new Map(),
    ahead: new Map(),
    pending: new Set(),
    reading: 0,
    halted: false,
    early: new Set(),
    drifted: new Set(),
    prepared: null,
    open: mode === 'apply',
  };
}

/**
 * Puts a drifted bridge at the head of a running pass, if the pass's desired flows still hold
 * (computed from `stateVersion` and listing the bridge); otherwise `trigger` asks for a pass of it.
 */
export function takeDrift(p: Pass, bridge: string, stateVersion: number, trigger: (bridges: string[]) => void): void {
  const prep = p.prepared;
  if (prep === null || prep.version !== stateVersion || !prep.topology.bridges.has(bridge)) {
    trigger([bridge]);
    return;
  }
  // A dump taken (or started) before this event is stale.
  p.parked.delete(bridge);
  p.ahead.delete(bridge);
  p.drifted.add(bridge);
  if (p.busy.has(bridge)) {
    p.again.add(bridge);
    return;
  }
  const at = p.queue.indexOf(bridge);
  if (at >= 0) p.queue.splice(at, 1);
  p.queue.unshift(bridge);
}

/**
 * Works through a pass's queue, BRIDGE_CONCURRENCY bridges at once, until it is empty. Bridges
 * may join the queue meanwhile (drift); one is never worked on by two workers at once. After a
 * failure no new bridge is started, and it returns (rethrowing the first failure) only once every
 * worker has stopped: nothing of a pass outlives it.
 */
export async function drain(p: Pass, fn: (bridge: string) => Promise<void>): Promise<void> {
  const failure: { err?: unknown; failed: boolean } = { failed: false };
  const worker = async (): Promise<void> => {
    while (!failure.failed) {
      const bridge = p.queue.shift();
      if (bridge === undefined) return;
      p.busy.add(bridge);
      try {
        await fn(bridge);
      } catch (err) {
        if (!failure.failed) Object.assign(failure, { err, failed: true });
      } finally {
        p.busy.delete(bridge);
      }
      if (p.again.delete(bridge) && p.open) p.queue.unshift(bridge);
    }
  };
  await Promise.all(Array.from({ length: BRIDGE_CONCURRENCY }, worker));
  if (failure.failed) throw failure.err;
}
