// The deterministic merge of SPEC §8 (docs/GOSSIP.md, "Merge"): what two hosts keep when they hold
// different versions of one record, and the post-merge repair that restores the rules of §3
// over a whole merged state. Both are pure functions of their inputs, so every host that holds
// the same versions computes the same state, whatever the order in which the versions arrived.
//
// Record merge: the slots of one id are totally ordered and the merge keeps the greater, so it
// is idempotent, commutative and associative by construction. The order, most significant first:
//   1. the incarnation a live record belongs to, or the version of a tombstone; at a tie the
//      tombstone is greater. So a tombstone ends the incarnation it deleted and every version of
//      it, even one written later on a partitioned host (a delete is never undone by a stale
//      update), while a record created after the deletion (a new incarnation) wins over it;
//   2. for peerings, the lifecycle rank: terminal > active > pending-acceptance (fail closed:
//      accept vs reject ends rejected, accept vs delete ends deleted);
//   3. the version (HLC, node id as the tiebreak);
//   4. the canonical JSON of the slot, which only decides between slots no honest host writes.
//
// Repair: see `repairState`.
import type { Reason } from '../errors.js';
import { sameCidrSet } from './cidr.js';
import { compareHlc, type Hlc, maxHlc, successorHlc } from './hlc.js';
import { peeringRuleRefusal } from './peering-ops.js';
import { reasonText } from './records.js';
import {
  canonicalJson,
  isTombstone,
  liveState,
  type PeeringSlot,
  type ReplicaState,
  type Slot,
  type SlotBatch,
  type VersionedPeering,
  type VpcSlot,
} from './replica.js';
import { StateIndex } from './state-index.js';
import { type PeeringPolicy, type PeeringStatus, TerminalStatuses, type Vpc } from './types.js';
import { compareText } from './validate.js';

const LIFECYCLE_RANK: Readonly<Record<PeeringStatus, number>> = {
  'pending-acceptance': 0,
  active: 1,
  rejected: 2,
  deleted: 2,
  expired: 2,
  failed: 2,
};

/** The id a slot stands for. */
export function slotId(slot: Slot): string {
  return isTombstone(slot) ? slot.id : slot.record.id;
}

/**
 * The total order of the slots of one id (see the module comment): negative when `a` loses to
 * `b`, positive when it wins, 0 only for slots with identical content.
 */
export function compareSlots(a: Slot, b: Slot): number {
  const ta = isTombstone(a);
  const tb = isTombstone(b);
  const byLife = compareHlc(ta ? a.version : a.incarnation, tb ? b.version : b.incarnation);
  if (byLife !== 0) return byLife;
  if (ta !== tb) return ta ? 1 : -1;
  if (!ta && !tb && 'status' in a.record && 'status' in b.record) {
    const byRank = LIFECYCLE_RANK[a.record.status] - LIFECYCLE_RANK[b.record.status];
    if (byRank !== 0) return byRank;
  }
  return compareHlc(a.version, b.version) || compareText(canonicalJson(a), canonicalJson(b));
}

/** The merge of two slots of one id: the greater in compareSlots' order. Throws if the ids differ. */
export function mergeSlot(a: VpcSlot, b: VpcSlot): VpcSlot;
export function mergeSlot(a: PeeringSlot, b: PeeringSlot): PeeringSlot;
export function mergeSlot(a: Slot, b: Slot): Slot {
  if (slotId(a) !== slotId(b)) throw new Error(`mergeSlot: ${slotId(a)} and ${slotId(b)} are different records`);
  return compareSlots(a, b) >= 0 ? a : b;
}

function mergeMaps<S extends Slot>(a: ReadonlyMap<string, S>, b: ReadonlyMap<string, S>): Map<string, S> {
  const out = new Map(a);
  for (const [id, s] of b) {
    const mine = out.get(id);
    out.set(id, mine === undefined || compareSlots(s, mine) > 0 ? s : mine);
  }
  return out;
}

/** The merge of two whole replicas, id by id (no repair: see repairState). */
export function mergeReplicas(a: ReplicaState, b: ReplicaState): ReplicaState {
  return { vpcs: mergeMaps(a.vpcs, b.vpcs), peerings: mergeMaps(a.peerings, b.peerings) };
}


/**
 * Merges incoming slots into `state`; `accepted` lists those that won (they changed this host's
 * state, so they are the ones to persist and forward on). A slot that lost or was already held
 * is dropped silently: receiving old news is normal in gossip.
 */
