// Versioned records (SPEC §8): every commit of the store stamps its records with one fresh HLC
// of this node; deletions leave tombstones; a restart resumes the clock after what it holds.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compareHlc, type Hlc } from '../../../src/domain/hlc.js';
import { isTombstone, type Slot, type Tombstone } from '../../../src/domain/replica.js';
import { silentLogger } from '../../../src/log/logger.js';
import { openStore } from '../../../src/store/open-store.js';
import type { Store } from '../../../src/store/store.js';
import { peering, peeringId, putPeering, putVpc, vpc } from '../../helpers/store-records.js';

async function open(t: Test, path: string, physicalNow: () => number): Promise<Store> {
  const { store } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), physicalNow });
  t.teardown(() => store.close());
  return store;
}

function live<S extends Slot>(s: S | undefined): Exclude<S, Tombstone> | undefined {
  return s && !isTombstone(s) ? (s as Exclude<S, Tombstone>) : undefined;
}

t.test('each commit gets one fresh version of this node; an update keeps the incarnation, a peering its basis', async (t) => {
  const ms = 1_000_000;
  const store = await open(t, join(t.testdir(), 'state.json'), () => ms);
  await store.commit([putVpc('a'), putVpc('b')]);
  const a1 = live(store.replica.vpcs.get('a'))!;
  t.same(a1.version, { wallMs: 1_000_000, logical: 0, node: 'hv-01' });
  t.same(store.replica.vpcs.get('b')?.version, a1.version, 'one version for the whole commit');
  t.same(a1.incarnation, a1.version, 'created by this commit');
  // The same millisecond: the logical counter orders the next commit.
  await store.commit([{ op: 'vpc.put', vpc: { ...vpc('a'), name: 'renamed' } }, putPeering(1)]);
  const a2 = live(store.replica.vpcs.get('a'))!;
  t.same(a2.version, { wallMs: 1_000_000, logical: 1, node: 'hv-01' });
  t.same(a2.incarnation, a1.version, 'an update keeps the incarnation');
  t.same(live(store.replica.peerings.get(peeringId(1)))?.basis, { requesterCidrs: ['10.0.0.0/16'], accepterCidrs: ['10.0.0.0/16'] });
  t.equal(store.view.getVpc('a')?.name, 'renamed', 'the records themselves carry no version (the API shows them as before)');
  t.notOk('version' in store.view.getVpc('a')!);
});

t.test('a deletion leaves a tombstone with its version and deletedAt; the purge forgets old ones only', async (t) => {
  let ms = Date.parse('2025-03-01T00:00:00.000Z');
  const store = await open(t, join(t.testdir(), 'state.json'), () => ms);
  await store.commit([putVpc('a'), putVpc('b'), { op: 'peering.put', peering: { ...peering(1), status: 'rejected' } }]);
  ms += 10;
  await store.commit([{ op: 'peering.del', id: peeringId(1) }]);
  ms += 86_400_000;
  await store.commit([{ op: 'vpc.del', id: 'b' }]);
  t.same(store.replica.peerings.get(peeringId(1)), {
    kind: 'peering', id: peeringId(1), version: { wallMs: Date.parse('2025-03-01T00:00:00.010Z'), logical: 0, node: 'hv-01' }, deletedAt: '2025-03-01T00:00:00.010Z',
  });
  t.ok(isTombstone(store.replica.vpcs.get('b')!));
  t.notOk(store.view.getVpc('b'), 'gone from the view');
  t.equal(store.purgeTombstones(new Date('2025-03-01T12:00:00.000Z')), 1, 'only the tombstone older than the cut-off');
  t.notOk(store.replica.peerings.has(peeringId(1)));
  t.ok(store.replica.vpcs.has('b'));
});

t.test('versions are kept across a restart (journal format 2) and never go backwards, even when the wall clock stepped back', async (t) => {
  const path = join(t.testdir(), 'state.json');
  const first = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), physicalNow: () => Date.parse('2025-06-01T00:00:00.000Z') });
  await first.store.commit([putVpc('a')]);
  const before: Hlc = first.store.replica.vpcs.get('a')!.version;
  await first.store.close();
  const reread = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), physicalNow: () => 0 });
  t.same(reread.store.replica.vpcs.get('a')?.version, before, 'the version is read back from the journal');
  await reread.store.close();
  // Back in time by a day: the next version must still follow the newest loaded one.
  const store = await open(t, path, () => Date.parse('2025-05-31T00:00:00.000Z'));
  await store.commit([putVpc('b')]);
  const after = store.replica.vpcs.get('b')!.version;
  t.ok(compareHlc(after, before) > 0, `${JSON.stringify(after)} > ${JSON.stringify(before)}`);
});
