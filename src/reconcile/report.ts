// What the data plane tells: the per-peering `dataplane` object of peering.get (SPEC §5), as a
// pure function of the state and of what the last passes found. No I/O.
import type { StateView } from '../domain/state-index.js';
import type { Mutation, Peering } from '../domain/types.js';
import type { Flow } from '../ovs/flow.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { BridgeStatus, DataplaneReason, OvsState, PeeringDataplane } from './dataplane.js';
import { type Desired, peeringCookie } from './desired.js';

/** What the last pass that reached a bridge found and did there. */
export interface BridgeResult extends Omit<BridgeStatus, 'flows'> {
  /**
   * The store commit seq of the state the bridge's desired flows were computed from: every
   * commit up to it is reflected on the bridge when `ok` (a commit after it may not be yet).
   */
  readonly seq: number;
  /** Our flows on the bridge as of this result, counted by cookie (the canary included). */
  readonly installed: ReadonlyMap<bigint, number>;
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
  readonly cookiePrefix: number;
  /** `unavailable` before the first pass reached OVS, and while it does not answer. */
  readonly ovs: OvsState;
  /** Why OVS did not answer the last pass (null before the first attempt ended). */
  readonly ovsError: string | null;
  readonly lastReconcileAt: string | null;
  readonly lastAttemptAt: string | null;
  /** The seq of the last store commit that changed the peering or one of its VPCs (0: none since start). */
  readonly changedSeq: (p: Peering) => number;
}

/**
 * This host's view of one peering (SPEC §5):
 * - OVS did not answer the last pass: `error`, reason OVS_UNAVAILABLE;
 * - an active peering: `not-local` when a bridge is not here; `error` when it cannot be
 *   programmed or a bridge of it is failing (with the reason); `programmed` once both bridges
 *   were reconciled successfully from a state at or after the commit that last changed the
 *   peering or its VPCs (store seqs, not clocks); `pending` until then;
 * - any other status: `inactive` once none of its flows remain on any bridge (and its bridges'
 *   results are from a state at or after its last change); `pending` while some remain.
 * `flows`: its flows installed here, as of the bridges' last results.
 */
export function peeringState(p: Peering, input: ReportInput): Omit<PeeringDataplane, 'bridges'> {
  const { view, topology, desired, bridges, lastAttemptAt } = input;
  const local = [p.requesterVpcId, p.accepterVpcId].map((id) => view.getVpc(id)?.bridge);
  const known = local.filter((b): b is string => b !== undefined && bridges.has(b));
  const results = known.map((b) => bridges.get(b) as BridgeResult);
  const cookie = cookieOf(input.cookiePrefix, p.id);
  const onBridges = (names: Iterable<string>): number => {
    let n = 0;
    for (const b of names) n += (cookie === null ? 0 : bridges.get(b)?.installed.get(cookie)) ?? 0;
    return n;
  };
  // A peering's flows may be on a bridge its VPCs no longer name (a VPC record gone): all are counted.
  const flows = p.status === 'active' ? onBridges(known) : onBridges(bridges.keys());
  const lastReconciledAt = results.length > 0 ? oldest(results.map((r) => r.lastReconciledAt)) : input.lastReconcileAt;
  const base = { flows, lastReconciledAt, lastAttemptAt };

  if (input.ovs === 'unavailable' && input.ovsError !== null) {
    return { ...base, state: 'error', reason: 'OVS_UNAVAILABLE', error: `Open vSwitch did not answer the last reconcile pass: ${input.ovsError}` };
  }
  if (topology === null) return { ...base, state: 'pending' };
  const failed = results.find((r) => !r.ok);
  const since = input.changedSeq(p);

  if (p.status !== 'active') {
    if (flows > 0) return failed ? { ...base, ...failure(failed) } : { ...base, state: 'pending' };
    // None left as of the last results; a result older than the change may predate a pass that added some.
    return { ...base, state: results.every((r) => r.seq >= since) ? 'inactive' : 'pending' };
  }
  if (local.some((b) => b === undefined || !topology.bridges.has(b))) return { ...base, state: 'not-local' };
  const d = desired?.peerings.get(p.id);
  if (d?.state === 'error') return { ...base, state: 'error', ...(d.reason ? { reason: d.reason } : {}), error: d.error ?? 'unknown' };
  if (failed) return { ...base, ...failure(failed) };
  const current = results.length === local.length && results.every((r) => r.seq >= since);
  return { ...base, state: current && d?.state === 'ready' ? 'programmed' : 'pending' };
}

function failure(r: BridgeResult): { state: 'error'; reason: DataplaneReason; error: string } {
  return { state: 'error', reason: r.reason ?? 'OVS_COMMAND_FAILED', error: r.error ?? 'unknown' };
}

function cookieOf(prefix: number, peeringId: string): bigint | null {
  try {
    return peeringCookie(prefix, peeringId);
  } catch {
    return null; // a malformed id owns no flows
  }
}

/** The earliest of ISO-8601 times, null when any is null (never reconciled). */
function oldest(times: readonly (string | null)[]): string | null {
  let min: string | null = null;
  for (const t of times) {
    if (t === null) return null;
    if (min === null || t < min) min = t;
  }
  return min;
}

/**
 * Per record, the seq of the last store commit that put it: what `programmed` and `inactive` are
 * checked against (SPEC §5), rather than timestamps another host's clock will soon be writing.
 * Empty after a start: every record loaded is older than any pass, seq 0.
 */
export class CommitSeqs {
  private readonly seqs = new Map<string, number>();

  /** Notes the records that a commit of `seq` put; forgets those it deleted. */
  note(mutations: readonly Mutation[], seq: number): void {
    for (const m of mutations) {
      if (m.op === 'vpc.put') this.seqs.set(`vpc:${m.vpc.id}`, seq);
      else if (m.op === 'peering.put') this.seqs.set(`peering:${m.peering.id}`, seq);
      // A deleted VPC has no live peering (VPC_IN_USE); a deleted peering record is reported no more.
      else if (m.op === 'vpc.del') this.seqs.delete(`vpc:${m.id}`);
      else this.seqs.delete(`peering:${m.id}`);
    }
  }

  /** The seq of the last commit that changed the peering or one of its VPCs (0: none since start). */
  of(p: Peering): number {
    const at = (key: string): number => this.seqs.get(key) ?? 0;
    return Math.max(at(`peering:${p.id}`), at(`vpc:${p.requesterVpcId}`), at(`vpc:${p.accepterVpcId}`));
  }
}
