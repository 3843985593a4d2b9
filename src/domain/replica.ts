// The replicated form of the desired state (SPEC §8): every VPC and peering wrapped with its
// version, and deletions kept as tombstones, so two hosts can merge what they hold without a
// coordinator. Also the one translation from a local commit (domain Mutations) into versioned
// slots, which the store applies on every commit and on replay of the journal.
import { type Hlc, isHlc } from './hlc.js';
import type { Mutation, Peering, State, Vpc } from './types.js';

export type RecordKind = 'vpc' | 'peering';

/**
 * A record as replicated. `version` is the HLC of the write that produced this value;
 * `incarnation` is the version of the write that created the record (kept by every later
 * update), so a tombstone can tell the life it ended from a later re-creation of the same id.
 */
export interface Versioned<T> {
  readonly record: T;
  readonly version: Hlc;
  readonly incarnation: Hlc;
}

/**
 * The CIDR blocks of both VPCs as the write of a peering (its request or acceptance) checked
 * them against SPEC §3. The post-merge repair compares them with the VPCs as merged: a
 * difference is a CIDR change made on a host that did not know the peering (rule 6).
 */
export interface PeeringBasis {
  readonly requesterCidrs: readonly string[];
  readonly accepterCidrs: readonly string[];
}

export type VersionedVpc = Versioned<Vpc>;

export interface VersionedPeering extends Versioned<Peering> {
  readonly basis: PeeringBasis;
}

/**
 * What a deletion leaves (`vpc.delete`, the compaction of a terminal peering): the id, the
 * version of the deletion and when it happened (ISO-8601 UTC, for humans and for purging after
 * gossip.tombstoneRetentionSeconds). It ends every incarnation created at or before `version`.
 */
export interface Tombstone {
  readonly kind: RecordKind;
  readonly id: string;
  readonly version: Hlc;
  readonly deletedAt: string;
}

export type VpcSlot = VersionedVpc | Tombstone;
export type PeeringSlot = VersionedPeering | Tombstone;
/** What a replica holds for one id: a live versioned record or its tombstone. */
export type Slot = VpcSlot | PeeringSlot;

/** Everything one host holds, by id. Treat as immutable: operations return a new state. */
export interface ReplicaState {
  readonly vpcs: ReadonlyMap<string, VpcSlot>;
  readonly peerings: ReadonlyMap<string, PeeringSlot>;
}

export function emptyReplica(): ReplicaState {
  return { vpcs: new Map(), peerings: new Map() };
}

export function isTombstone(slot: Slot): slot is Tombstone {
  return !('record' in slot);
}

/** The live records of a replica as the domain's plain State (for StateIndex and the rules). */
export function liveState(replica: ReplicaState): State {
  const vpcs: Record<string, Vpc> = {};
  const peerings: Record<string, Peering> = {};
  for (const [id, s] of replica.vpcs) if (!isTombstone(s)) vpcs[id] = s.record;
  for (const [id, s] of replica.peerings) if (!isTombstone(s)) peerings[id] = s.record;
  return { vpcs, peerings };
}

/**
 * JSON with object keys sorted at every level: one text per value on every host, used to
 * break ties between slots that carry the same version but differ (which only a bug or a
 * forged record can produce) so that even then every host keeps the same one.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A replica as the store keeps it: changed in place, one commit at a time. */
export interface MutableReplica {
  readonly vpcs: Map<string, VpcSlot>;
  readonly peerings: Map<string, PeeringSlot>;
}

/** A copy of `replica` that can be changed without touching it (slots are immutable, so shallow). */
export function copyReplica(replica: ReplicaState): MutableReplica {
  return { vpcs: new Map(replica.vpcs), peerings: new Map(replica.peerings) };
}

/**
 * Records one local commit in place: the mutations a domain operation returned, all stamped with
 * `version` (one fresh HLC per commit; `now` gives tombstones their deletedAt). A put keeps the
 * incarnation of the live record it replaces, or starts one at `version`; a peering's basis is
 * the CIDRs of its two VPCs as this commit leaves them. Throws on a version that is not an Hlc.
 * O(mutations): the store calls it on every commit.
 */
