import fc from 'fast-check';
import t from 'tap';
import { type Hlc, HlcClock } from '../../../src/domain/hlc.js';
import { applySlots, compareSlots, mergeAndRepair, mergeReplicas, mergeSlot, repairState } from '../../../src/domain/merge.js';
import {
  emptyReplica,
  type PeeringSlot,
  recordLocalCommit,
  type ReplicaState,
  type Slot,
  type Tombstone,
  type VersionedPeering,
  type VersionedVpc,
  type VpcSlot,
} from '../../../src/domain/replica.js';
import { type Peering, type PeeringPolicy, type PeeringStatus, PeeringStatuses, type Vpc } from '../../../src/domain/types.js';
import { holds } from '../../helpers/property.js';
import { arbHistory, fingerprint, runHistory, SIM_POLICY, syncAll, syncInto, violations } from '../../helpers/replica-sim.js';

const T0 = '2026-01-01T00:00:00.000Z';
/** Later than any simulated write, for the clocks of replicas that only receive. */
const LATE = Date.parse('2026-06-01T00:00:00.000Z');
const POLICY: PeeringPolicy = { pendingTtlSeconds: 3600, terminalRetentionSeconds: 86400, maxActivePerVpc: 2 };
const v = (wallMs: number, logical = 0, node = 'hv-1'): Hlc => ({ wallMs, logical, node });
const pcx = (n: number): string => `pcx-${n.toString(16).padStart(17, '0')}`;

const vpc = (id: string, cidrs: string[], at: Hlc, over: Partial<VersionedVpc> = {}): VersionedVpc => ({
  record: { id, tenantId: 't1', cidrs, bridge: `br-${id}`, createdAt: T0, updatedAt: T0 },
  version: at,
  incarnation: at,
  ...over,
});

const peering = (n: number, r: VersionedVpc, a: VersionedVpc, status: PeeringStatus, at: Hlc, incarnation = at): VersionedPeering => ({
  record: {
    id: pcx(n), tenantId: 't1', requesterVpcId: r.record.id, accepterVpcId: a.record.id, status,
    requestedBy: 'alice', createdAt: T0, updatedAt: T0, expiresAt: '2026-02-01T00:00:00.000Z',
  },
  version: at,
  incarnation,
  basis: { requesterCidrs: r.record.cidrs, accepterCidrs: a.record.cidrs },
});

const tomb = (kind: 'vpc' | 'peering', id: string, at: Hlc): Tombstone => ({ kind, id, version: at, deletedAt: T0 });

function replica(vpcs: VpcSlot[], peerings: PeeringSlot[]): ReplicaState {
  return {
    vpcs: new Map(vpcs.map((s) => ['record' in s ? s.record.id : s.id, s])),
    peerings: new Map(peerings.map((s) => ['record' in s ? s.record.id : s.id, s])),
  };
}

const status = (s: ReplicaState, id: string): string | undefined => {
  const slot = s.peerings.get(id);
  return slot === undefined ? undefined : 'record' in slot ? slot.record.status : 'tombstone';
};

const A = vpc('va', ['10.0.0.0/16'], v(1));
const B = vpc('vb', ['10.1.0.0/16'], v(1));
const C = vpc('vc', ['10.2.0.0/16'], v(1));
const C2 = vpc('vc2', ['10.2.128.0/24'], v(1)); // inside C

t.test('record merge: the issue\'s examples', (t) => {
  const pending = peering(1, A, B, 'pending-acceptance', v(10));
  const accepted = peering(1, A, B, 'active', v(20, 0, 'hv-1'), v(10));
  const rejected = peering(1, A, B, 'rejected', v(15, 0, 'hv-3'), v(10));
  const deleted = peering(1, A, B, 'deleted', v(12, 0, 'hv-2'), v(10));
  t.equal(mergeSlot(accepted, rejected), rejected, 'accept vs reject ends rejected, even when the accept is later');
  t.equal(mergeSlot(rejected, accepted), rejected, 'whatever the order');
  t.equal(mergeSlot(accepted, deleted), deleted, 'delete vs accept ends deleted');
  t.equal(mergeSlot(pending, accepted), accepted, 'a transition wins over the state it left');
  const rejectedLater = peering(1, A, B, 'rejected', v(16, 0, 'hv-3'), v(10));
  t.equal(mergeSlot(rejected, rejectedLater), rejectedLater, 'among terminal versions the later one wins');
  const sameTimeOtherNode = peering(1, A, B, 'deleted', v(15, 0, 'hv-4'), v(10));
  t.equal(mergeSlot(rejected, sameTimeOtherNode), sameTimeOtherNode, 'an exact version tie is broken by the node id');
  t.end();
});

