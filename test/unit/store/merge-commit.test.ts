// Merge commits (gossip's writes, SPEC §8): received slots are stored under their own versions,
// survive a reopen and a compaction exactly, move this node's clock past them, and a bad slot or
// one from too far in the future is refused whole.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compareHlc, type Hlc } from '../../../src/domain/hlc.js';
import type { PeeringSlot, ReplicaState, VpcSlot } from '../../../src/domain/replica.js';
import { silentLogger } from '../../../src/log/logger.js';
import { openStore } from '../../../src/store/open-store.js';
import type { Store } from '../../../src/store/store.js';
import { peering, peeringId, putVpc, vpc } from '../../helpers/store-records.js';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const remote = (ms: number, logical = 0): Hlc => ({ wallMs: ms, logical, node: 'hv-02' });

function setup(t: Test) {
  const path = join(t.testdir(), 'state.json');
  const stores: Store[] = [];
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  return async (compactAfterBytes?: number) => {
    const { store } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), physicalNow: () => NOW, ...(compactAfterBytes ? { compactAfterBytes } : {}) });
    stores.push(store);
    return store;
  };
}

const slotsOf = (r: ReplicaState) => ({ vpcs: [...r.vpcs.entries()].sort(), peerings: [...r.peerings.entries()].sort() });

const vpcSlot = (id: string, at: Hlc): VpcSlot => ({ record: vpc(id), version: at, incarnation: at });
const peeringSlot = (n: number, at: Hlc): PeeringSlot => ({
  record: peering(n), version: at, incarnation: at, basis: { requesterCidrs: ['10.0.0.0/16'], accepterCidrs: ['10.0.0.0/16'] },
});

t.test('a merge keeps each slot under its version, through listeners, a reopen and a compaction', async (t) => {
  const open = setup(t);
  const store = await open();
  const heard: unknown[] = [];
  store.onCommit((mutations, info) => heard.push({ ops: mutations.map((m) => m.op), origin: info.origin }));
  await store.commit([putVpc('mine')]);
  const v1 = remote(NOW - 5000, 3);
  const tomb = { kind: 'peering' as const, id: peeringId(9), version: remote(NOW - 4000), deletedAt: '2025-12-31T23:59:56.000Z' };
  await store.commit({ slots: { vpcs: [vpcSlot('a', v1), vpcSlot('b', v1)], peerings: [peeringSlot(1, remote(NOW - 4500)), tomb] } }, { origin: 'hv-02' });
  t.same(heard[1], { ops: ['vpc.put', 'vpc.put', 'peering.put', 'peering.del'], origin: 'hv-02' });
  t.same(store.replica.vpcs.get('a'), vpcSlot('a', v1), 'stored as received, not restamped');
  t.same(store.replica.peerings.get(peeringId(9)), tomb, 'a received tombstone is kept');
  t.ok(store.view.getPeering(peeringId(1)), 'the plain view shows the merged record');

  // A received version ahead of our clock: the next local write still orders after it.
  const ahead = remote(NOW + 30_000, 7);
  await store.commit({ slots: { vpcs: [vpcSlot('c', ahead)] } }, { origin: 'hv-02' });
  await store.commit([putVpc('later')]);
  t.ok(compareHlc(store.replica.vpcs.get('later')!.version, ahead) > 0, 'HLC receive: local version after the received one');

  const before = slotsOf(store.replica);
  await store.close();
  const again = await open();
  t.same(slotsOf(again.replica), before, 'replayed from the journal exactly');
  await again.close();
  const compacted = await open(1);
  await compacted.commit([putVpc('x')]); // past 1 byte: snapshot written
  await compacted.close();
  const third = await open();
  t.ok(third.stats().compactions === 0 && third.stats().recovery.snapshotRecords > 0, 'loaded from a snapshot');
  const loaded = slotsOf(third.replica);
  t.same({ ...loaded, vpcs: loaded.vpcs.filter(([id]) => id !== 'x') }, before, 'the snapshot holds them too');
});

t.test('a bad slot or one too far ahead is refused whole', async (t) => {
  const open = setup(t);
  const store = await open();
  const good = vpcSlot('a', remote(NOW));
  const badRecord = { ...vpcSlot('b', remote(NOW)), record: { ...vpc('b'), cidrs: ['10.0.0.1/8'] } };
  await t.rejects(store.commit({ slots: { vpcs: [good, badRecord] } }, { origin: 'hv-02' }), /invalid slot.*cidrs/);
  await t.rejects(store.commit({ slots: { vpcs: [good, vpcSlot('c', remote(NOW + 3_600_000))] } }, { origin: 'hv-02' }), /ahead of this clock/);
  t.equal(store.view.vpcCount, 0, 'nothing of either was applied');
  t.equal(store.stats().seq, 0);
});

t.test('write(): a compute returns slots, computed against the staged replica', async (t) => {
  const open = setup(t);
  const store = await open();
  const first = store.write((_view, replica) => ({ mutations: [], slots: { vpcs: [vpcSlot('a', remote(NOW))] }, result: replica.vpcs.size }), { origin: 'hv-02' });
  const second = store.write((_view, replica) => ({ mutations: [], slots: { vpcs: [] }, result: replica.vpcs.has('a') }), { origin: 'hv-02' });
  t.equal(await first, 0);
  t.equal(await second, true, 'the second compute saw the first, not yet durable');
  await t.rejects(store.write(() => ({ mutations: [putVpc('z')], slots: { vpcs: [] }, result: 1 })), /not both/);
});
