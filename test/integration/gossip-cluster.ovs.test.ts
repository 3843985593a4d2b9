// Many hypervisors, one truth (issue 10, SPEC §8): three real daemons that gossip, each with a
// private Open vSwitch as its data plane, every link through a forwarder that can cut a host off
// (test/helpers/cluster.ts). Every VPC bridge has one name on every host, with an instance on it,
// so each host's flows and pings show what that host's daemon made of the replicated records.
// The flows are read from each sandbox with ovs-ofctl, never from the daemons.
//
// (a) a request made on host 1 reaches 2 and 3 within a second; accepted on 2, it is programmed
//     on all three OVS and the instances ping on each; deleted on 1, it ends `deleted` and its
//     flows and pings go everywhere.
// (b) host 3 cut off: accept on 1 vs reject on 3 of one request, one VPC pair requested on both
//     sides, other changes on both; healed: identical records, the reject won (terminal over
//     active, docs/GOSSIP.md), one of the two requests `failed` with a reason, SPEC §3 holds on
//     every host, and the flows host 1 (and 2) installed while cut off are gone.
import t from 'tap';
import type { Peering, Vpc } from '../../src/domain/types.js';
import type { RpcClient } from '../../src/rpc/client.js';
import { type ClusterNode, records, ruleViolations, startCluster } from '../helpers/cluster.js';
import type { Instance, OvsSandbox } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

/** `ovs.cookie`'s default prefix (SPEC §7): selects every flow of ours. */
const OUR_COOKIES = 'cookie=0x5ee0000000000000/0xffff000000000000';

interface Host {
  nodeId: string;
  state: string;
  flows: number;
}
type PeeringView = Peering & { dataplane: { state: string; flows: number }; hosts: Host[] };

/** One test VPC: its id, bridge (the same name on every host), CIDR and instance address. */
interface VpcDef {
  readonly id: string;
  readonly bridge: string;
  readonly cidr: string;
  readonly addr: string;
}
const vpcDef = (letter: string, n: number): VpcDef => ({ id: `vpc-${letter}`, bridge: `br${letter}`, cidr: `10.${n}.0.0/16`, addr: `10.${n}.0.2` });
const A = vpcDef('a', 1);
const B = vpcDef('b', 2);
const C = vpcDef('c', 3);
const D = vpcDef('d', 4);
const E = vpcDef('e', 5);
const F = vpcDef('f', 6);

const call = <T>(rpc: RpcClient, method: string, params: Record<string, unknown> = {}): Promise<T> => rpc.call(method, params) as Promise<T>;
const sandbox = (n: ClusterNode): OvsSandbox => {
  if (n.ovs === null) throw new Error(`host ${n.index} has no OVS`);
  return n.ovs;
};

