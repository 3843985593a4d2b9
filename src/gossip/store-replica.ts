// The daemon's replica for gossip (ReplicaPort over the store): received slots are merged and
// repaired (merge.ts) against the store's staged replica and committed through the one write
// path, Store.write, as a merge under the versions they carry — durable before the engine
// forwards them. The digest follows every durable commit, local or received; a local commit's
// slots are handed to `onLocalCommit` to be pushed at once. memory-replica.ts is the same
// protocol over a plain in-memory state, for the simulation and the transport tests.
import { aheadBeyondDrift, compareHlc } from '../domain/hlc.js';
import { mergeAndRepair, slotId } from '../domain/merge.js';
import { isTombstone, type Slot, type VersionedVpc } from '../domain/replica.js';
import type { Mutation, PeeringPolicy } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import { LOCAL_ORIGIN, type Store } from '../store/store.js';
import { DigestIndex, entryOfSlot, refOfMutation, slotsForRefs } from './digest.js';
import type { ApplyResult, ReplicaPort } from './engine.js';
import type { PushBody } from './messages.js';

/** Counters for status and metrics, since start. */
export interface ReplicaStats {
  /** Merge commits made (received slots that won somewhere in the batch). */
  merges: number;
  /** Slots received that won the merge here and were stored. */
  slotsAccepted: number;
  /** Live peerings the post-merge repair turned `failed` (SPEC §8: a conflict made on two sides). */
  conflictsResolved: number;
  /** Received slots refused because their version ran too far ahead of this host's clock. */
  clockAhead: number;
  /** Records a resync ended (this host was away longer than the tombstone retention; docs/GOSSIP.md). */
  resyncEnded: number;
}

export interface StoreReplicaOptions {
  readonly store: Store;
  /** Read at every merge: the repair's limit must be the same on every host. */
  readonly policy: () => PeeringPolicy;
  readonly logger: Logger;
  /** This host's committed slots, to push to every peer at once. */
  readonly onLocalCommit: (batch: PushBody) => void;
  /** Each accepted slot's replication lag in ms: from its version's wall time (the commit at its origin) to durable here. */
  readonly onLag?: (ms: number) => void;
  /** ms since the epoch (default Date.now). */
  readonly physicalNow?: () => number;
  /**
   * When this host was away longer than gossip.tombstoneRetentionSeconds: the ms (epoch) of its
   * last contact, before which the records it created may since have been deleted elsewhere
   * and the tombstones forgotten; null when it was not away (the usual case). Default: never away.
   */
  readonly awaySince?: () => number | null;
}

const EMPTY: PushBody = { vpcs: [], peerings: [] };


export class StoreReplica implements ReplicaPort {
  readonly stats: ReplicaStats = { merges: 0, slotsAccepted: 0, conflictsResolved: 0, clockAhead: 0, resyncEnded: 0 };
  private index: DigestIndex;
  private readonly unsubscribe: () => void;
  private readonly physicalNow: () => number;
  /** Nodes whose too-far-ahead versions were logged (once per node, not once per slot). */
  private readonly aheadLogged = new Set<string>();

  constructor(private readonly opts: StoreReplicaOptions) {
    this.physicalNow = opts.physicalNow ?? Date.now;
    this.index = DigestIndex.ofReplica(opts.store.replica);
    this.unsubscribe = opts.store.onCommit((mutations, { origin }) => {
      const batch = this.slotsFor(mutations.map(refOfMutation));
      this.note(batch);
      if (origin === LOCAL_ORIGIN) opts.onLocalCommit(batch);
    });
  }

  get digest(): DigestIndex {
    return this.index;
  }

  /** The digest rebuilt from the store (after tombstones were purged, which is not a commit). */
  refreshDigest(): void {
    this.index = DigestIndex.ofReplica(this.opts.store.replica);
  }

  close(): void {
    this.unsubscribe();
  }