t.test('record merge: tombstones end the life they deleted, not a later one', (t) => {
  const updatedLater = vpc('va', ['10.0.0.0/16'], v(30), { incarnation: v(1), record: { ...A.record, name: 'renamed' } });
  const deletedAt20 = tomb('vpc', 'va', v(20));
  t.equal(mergeSlot(updatedLater, deletedAt20), deletedAt20, 'an update of the deleted life, even written later on a partitioned host, stays deleted');
  const recreated = vpc('va', ['10.9.0.0/16'], v(25));
  t.equal(mergeSlot(deletedAt20, recreated), recreated, 'a VPC created again after the delete is a new life and wins');
  t.equal(mergeSlot(recreated, updatedLater), recreated, 'and the newer life wins over updates of the old one');
  const createdAtDelete = vpc('va', ['10.9.0.0/16'], v(20));
  t.equal(mergeSlot(createdAtDelete, deletedAt20), deletedAt20, 'at an exact tie the tombstone wins');
  const pActive = peering(1, A, B, 'active', v(50), v(10));
  const compacted = tomb('peering', pcx(1), v(40));
  t.equal(mergeSlot(pActive, compacted), compacted, 'a compacted peering is never revived by a version of its life');
  t.throws(() => mergeSlot(A, B), 'slots of two different ids do not merge');
  t.end();
});

t.test('applySlots keeps what wins and reports only that', (t) => {
  const base = replica([A], [peering(1, A, B, 'active', v(20), v(10))]);
  const { state, accepted } = applySlots(base, {
    vpcs: [B, vpc('va', ['10.0.0.0/16'], v(0))],
    peerings: [peering(1, A, B, 'pending-acceptance', v(10)), peering(1, A, B, 'rejected', v(15), v(10))],
  });
  t.same(accepted.vpcs, [B], 'the old version of va is dropped');
  t.same(accepted.peerings?.map((p) => 'record' in p && p.record.status), ['rejected']);
  t.equal(status(state, pcx(1)), 'rejected');
  t.equal(base.peerings.size, 1, 'the input state is not changed');
  t.equal(applySlots(state, { peerings: [...state.peerings.values()] }).accepted.peerings?.length, 0, 'receiving what is held accepts nothing');
  t.end();
});

t.test('repair: two live requests for one pair made on partitioned hosts', (t) => {
  const onHost1 = peering(1, A, B, 'pending-acceptance', v(10, 0, 'hv-1'));
  const onHost2 = peering(2, B, A, 'pending-acceptance', v(12, 0, 'hv-2'));
  const out = repairState(replica([A, B], [onHost2, onHost1]), POLICY);
  t.equal(status(out.state, pcx(1)), 'pending-acceptance', 'the earlier request keeps its place');
  t.equal(status(out.state, pcx(2)), 'failed');
  t.same(out.repairs, [{ peeringId: pcx(2), reason: 'DUPLICATE_PEERING', causeId: pcx(1) }]);

  const acceptedLater = peering(2, B, A, 'active', v(14, 0, 'hv-2'), v(12, 0, 'hv-2'));
  const out2 = repairState(replica([A, B], [onHost1, acceptedLater]), POLICY);
  t.equal(status(out2.state, pcx(2)), 'active', 'an active peering keeps its place over a pending one (it carries traffic)');
  t.same(out2.repairs, [{ peeringId: pcx(1), reason: 'DUPLICATE_PEERING', causeId: pcx(2) }]);
  const loser = out2.state.peerings.get(pcx(1)) as VersionedPeering;
  t.same(loser.version, v(14, 1, 'hv-2'), 'the repaired version follows the versions in conflict');
  t.match(loser.record.statusReason, /pcx-00000000000000002/);
  t.end();
});

