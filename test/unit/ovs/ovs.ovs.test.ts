// The OVS adapter against a real private OVS. The central proof: every flow shape of the
// canonical form (src/reconcile/flow.ts), written with bundleLine, is accepted by ovs-ofctl and
// dumps back to a Flow equal to what was written — so "desired" and "installed" compare as
// strings, and a reconcile of an unchanged bridge finds nothing to do.
import t, { type Test } from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { createOvs, type Ovs, OvsError } from '../../../src/ovs/ovs.js';
import { bundleLine, canonicalMatch, type Flow, sameFlow } from '../../../src/ovs/flow.js';
import { type OvsSandbox, startOvs } from '../../helpers/ovs.js';

const PREFIX = 0x5ee0n << 48n;
const MASK = 0xffffn << 48n;
const COOKIE = PREFIX | 0x0000_1234_5678_9abcn;

const flow = (priority: number, match: string, actions: string, extra: Partial<Flow> = {}): Flow => ({
  table: 0,
  priority,
  cookie: COOKIE,
  match: match === '' ? '' : canonicalMatch(match),
  actions,
  ...extra,
});

/** Every shape the daemon writes, in spellings OVS rewrites (uncompressed v6, /32, arp nw_*). */
const SHAPES: Flow[] = [
  flow(100, 'ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16', 'output:7'),
  flow(100, 'in_port=7,ip,nw_src=10.1.0.0/16,nw_dst=10.0.0.0/16', 'NORMAL'),
  flow(100, 'ip,nw_src=10.0.0.0/16,nw_dst=192.168.4.5/32', 'output:7'),
  flow(100, 'in_port=7,ip,nw_src=192.168.4.5/32,nw_dst=10.0.0.0/16', 'NORMAL'),
  flow(100, 'arp,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16', 'output:7'),
  flow(100, 'in_port=7,arp,arp_spa=10.1.0.0/16,arp_tpa=10.0.0.0/16', 'NORMAL'),
  flow(100, 'arp,arp_spa=10.0.0.0/16,arp_tpa=192.168.4.5/32', 'output:7'),
  flow(100, 'ipv6,ipv6_src=FD00:000A:0000:0000:0000:0000:0000:0000/64,ipv6_dst=fd00:b:0:0:0:0:0:0/64', 'output:7'),
  flow(100, 'in_port=7,ipv6,ipv6_src=fd00:b::/64,ipv6_dst=fd00:a::/64', 'NORMAL'),
  flow(100, 'ipv6,ipv6_src=fd00:a::/64,ipv6_dst=2001:0db8:0000:0000:0001:0000:0000:0001/128', 'output:7'),
  flow(100, 'ipv6,ipv6_src=fd00:a::/64,ipv6_dst=fd00:0:0:1:0:0:0:1/128', 'output:7'),
  flow(100, 'icmp6,icmp_type=135,nd_target=FD00:B:0:0:0:0:0:0/64', 'output:7'),
  flow(100, 'icmp6,icmp_type=136,nd_target=fd00:a::/64', 'output:7'),
  flow(100, 'in_port=7,icmp6,icmp_type=135,nd_target=fd00:a::/64', 'NORMAL'),
  flow(100, 'in_port=7,icmp6,icmp_type=136,nd_target=fd00:b::/64', 'NORMAL'),
  flow(100, 'icmp6,icmp_type=135,nd_target=2001:db8:0:0:0:0:0:1/128', 'output:7'),
  flow(99, 'in_port=7', 'drop'),
  flow(99, 'in_port=8', 'drop', { cookie: PREFIX | 0xffff_ffff_ffffn }),
  flow(32768, 'in_port=9', 'drop'),
  flow(0, '', 'drop', { table: 250, cookie: PREFIX }),
];

async function bridgeWithOvs(t: Test): Promise<{ sb: OvsSandbox; ovs: Ovs; br: string }> {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger() });
  t.teardown(() => ovs.close());
  return { sb, ovs, br };
}

function assertSameFlows(t: Test, got: readonly Flow[], want: readonly Flow[]): void {
  t.equal(got.length, want.length, `${want.length} flows`);
  for (const w of want) {
    const line = bundleLine('add', w);
    if (!got.some((g) => sameFlow(g, w))) t.fail(`not dumped back equal: ${line}`, { got: got.map((g) => bundleLine('add', g)) });
  }
}

async function failsWith(t: Test, call: Promise<unknown>, kind: OvsError['kind'], what: string): Promise<void> {
  try {
    await call;
    t.fail(`${what}: succeeded`);
  } catch (err) {
    t.ok(err instanceof OvsError && err.kind === kind, `${what}: ${kind}`);
  }
}