  async applyRemote(batch: PushBody, fromNode: string): Promise<ApplyResult> {
    const now = this.physicalNow();
    const fresh = (kind: 'vpc' | 'peering') => (s: Slot): boolean => {
      if (this.index.holds(kind, s)) return false;
      const ahead = aheadBeyondDrift(s.version, now);
      if (ahead === 0) return true;
      this.stats.clockAhead++;
      if (!this.aheadLogged.has(s.version.node)) {
        this.aheadLogged.add(s.version.node);
        this.opts.logger.warn('gossip: refusing versions from a clock too far ahead of ours (check NTP on both hosts)', {
          from: fromNode, writer: s.version.node, aheadMs: ahead,
        });
      }
      return false;
    };
    const batchIn = { vpcs: batch.vpcs.filter(fresh('vpc')), peerings: batch.peerings.filter(fresh('peering')) };
    if (batchIn.vpcs.length + batchIn.peerings.length === 0) return { accepted: EMPTY, repaired: EMPTY };
    let replaced: VersionedVpc[] = [];
    // Peerings active here before the merge: one the merge ends had flows on this host, and the
    // host that accepted it (or programmed it) must be able to read why they went.
    let activeHere = new Set<string>();
    const out = await this.opts.store.write((_view, replica) => {
      activeHere = new Set(batchIn.peerings.map(slotId).filter((id) => {
        const held = replica.peerings.get(id);
        return held !== undefined && !isTombstone(held) && held.record.status === 'active';
      }));
      // A live VPC here that an incoming live one of another incarnation may replace: one id
      // created on two hosts apart (SPEC §8); whichever loses, its host says so below.
      replaced = batchIn.vpcs.flatMap((s) => {
        if (isTombstone(s)) return [];
        const held = replica.vpcs.get(s.record.id);
        return held !== undefined && !isTombstone(held) && compareHlc(held.incarnation, s.incarnation) !== 0 ? [held] : [];
      });
      const merged = mergeAndRepair(replica, batchIn, this.opts.policy());
      return { mutations: [], slots: { vpcs: merged.accepted.vpcs, peerings: [...merged.accepted.peerings, ...merged.repaired] }, result: merged };
    }, { origin: fromNode });
    const accepted = [...out.accepted.vpcs, ...out.accepted.peerings];
    if (accepted.length + out.repaired.length > 0) {
      this.stats.merges++;
      this.stats.slotsAccepted += accepted.length;
      this.stats.conflictsResolved += out.repaired.length;
      const durableAt = this.physicalNow();
      for (const s of accepted) this.opts.onLag?.(Math.max(0, durableAt - s.version.wallMs));
      for (const lost of replaced) {
        const won = out.accepted.vpcs.find((s) => slotId(s) === lost.record.id);
        if (won === undefined || isTombstone(won)) continue; // a deletion, not a create that won
        this.opts.logger.warn('gossip: a VPC created on two hosts under one id was settled: this host\'s create lost', {
          vpcId: lost.record.id, from: fromNode,
          lost: { createdOn: lost.incarnation.node, tenantId: lost.record.tenantId, cidrs: lost.record.cidrs, bridge: lost.record.bridge },
          won: { createdOn: won.incarnation.node, tenantId: won.record.tenantId, cidrs: won.record.cidrs, bridge: won.record.bridge },
        });
      }
      for (const p of out.accepted.peerings) {
        if (!activeHere.has(slotId(p))) continue;
        const ended = isTombstone(p) ? { status: 'deleted' } : p.record.status === 'active' ? null : { status: p.record.status, statusReason: p.record.statusReason };
        if (ended !== null) this.opts.logger.info('gossip: a peering active here was ended by a change from another host', { peeringId: slotId(p), ...ended, writer: p.version.node, from: fromNode });
      }
      for (const r of out.repairs) {
        this.opts.logger.warn('gossip: a conflict made on two hosts was settled: the peering failed', { peeringId: r.peeringId, reason: r.reason, causeId: r.causeId, from: fromNode });
      }
    }
    return { accepted: out.accepted, repaired: { vpcs: [], peerings: out.repaired } };
  }

  /**
   * Ends, through the one write path (a local commit of deletions, so its tombstones are pushed
   * to every peer), the records of `absent` that existed when this host last had contact: the
   * peer holds nothing of them, so they were deleted while this host was away and the tombstone
   * is gone. Records created since (incarnation after the last contact) are new: kept, offered.
   */
  async resync(absent: readonly string[], fromNode: string): Promise<ReadonlySet<string>> {
    const since = this.opts.awaySince?.() ?? null;
    if (since === null) return new Set();
    const ended = await this.opts.store.write((_view, replica) => {
      const { vpcs, peerings } = slotsForRefs(replica, absent);
      const old = (s: Slot): boolean => !isTombstone(s) && s.incarnation.wallMs < since;
      const mutations: Mutation[] = [
        ...peerings.filter(old).map((s): Mutation => ({ op: 'peering.del', id: slotId(s) })),
        ...vpcs.filter(old).map((s): Mutation => ({ op: 'vpc.del', id: slotId(s) })),
      ];
      return { mutations, result: mutations.map((m) => refOfMutation(m)) };
    });
    if (ended.length > 0) {
      this.stats.resyncEnded += ended.length;
      this.opts.logger.warn('gossip: this host was away longer than the tombstone retention: records it held that the peer has deleted were ended (resync)', {
        from: fromNode, lastContactAt: new Date(since).toISOString(), ended: ended.length, refs: ended.slice(0, 20),
      });
    }
    return new Set(ended);
  }

  slotsFor(refs: readonly string[]): PushBody {
    return slotsForRefs(this.opts.store.replica, refs);
  }

  private note(batch: PushBody): void {
    for (const s of batch.vpcs) this.index.set(entryOfSlot('vpc', s));
    for (const s of batch.peerings) this.index.set(entryOfSlot('peering', s));
  }
}