export function applySlots(state: ReplicaState, batch: SlotBatch): { state: ReplicaState; accepted: SlotBatch } {
  const vpcs = new Map(state.vpcs);
  const peerings = new Map(state.peerings);
  const acceptedVpcs: VpcSlot[] = [];
  const acceptedPeerings: PeeringSlot[] = [];
  const take = <S extends Slot>(map: Map<string, S>, accepted: S[], s: S): void => {
    const mine = map.get(slotId(s));
    if (mine !== undefined && compareSlots(s, mine) <= 0) return;
    map.set(slotId(s), s);
    accepted.push(s);
  };
  for (const s of batch.vpcs ?? []) take(vpcs, acceptedVpcs, s);
  for (const s of batch.peerings ?? []) take(peerings, acceptedPeerings, s);
  return { state: { vpcs, peerings }, accepted: { vpcs: acceptedVpcs, peerings: acceptedPeerings } };
}

/** One peering the repair turned `failed`, and why (`reason` is a stable code of the catalogue). */
export interface RepairAction {
  readonly peeringId: string;
  readonly reason: Reason;
  /** The record whose version made the conflict (a VPC or the peering that won), when there is one. */
  readonly causeId?: string;
}

/** The policy a pending peering is checked under: the limit counts active peerings only. */
const UNLIMITED: PeeringPolicy = { pendingTtlSeconds: 0, terminalRetentionSeconds: 0, maxActivePerVpc: Number.POSITIVE_INFINITY };

/** What the repair reads of a state: the slot held for an id (a ReplicaState, or a state with a batch laid over it). */
interface SlotLookup {
  readonly vpcs: Pick<ReadonlyMap<string, VpcSlot>, 'get'>;
  readonly peerings: Pick<ReadonlyMap<string, PeeringSlot>, 'get'>;
}

interface Conflict {
  readonly reason: Reason;
  readonly message: string;
  readonly causeId?: string;
  readonly causeVersion: Hlc;
}

/**
 * Whether `p` still refers to the VPCs it was made with: not deleted (a tombstone), not deleted
 * and created again (a newer incarnation), CIDRs as its last write checked them. `'waiting'`
 * when a VPC is not held here at all (not arrived yet, and no tombstone says it went).
 */
function staleEnd(state: SlotLookup, p: VersionedPeering): Conflict | 'waiting' | undefined {
  const ends = [
    [p.record.requesterVpcId, p.basis.requesterCidrs],
    [p.record.accepterVpcId, p.basis.accepterCidrs],
  ] as const;
  let waiting = false;
  for (const [vpcId, basis] of ends) {
    const s = state.vpcs.get(vpcId);
    if (s === undefined) {
      waiting = true;
    } else if (isTombstone(s) || compareHlc(s.incarnation, p.incarnation) > 0) {
      return {
        reason: 'VPC_NOT_FOUND',
        message: `VPC ${vpcId} was deleted or replaced on another host while this peering was ${p.record.status}; request a new peering if still needed.`,
        causeId: vpcId,
        causeVersion: s.version,
      };
    } else if (!sameCidrSet(s.record.cidrs, basis)) {
      return {
        reason: 'CIDR_LOCKED',
        message: `The CIDRs of VPC ${vpcId} were changed on another host while this peering was ${p.record.status}; request a new peering for the new blocks.`,
        causeId: vpcId,
        causeVersion: s.version,
      };
    }
  }
  return waiting ? 'waiting' : undefined;
}

function vpcVersion(state: SlotLookup, id: string): Hlc | undefined {
  return state.vpcs.get(id)?.version;
}

/** Active before pending, then the earlier request (incarnation), then the id: the order in which live peerings keep their place. */
function keepOrder(a: VersionedPeering, b: VersionedPeering): number {
  return (
    LIFECYCLE_RANK[b.record.status] - LIFECYCLE_RANK[a.record.status] ||
    compareHlc(a.incarnation, b.incarnation) ||
    compareText(a.record.id, b.record.id)
  );
}

function failed(p: VersionedPeering, c: Conflict): VersionedPeering {
  // Derived from the versions in conflict, not read from a clock: every host that repairs this
  // state writes this exact record, so two independent repairs merge as one (no ping-pong).
  const version = successorHlc(maxHlc(p.version, c.causeVersion));
  return {
    ...p,
    record: {
      ...p.record,
      status: 'failed',
      statusReason: reasonText(`Failed when the hosts' states were merged: ${c.message}`),
      updatedAt: new Date(version.wallMs).toISOString(),
    },
    version,
  };
}

