// A simulated cluster for the merge property tests: hosts that run the real domain operations
// on their own replica (stamped by their own HLC), and sync by merging whole replicas then
// repairing, as anti-entropy will. Also an invariant checker for SPEC §3 written apart from
// the repair (it shares only the CIDR arithmetic), so the tests do not grade the repair by itself.
import fc from 'fast-check';
import { cidrsOverlap, sameCidrSet } from '../../src/domain/cidr.js';
import { compareHlc, HlcClock } from '../../src/domain/hlc.js';
import { mergeReplicas, repairState } from '../../src/domain/merge.js';
import { acceptPeering, createPeering, deletePeering, rejectPeering, sweep } from '../../src/domain/peering-ops.js';
import { canonicalJson, emptyReplica, isTombstone, liveState, recordLocalCommit, type ReplicaState, type VersionedPeering } from '../../src/domain/replica.js';
import { StateIndex } from '../../src/domain/state-index.js';
import type { Mutation, OpContext, PeeringPolicy } from '../../src/domain/types.js';
import { createVpc, deleteVpc, updateVpc } from '../../src/domain/vpc-ops.js';
import { isRpcError } from '../../src/errors.js';

export const SIM_POLICY: PeeringPolicy = { pendingTtlSeconds: 20, terminalRetentionSeconds: 30, maxActivePerVpc: 2 };
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const VPC_IDS = ['va', 'vb', 'vc', 'vd', 've'];
// Overlaps on purpose: 10.0.1.0/24 lies in 10.0.0.0/16, so rules 3 and 4 have something to refuse.
const CIDRS = [['10.0.0.0/16'], ['10.0.1.0/24'], ['10.1.0.0/16'], ['10.2.0.0/16'], ['10.3.0.0/16', 'fd00::/64'], ['fd00::/48']];

export type SimOp =
  | { readonly t: 'vpc.create' | 'vpc.update'; readonly host: number; readonly vpc: number; readonly cidrs: number }
  | { readonly t: 'vpc.delete'; readonly host: number; readonly vpc: number }
  | { readonly t: 'peering.create'; readonly host: number; readonly r: number; readonly a: number }
  | { readonly t: 'peering.accept' | 'peering.reject' | 'peering.delete'; readonly host: number; readonly pick: number }
  | { readonly t: 'sweep'; readonly host: number }
  | { readonly t: 'sync'; readonly host: number; readonly from: number };

/** One step of a history: an operation and how long after the previous one it happens (ms). */
export interface SimStep {
  readonly op: SimOp;
  readonly afterMs: number;
}

export function arbHistory(hosts: number, maxSteps: number): fc.Arbitrary<SimStep[]> {
  const host = fc.integer({ min: 0, max: hosts - 1 });
  const vpc = fc.integer({ min: 0, max: VPC_IDS.length - 1 });
  const cidrs = fc.integer({ min: 0, max: CIDRS.length - 1 });
  const op: fc.Arbitrary<SimOp> = fc.oneof(
    { weight: 1, arbitrary: fc.record({ t: fc.constant('vpc.create' as const), host, vpc, cidrs }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('vpc.update' as const), host, vpc, cidrs }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('vpc.delete' as const), host, vpc }) },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('peering.create' as const), host, r: vpc, a: vpc }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('peering.accept' as const), host, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('peering.reject' as const), host, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('peering.delete' as const), host, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('sweep' as const), host }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('sync' as const), host, from: host }) },
  );
  // size 'max': lengths spread evenly up to maxSteps (the default favours very short arrays).
  return fc.array(fc.record({ op, afterMs: fc.integer({ min: 0, max: 2_000 }) }), { minLength: 1, maxLength: maxSteps, size: 'max' });
}

export interface SimHost {
  readonly node: string;
  readonly clock: HlcClock;
  state: ReplicaState;
}