t.test('repair: a peer-CIDR overlap and a limit created concurrently', (t) => {
  const ab = peering(1, A, C, 'active', v(10, 0, 'hv-1'));
  const ac2 = peering(2, A, C2, 'active', v(11, 0, 'hv-2'));
  const out = repairState(replica([A, C, C2], [ab, ac2]), POLICY);
  t.same(out.repairs, [{ peeringId: pcx(2), reason: 'PEER_CIDR_OVERLAP', causeId: pcx(1) }], 'va cannot route 10.2.128.0/24 to two peers');

  const D = vpc('vd', ['10.3.0.0/16'], v(1));
  const actives = [peering(1, A, B, 'active', v(10)), peering(2, A, C, 'active', v(11)), peering(3, A, D, 'active', v(12))];
  const out2 = repairState(replica([A, B, C, D], actives), POLICY);
  t.same(out2.repairs.map((r) => [r.peeringId, r.reason]), [[pcx(3), 'LIMIT_EXCEEDED']], 'the third active peering of va is one too many');
  const pendingOver = [...actives.slice(0, 2), peering(3, A, D, 'pending-acceptance', v(12))];
  t.same(repairState(replica([A, B, C, D], pendingOver), POLICY).repairs, [], 'a pending request never breaks the limit of active ones');
  t.end();
});

t.test('repair: a VPC deleted, re-created or changed on another host', (t) => {
  const p = peering(1, A, B, 'active', v(10));
  const gone = repairState(replica([tomb('vpc', 'va', v(12)), B], [p]), POLICY);
  t.same(gone.repairs, [{ peeringId: pcx(1), reason: 'VPC_NOT_FOUND', causeId: 'va' }]);
  const reborn = repairState(replica([vpc('va', ['10.0.0.0/16'], v(12)), B], [p]), POLICY);
  t.same(reborn.repairs.map((r) => r.reason), ['VPC_NOT_FOUND'], 'same id and CIDRs, but another VPC');
  const changed = vpc('va', ['10.5.0.0/16'], v(12), { incarnation: v(1) });
  t.same(repairState(replica([changed, B], [p]), POLICY).repairs.map((r) => r.reason), ['CIDR_LOCKED']);
  const renamed = vpc('va', ['10.0.0.0/16'], v(12), { incarnation: v(1), record: { ...A.record, name: 'n' } });
  t.same(repairState(replica([renamed, B], [p]), POLICY).repairs, [], 'a name change is no conflict');
  t.same(repairState(replica([B], [p]), POLICY).repairs, [], 'a VPC not arrived yet decides nothing');
  t.end();
});

t.test('repair: independent repairs write the identical record, and a repaired state stays repaired', (t) => {
  const s = replica([A, B, C, C2], [
    peering(1, A, B, 'pending-acceptance', v(10, 0, 'hv-1')),
    peering(2, A, B, 'active', v(13, 0, 'hv-2'), v(11, 0, 'hv-2')),
    peering(3, A, C, 'active', v(9, 0, 'hv-3')),
    peering(4, C2, A, 'pending-acceptance', v(12, 0, 'hv-1')),
  ]);
  const host1 = repairState(s, POLICY).state;
  const host2 = repairState(mergeReplicas(emptyReplica(), s), POLICY).state;
  t.equal(fingerprint(host1), fingerprint(host2));
  t.same(repairState(host1, POLICY).repairs, [], 'idempotent');
  t.equal(fingerprint(mergeReplicas(host1, host2)), fingerprint(host1), 'merging the two repairs changes nothing');
  t.same(violations(host1, POLICY), []);
  t.same(violations(s, POLICY).length > 0, true, 'the unrepaired state did break §3 (the checker sees it)');
  t.end();
});