export function applyLocalCommit(replica: MutableReplica, mutations: readonly Mutation[], version: Hlc, now: Date): void {
  if (!isHlc(version)) throw new Error(`applyLocalCommit: ${JSON.stringify(version)} is not an HLC`);
  const { vpcs, peerings } = replica;
  const deletedAt = now.toISOString();
  const incarnationOf = (old: Slot | undefined): Hlc => (old && !isTombstone(old) ? old.incarnation : version);
  const cidrsOf = (vpcId: string): readonly string[] => {
    const s = vpcs.get(vpcId);
    return s && !isTombstone(s) ? s.record.cidrs : [];
  };
  for (const m of mutations) {
    switch (m.op) {
      case 'vpc.put':
        vpcs.set(m.vpc.id, { record: m.vpc, version, incarnation: incarnationOf(vpcs.get(m.vpc.id)) });
        break;
      case 'vpc.del':
        vpcs.set(m.id, { kind: 'vpc', id: m.id, version, deletedAt });
        break;
      case 'peering.put':
        peerings.set(m.peering.id, {
          record: m.peering,
          version,
          incarnation: incarnationOf(peerings.get(m.peering.id)),
          basis: { requesterCidrs: cidrsOf(m.peering.requesterVpcId), accepterCidrs: cidrsOf(m.peering.accepterVpcId) },
        });
        break;
      case 'peering.del':
        peerings.set(m.id, { kind: 'peering', id: m.id, version, deletedAt });
        break;
    }
  }
}

/** Slots of both kinds, as a merge commit or a gossip push carries them. */
export interface SlotBatch {
  readonly vpcs?: readonly VpcSlot[];
  readonly peerings?: readonly PeeringSlot[];
}

/**
 * Stores, in place, slots that won a merge (gossip's commits): each replaces what is held for its
 * id and keeps its own version; the caller (merge.ts applySlots) has already chosen them.
 */
export function putSlots(replica: MutableReplica, batch: SlotBatch): void {
  for (const s of batch.vpcs ?? []) replica.vpcs.set(isTombstone(s) ? s.id : s.record.id, s);
  for (const s of batch.peerings ?? []) replica.peerings.set(isTombstone(s) ? s.id : s.record.id, s);
}

/** What storing `batch` does to the plain State, as domain mutations (a put per record, a del per tombstone). */
export function slotMutations(batch: SlotBatch): Mutation[] {
  const out: Mutation[] = [];
  for (const s of batch.vpcs ?? []) out.push(isTombstone(s) ? { op: 'vpc.del', id: s.id } : { op: 'vpc.put', vpc: s.record });
  for (const s of batch.peerings ?? []) out.push(isTombstone(s) ? { op: 'peering.del', id: s.id } : { op: 'peering.put', peering: s.record });
  return out;
}

/** applyLocalCommit on a copy: the replica after the commit, `replica` left as it was. */
export function recordLocalCommit(replica: ReplicaState, mutations: readonly Mutation[], version: Hlc, now: Date): ReplicaState {
  const next = copyReplica(replica);
  applyLocalCommit(next, mutations, version, now);
  return next;
}

/**
 * Removes, in place, the tombstones deleted before `before` (gossip.tombstoneRetentionSeconds
 * ago) and returns how many went. Past that age a peer can no longer be told of the deletion, so
 * a host partitioned longer must resync from its peers (docs/GOSSIP.md).
 */
export function purgeTombstones(replica: MutableReplica, before: Date): number {
  const cutoff = before.getTime();
  let n = 0;
  for (const map of [replica.vpcs, replica.peerings] as Map<string, Slot>[]) {
    for (const [id, slot] of map) {
      if (isTombstone(slot) && Date.parse(slot.deletedAt) < cutoff) {
        map.delete(id);
        n++;
      }
    }
  }
  return n;
}

/**
 * The slots of records written before versions existed (journal format 1), all by this node:
 * each gets the version of its last change (`updatedAt`, logical 0) and the incarnation of its
 * creation (`createdAt`), so the upgrade is the same whenever it runs; a peering's basis is its
 * VPCs' CIDRs as they stand. Deletions of format 1 left nothing, so there are no tombstones.
 */
export function replicaOfUnversioned(state: State, node: string): MutableReplica {
  const at = (iso: string): Hlc => ({ wallMs: Date.parse(iso), logical: 0, node });
  const vpcs = new Map<string, VpcSlot>();
  const peerings = new Map<string, PeeringSlot>();
  for (const v of Object.values(state.vpcs)) vpcs.set(v.id, { record: v, version: at(v.updatedAt), incarnation: at(v.createdAt) });
  const cidrsOf = (id: string): readonly string[] => state.vpcs[id]?.cidrs ?? [];
  for (const p of Object.values(state.peerings)) {
    peerings.set(p.id, {
      record: p,
      version: at(p.updatedAt),
      incarnation: at(p.createdAt),
      basis: { requesterCidrs: cidrsOf(p.requesterVpcId), accepterCidrs: cidrsOf(p.accepterVpcId) },
    });
  }
  return { vpcs, peerings };
}
