// A host away longer than gossip.tombstoneRetentionSeconds (SPEC §8, docs/GOSSIP.md "Tombstone
// retention and long partitions"), with two real daemons whose link runs through forwarders the
// test cuts: while they are apart one deletes a record and, after the retention, forgets its
// tombstone; the other still holds the record. On heal the one that was away must not push it
// back: it ends it (resync), keeps and sends what it created while away, and both end identical.
// The retention cannot be shorter than 60 s (the schema's floor), so this test waits that long.
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startGossipDaemon } from '../helpers/daemon.js';
import { gossipPair } from '../helpers/gossip-pair.js';
import { until } from '../helpers/poll.js';

const RETENTION_S = 60;
type Gossip = { resyncing: boolean; lastContactAt: string | null; totals: { connected: number } };
const gossipOf = async (c: RpcClient): Promise<Gossip> => ((await c.call('status', {})) as { gossip: Gossip }).gossip;
const vpcIds = async (c: RpcClient): Promise<string[]> => ((await c.call('vpc.list', {})) as { items: { id: string }[] }).items.map((v) => v.id).sort();

t.test('a host away longer than the tombstone retention resyncs instead of resurrecting what was deleted', async (t) => {
  const dir = t.testdir();
  const { secretFile, toA, toB } = await gossipPair(t, dir);
  const config = (nodeId: string, peer: number) => ({
    nodeId,
    gossip: { peers: [`ws://127.0.0.1:${peer}`], secretFile, antiEntropyIntervalMs: 200, tombstoneRetentionSeconds: RETENTION_S },
    peering: { sweepIntervalMs: 500 },
  });
  const a = await startGossipDaemon(t, { config: config('hv-a', toB.port) });
  toA.setTarget(a.gossipPort);
  const b = await startGossipDaemon(t, { config: config('hv-b', toA.port) });
  toB.setTarget(b.gossipPort);
  let [ca, cb] = [await a.admin(), await b.admin()];
  for (const [id, n] of [['v1', 1], ['v2', 2], ['v3', 3]] as const) {
    await ca.call('vpc.create', { id, tenantId: 't1', cidrs: [`10.${n}.0.0/16`], bridge: `br${n}` });
  }
  t.ok((await until(async () => (await vpcIds(cb)).length === 3, 10_000)).ok, 'replicated');
  // A round must end after b holds v1..v3: b takes a record created after its last contact for one
  // made while away, and keeps it. A mark from the link's first round only (before the creates
  // arrived) left v1 resurrected when the daemons started a little sooner than the creates.
  const heldAt = Date.now();
  const marked = await until(async () => Date.parse((await gossipOf(cb)).lastContactAt ?? '') > heldAt, 10_000);
  t.ok(marked.ok, `b marked its contact after holding them (${marked.ms} ms)`);

  toA.cut();
  toB.cut();
  t.ok((await until(async () => (await gossipOf(ca)).totals.connected === 0 && (await gossipOf(cb)).totals.connected === 0, 10_000)).ok, 'apart');
  await ca.call('vpc.delete', { id: 'v1' });
  await cb.call('vpc.create', { id: 'v9', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br9' });

  const purged = await until(async () => a.logs().includes('"purgedTombstones":1'), (RETENTION_S + 20) * 1000, 250);
  t.ok(purged.ok, `a forgot the tombstone of v1 after the retention (${purged.ms} ms)`);
  // The socket closed the idle connections meanwhile (socket.idleTimeoutMs).
  [ca, cb] = [await a.admin(), await b.admin()];
  const away = await gossipOf(cb);
  t.equal(away.resyncing, true, 'b knows it was away longer than the retention');

  toA.heal();
  toB.heal();
  // After a minute apart both dialers' backoff is at its 30 s ceiling (full jitter): the next dial
  // of either may come up to 30 s after the heal, so the deadline is past that, not a guess.
  const healed = await until(async () => JSON.stringify(await vpcIds(ca)) === JSON.stringify(await vpcIds(cb)) && !(await gossipOf(cb)).resyncing, 35_000, 100);
  t.ok(healed.ok, `identical again ${healed.ms} ms after the heal, and b is no longer resyncing`);
  t.same(await vpcIds(ca), ['v2', 'v3', 'v9'], 'v1 stays deleted on a (not resurrected); what b created while away arrived');
  t.same(await vpcIds(cb), ['v2', 'v3', 'v9'], 'b ended v1 (the peer deleted it while b was away)');
  t.match(b.logs(), /records it held that the peer has deleted were ended \(resync\)/, 'the resync is logged on b');
  t.match(b.logs(), /resync done: in sync with a peer again/);
});