t.test('every canonical flow shape: bundleLine is accepted and dumps back sameFlow', async (t) => {
  const { ovs, br, sb } = await bridgeWithOvs(t);
  await ovs.applyBundle(
    br,
    SHAPES.map((f) => bundleLine('add', f)),
  );
  assertSameFlows(t, await ovs.dumpFlows(br, PREFIX, MASK), SHAPES);
  t.match(await sb.ofctl('dump-flows', br, '--no-stats', '--no-names'), /cookie=0x1234, priority=0 actions=NORMAL/, 'the platform flow is there');
  t.same(await ovs.dumpFlows(br, 0x1234n, (1n << 64n) - 1n), [{ table: 0, priority: 0, cookie: 0x1234n, match: '', actions: 'NORMAL' }], 'and only it has its cookie');

  const sorted = await ovs.dumpFlows(br, PREFIX, MASK);
  t.same(
    sorted.map((f) => [f.table, f.priority]),
    [...sorted].sort((a, b) => a.table - b.table || b.priority - a.priority).map((f) => [f.table, f.priority]),
    'sorted by table, then priority descending',
  );
  const again = await ovs.dumpFlows(br, PREFIX, MASK);
  t.equal(again, sorted, 'a table that did not change: the same array, not parsed again');
  t.ok(Object.isFrozen(again), 'which nobody can change');

  const changed = { ...SHAPES[0]!, actions: 'drop' };
  await ovs.applyBundle(br, [bundleLine('add', changed)]);
  const after = await ovs.dumpFlows(br, PREFIX, MASK);
  t.not(after, sorted, 'a changed table: a new array');
  t.equal(after.length, SHAPES.length, 'an add with the same key replaces the flow');
  t.ok(after.some((f) => sameFlow(f, changed)));

  await ovs.applyBundle(
    br,
    SHAPES.map((f) => bundleLine('delete_strict', f)),
  );
  t.same(await ovs.dumpFlows(br, PREFIX, MASK), [], 'delete_strict removes each of them');
  t.match(await sb.ofctl('dump-flows', br, '--no-stats', '--no-names'), /cookie=0x1234/, 'the platform flow stays');
});

t.test('a bundle is atomic: one bad line and nothing is installed', async (t) => {
  const { ovs, br } = await bridgeWithOvs(t);
  const good = SHAPES.slice(0, 5).map((f) => bundleLine('add', f));
  await failsWith(t, ovs.applyBundle(br, [...good, 'add cookie=0x5ee0000000000001,priority=1,ip,nw_dst=10.0.0.0/33,actions=drop']), 'failed', 'a bad prefix');
  await failsWith(t, ovs.applyBundle(br, [...good, 'add cookie=0x5ee0000000000001,table=254,priority=1,actions=drop']), 'failed', 'table 254 (EPERM)');
  await failsWith(
    t,
    ovs.applyBundle(br, [...good, 'add cookie=0x5ee0000000000001,priority=1,nw_dst=10.0.0.0/8,actions=drop']),
    'failed',
    'a field without its protocol (OVS would install a drop-everything flow)',
  );
  t.same(await ovs.dumpFlows(br, PREFIX, MASK), [], 'nothing installed');
  await failsWith(t, ovs.applyBundle('nosuchbr', good), 'unavailable', 'a missing bridge (indistinguishable from a dead vswitchd)');
});

t.test('the broadening check: parse-flows once per line shape, one line without a bundle, never a broader flow', async (t) => {
  const { ovs, br } = await bridgeWithOvs(t);
  await failsWith(t, ovs.applyBundle(br, ['add cookie=0x5ee0000000000001,priority=1,nw_dst=10.0.0.0/8,actions=drop']), 'failed', 'one line without its protocol');
  // A zero-length prefix matches nothing, so OVS needs no protocol for it and says nothing...
  await ovs.applyBundle(br, ['add cookie=0x5ee0000000000001,priority=2,nw_src=0.0.0.0/0,actions=drop']);
  // ...which must not vouch for the same field with a real block.
  await failsWith(t, ovs.applyBundle(br, ['add cookie=0x5ee0000000000001,priority=3,nw_src=10.0.0.0/8,actions=drop']), 'failed', 'a real block after a /0');
  const installed = await ovs.dumpFlows(br, PREFIX, MASK);
  t.same(installed.map((f) => f.priority), [2], 'only the /0 flow (an empty match) is in');
  // Shapes already checked pass with other addresses, ports and cookies.
  const steer = (n: number): string => `add cookie=0x5ee000000000000${n},table=0,priority=100,ip,nw_src=10.${n}.0.0/16,nw_dst=10.9.0.0/16,actions=output:${n}`;
  await ovs.applyBundle(br, [steer(1), steer(2)]);
  await ovs.applyBundle(br, [steer(3)]);
  t.equal((await ovs.dumpFlows(br, PREFIX, MASK)).length, 4, 'three steering flows added');
});