t.test('recordLocalCommit: incarnations, basis and tombstones', (t) => {
  const now = new Date('2026-01-01T00:00:10.000Z');
  const vpcA: Vpc = A.record;
  const p: Peering = peering(1, A, B, 'pending-acceptance', v(3)).record;
  let s = recordLocalCommit(emptyReplica(), [{ op: 'vpc.put', vpc: vpcA }, { op: 'vpc.put', vpc: B.record }, { op: 'peering.put', peering: p }], v(3), now);
  s = recordLocalCommit(s, [{ op: 'peering.put', peering: { ...p, status: 'active' } }, { op: 'vpc.put', vpc: { ...vpcA, name: 'x' } }], v(4), now);
  const ps = s.peerings.get(pcx(1)) as VersionedPeering;
  t.same([ps.version, ps.incarnation, ps.basis], [v(4), v(3), { requesterCidrs: ['10.0.0.0/16'], accepterCidrs: ['10.1.0.0/16'] }]);
  t.same((s.vpcs.get('va') as VersionedVpc).incarnation, v(3), 'an update keeps the incarnation');
  s = recordLocalCommit(s, [{ op: 'peering.del', id: pcx(1) }, { op: 'vpc.del', id: 'va' }], v(5), now);
  t.same(s.vpcs.get('va'), { kind: 'vpc', id: 'va', version: v(5), deletedAt: now.toISOString() });
  t.same(s.peerings.get(pcx(1)), { kind: 'peering', id: pcx(1), version: v(5), deletedAt: now.toISOString() });
  s = recordLocalCommit(s, [{ op: 'vpc.put', vpc: vpcA }], v(6), now);
  t.same((s.vpcs.get('va') as VersionedVpc).incarnation, v(6), 'a VPC created after its tombstone starts a new life');
  t.throws(() => recordLocalCommit(s, [], { wallMs: -1, logical: 0, node: 'hv-1' }, now));
  t.end();
});

// Slots of one peering id, drawn from a small space so that ties on every key are frequent.
const arbHlcSmall = fc.record({
  wallMs: fc.integer({ min: 0, max: 4 }),
  logical: fc.integer({ min: 0, max: 1 }),
  node: fc.constantFrom('hv-1', 'hv-2'),
});
const arbPeeringSlot: fc.Arbitrary<PeeringSlot> = fc.oneof(
  { weight: 1, arbitrary: arbHlcSmall.map((at) => tomb('peering', pcx(1), at)) },
  {
    weight: 4,
    arbitrary: fc.record({ status: fc.constantFrom(...PeeringStatuses), at: arbHlcSmall, inc: arbHlcSmall, reason: fc.constantFrom(undefined, 'x', 'y') }).map(
      ({ status, at, inc, reason }): PeeringSlot => {
        const p = peering(1, A, B, status, at, inc);
        return reason === undefined ? p : { ...p, record: { ...p.record, statusReason: reason } };
      },
    ),
  },
);
const arbVpcSlot: fc.Arbitrary<VpcSlot> = fc.oneof(
  { weight: 1, arbitrary: arbHlcSmall.map((at) => tomb('vpc', 'va', at)) },
  { weight: 3, arbitrary: fc.record({ at: arbHlcSmall, inc: arbHlcSmall, cidrs: fc.constantFrom('10.0.0.0/16', '10.9.0.0/16') }).map(({ at, inc, cidrs }) => vpc('va', [cidrs], at, { incarnation: inc })) },
);

t.test('record merge laws (property)', (t) => {
  // One signature for both kinds, so that one loop checks both.
  const merge = mergeSlot as (a: Slot, b: Slot) => Slot;
  for (const [kind, arb] of [['peering', arbPeeringSlot], ['vpc', arbVpcSlot]] as const) {
    const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
    holds(t, `${kind}: idempotent`, fc.property(arb, (a) => same(merge(a, a), a)), 3_000);
    holds(t, `${kind}: commutative`, fc.property(arb, arb, (a, b) => same(merge(a, b), merge(b, a))), 5_000);
    holds(t, `${kind}: associative`, fc.property(arb, arb, arb, (a, b, c) => same(merge(merge(a, b), c), merge(a, merge(b, c)))), 5_000);
    holds(t, `${kind}: the result is one of the inputs, and compare is 0 only for equal content`, fc.property(arb, arb, (a, b) => {
      const m = merge(a, b);
      return (m === a || m === b) && (compareSlots(a, b) === 0) === (JSON.stringify(a) === JSON.stringify(b));
    }), 5_000);
  }
  holds(t, 'peering: within one life a terminal version beats every live one', fc.property(arbPeeringSlot, arbPeeringSlot, (a, b) => {
    if (!('record' in a) || !('record' in b) || JSON.stringify(a.incarnation) !== JSON.stringify(b.incarnation)) return true;
    const terminal = (s: PeeringSlot): boolean => 'record' in s && !['pending-acceptance', 'active'].includes(s.record.status);
    return terminal(a) === terminal(b) || terminal(mergeSlot(a, b));
  }), 3_000);
  t.end();
});