/** A daemon's JSON log lines, parsed. */
function logLines(n: ClusterNode): Record<string, unknown>[] {
  return n.daemon.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Our flows on a bridge of a host's OVS, as ovs-ofctl prints them, without the canary (table 250). */
async function ourFlows(n: ClusterNode, bridge: string): Promise<string[]> {
  const out = await sandbox(n).ofctl('dump-flows', bridge, OUR_COOKIES, '--no-stats', '--no-names');
  return out.split('\n').filter((l) => l.includes('cookie=') && !l.includes('table=250'));
}

/** Our flows on both bridges of a pair of VPCs, on one host. */
async function pairFlows(n: ClusterNode, x: VpcDef, y: VpcDef): Promise<number> {
  return (await ourFlows(n, x.bridge)).length + (await ourFlows(n, y.bridge)).length;
}

t.test('three hosts, each with its own OVS: one truth', async (t) => {
  const cluster = await startCluster(t, { size: 3, ovs: true });
  const { nodes } = cluster;
  const [h1, h2, h3] = [cluster.node(1), cluster.node(2), cluster.node(3)];
  const everywhere = <T>(fn: (n: ClusterNode) => Promise<T>): Promise<T[]> => Promise.all(nodes.map(fn));

  // A and B on every host, with an instance each; C and D on every host, instances on host 1 only
  // (the host that programs C–D while cut off); E and F carry no bridge anywhere (records only).
  const instances = new Map<string, Instance>();
  await everywhere(async (n) => {
    const sb = sandbox(n);
    for (const v of [A, B, C, D]) await sb.addBridge(v.bridge, { exact: true });
    const pairs: [VpcDef, VpcDef][] = n.index === 1 ? [[A, B], [B, A], [C, D], [D, C]] : [[A, B], [B, A]];
    for (const [v, peer] of pairs) {
      instances.set(`${n.index}${v.id}`, await sb.addInstance(v.bridge, `i${v.id.slice(4)}`, { v4: `${v.addr}/16`, routes: [peer.cidr] }));
    }
  });
  const inst = (n: ClusterNode, v: VpcDef): Instance => {
    const i = instances.get(`${n.index}${v.id}`);
    if (i === undefined) throw new Error(`no instance of ${v.id} on host ${n.index}`);
    return i;
  };
  /** Pings from `x`'s instance to `y`'s on host `n`, both ways; with `pass`, each given a deadline. */
  const pings = async (n: ClusterNode, x: VpcDef, y: VpcDef, pass: boolean): Promise<boolean[]> => {
    const o = pass ? { deadlineS: 5 } : {};
    return Promise.all([sandbox(n).ping(inst(n, x), y.addr, o), sandbox(n).ping(inst(n, y), x.addr, o)]);
  };

  const linked = await until(cluster.linked, 15_000, 50);
  t.ok(linked.ok, `all three hosts linked in ${linked.ms} ms`);

  for (const v of [A, B, C, D, E, F]) await call(h1.rpc, 'vpc.create', { id: v.id, tenantId: 't1', cidrs: [v.cidr], bridge: v.bridge });
  const vpcsHere = await until(async () => (await everywhere(async (n) => (await records(n.rpc)).vpcs.length === 6)).every(Boolean), 5000);
  t.ok(vpcsHere.ok, `the six VPCs made on host 1 are on every host after ${vpcsHere.ms} ms`);

  t.test('(a) create on 1, accept on 2, delete on 1: every host follows, flows and pings included', async (t) => {
    t.same(await everywhere((n) => pings(n, A, B, false)), [[false, false], [false, false], [false, false]], 'A and B are isolated on every host before any peering');

    const created = await call<Peering>(h1.rpc, 'peering.create', { requesterVpcId: A.id, accepterVpcId: B.id });
    const seenOn = await Promise.all(
      [h2, h3].map((n) => until(async () => (await call<{ items: Peering[] }>(n.rpc, 'peering.list')).items.some((p) => p.id === created.id), 1000, 5)),
    );
    for (const [i, s] of seenOn.entries()) {
      t.comment(`request made on hv-1 visible on hv-${i + 2} after ${s.ms} ms`);
      t.ok(s.ok, `the request is on hv-${i + 2} within 1 s (${s.ms} ms)`);
    }
    t.same(await everywhere((n) => pairFlows(n, A, B)), [0, 0, 0], 'nothing programmed anywhere while pending');

    await call(h2.rpc, 'peering.accept', { id: created.id });
    const programmed = await everywhere((n) => until(async () => (await pairFlows(n, A, B)) > 0, 5000, 5));
    t.comment(`accept on hv-2 → its flows on each host's OVS: ${programmed.map((p, i) => `hv-${i + 1} ${p.ms} ms`).join(', ')}`);
    t.ok(programmed.every((p) => p.ok), 'accepted on hv-2: its flows are on every host\'s OVS');
    const counts = await everywhere((n) => pairFlows(n, A, B));
    t.ok(counts.every((c) => c === counts[0]), `the same number of flows on every host (${counts.join(', ')})`);
    const ports = await everywhere(async (n) => (await sandbox(n).vsctl('list-ports', A.bridge)).split('\n').filter((p) => /^px[0-9a-f]{12}r$/.test(p)));
    t.same(ports.map((p) => p.length), [1, 1, 1], 'one patch port of ours on A on every host');
    t.same(await everywhere((n) => pings(n, A, B, true)), [[true, true], [true, true], [true, true]], 'A and B ping both ways on every host');

    const allProgrammed = await until(async () => {
      const { hosts } = await call<PeeringView>(h3.rpc, 'peering.get', { id: created.id });
      return hosts.length === 3 && hosts.every((h) => h.state === 'programmed');
    }, 5000, 20);
    t.ok(allProgrammed.ok, `peering.get on hv-3 shows it programmed on all three hosts after ${allProgrammed.ms} ms`);
    const view = await call<PeeringView>(h3.rpc, 'peering.get', { id: created.id });
    t.equal(view.hosts[0]?.nodeId, 'hv-3', 'hosts lists the host asked first (SPEC §5)');
    t.same(view.hosts.map((h) => h.nodeId).sort(), ['hv-1', 'hv-2', 'hv-3'], 'and each host once');
    t.same(
      Object.fromEntries(view.hosts.map((h) => [h.nodeId, h.flows])),
      Object.fromEntries(nodes.map((n, i) => [n.nodeId, counts[i]])),
      'each host reports the flow count its own OVS holds',
    );

    await call(h1.rpc, 'peering.delete', { id: created.id });
    const ended = await until(
      async () => (await everywhere(async (n) => (await call<Peering>(n.rpc, 'peering.get', { id: created.id })).status === 'deleted')).every(Boolean),
      2000,
    );
    t.ok(ended.ok, `deleted on hv-1: the peering is 'deleted' on every host after ${ended.ms} ms`);
    for (const n of nodes) {
      const p = await call<Peering>(n.rpc, 'peering.get', { id: created.id });
      t.ok(typeof p.statusReason === 'string' && p.statusReason.length > 0, `hv-${n.index} keeps the terminal record with a statusReason (SPEC §2)`);
    }
    const gone = await until(async () => (await everywhere((n) => pairFlows(n, A, B))).every((f) => f === 0), 5000);
    t.ok(gone.ok, `its flows are gone from every host's OVS after ${gone.ms} ms`);
    const noPorts = await everywhere(async (n) => (await sandbox(n).vsctl('list-ports', A.bridge)).split('\n').filter((p) => p.startsWith('px')).length);
    t.same(noPorts, [0, 0, 0], 'and its patch ports');
    t.same(await everywhere((n) => pings(n, A, B, false)), [[false, false], [false, false], [false, false]], 'A and B cannot ping on any host');
    t.ok((await until(cluster.identical, 5000)).ok, 'and every host holds identical records');
  });

  t.test('(b) host 3 cut off, conflicting writes on both sides, healed: one truth, SPEC §3 holds', async (t) => {
    const cd = await call<Peering>(h1.rpc, 'peering.create', { requesterVpcId: C.id, accepterVpcId: D.id });
    const spread = await until(cluster.identical, 5000);
    t.ok(spread.ok, 'the C–D request is on every host before the cut');

    await cluster.cut(3);
    await call(h1.rpc, 'peering.accept', { id: cd.id });
    await call(h3.rpc, 'peering.reject', { id: cd.id });
    const dup1 = await call<Peering>(h1.rpc, 'peering.create', { requesterVpcId: E.id, accepterVpcId: F.id });
    const dup3 = await call<Peering>(h3.rpc, 'peering.create', { requesterVpcId: F.id, accepterVpcId: E.id });
    await call(h1.rpc, 'vpc.create', { id: 'vpc-g', tenantId: 't1', cidrs: ['10.7.0.0/16'], bridge: 'brg' });
    await call(h3.rpc, 'vpc.create', { id: 'vpc-h', tenantId: 't1', cidrs: ['10.8.0.0/16'], bridge: 'brh' });
    await call(h1.rpc, 'vpc.update', { id: B.id, name: 'b, named on hv-1' });
    await call(h3.rpc, 'vpc.update', { id: A.id, name: 'a, named on hv-3' });
    await call(h1.rpc, 'vpc.update', { id: C.id, name: 'c, named on hv-1' });
    await call(h3.rpc, 'vpc.update', { id: C.id, name: 'c, named on hv-3' });

    // Host 1 and host 2 (still linked) program the accepted C–D; host 3 has it rejected.
    const cutOff = await until(async () => (await pairFlows(h1, C, D)) > 0 && (await pairFlows(h2, C, D)) > 0, 5000);
    t.ok(cutOff.ok, `while hv-3 is cut off, hv-1 and hv-2 program the C–D they hold as active (${cutOff.ms} ms)`);
    t.equal(await pairFlows(h3, C, D), 0, 'hv-3, which rejected it, has no C–D flows');
    t.same(await pings(h1, C, D, true), [true, true], 'C and D ping on hv-1 meanwhile');
    t.equal((await call<Peering>(h3.rpc, 'peering.get', { id: dup1.id }).catch(() => null)), null, 'hv-3 has not heard of hv-1\'s request');

    cluster.heal(3);
    const relinked = await until(cluster.linked, 15_000, 50);
    t.ok(relinked.ok, `healed: all links up again in ${relinked.ms} ms`);
    const same = await until(cluster.identical, 15_000, 50);
    t.ok(same.ok, `identical vpc.list and peering.list on all three hosts ${same.ms} ms after the links came up`);
    t.comment(`heal → identical records on all three hosts: ${relinked.ms + same.ms} ms`);

    const settled = await everywhere((n) => records(n.rpc));
    for (const [i, r] of settled.entries()) {
      const host = `hv-${i + 1}`;
      const byId = (id: string): Peering | undefined => r.peerings.find((p) => p.id === id);
      const vpc = (id: string): Vpc | undefined => r.vpcs.find((v) => v.id === id);
      t.match(byId(cd.id), { status: 'rejected', statusReason: /\S/ }, `${host}: accept on hv-1 vs reject on hv-3 ends rejected (terminal wins)`);
      const dups = [byId(dup1.id), byId(dup3.id)];
      t.equal(dups.filter((p) => p?.status === 'pending-acceptance').length, 1, `${host}: one of the two requests for E–F is still live`);
      t.equal(dups.filter((p) => p?.status === 'failed' && (p.statusReason ?? '').length > 0).length, 1, `${host}: the other is failed with a statusReason`);
      t.ok(vpc('vpc-g') !== undefined && vpc('vpc-h') !== undefined, `${host}: the VPCs made on either side are both there`);
      t.equal(vpc(B.id)?.name, 'b, named on hv-1', `${host}: hv-1's rename arrived`);
      t.equal(vpc(A.id)?.name, 'a, named on hv-3', `${host}: hv-3's rename arrived`);
    }
    const [kept, lost] = [dup1.id, dup3.id].map((id) => settled[0]?.peerings.find((p) => p.id === id)).sort((x, y) => (x?.status === 'failed' ? 1 : 0) - (y?.status === 'failed' ? 1 : 0));
    t.ok(kept !== undefined && lost !== undefined && kept.createdAt <= lost.createdAt, `the earlier request kept its place (${kept?.id} made on ${kept?.id === dup1.id ? 'hv-1' : 'hv-3'})`);
    const settledLogged = nodes.some((n) => logLines(n).some((l) => l.peeringId === lost?.id && l.reason === 'DUPLICATE_PEERING' && l.causeId === kept?.id));
    t.ok(settledLogged, 'a host logged the settled conflict: the loser, DUPLICATE_PEERING, the winner');
    const winner = settled[0]?.vpcs.find((v) => v.id === C.id)?.name;
    t.ok(winner === 'c, named on hv-1' || winner === 'c, named on hv-3', `C renamed on both sides: one rename kept everywhere (${winner})`);

    t.same(await everywhere((n) => ruleViolations(n)), [[], [], []], 'SPEC §3 holds on every host');

    const cleared = await until(async () => (await everywhere((n) => pairFlows(n, C, D))).every((f) => f === 0), 5000);
    t.ok(cleared.ok, `the C–D flows hv-1 and hv-2 installed while cut off are gone from every OVS after ${cleared.ms} ms`);
    t.same(await pings(h1, C, D, false), [false, false], 'C and D cannot ping on hv-1 any more');
    const inactive = await until(async () => {
      const { hosts } = await call<PeeringView>(h1.rpc, 'peering.get', { id: cd.id });
      return hosts.length === 3 && hosts.every((h) => h.state === 'inactive' && h.flows === 0);
    }, 5000, 20);
    t.ok(inactive.ok, `peering.get on hv-1 shows the rejected C–D inactive, with no flows, on all three hosts (${inactive.ms} ms)`);
  });
});