t.test('topology, patch pairs (idempotent, repaired, requested ofports), port deletion', async (t) => {
  const { sb, ovs } = await bridgeWithOvs(t);
  const a = (await ovs.topology()).bridges.keys().next().value as string;
  const b = await sb.addBridge('b');
  const inst = await sb.addInstance(a, 'i1', { v4: '10.0.0.2/16' });
  const [pa, pb] = [sb.name('pa'), sb.name('pb')];
  const pair = { bridge: a, port: pa, peerBridge: b, peerPort: pb, ofport: 4000, peerOfport: 4001 };

  await ovs.addPatchPairs([pair]);
  await ovs.addPatchPairs([pair]);
  let topo = await ovs.topology();
  t.same([...topo.bridges.keys()].sort(), [a, b].sort());
  t.same(topo.bridges.get(a)?.ports.get(pa), { name: pa, ofport: 4000, type: 'patch', peer: pb, error: null }, 'patch port with its requested ofport');
  t.same(topo.bridges.get(b)?.ports.get(pb), { name: pb, ofport: 4001, type: 'patch', peer: pa, error: null });
  t.same(topo.bridges.get(a)?.ports.get(inst.port), { name: inst.port, ofport: inst.ofport, type: '', peer: null, error: null }, 'the veth');
  t.equal(topo.bridges.get(a)?.ports.get(a)?.ofport, 65534, 'the internal port');

  await sb.vsctl('set', 'interface', pa, 'options:peer=elsewhere');
  await ovs.addPatchPairs([pair]);
  topo = await ovs.topology();
  t.equal(topo.bridges.get(a)?.ports.get(pa)?.peer, pb, 'a peer changed by hand is repaired');

  await ovs.deletePorts([
    { bridge: a, port: pa },
    { bridge: b, port: pb },
  ]);
  await ovs.deletePorts([{ bridge: a, port: pa }]);
  topo = await ovs.topology();
  t.notOk(topo.bridges.get(a)?.ports.has(pa), 'deleted; deleting again is fine');
  t.notOk(topo.bridges.get(b)?.ports.has(pb));
  t.ok(topo.bridges.get(a)?.ports.has(inst.port), 'other ports stay');
});

t.test('probe, vswitchdPid and a vswitchd restart (flows lost, ports kept)', async (t) => {
  const { sb, ovs, br } = await bridgeWithOvs(t);
  await ovs.addPatchPairs([{ bridge: br, port: sb.name('pa'), peerBridge: await sb.addBridge('b'), peerPort: sb.name('pb') }]);
  await ovs.applyBundle(
    br,
    SHAPES.map((f) => bundleLine('add', f)),
  );
  const before = await ovs.topology();
  t.equal(await ovs.probe(), 'up');
  const pid = await ovs.vswitchdPid();
  t.equal(pid, sb.pids().vswitchd, 'the pid of the running vswitchd');

  await sb.killVswitchd();
  t.equal(await ovs.probe(), 'down', 'vswitchd dead: down');
  t.equal(await ovs.vswitchdPid(), null, 'its pidfile is stale: null');
  await failsWith(t, ovs.dumpFlows(br, PREFIX, MASK), 'unavailable', 'dumpFlows');
  t.same(await ovs.topology(), before, 'topology still reads from ovsdb');

  await sb.startVswitchd();
  t.equal(await ovs.probe(), 'up');
  const newPid = await ovs.vswitchdPid();
  t.ok(newPid !== null && newPid !== pid, 'a new pid: a restart');
  t.same(await ovs.dumpFlows(br, PREFIX, MASK), [], 'the restart wiped every flow (the canary in table 250 too)');
  t.same(await ovs.topology(), before, 'ports came back with the same ofports');

  await sb.stopAll();
  t.equal(await ovs.probe(), 'down', 'everything stopped: down');
  await failsWith(t, ovs.topology(), 'unavailable', 'topology');
  await sb.startAll();
  t.equal(await ovs.probe(), 'up', 'back');
});