/** What a run of a history produced: its hosts, and every replica state any host held. */
export interface SimRun {
  readonly hosts: SimHost[];
  readonly snapshots: ReplicaState[];
  /** Repairs found on a host right after one of its own local operations (should be none). */
  readonly localRepairs: number;
}

/** The actor the operations record (requestedBy, acceptedBy). */
const ACTOR = 'op';

/** Merges `from` into `to`, advances `to`'s clock past what it took, and repairs. */
export function syncInto(to: SimHost, from: ReplicaState, policy: PeeringPolicy): void {
  const merged = mergeReplicas(to.state, from);
  for (const s of [...from.vpcs.values(), ...from.peerings.values()]) {
    const r = to.clock.receive(s.version);
    if (!r.ok) throw new Error(`simulation clocks drifted too far: ${r.aheadMs} ms`);
  }
  to.state = repairState(merged, policy).state;
}

/**
 * Runs a history on `hostCount` hosts. Host 0 first creates the five VPCs (CIDRS[i] for VPC i)
 * and every host syncs from it; then the hosts are partitioned and only `sync` steps move state.
 */
export function runHistory(steps: readonly SimStep[], hostCount: number, policy = SIM_POLICY): SimRun {
  let wall = T0;
  let nextPeering = 0;
  // Each host's physical clock is skewed by a few ms, so versions of different hosts interleave.
  const hosts: SimHost[] = Array.from({ length: hostCount }, (_, i) => ({
    node: `hv-${i}`,
    clock: new HlcClock(`hv-${i}`, () => wall + i * 7),
    state: emptyReplica(),
  }));
  const snapshots: ReplicaState[] = [];
  let localRepairs = 0;
  const setup: SimStep[] = VPC_IDS.map((_, i) => ({ op: { t: 'vpc.create', host: 0, vpc: i, cidrs: i }, afterMs: 1 }));
  for (let i = 1; i < hostCount; i++) setup.push({ op: { t: 'sync', host: i, from: 0 }, afterMs: 1 });
  for (const { op, afterMs } of [...setup, ...steps]) {
    wall += afterMs;
    const host = hosts[op.host]!;
    if (op.t === 'sync') {
      if (op.from !== op.host) syncInto(host, hosts[op.from]!.state, policy);
      snapshots.push(host.state);
      continue;
    }
    const now = new Date(wall);
    const ctx: OpContext = { actor: ACTOR, now, policy, newPeeringId: () => `pcx-${(++nextPeering).toString(16).padStart(17, '0')}` };
    const view = new StateIndex(liveState(host.state));
    const peerings = [...view.peerings()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const picked = 'pick' in op && peerings.length > 0 ? peerings[op.pick % peerings.length]!.id : 'pcx-00000000000000000';
    let mutations: readonly Mutation[];
    try {
      switch (op.t) {
        case 'vpc.create':
          mutations = createVpc(view, ctx, { id: VPC_IDS[op.vpc]!, tenantId: 't1', cidrs: CIDRS[op.cidrs]!, bridge: `br-${VPC_IDS[op.vpc]!}` }).mutations;
          break;
        case 'vpc.update':
          mutations = updateVpc(view, ctx, { id: VPC_IDS[op.vpc]!, cidrs: CIDRS[op.cidrs]! }).mutations;
          break;
        case 'vpc.delete':
          mutations = deleteVpc(view, { id: VPC_IDS[op.vpc]! }).mutations;
          break;
        case 'peering.create':
          mutations = createPeering(view, ctx, { requesterVpcId: VPC_IDS[op.r]!, accepterVpcId: VPC_IDS[op.a]! }).mutations;
          break;
        case 'peering.accept':
          mutations = acceptPeering(view, ctx, { id: picked }).mutations;
          break;
        case 'peering.reject':
          mutations = rejectPeering(view, ctx, { id: picked }).mutations;
          break;
        case 'peering.delete':
          mutations = deletePeering(view, ctx, { id: picked }).mutations;
          break;
        case 'sweep':
          mutations = sweep(view, now, policy);
          break;
      }
    } catch (e) {
      if (isRpcError(e)) continue; // a refused operation changes nothing
      throw e;
    }
    if (mutations.length === 0) continue;
    host.state = recordLocalCommit(host.state, mutations, host.clock.now(), now);
    localRepairs += repairState(host.state, policy).repairs.length;
    snapshots.push(host.state);
  }
  return { hosts, snapshots, localRepairs };
}

/** Syncs every host from every other until nothing changes (bounded: repairs only end lives). */
export function syncAll(hosts: SimHost[], policy = SIM_POLICY): void {
  for (let round = 0; round < 20; round++) {
    const before = hosts.map((h) => fingerprint(h.state));
    for (const to of hosts) for (const from of hosts) if (from !== to) syncInto(to, from.state, policy);
    if (hosts.every((h, i) => fingerprint(h.state) === before[i])) return;
  }
  throw new Error('the hosts did not settle within 20 rounds of full sync');
}

/** One text per replica content, independent of the order its maps were filled in. */
export function fingerprint(state: ReplicaState): string {
  const sorted = (m: ReadonlyMap<string, unknown>): unknown[] => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return canonicalJson({ vpcs: sorted(state.vpcs), peerings: sorted(state.peerings) });
}

/**
 * The rules of SPEC §3 over a replica's live records, checked directly. Returns the broken
 * rules as short texts (empty when all hold). A live peering with a VPC not held at all is a
 * violation too: after a full sync every host holds every VPC it refers to.
 */
export function violations(state: ReplicaState, policy: PeeringPolicy): string[] {
  const out: string[] = [];
  const live: VersionedPeering[] = [];
  for (const s of state.peerings.values()) {
    if (!isTombstone(s) && (s.record.status === 'pending-acceptance' || s.record.status === 'active')) live.push(s);
  }
  const vpc = (id: string) => {
    const s = state.vpcs.get(id);
    return s === undefined || isTombstone(s) ? undefined : s;
  };
  const pairs = new Set<string>();
  const activeCount = new Map<string, number>();
  const peersOf = new Map<string, string[]>();
  for (const p of live) {
    const { id, requesterVpcId: r, accepterVpcId: a } = p.record;
    const vr = vpc(r);
    const va = vpc(a);
    if (!vr || !va) {
      out.push(`${id}: live with a missing or deleted VPC`);
      continue;
    }
    if (compareHlc(vr.incarnation, p.incarnation) > 0 || compareHlc(va.incarnation, p.incarnation) > 0) out.push(`${id}: refers to an older life of its VPC`);
    if (!sameCidrSet(vr.record.cidrs, p.basis.requesterCidrs) || !sameCidrSet(va.record.cidrs, p.basis.accepterCidrs)) out.push(`${id}: CIDRs changed under it`);
    if (r === a) out.push(`${id}: self peering`);
    const key = [r, a].sort().join('|');
    if (pairs.has(key)) out.push(`${id}: second live peering for ${key}`);
    pairs.add(key);
    if (cidrsOverlap(vr.record.cidrs, va.record.cidrs)) out.push(`${id}: requester and accepter overlap`);
    if (p.record.status === 'active') for (const v of [r, a]) activeCount.set(v, (activeCount.get(v) ?? 0) + 1);
    peersOf.set(r, [...(peersOf.get(r) ?? []), a]);
    peersOf.set(a, [...(peersOf.get(a) ?? []), r]);
  }
  for (const [v, n] of activeCount) if (n > policy.maxActivePerVpc) out.push(`${v}: ${n} active peerings`);
  for (const [v, peers] of peersOf) {
    for (let i = 0; i < peers.length; i++) {
      for (let j = i + 1; j < peers.length; j++) {
        const x = vpc(peers[i]!);
        const y = vpc(peers[j]!);
        if (x && y && cidrsOverlap(x.record.cidrs, y.record.cidrs)) out.push(`${v}: peers ${peers[i]} and ${peers[j]} overlap`);
      }
    }
  }
  return out;
}