/**
 * The post-merge repair (SPEC §8, §3): after a merge, turns `failed` every live peering that
 * breaks a rule because of writes made on hosts that could not see each other, and returns the
 * repaired state with what it did. The rule, identical on every host:
 * - a live peering whose VPC was deleted (or deleted and re-created), or whose VPC's CIDRs are no
 *   longer those its last write checked, fails (VPC_NOT_FOUND, CIDR_LOCKED);
 * - the remaining live peerings are taken in one order — active before pending, then the earlier
 *   request, then the id — and each keeps its place only if rules 1–5 hold against those kept
 *   before it (DUPLICATE_PEERING, CIDR_OVERLAP, PEER_CIDR_OVERLAP, LIMIT_EXCEEDED for an active
 *   one; the limit counts active peerings only, so it never fails a pending one); otherwise it fails.
 * A peering with a VPC not held here at all is left as it is (the VPC has not arrived yet).
 * A repaired record's version is derived from the versions in conflict, so hosts that repair the
 * same state write identical records. The repair only ever turns live records terminal, so
 * it settles: repairing a repaired state changes nothing. `policy.maxActivePerVpc` must be the
 * same on every host (the rule is only as deterministic as its inputs).
 */
export function repairState(state: ReplicaState, policy: PeeringPolicy): { state: ReplicaState; repairs: RepairAction[] } {
  const live = [...state.peerings.values()].filter(isLivePeering).sort(keepOrder);
  const { rewritten, repairs } = repairLive(state, liveState(state).vpcs, live, policy);
  if (repairs.length === 0) return { state, repairs };
  const peerings = new Map(state.peerings);
  for (const [id, p] of rewritten) peerings.set(id, p);
  return { state: { vpcs: state.vpcs, peerings }, repairs };
}

function isLivePeering(s: PeeringSlot | undefined): s is VersionedPeering {
  return s !== undefined && !isTombstone(s) && !TerminalStatuses.includes(s.record.status);
}

/**
 * The repair's rule over `live` (live peerings, in keepOrder), checked against `vpcs` (the live
 * VPCs they may refer to): the peerings it turns failed, as rewritten, and why.
 */
function repairLive(
  state: SlotLookup, vpcs: Record<string, Vpc>, live: readonly VersionedPeering[], policy: PeeringPolicy,
): { rewritten: Map<string, VersionedPeering>; repairs: RepairAction[] } {
  const kept = new StateIndex({ vpcs, peerings: {} });
  const rewritten = new Map<string, VersionedPeering>();
  const repairs: RepairAction[] = [];
  for (const p of live) {
    const stale = staleEnd(state, p);
    if (stale === 'waiting') continue;
    let conflict = stale;
    if (conflict === undefined) {
      const refusal = peeringRuleRefusal(kept, p.record.status === 'active' ? policy : UNLIMITED, p.record);
      if (refusal === undefined) {
        kept.apply([{ op: 'peering.put', peering: p.record }]);
        continue;
      }
      const other = typeof refusal.data.peeringId === 'string' ? refusal.data.peeringId : undefined;
      const versions = [p.record.requesterVpcId, p.record.accepterVpcId].map((id) => vpcVersion(state, id));
      if (other !== undefined) versions.push(state.peerings.get(other)?.version);
      conflict = {
        reason: refusal.reason,
        message: refusal.message,
        ...(other === undefined ? {} : { causeId: other }),
        causeVersion: versions.reduce<Hlc>((m, v) => (v === undefined ? m : maxHlc(m, v)), p.version),
      };
    }
    rewritten.set(p.record.id, failed(p, conflict));
    repairs.push({ peeringId: p.record.id, reason: conflict.reason, ...(conflict.causeId === undefined ? {} : { causeId: conflict.causeId }) });
  }
  return { rewritten, repairs };
}

/** What merging a received batch did (mergeAndRepair). */
export interface MergeOutcome {
  readonly state: ReplicaState;
  /** Received slots that won and stand as received (to store and forward on). */
  readonly accepted: { readonly vpcs: readonly VpcSlot[]; readonly peerings: readonly PeeringSlot[] };
  /** Peerings the repair rewrote, as rewritten (new versions: to store and push to every peer). */
  readonly repaired: readonly PeeringSlot[];
  readonly repairs: readonly RepairAction[];
}

/**
 * A received batch merged into `state` (applySlots), then the post-merge repair (repairState)
 * when anything won. A slot that won and was then repaired is listed as repaired only. The one
 * definition of what a host does with a push, for the daemon's store and the in-memory replica.
 *
 * O(batch + live peerings + the records near the batch), not O(records): the batch is laid over
 * `state` instead of copied into it, and the repair runs over the part of the merged state the
 * accepted slots can affect — the live peerings connected to them through shared VPCs (their
 * connected component), since a peering's fate depends only on its VPCs and on the peerings
 * kept before it on those VPCs. That equals repairState over the whole merged state when the rest
 * of `state` is repaired already (repairState finds nothing there), which holds for every state
 * a host keeps: local writes obey SPEC §3, and every merge repairs what it touched. (A lowered
 * peering.maxActivePerVpc is not applied to peerings no merge touches; the local rules do not
 * apply it to existing peerings either.) `state` is not changed; the outcome's `state` is built
 * (O(records)) only when read.
 */
