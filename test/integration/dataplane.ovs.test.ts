// The data plane for real: the daemon process against a private Open vSwitch (userspace
// datapath), instances in network namespaces, and ping. Three VPCs, A (10.0.0.0/16 and
// fd00:a::/64), B (10.1.0.0/16 and fd00:b::/64) and C (10.2.0.0/16), one instance each, every
// instance with on-link routes to the others, so that only the flows decide who talks.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { type Instance, type OvsSandbox, startOvs } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

const run = promisify(execFile);
const OUR_COOKIES = 'cookie=0x5ee0000000000000/0xffff000000000000';
const FOREIGN = 'cookie=0xabcd,priority=50,ip,nw_dst=192.0.2.0/24,actions=drop';

interface Peering {
  id: string;
  status: string;
  dataplane: { state: string; flows: number };
}

async function ourFlows(ovs: OvsSandbox, bridge: string): Promise<string[]> {
  const out = await ovs.ofctl('dump-flows', bridge, OUR_COOKIES, '--no-stats', '--no-names');
  return out.split('\n').filter((l) => l.includes('cookie='));
}

async function ourPorts(ovs: OvsSandbox, bridge: string): Promise<string[]> {
  return (await ovs.vsctl('list-ports', bridge)).split('\n').filter((p) => /^px[0-9a-f]{12}[ra]$/.test(p));
}

/** Echo requests the instance's kernel has received (from /proc/net/snmp). */
async function echoesReceived(i: Instance): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', i.netns, 'cat', '/proc/net/snmp']);
  const [head, values] = stdout.split('\n').filter((l) => l.startsWith('Icmp:'));
  const idx = (head ?? '').split(/\s+/).indexOf('InEchos');
  return Number((values ?? '').split(/\s+/)[idx]);
}

async function inNs(i: Instance, ...args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', i.netns, ...args])).stdout;
}

