// The daemon's replica for gossip (ReplicaPort over the store): received slots are merged and
// repaired (merge.ts) against the store's staged replica and committed through the one write
// path, Store.write, as a merge under the versions they carry — durable before the engine
// forwards them. The digest follows every durable commit, local or received; a local commit's
// slots are handed to `onLocalCommit` to be pushed at once. memory-replica.ts is the same
// protocol over a plain in-memory state, for the simulation and the transport tests.
import { aheadBeyondDrift } from '../domain/hlc.js';
import { applySlots, repairState, slotId } from '../domain/merge.js';
import type { PeeringSlot, Slot, VpcSlot } from '../domain/replica.js';
import type { Mutation, PeeringPolicy } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import { LOCAL_ORIGIN, type Store } from '../store/store.js';
import { DigestIndex, entryOfSlot, parseRef, refOf } from './digest.js';
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
}

const EMPTY: PushBody = { vpcs: [], peerings: [] };

export class StoreReplica implements ReplicaPort {
  readonly stats: ReplicaStats = { merges: 0, slotsAccepted: 0, conflictsResolved: 0, clockAhead: 0 };
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
      // Old news (the very version held here) is the common case in a flood: skip it cheaply.
      const e = entryOfSlot(kind, s);
      const held = this.index.get(e.ref);
      if (held !== undefined && held.version === e.version && held.dead === e.dead) return false;
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
    const vpcs = batch.vpcs.filter(fresh('vpc'));
    const peerings = batch.peerings.filter(fresh('peering'));
    if (vpcs.length + peerings.length === 0) return { accepted: EMPTY, repaired: EMPTY };
    const result = await this.opts.store.write((_view, replica) => {
      const merged = applySlots(replica, { vpcs, peerings });
      const accepted: PushBody = { vpcs: merged.accepted.vpcs ?? [], peerings: merged.accepted.peerings ?? [] };
      if (accepted.vpcs.length + accepted.peerings.length === 0) return { mutations: [], result: { accepted: EMPTY, repaired: EMPTY, repairs: [] } };
      const { state, repairs } = repairState(merged.state, this.opts.policy());
      const repaired: PushBody = { vpcs: [], peerings: repairs.map((r) => state.peerings.get(r.peeringId)!) };
      // A slot that won and was then repaired is stored, and forwarded, as repaired only.
      const rewritten = new Set(repairs.map((r) => r.peeringId));
      const kept: PushBody = { vpcs: accepted.vpcs, peerings: accepted.peerings.filter((s) => !rewritten.has(slotId(s))) };
      return {
        mutations: [],
        slots: { vpcs: kept.vpcs, peerings: [...kept.peerings, ...repaired.peerings] },
        result: { accepted: kept, repaired, repairs },
      };
    }, { origin: fromNode });
    const n = result.accepted.vpcs.length + result.accepted.peerings.length;
    if (n + result.repaired.peerings.length > 0) {
      this.stats.merges++;
      this.stats.slotsAccepted += n;
      this.stats.conflictsResolved += result.repaired.peerings.length;
      const durableAt = this.physicalNow();
      for (const s of [...result.accepted.vpcs, ...result.accepted.peerings]) this.opts.onLag?.(Math.max(0, durableAt - s.version.wallMs));
      for (const r of result.repairs) {
        this.opts.logger.warn('gossip: a conflict made on two hosts was settled: the peering failed', { peeringId: r.peeringId, reason: r.reason, causeId: r.causeId, from: fromNode });
      }
    }
    return { accepted: result.accepted, repaired: result.repaired };
  }

  slotsFor(refs: readonly string[]): PushBody {
    const replica = this.opts.store.replica;
    const vpcs: VpcSlot[] = [];
    const peerings: PeeringSlot[] = [];
    for (const ref of refs) {
      const r = parseRef(ref);
      if (r?.kind === 'vpc') {
        const s = replica.vpcs.get(r.id);
        if (s) vpcs.push(s);
      } else if (r?.kind === 'peering') {
        const s = replica.peerings.get(r.id);
        if (s) peerings.push(s);
      }
    }
    return { vpcs, peerings };
  }

  private note(batch: PushBody): void {
    for (const s of batch.vpcs) this.index.set(entryOfSlot('vpc', s));
    for (const s of batch.peerings) this.index.set(entryOfSlot('peering', s));
  }
}

function refOfMutation(m: Mutation): string {
  switch (m.op) {
    case 'vpc.put':
      return refOf('vpc', m.vpc.id);
    case 'vpc.del':
      return refOf('vpc', m.id);
    case 'peering.put':
      return refOf('peering', m.peering.id);
    case 'peering.del':
      return refOf('peering', m.id);
  }
}
