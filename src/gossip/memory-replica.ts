// A host's replica held in memory: the real merge, repair, clock and digest over a
// ReplicaState, with no journal. The simulation and the transport tests run hosts on it; the
// daemon's ReplicaPort does the same through the store, durably (issue 10, part 1).
import type { HlcClock } from '../domain/hlc.js';
import { applySlots, repairState, slotId } from '../domain/merge.js';
import { recordLocalCommit, type ReplicaState, type Slot } from '../domain/replica.js';
import type { Mutation, PeeringPolicy } from '../domain/types.js';
import { DigestIndex, entryOfSlot, parseRef } from './digest.js';
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
    const next = recordLocalCommit(this.current, mutations, this.clock.now(), now);
    const changed: PushBody = {
      vpcs: mutations.flatMap((m) => (m.op === 'vpc.put' || m.op === 'vpc.del' ? [next.vpcs.get(m.op === 'vpc.put' ? m.vpc.id : m.id)!] : [])),
      peerings: mutations.flatMap((m) => (m.op === 'peering.put' || m.op === 'peering.del' ? [next.peerings.get(m.op === 'peering.put' ? m.peering.id : m.id)!] : [])),
    };
    this.current = next;
    this.index(changed);
    return changed;
  }

  applyRemote(batch: PushBody): ApplyResult {
    const fresh = (kind: 'vpc' | 'peering') => (s: Slot): boolean => {
      // Old news (the very version held here) is the common case in a flood: skip it cheaply.
      const e = entryOfSlot(kind, s);
      const held = this.digest.get(e.ref);
      if (held !== undefined && held.version === e.version && held.dead === e.dead) return false;
      const r = this.clock.receive(s.version);
      if (!r.ok) this.clockAheadRefusals++;
      return r.ok;
    };
    const { state, accepted } = applySlots(this.current, { vpcs: batch.vpcs.filter(fresh('vpc')), peerings: batch.peerings.filter(fresh('peering')) });
    const acceptedBody: PushBody = { vpcs: accepted.vpcs ?? [], peerings: accepted.peerings ?? [] };
    if (acceptedBody.vpcs.length + acceptedBody.peerings.length === 0) return { accepted: acceptedBody, repaired: { vpcs: [], peerings: [] } };
    const { state: repairedState, repairs } = repairState(state, this.policy);
    const repaired: PushBody = { vpcs: [], peerings: repairs.map((r) => repairedState.peerings.get(r.peeringId)!) };
    this.current = repairedState;
    this.index(acceptedBody);
    this.index(repaired);
    // A slot that won and was then repaired is forwarded as repaired only.
    const rewritten = new Set(repairs.map((r) => r.peeringId));
    return { accepted: { vpcs: acceptedBody.vpcs, peerings: acceptedBody.peerings.filter((s) => !rewritten.has(slotId(s))) }, repaired };
  }

  slotsFor(refs: readonly string[]): PushBody {
    const vpcs = [];
    const peerings = [];
    for (const ref of refs) {
      const r = parseRef(ref);
      if (r?.kind === 'vpc') {
        const s = this.current.vpcs.get(r.id);
        if (s) vpcs.push(s);
      } else if (r?.kind === 'peering') {
        const s = this.current.peerings.get(r.id);
        if (s) peerings.push(s);
      }
    }
    return { vpcs, peerings };
  }

  private index(batch: PushBody): void {
    for (const s of batch.vpcs) this.digest.set(entryOfSlot('vpc', s));
    for (const s of batch.peerings) this.digest.set(entryOfSlot('peering', s));
  }
}