t.test('whole-state merge and repair over generated histories (property)', (t) => {
  // Three hosts act on their own replicas with occasional one-way syncs (partitions that come
  // and go), through the real domain operations; then everyone syncs with everyone.
  holds(t, 'hosts converge to identical states that satisfy §3; a host\'s own operations never need repair', fc.property(arbHistory(3, 40), (steps) => {
    const run = runHistory(steps, 3);
    syncAll(run.hosts);
    const first = fingerprint(run.hosts[0]!.state);
    return run.localRepairs === 0 && run.hosts.every((h) => fingerprint(h.state) === first && violations(h.state, SIM_POLICY).length === 0);
  }), 1_000);

  // Every version any host ever held, delivered one at a time to fresh replicas in an order of
  // their own, each repairing after every delivery; then they sync with each other.
  holds(t, 'any order of delivering the versions to any number of replicas gives identical states that satisfy §3', fc.property(
    arbHistory(3, 30),
    fc.integer({ min: 2, max: 4 }),
    fc.infiniteStream(fc.nat()),
    (steps, replicaCount, randomness) => {
      const run = runHistory(steps, 3);
      const all: ReplicaState[] = [];
      for (const snap of run.snapshots) {
        for (const s of snap.vpcs.values()) all.push(replica([s], []));
        for (const s of snap.peerings.values()) all.push(replica([], [s]));
      }
      const rand = randomness[Symbol.iterator]();
      const replicas = Array.from({ length: replicaCount }, (_, i) => ({ node: `r-${i}`, state: emptyReplica(), clock: new HlcClock(`r-${i}`, () => LATE) }));
      for (const r of replicas) {
        const order = [...all];
        for (let i = order.length - 1; i > 0; i--) {
          const j = (rand.next().value as number) % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        for (const one of order) syncInto(r, one, SIM_POLICY);
        if (violations(r.state, SIM_POLICY).length > 0) return false; // §3 holds at the end of each delivery
      }
      syncAll(replicas);
      const first = fingerprint(replicas[0]!.state);
      return replicas.every((r) => fingerprint(r.state) === first);
    },
  ), 300);

  // mergeAndRepair repairs only the part of the state a batch can affect (its connected
  // component): over any state a host holds, that is the whole-state definition exactly.
  holds(t, 'mergeAndRepair on a host\'s state equals applySlots then repairState of the whole merged state', fc.property(
    arbHistory(3, 30), fc.nat(), fc.nat(), fc.infiniteStream(fc.boolean()),
    (steps, i, j, picks) => {
      const { snapshots } = runHistory(steps, 3);
      if (snapshots.length === 0) return true;
      const base = snapshots[i % snapshots.length]!;
      const from = snapshots[j % snapshots.length]!;
      const pick = picks[Symbol.iterator]();
      const batch = {
        vpcs: [...from.vpcs.values()].filter(() => pick.next().value as boolean),
        peerings: [...from.peerings.values()].filter(() => pick.next().value as boolean),
      };
      const out = mergeAndRepair(base, batch, SIM_POLICY);
      const merged = applySlots(base, batch);
      const won = (merged.accepted.vpcs?.length ?? 0) + (merged.accepted.peerings?.length ?? 0);
      const whole = won === 0 ? { state: base, repairs: [] } : repairState(merged.state, SIM_POLICY);
      return (
        fingerprint(out.state) === fingerprint(whole.state) &&
        JSON.stringify(out.repairs) === JSON.stringify(whole.repairs) &&
        out.repaired.every((s) => JSON.stringify(s) === JSON.stringify(whole.state.peerings.get('record' in s ? s.record.id : s.id))) &&
        out.accepted.vpcs.length === (merged.accepted.vpcs?.length ?? 0)
      );
    },
  ), 1_000);
  holds(t, 'merging everything then repairing once gives one state whatever the order', fc.property(arbHistory(3, 30), fc.nat(), (steps, seed) => {
    const run = runHistory(steps, 3);
    const states = run.snapshots;
    const rotated = [...states.slice(seed % Math.max(1, states.length)), ...states.slice(0, seed % Math.max(1, states.length))].reverse();
    const a = repairState(states.reduce(mergeReplicas, emptyReplica()), SIM_POLICY).state;
    const b = repairState(rotated.reduce(mergeReplicas, emptyReplica()), SIM_POLICY).state;
    return fingerprint(a) === fingerprint(b) && violations(a, SIM_POLICY).length === 0;
  }), 1_000);
  t.end();
});
