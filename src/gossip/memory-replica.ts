// A host's replica held in memory: the real merge, repair, clock and digest over a
// ReplicaState, with no journal. The simulation and the transport tests run hosts on it; the
// daemon's StoreReplica (store-replica.ts) does the same through the store, durably.
import type { HlcClock } from '../domain/hlc.js';
import { mergeAndRepair } from '../domain/merge.js';
import { recordLocalCommit, type ReplicaState, type Slot } from '../domain/replica.js';
import type { Mutation, PeeringPolicy } from '../domain/types.js';
import { DigestIndex, entryOfSlot, refOfMutation, slotsForRefs } from './digest.js';
import type { ApplyResult, ReplicaPort } from './engine.js';
import type { PushBody } from './messages.js';

export class MemoryReplica implements ReplicaPort {
  readonly digest: DigestIndex;
  /** Slots refused because their version ran too far ahead of our clock (CLOCK_AHEAD). */
  clockAheadRefusals = 0;

  /** `state` and `digest` (its DigestIndex) start the replica; both default to empty. */
  constructor(
    readonly clock: HlcClock,
    private readonly policy: PeeringPolicy,
    private current: ReplicaState = { vpcs: new Map(), peerings: new Map() },
    digest?: DigestIndex,
  ) {
    this.digest = digest ?? DigestIndex.ofReplica(current);
  }

  get state(): ReplicaState {
    return this.current;
  }

  /** Records a local commit (the mutations of a domain operation); returns its slots, to push. */
  commitLocal(mutations: readonly Mutation[], now: Date): PushBody {
    this.current = recordLocalCommit(this.current, mutations, this.clock.now(), now);
    const changed = slotsForRefs(this.current, mutations.map(refOfMutation));
    this.index(changed);
    return changed;
  }

  applyRemote(batch: PushBody): ApplyResult {
    const fresh = (kind: 'vpc' | 'peering') => (s: Slot): boolean => {
      if (this.digest.holds(kind, s)) return false;
      const r = this.clock.receive(s.version);
      if (!r.ok) this.clockAheadRefusals++;
      return r.ok;
    };
    const out = mergeAndRepair(this.current, { vpcs: batch.vpcs.filter(fresh('vpc')), peerings: batch.peerings.filter(fresh('peering')) }, this.policy);
    const repaired: PushBody = { vpcs: [], peerings: out.repaired };
    this.current = out.state;
    this.index(out.accepted);
    this.index(repaired);
    return { accepted: out.accepted, repaired };
  }

  slotsFor(refs: readonly string[]): PushBody {
    return slotsForRefs(this.current, refs);
  }

  private index(batch: PushBody): void {
    for (const s of batch.vpcs) this.digest.set(entryOfSlot('vpc', s));
    for (const s of batch.peerings) this.digest.set(entryOfSlot('peering', s));
  }
}