t.test('peering on a real Open vSwitch', async (t) => {
  const ovs = await startOvs(t, { name: 'dp' });
  const brA = await ovs.addBridge('a');
  const brB = await ovs.addBridge('b');
  const brC = await ovs.addBridge('c');
  const all = ['10.0.0.0/16', '10.1.0.0/16', '10.2.0.0/16', 'fd00:a::/64', 'fd00:b::/64'];
  const a = await ovs.addInstance(brA, 'ia', { v4: '10.0.0.2/16', v6: 'fd00:a::2/64', routes: all.filter((c) => !c.startsWith('10.0.') && c !== 'fd00:a::/64') });
  const b = await ovs.addInstance(brB, 'ib', { v4: '10.1.0.2/16', v6: 'fd00:b::2/64', routes: [...all.filter((c) => !c.startsWith('10.1.') && c !== 'fd00:b::/64'), '10.9.0.0/16'] });
  const c = await ovs.addInstance(brC, 'ic', { v4: '10.2.0.2/16', routes: ['10.0.0.0/16', '10.1.0.0/16'] });
  await ovs.ofctl('add-flow', brB, FOREIGN);

  const d = await startDaemon(t, { config: { ovs: { enabled: true, rundir: ovs.rundir } } });
  const admin: RpcClient = await d.admin();
  const call = <T>(method: string, params: Record<string, unknown> = {}) => admin.call(method, params) as Promise<T>;
  await call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16', 'fd00:a::/64'], bridge: brA });
  await call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16', 'fd00:b::/64'], bridge: brB });
  await call('vpc.create', { id: 'vpc-c', tenantId: 'acme', cidrs: ['10.2.0.0/16'], bridge: brC });
  const programmed = (id: string) => async () => (await call<Peering>('peering.get', { id })).dataplane.state === 'programmed';

  t.match(await call('status'), { ovs: { state: 'enabled' } }, 'status: OVS enabled');

  t.test('isolated before peering', async (t) => {
    t.notOk(await ovs.ping(a, '10.1.0.2'), 'A cannot reach B');
    t.notOk(await ovs.ping(b, '10.0.0.2'), 'B cannot reach A');
    t.notOk(await ovs.ping(a, 'fd00:b::2'), 'A cannot reach B over IPv6');
  });

  let ab = '';
  t.test('after accept, A and B talk both ways over IPv4 and IPv6; C reaches neither', async (t) => {
    ab = (await call<Peering>('peering.create', { requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b' })).id;
    t.equal((await call<Peering>('peering.get', { id: ab })).dataplane.flows, 0, 'nothing programmed while pending');
    await call('peering.accept', { id: ab });
    t.ok((await until(programmed(ab), 5000)).ok, 'the peering reports programmed');
    t.ok(await ovs.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A → B v4');
    t.ok(await ovs.ping(b, '10.0.0.2', { deadlineS: 5 }), 'B → A v4');
    t.ok(await ovs.ping(a, 'fd00:b::2', { deadlineS: 5 }), 'A → B v6');
    t.ok(await ovs.ping(b, 'fd00:a::2', { deadlineS: 5 }), 'B → A v6');
    t.notOk(await ovs.ping(c, '10.0.0.2'), 'C cannot reach A');
    t.notOk(await ovs.ping(c, '10.1.0.2'), 'C cannot reach B');
    t.equal((await ourPorts(ovs, brA)).length, 1, 'one patch port of ours on A');
    const p = await call<Peering>('peering.get', { id: ab });
    t.ok(p.dataplane.flows > 0, `peering.get counts its flows (${p.dataplane.flows})`);
  });

  t.test('a source outside A\'s CIDRs is not delivered into B', async (t) => {
    const bMac = (await inNs(b, 'cat', '/sys/class/net/eth0/address')).trim();
    // Pin B's MAC so the spoofed packet really leaves A (no ARP from the spoofed address needed).
    await inNs(a, 'ip', 'addr', 'add', '10.9.0.2/16', 'dev', 'eth0');
    await inNs(a, 'ip', 'neigh', 'replace', '10.1.0.2', 'lladdr', bMac, 'dev', 'eth0', 'nud', 'permanent');
    const before = await echoesReceived(b);
    await inNs(a, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-I', '10.9.0.2', '10.1.0.2').catch(() => undefined);
    t.equal(await echoesReceived(b), before, 'no echo request from 10.9.0.2 reached B');
    await inNs(a, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '-I', '10.0.0.2', '10.1.0.2');
    t.ok((await echoesReceived(b)) >= before + 3, 'the control: from 10.0.0.2 they do');
    await inNs(a, 'ip', 'addr', 'del', '10.9.0.2/16', 'dev', 'eth0');
  });

  t.test('not transitive: with A–B and B–C active, A still cannot reach C', async (t) => {
    const bc = (await call<Peering>('peering.create', { requesterVpcId: 'vpc-b', accepterVpcId: 'vpc-c' })).id;
    await call('peering.accept', { id: bc });
    t.ok((await until(programmed(bc), 5000)).ok);
    t.ok(await ovs.ping(b, '10.2.0.2', { deadlineS: 5 }), 'B → C works');
    const cMac = (await inNs(c, 'cat', '/sys/class/net/eth0/address')).trim();
    await inNs(a, 'ip', 'neigh', 'replace', '10.2.0.2', 'lladdr', cMac, 'dev', 'eth0', 'nud', 'permanent');
    const before = await echoesReceived(c);
    t.notOk(await ovs.ping(a, '10.2.0.2'), 'A → C fails');
    t.equal(await echoesReceived(c), before, 'nothing from A reached C');
    t.notOk(await ovs.ping(c, '10.0.0.2'), 'C → A fails');
    await call('peering.delete', { id: bc });
    t.ok((await until(async () => (await ourFlows(ovs, brC)).length === 0, 5000)).ok, 'B–C flows gone from C');
  });

  t.test('drift is repaired within 1 s without any call', async (t) => {
    const flows = await ourFlows(ovs, brA);
    const victim = flows.find((l) => l.includes('priority=100,ip,') && l.includes('nw_src=10.0.0.0/16'));
    t.ok(victim, 'an IPv4 steering flow of ours on A');
    await ovs.ofctl('--strict', 'del-flows', brA, 'priority=100,ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16');
    const back = await until(async () => (await ourFlows(ovs, brA)).length === flows.length, 1000);
    t.ok(back.ok, `a deleted flow is back in ${back.ms} ms`);
    await ovs.ofctl('--strict', 'mod-flows', brA, 'priority=100,ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16,actions=drop');
    const fixed = await until(async () => !(await ourFlows(ovs, brA)).some((l) => l.includes('nw_dst=10.1.0.0/16 actions=drop')), 1000);
    t.ok(fixed.ok, `a modified flow is repaired in ${fixed.ms} ms`);
    t.ok(await ovs.ping(a, '10.1.0.2', { deadlineS: 5 }), 'and A reaches B');
    const status = await call<{ ovs: { driftRepaired: number } }>('status');
    t.ok(status.ovs.driftRepaired >= 2, `status counts drift repaired (${status.ovs.driftRepaired})`);
  });

  // Checked before the restarts below: an ovs-vswitchd restart wipes every flow, the platform's too.
  t.test('flows with foreign cookies are untouched by all of the above', async (t) => {
    const dump = await ovs.ofctl('dump-flows', brB, '--no-stats', '--no-names');
    t.match(dump, /cookie=0xabcd, priority=50,ip,nw_dst=192\.0\.2\.0\/24 actions=drop/, 'the foreign flow');
    t.match(dump, /cookie=0x1234, priority=0 actions=NORMAL/, 'the platform flow');
  });

  t.test('ovs-vswitchd killed and started again: flows come back without any call', async (t) => {
    const count = (await ourFlows(ovs, brA)).length;
    await ovs.killVswitchd();
    await ovs.startVswitchd();
    const back = await until(async () => (await ourFlows(ovs, brA).catch(() => [])).length === count, 5000, 20);
    t.ok(back.ok, `all ${count} flows of ours on A back ${back.ms} ms after vswitchd answered`);
    t.ok(await ovs.ping(a, '10.1.0.2', { deadlineS: 5 }), 'ping works again');
  });

  t.test('OVS stopped for a while: the API answers, status says unavailable, all repaired on return', async (t) => {
    await ovs.stopAll();
    const down = await until(async () => (await call<{ ovs: { state: string } }>('status')).ovs.state === 'unavailable', 10_000, 50);
    t.ok(down.ok, 'status: unavailable');
    const vpcs = await call<{ items: unknown[] }>('vpc.list');
    t.equal(vpcs.items.length, 3, 'the API keeps serving');
    await ovs.startAll();
    const up = await until(async () => (await call<{ ovs: { state: string } }>('status')).ovs.state === 'enabled', 10_000, 50);
    t.ok(up.ok, 'status: enabled again');
    t.ok((await until(async () => (await ourFlows(ovs, brA).catch(() => [])).length > 0, 5000)).ok, 'flows repaired');
    t.ok(await ovs.ping(a, '10.1.0.2', { deadlineS: 5 }), 'ping works');
  });

  t.test('after delete: no ping, and none of our flows or patch ports remain', async (t) => {
    await call('peering.delete', { id: ab });
    const gone = await until(async () => {
      const left = await Promise.all([brA, brB, brC].map(async (br) => (await ourFlows(ovs, br)).length + (await ourPorts(ovs, br)).length));
      return left.every((n) => n === 0);
    }, 5000);
    t.ok(gone.ok, 'no flow with our cookie and no patch port of ours on any bridge');
    t.notOk(await ovs.ping(a, '10.1.0.2'), 'A cannot reach B');
  });

  t.test('a stale flow of ours is removed; reconcile.run reports', async (t) => {
    await ovs.ofctl('add-flow', brA, 'cookie=0x5ee0000000000001,priority=100,ip,nw_dst=10.77.0.0/16,actions=drop');
    const gone = await until(async () => (await ourFlows(ovs, brA)).length === 0, 1000);
    t.ok(gone.ok, `a flow with our cookie that nothing wants is removed in ${gone.ms} ms`);
    const dry = await call<{ bridges: string[]; added: number; removed: number }>('reconcile.run', { dryRun: true });
    t.match(dry, { added: 0, removed: 0 }, 'converged: a dry run finds nothing to do');
    t.ok([brA, brB, brC].every((br) => dry.bridges.includes(br)), 'it looked at every bridge');
    const one = await call<{ bridges: string[] }>('reconcile.run', { bridge: brB });
    t.same(one.bridges, [brB], '--bridge limits it to one bridge');
  });
});

t.test('"auto" with no Open vSwitch answering runs in no-op mode', async (t) => {
  const d = await startDaemon(t, { config: { ovs: { enabled: 'auto', rundir: t.testdir() } } });
  const admin = await d.admin();
  t.match(await admin.call('status', {}), { ovs: { state: 'disabled', reason: /auto/ } });
  t.match(d.logs(), /no-op mode/);
});
