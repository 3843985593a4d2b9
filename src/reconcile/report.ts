// What the data plane tells: the per-peering `dataplane` object of peering.get (SPEC §5), as a
// pure function of the state and of what the last passes found. No I/O.
import type { StateView } from '../domain/state-index.js';
import type { Peering } from '../domain/types.js';
import type { Flow } from '../ovs/flow.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { BridgeStatus, PeeringDataplane } from './dataplane.js';
import type { Desired } from './desired.js';

/** What the last pass that reached a bridge found and did there. */
export interface BridgeResult extends BridgeStatus {
  /** When the state that was applied was read: a record changed after this is not applied yet. */
  readonly asOf: string;
  /** The desired flows last applied: the same next time means any change was drift. */
  readonly want: readonly Flow[];
  /** The dump that was found to hold exactly `want`: the same dump (by identity) again needs no diff. */
  readonly converged: readonly Flow[] | null;
}

/** What peeringState reads. */
export interface ReportInput {
  readonly view: StateView;
  /** The topology of the last pass that ended, or null before the first. */
  readonly topology: Topology | null;
  /** The desired flows of the last pass that ended. */
  readonly desired: Desired | null;
  readonly bridges: ReadonlyMap<string, BridgeResult>;
  readonly lastReconcileAt: string | null;
}

/**
 * This host's view of one peering. An active one is `programmed` once a pass after its last
 * change applied its flows on both bridges; any other status is `programmed` (with 0 flows)
 * once a pass after its last change has removed them. `not-local` when a bridge is not here.
 */
export function peeringState(p: Peering, input: ReportInput): Omit<PeeringDataplane, 'bridges'> {
  const { view, topology, desired, bridges } = input;
  const lastReconciledAt = input.lastReconcileAt;
  const local = [p.requesterVpcId, p.accepterVpcId].map((id) => view.getVpc(id)?.bridge);
  if (!topology || local.some((b) => b === undefined || !topology.bridges.has(b))) {
    return { state: topology ? 'not-local' : 'pending', flows: 0, lastReconciledAt };
  }
  const d = p.status === 'active' ? desired?.peerings.get(p.id) : undefined;
  if (d?.state === 'error') return { state: 'error', flows: 0, lastReconciledAt, error: d.error ?? 'unknown' };
  const results = (local as string[]).map((b) => bridges.get(b));
  const failed = results.find((r) => r && !r.ok);
  if (failed) return { state: 'error', flows: d?.flows ?? 0, lastReconciledAt: failed.at, error: failed.error ?? 'unknown' };
  // Strictly later: a pass that started in the same millisecond may have read the state before the change.
  const current = results.every((r) => r?.ok && r.asOf > p.updatedAt);
  const ready = p.status !== 'active' || d?.state === 'ready';
  return { state: current && ready ? 'programmed' : 'pending', flows: d?.flows ?? 0, lastReconciledAt };
}
