// Two real daemon processes replicating over real WebSocket (SPEC §8), each link through a
// forwarder the test cuts and heals: a change made on one host reaches the other; conflicting
// transitions made on both sides of a partition settle the same way on both (reject wins over
// accept, fail closed); a host restarted with an empty journal catches up by anti-entropy.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { type DaemonHandle, startGossipDaemon } from '../helpers/daemon.js';
import { gossipPair } from '../helpers/gossip-pair.js';
import { until } from '../helpers/poll.js';

type Item = Record<string, unknown>;
const list = async (c: RpcClient, method: string): Promise<Item[]> => ((await c.call(method, {})) as { items: Item[] }).items;
const same = async (a: RpcClient, b: RpcClient): Promise<boolean> =>
  JSON.stringify([await list(a, 'vpc.list'), await list(a, 'peering.list')]) === JSON.stringify([await list(b, 'vpc.list'), await list(b, 'peering.list')]);

t.test('two daemons: replicate, partition, settle, catch up', async (t) => {
  const dir = t.testdir();
  const { secretFile, toA, toB } = await gossipPair(t, dir);
  const gossip = (peer: number) => ({ peers: [`ws://127.0.0.1:${peer}`], secretFile, antiEntropyIntervalMs: 200 });
  const a = await startGossipDaemon(t, { config: { nodeId: 'hv-a', gossip: gossip(toB.port) } });
  toA.setTarget(a.gossipPort);
  const b = await startGossipDaemon(t, { config: { nodeId: 'hv-b', gossip: gossip(toA.port) } });
  toB.setTarget(b.gossipPort);
  const [ca, cb] = [await a.admin(), await b.admin()];

  const connected = await until(async () => ((await cb.call('status', {})) as { gossip: { totals: { connected: number } } }).gossip.totals.connected === 1, 10_000);
  t.ok(connected.ok, `linked in ${connected.ms} ms`);
  const linkUp = (d: DaemonHandle): Record<string, unknown> | undefined =>
    d.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'gossip link up');
  t.match(linkUp(b), { nodeId: 'hv-b', peerNodeId: 'hv-a' }, 'a log line names the daemon as nodeId, the peer as peerNodeId');

  await ca.call('vpc.create', { id: 'v1', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br1' });
  await ca.call('vpc.create', { id: 'v2', tenantId: 't1', cidrs: ['10.2.0.0/16'], bridge: 'br2' });
  const p = (await ca.call('peering.create', { requesterVpcId: 'v1', accepterVpcId: 'v2' })) as { id: string };
  const seen = await until(async () => (await list(cb, 'peering.list')).length === 1, 1000);
  t.ok(seen.ok, `the request is visible on the other host after ${seen.ms} ms (< 1 s)`);
  type Host = { nodeId: string; state: string };
  // hv-a's report may reach hv-b before the peering does (50 ms after the commit): `unknown` until then.
  const reported = await until(async () => {
    const { hosts } = (await cb.call('peering.get', { id: p.id })) as { hosts: Host[] };
    return hosts.length === 2 && hosts.every((h) => h.state !== 'unknown');
  }, 2000);
  t.ok(reported.ok, `the other host's data-plane report arrived in ${reported.ms} ms`);
  t.same(
    ((await cb.call('peering.get', { id: p.id })) as { hosts: Host[] }).hosts.map((h) => [h.nodeId, h.state]),
    [['hv-b', 'disabled'], ['hv-a', 'disabled']],
    'peering.get hosts: this host first, then each host as it reported (both in no-op mode)',
  );

  // Partition: accept on one side, reject on the other.
  toA.cut();
  toB.cut();
  const down = await until(async () => ((await ca.call('status', {})) as { gossip: { totals: { connected: number } } }).gossip.totals.connected === 0, 10_000);
  t.ok(down.ok, 'the link is down');
  await ca.call('peering.accept', { id: p.id });
  await cb.call('peering.reject', { id: p.id });
  await cb.call('vpc.create', { id: 'v3', tenantId: 't1', cidrs: ['10.3.0.0/16'], bridge: 'br3' });
  // One id created on both sides: one create wins everywhere, and the losing host says so.
  await ca.call('vpc.create', { id: 'v9', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br9a' });
  await cb.call('vpc.create', { id: 'v9', tenantId: 't2', cidrs: ['10.99.0.0/16'], bridge: 'br9b' });
  toA.heal();
  toB.heal();
  const healed = await until(() => same(ca, cb), 15_000, 50);
  t.ok(healed.ok, `identical records on both after the heal, in ${healed.ms} ms`);
  for (const c of [ca, cb]) {
    const got = (await c.call('peering.get', { id: p.id })) as { status: string };
    t.equal(got.status, 'rejected', 'reject wins over a concurrent accept, on both hosts');
    t.ok((await list(c, 'vpc.list')).some((v) => v.id === 'v3'), 'the other side\'s change arrived');
  }
  const lostOn = [a, b].filter((d) => /"msg":"gossip: a VPC created on two hosts under one id was settled[^\n]*"vpcId":"v9"/.test(d.logs()));
  t.equal(lostOn.length, 1, 'the host whose v9 create lost logged it, with both creates');
  // a had accepted (active, its flows programmed): it says why the peering ended, and who ended it.
  t.match(a.logs(), new RegExp(`"msg":"gossip: a peering active here was ended by a change from another host"[^\\n]*"peeringId":"${p.id}","status":"rejected","statusReason":"Rejected by [^"]+","writer":"hv-b"`), 'the host that accepted logs the reject that overturned it');
  t.notMatch(b.logs(), /a peering active here was ended/, 'the rejecting host had nothing active to end');

  // A host whose journal is lost catches up from its peer (restarted on its gossip port, which toB forwards to).
  await b.kill();
  for (const f of ['state.json', 'state.json.journal']) rmSync(join(b.dir, f), { force: true });
  await b.restart();
  const cb2 = await b.admin();
  const caught = await until(() => same(ca, cb2), 15_000, 50);
  t.ok(caught.ok, `the emptied host caught up in ${caught.ms} ms`);
});
