// Store.write, the one write path, and the sweeper that uses it.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { RpcError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { openStore } from '../../../src/store/open-store.js';
import type { Store } from '../../../src/store/store.js';
import { createSweeper } from '../../../src/store/sweeper.js';
import { peering, peeringId, putVpc } from '../../helpers/store-records.js';

async function open(t: Test, beforeSync?: () => void, physicalNow?: () => number): Promise<Store> {
  const { store } = await openStore({ nodeId: 'hv-01', path: join(t.testdir(), 'state.json'), logger: silentLogger(), beforeSync, physicalNow });
  t.teardown(() => store.close());
  return store;
}

t.test('write computes against the staged view, commits in the same tick, resolves with the result once durable', async (t) => {
  const store = await open(t);
  const seen: string[] = [];
  const first = store.write((view) => {
    seen.push(`first sees a: ${String(view.getVpc('a') !== undefined)}`);
    return { mutations: [putVpc('a')], result: 'one' };
  });
  // Issued in the same tick: it must see the first write's VPC, though it is not durable yet.
  const second = store.write((view) => {
    seen.push(`second sees a: ${String(view.getVpc('a') !== undefined)}`);
    return { mutations: [putVpc('b')], result: 'two' };
  });
  t.notOk(store.view.getVpc('a'), 'not visible to readers before it is durable');
  t.same(await Promise.all([first, second]), ['one', 'two']);
  t.same(seen, ['first sees a: false', 'second sees a: true']);
  t.ok(store.view.getVpc('a') && store.view.getVpc('b'), 'both durable');
});

t.test('an error returned with mutations is thrown after they are durable; a throwing compute commits nothing', async (t) => {
  const store = await open(t);
  const refusal = new RpcError('VPC_EXISTS', 'refused, but the state changed');
  await t.rejects(store.write(() => ({ mutations: [putVpc('a')], result: null, error: refusal })), refusal);
  t.ok(store.view.getVpc('a'), 'the mutations were made durable first');
  await t.rejects(store.write(() => { throw new Error('bug in compute'); }), /bug in compute/);
  t.equal(store.stats().seq, 1, 'nothing committed by the throwing compute');
});

t.test('the sweeper writes through the store: expiry, compaction to a tombstone, purge after the retention, timer stop', async (t) => {
  let now = new Date('2025-02-01T00:00:00.000Z');
  // The store's clock stamps the tombstone's deletedAt: the same clock as the sweep's.
  const store = await open(t, undefined, () => now.getTime());
  const old = { ...peering(2), status: 'rejected' as const, statusReason: 'no', updatedAt: '2025-01-01T00:00:00.000Z' };
  await store.commit([putVpc('a'), putVpc('b'), { op: 'peering.put', peering: peering(1) }, { op: 'peering.put', peering: old }]);
  const policy = { pendingTtlSeconds: 60, terminalRetentionSeconds: 3600, maxActivePerVpc: 10 };
  const sweeper = createSweeper({ store, logger: silentLogger(), now: () => now, policy: () => policy, tombstoneRetentionSeconds: () => 7200 });
  await sweeper.runOnce();
  t.equal(store.view.getPeering(peeringId(1))?.status, 'expired', 'the overdue request expired');
  t.notOk(store.view.getPeering(peeringId(2)), 'the old terminal peering was compacted');
  t.ok(store.replica.peerings.has(peeringId(2)), 'leaving a tombstone');
  now = new Date(now.getTime() + 7_200_000);
  await sweeper.runOnce();
  t.ok(store.replica.peerings.has(peeringId(2)), 'kept for the whole retention');
  now = new Date(now.getTime() + 1);
  await sweeper.runOnce();
  t.notOk(store.replica.peerings.has(peeringId(2)), 'purged once older than gossip.tombstoneRetentionSeconds');
  t.notOk(sweeper.scheduled);
  sweeper.schedule(10_000);
  t.ok(sweeper.scheduled);
  sweeper.stop();
  t.notOk(sweeper.scheduled);
});

t.test('a sweep whose commit fails is logged, never thrown', async (t) => {
  let failing = false;
  const store = await open(t, () => {
    if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  });
  await store.commit([putVpc('a'), putVpc('b'), { op: 'peering.put', peering: peering(1) }]);
  const errors: string[] = [];
  const logger = { ...silentLogger(), error: (msg: string) => errors.push(msg) };
  const sweeper = createSweeper({
    store, logger, now: () => new Date('2025-02-01T00:00:00.000Z'),
    policy: () => ({ pendingTtlSeconds: 60, terminalRetentionSeconds: 3600, maxActivePerVpc: 10 }),
    tombstoneRetentionSeconds: () => 7200,
  });
  failing = true;
  await sweeper.runOnce();
  t.same(errors, ['sweep failed']);
  t.equal(store.view.getPeering(peeringId(1))?.status, 'pending-acceptance', 'nothing of the failed sweep is visible');
});

t.test('listeners hear each commit with its seq and origin: local by default, a node id for a received change', async (t) => {
  const store = await open(t);
  const heard: { ids: string[]; seq: number; origin: string }[] = [];
  store.onCommit((mutations, { seq, origin }) => heard.push({ ids: mutations.map((m) => (m.op === 'vpc.put' ? m.vpc.id : '?')), seq, origin }));
  await Promise.all([
    store.write(() => ({ mutations: [putVpc('a')], result: null })),
    store.write(() => ({ mutations: [putVpc('b')], result: null }), { origin: 'hv-02' }),
    store.commit([putVpc('c')]),
    store.write(() => ({ mutations: [], result: null }), { origin: 'hv-03' }),
  ]);
  t.same(heard, [
    { ids: ['a'], seq: 1, origin: 'local' },
    { ids: ['b'], seq: 2, origin: 'hv-02' },
    { ids: ['c'], seq: 3, origin: 'local' },
  ], 'one call per non-empty commit, in seq order');
});
