// The OVS test harness itself, end to end: VPC-like bridges isolate, a patch pair with the
// peering flows (written with bundleLine) joins two of them, and nothing is left behind.
import { existsSync } from 'node:fs';
import t from 'tap';
import { bundleLine, canonicalMatch, type Flow } from '../../src/ovs/flow.js';
import { existingNamespaces, isAlive, type OvsSandbox, startOvs } from '../helpers/ovs.js';

const COOKIE = 0x5ee0_0000_0000_0042n;

/** The §7 flows on one side: out through the patch port to the peer's CIDRs, NORMAL from it, drop the rest. */
function peeringFlows(patch: number, local: { v4: string; v6: string }, peer: { v4: string; v6: string }): Flow[] {
  const f = (priority: number, match: string, actions: string): Flow => ({
    table: 0,
    priority,
    cookie: COOKIE,
    match: canonicalMatch(match),
    actions,
  });
  return [
    f(100, `ip,nw_src=${local.v4},nw_dst=${peer.v4}`, `output:${patch}`),
    f(100, `arp,arp_spa=${local.v4},arp_tpa=${peer.v4}`, `output:${patch}`),
    f(100, `ipv6,ipv6_src=${local.v6},ipv6_dst=${peer.v6}`, `output:${patch}`),
    f(100, `icmp6,icmp_type=135,nd_target=${peer.v6}`, `output:${patch}`),
    f(100, `icmp6,icmp_type=136,nd_target=${local.v6}`, `output:${patch}`),
    f(100, `in_port=${patch},ip,nw_src=${peer.v4},nw_dst=${local.v4}`, 'NORMAL'),
    f(100, `in_port=${patch},arp,arp_spa=${peer.v4},arp_tpa=${local.v4}`, 'NORMAL'),
    f(100, `in_port=${patch},ipv6,ipv6_src=${peer.v6},ipv6_dst=${local.v6}`, 'NORMAL'),
    f(100, `in_port=${patch},icmp6,icmp_type=135,nd_target=${local.v6}`, 'NORMAL'),
    f(100, `in_port=${patch},icmp6,icmp_type=136,nd_target=${peer.v6}`, 'NORMAL'),
    f(99, `in_port=${patch}`, 'drop'),
  ];
}

async function bundle(sb: OvsSandbox, bridge: string, flows: Flow[]): Promise<void> {
  const lines = flows.map((f) => bundleLine('add', f)).join('\n') + '\n';
  await sb.runner.run('ovs-ofctl', ['--bundle', 'add-flows', bridge, '-'], { stdin: lines });
}

t.test('bridges isolate; a patch pair with peering flows joins two; teardown leaves nothing', async (t) => {
  let left: { namespaces: readonly string[]; pids: number[]; rundir: string } | undefined;

  await t.test('data path', async (t) => {
    const sb = await startOvs(t, { name: 'harness' });
    const A = { v4: '10.0.0.0/16', v6: 'fd00:a::/64' };
    const B = { v4: '10.1.0.0/16', v6: 'fd00:b::/64' };
    const brA = await sb.addBridge('a');
    const brB = await sb.addBridge('b');
    const brC = await sb.addBridge('c');
    const a1 = await sb.addInstance(brA, 'a1', { v4: '10.0.0.2/16', v6: 'fd00:a::2/64', routes: [B.v4, B.v6] });
    const a2 = await sb.addInstance(brA, 'a2', { v4: '10.0.0.3/16', v6: 'fd00:a::3/64' });
    const b1 = await sb.addInstance(brB, 'b1', { v4: '10.1.0.2/16', v6: 'fd00:b::2/64', routes: [A.v4, A.v6] });
    const c1 = await sb.addInstance(brC, 'c1', { v4: '10.2.0.2/16', routes: [A.v4, B.v4] });
    t.equal(a1.ofport, 1, 'ports are numbered by vswitchd');

    t.ok(await sb.ping(a1, '10.0.0.3'), 'v4 within a bridge');
    t.ok(await sb.ping(a1, 'fd00:a::3'), 'v6 within a bridge');
    t.notOk(await sb.ping(a1, '10.1.0.2'), 'v4 across bridges: isolated');
    t.notOk(await sb.ping(a1, 'fd00:b::2'), 'v6 across bridges: isolated');

    const pa = sb.name('pa');
    const pb = sb.name('pb');
    await sb.vsctl(
      ...['--may-exist', 'add-port', brA, pa, '--', 'set', 'interface', pa, 'type=patch', `options:peer=${pb}`],
      ...['--', '--may-exist', 'add-port', brB, pb, '--', 'set', 'interface', pb, 'type=patch', `options:peer=${pa}`],
    );
    // A deadline: the failed pings above left the neighbour entry FAILED; the first probe again waits ~1 s.
    t.ok(await sb.ping(a1, '10.1.0.2', { deadlineS: 5 }), 'a patch pair alone joins the bridges (the platform NORMAL floods across it)');
    const ofport = async (port: string): Promise<number> => Number((await sb.vsctl('get', 'interface', port, 'ofport')).trim());
    await bundle(sb, brA, peeringFlows(await ofport(pa), A, B));
    await bundle(sb, brB, peeringFlows(await ofport(pb), B, A));

    t.ok(await sb.ping(a1, '10.1.0.2', { deadlineS: 5 }), 'v4 across the peering');
    t.ok(await sb.ping(b1, '10.0.0.2'), 'v4 back');
    t.ok(await sb.ping(a1, 'fd00:b::2', { deadlineS: 5 }), 'v6 across the peering (with neighbour discovery)');
    t.notOk(await sb.ping(c1, '10.0.0.2'), 'a third bridge still reaches neither');
    t.notOk(await sb.ping(a2, '10.1.0.2'), 'no route, no reach: v1 steers at L2 through on-link routes');

    await sb.vsctl('del-port', brA, pa, '--', 'del-port', brB, pb);
    t.notOk(await sb.ping(a1, '10.1.0.2'), 'without the patch pair the flows lead nowhere');

    const pids = sb.pids();
    t.ok(pids.ovsdb !== null && pids.vswitchd !== null, 'both daemons run');
    left = { namespaces: sb.namespaces(), pids: [pids.ovsdb ?? 0, pids.vswitchd ?? 0], rundir: sb.rundir };
    t.equal(left.namespaces.length, 5, "vswitchd's namespace and one per instance");
  });

  // The subtest's teardown has run by now.
  if (left === undefined) return t.fail('the data path subtest did not get far enough');
  t.same(await existingNamespaces(left.namespaces), [], 'no namespace left');
  t.same(left.pids.filter(isAlive), [], 'no daemon left');
  t.notOk(existsSync(left.rundir), 'rundir removed');
});