export function mergeAndRepair(state: ReplicaState, batch: SlotBatch, policy: PeeringPolicy): MergeOutcome {
  const over = { vpcs: new Map<string, VpcSlot>(), peerings: new Map<string, PeeringSlot>() };
  const merged: SlotLookup = {
    vpcs: { get: (id) => over.vpcs.get(id) ?? state.vpcs.get(id) },
    peerings: { get: (id) => over.peerings.get(id) ?? state.peerings.get(id) },
  };
  const vpcs: VpcSlot[] = [];
  const peerings: PeeringSlot[] = [];
  // The VPC ids whose component the accepted slots change: theirs, and both ends of a peering
  // before and after (a peering replaced by one on other VPCs leaves its old component).
  const seeds = new Set<string>();
  const ends = (s: PeeringSlot | undefined): void => {
    if (s !== undefined && !isTombstone(s)) seeds.add(s.record.requesterVpcId).add(s.record.accepterVpcId);
  };
  for (const s of batch.vpcs ?? []) {
    const mine = merged.vpcs.get(slotId(s));
    if (mine !== undefined && compareSlots(s, mine) <= 0) continue;
    over.vpcs.set(slotId(s), s);
    vpcs.push(s);
    seeds.add(slotId(s));
  }
  for (const s of batch.peerings ?? []) {
    const mine = merged.peerings.get(slotId(s));
    if (mine !== undefined && compareSlots(s, mine) <= 0) continue;
    ends(mine);
    ends(s);
    over.peerings.set(slotId(s), s);
    peerings.push(s);
  }
  if (vpcs.length + peerings.length === 0) return { state, accepted: { vpcs, peerings }, repaired: [], repairs: [] };

  const { rewritten, repairs } = repairLive(merged, ...nearBatch(state, over.peerings, merged, seeds), policy);
  let built: ReplicaState | undefined;
  const build = (): ReplicaState => {
    const next = { vpcs: new Map(state.vpcs), peerings: new Map(state.peerings) };
    for (const [id, s] of over.vpcs) next.vpcs.set(id, s);
    for (const [id, s] of over.peerings) next.peerings.set(id, s);
    for (const [id, s] of rewritten) next.peerings.set(id, s);
    return next;
  };
  return {
    get state() {
      return (built ??= build());
    },
    accepted: { vpcs, peerings: peerings.filter((s) => !rewritten.has(slotId(s))) },
    repaired: repairs.map((r) => rewritten.get(r.peeringId)!),
    repairs,
  };
}

/**
 * The live VPCs and the live peerings (in keepOrder) of the connected components of the merged
 * state (`state` with `over` laid on it) that hold the `seeds` VPC ids: VPCs joined by live
 * peerings, whatever state each VPC id is in (live, a tombstone, not held).
 */
function nearBatch(
  state: ReplicaState, over: ReadonlyMap<string, PeeringSlot>, merged: SlotLookup, seeds: ReadonlySet<string>,
): [Record<string, Vpc>, VersionedPeering[]] {
  const byVpc = new Map<string, VersionedPeering[]>();
  const link = (p: VersionedPeering): void => {
    for (const id of [p.record.requesterVpcId, p.record.accepterVpcId]) {
      const list = byVpc.get(id);
      if (list) list.push(p);
      else byVpc.set(id, [p]);
    }
  };
  for (const [id, s] of state.peerings) if (!over.has(id) && isLivePeering(s)) link(s);
  for (const s of over.values()) if (isLivePeering(s)) link(s);
  const seen = new Set(seeds);
  const queue = [...seeds];
  const live = new Map<string, VersionedPeering>();
  while (queue.length > 0) {
    for (const p of byVpc.get(queue.pop()!) ?? []) {
      live.set(p.record.id, p);
      for (const id of [p.record.requesterVpcId, p.record.accepterVpcId]) {
        if (!seen.has(id)) {
          seen.add(id);
          queue.push(id);
        }
      }
    }
  }
  const vpcs: Record<string, Vpc> = {};
  for (const id of seen) {
    const s = merged.vpcs.get(id);
    if (s !== undefined && !isTombstone(s)) vpcs[id] = s.record;
  }
  return [vpcs, [...live.values()].sort(keepOrder)];
}
