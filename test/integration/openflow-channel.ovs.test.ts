// The OpenFlow channel against a real ovs-vswitchd, with ovs-ofctl as the independent witness: what
// the channel installs is what `ovs-ofctl dump-flows` shows, what another controller changes is
// what the channel's monitor reports, a refused bundle leaves nothing behind, and a vswitchd
// restart is a dropped link that comes back by itself.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/log/logger.js';
import { parseDumpFlows } from '../../src/ovs/dump-parser.js';
import { canonicalMatch, type Flow, flowKey } from '../../src/ovs/flow.js';
import { createOfChannel, type OfChannel, OfErrorReply } from '../../src/ovs/openflow/channel.js';
import { fromReported, toOfFlow } from '../../src/ovs/openflow/flows.js';
import type { FlowUpdate } from '../../src/ovs/openflow/messages.js';
import { type OvsSandbox, startOvs } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

const COOKIE = 0x5ee0_0000_0000_0077n;
const ALL = (1n << 64n) - 1n;
const logger = createLogger({ level: 'error' });

const flow = (priority: number, match: string, actions: string): Flow => ({ table: 0, priority, cookie: COOKIE, match: canonicalMatch(match), actions });

/** Every shape of flow the desired-flow renderer makes (desired.ts), on one patch port 7. */
const FLOWS: readonly Flow[] = [
  flow(100, 'ip,nw_src=10.1.0.0/16,nw_dst=10.2.0.0/16', 'output:7'),
  flow(100, 'arp,arp_spa=10.1.0.0/16,arp_tpa=10.2.0.0/16', 'output:7'),
  flow(100, 'ipv6,ipv6_src=fd00:1::/48,ipv6_dst=fd00:2::/48', 'output:7'),
  flow(100, 'icmp6,icmp_type=135,ipv6_src=fd00:1::/48,nd_target=fd00:2::/48', 'output:7'),
  flow(100, 'ip,in_port=7,nw_src=10.2.0.0/16,nw_dst=10.1.0.0/16', 'NORMAL'),
  flow(100, 'arp,in_port=7,arp_spa=10.2.0.0/16,arp_tpa=10.1.0.0/16', 'NORMAL'),
  flow(100, 'ipv6,in_port=7,ipv6_src=fd00:2::/48,ipv6_dst=fd00:1::/48', 'NORMAL'),
  flow(100, 'icmp6,icmp_type=135,in_port=7,ipv6_src=fd00:2::/48,nd_target=fd00:1::/48', 'NORMAL'),
  flow(90, 'ip,in_port=7,nw_src=10.1.0.0/16', 'drop'),
  flow(90, 'ipv6,in_port=7,ipv6_src=fd00:1::/48', 'drop'),
  flow(99, 'in_port=7', 'drop'),
  flow(100, 'ip,nw_src=10.1.2.3,nw_dst=10.9.0.0/24', 'output:7'),
  { table: 250, priority: 0, cookie: COOKIE, match: '', actions: 'drop' },
];

const byKey = (flows: readonly Flow[]): Flow[] => [...flows].sort((a, b) => (flowKey(a) < flowKey(b) ? -1 : flowKey(a) > flowKey(b) ? 1 : 0));

async function witness(sb: OvsSandbox, bridge: string): Promise<Flow[]> {
  return byKey(parseDumpFlows(await sb.ofctl('--no-stats', 'dump-flows', bridge, `cookie=0x${COOKIE.toString(16)}/-1`)));
}

async function open(t: Test, sb: OvsSandbox, bridge: string, events: Parameters<typeof createOfChannel>[1] = {}): Promise<OfChannel> {
  const ch = createOfChannel({ path: join(sb.rundir, `${bridge}.mgmt`), logger, backoff: { minMs: 20, maxMs: 200 } }, events);
  t.teardown(() => ch.close());
  const up = await until(async () => ch.connected, 10_000);
  t.ok(up.ok, `the channel negotiated OpenFlow 1.4 with vswitchd (${up.ms} ms)`);
  return ch;
}

t.test('a bundle installs exactly the desired flows; flow stats and ovs-ofctl agree', async (t) => {
  const sb = await startOvs(t, { name: 'ofch' });
  const bridge = await sb.addBridge('br');
  const ch = await open(t, sb, bridge);
  await ch.bundle(FLOWS.map((f) => ({ type: 'flow_mod', command: 'add', flow: toOfFlow(f) })));
  t.same(await witness(sb, bridge), byKey(FLOWS), 'ovs-ofctl dump-flows shows exactly the flows sent');
  const stats = await ch.flowStats(COOKIE, ALL);
  t.same(byKey(stats.map((r) => fromReported(r)).filter((f): f is Flow => f !== null)), byKey(FLOWS), 'flow stats read back the same flows');
  t.equal(stats.length, FLOWS.length, 'and only them');
  const foreign = await ch.flowStats(0x1234n, ALL);
  t.equal(foreign.length, 1, 'the platform flow has its own cookie');

  // modify_strict changes the actions; delete_strict removes one flow and nothing else.
  const first = FLOWS[0] as Flow;
  const last = FLOWS[1] as Flow;
  await ch.bundle([
    { type: 'flow_mod', command: 'modify_strict', flow: toOfFlow({ ...first, actions: 'output:8' }) },
    { type: 'flow_mod', command: 'delete_strict', flow: toOfFlow(last) },
  ]);
  const expected = byKey([{ ...first, actions: 'output:8' }, ...FLOWS.slice(2)]);
  t.same(await witness(sb, bridge), expected, 'modify_strict and delete_strict did exactly that');
});

t.test('a bundle with a refused flow mod changes nothing (atomic)', async (t) => {
  const sb = await startOvs(t, { name: 'ofatom' });
  const bridge = await sb.addBridge('br');
  const ch = await open(t, sb, bridge);
  const good = FLOWS[0] as Flow;
  // Table 255 is OFPTT_ALL: no flow can be added to it, so the switch refuses the second mod.
  const bad: Flow = { ...(FLOWS[1] as Flow), table: 255 };
  const err = await ch.bundle([good, bad].map((f) => ({ type: 'flow_mod' as const, command: 'add' as const, flow: toOfFlow(f) }))).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, OfErrorReply, 'the bundle is refused by the switch');
  t.equal((err as OfErrorReply).index, 1, 'naming the flow mod it refused');
  t.same(await witness(sb, bridge), [], 'and the good flow of the same bundle is not installed');
  await ch.bundle([{ type: 'flow_mod', command: 'add', flow: toOfFlow(good) }]);
  t.same(await witness(sb, bridge), [good], 'the channel is still usable afterwards');
});

t.test('the monitor reports another controller’s changes to our flows', async (t) => {
  const sb = await startOvs(t, { name: 'ofmon' });
  const bridge = await sb.addBridge('br');
  const updates: FlowUpdate[] = [];
  const ch = await open(t, sb, bridge, { onMonitorUpdates: (u) => updates.push(...u) });
  await ch.bundle(FLOWS.slice(0, 3).map((f) => ({ type: 'flow_mod', command: 'add', flow: toOfFlow(f) })));
  const initial = await ch.monitor({ initial: true, noAbbrev: false });
  const ours = initial.filter((u) => u.event === 'initial' && u.flow.cookie === COOKIE);
  t.equal(ours.length, 3, 'the initial updates list the flows already installed');
  const victim = FLOWS[1] as Flow;
  await sb.ofctl('--strict', 'del-flows', bridge, `cookie=0x${COOKIE.toString(16)}/-1,priority=${victim.priority},${victim.match}`);
  const seen = await until(async () => updates.some((u) => u.event === 'removed' && fromReported(u.flow)?.match === victim.match), 5_000);
  t.ok(seen.ok, `the hand deletion is reported as removed (${seen.ms} ms)`);
  await sb.ofctl('add-flow', bridge, `cookie=0x${COOKIE.toString(16)},priority=5,ip,nw_dst=10.5.0.0/16,actions=drop`);
  const added = await until(async () => updates.some((u) => u.event === 'added' && fromReported(u.flow)?.match === canonicalMatch('ip,nw_dst=10.5.0.0/16')), 5_000);
  t.ok(added.ok, `a foreign addition with our cookie is reported as added (${added.ms} ms)`);
});

t.test('a vswitchd restart drops the link; it comes back by itself', async (t) => {
  const sb = await startOvs(t, { name: 'ofrst' });
  const bridge = await sb.addBridge('br');
  let drops = 0;
  let connects = 0;
  const ch = await open(t, sb, bridge, { onDisconnect: () => drops++, onConnect: () => connects++ });
  t.equal(connects, 1);
  await sb.killVswitchd();
  const dropped = await until(async () => drops === 1 && !ch.connected, 5_000);
  t.ok(dropped.ok, `the kill is seen as a dropped link (${dropped.ms} ms)`);
  const refused = await ch.flowStats(COOKIE, ALL).then(
    () => 'answered',
    (e: Error) => e.name,
  );
  t.not(refused, 'answered', 'a request while vswitchd is down does not pretend to succeed');
  await sb.startVswitchd();
  const back = await until(async () => ch.connected && connects === 2, 15_000);
  t.ok(back.ok, `the channel reconnected after the restart (${back.ms} ms)`);
  await ch.bundle([{ type: 'flow_mod', command: 'add', flow: toOfFlow(FLOWS[0] as Flow) }]);
  t.same(await witness(sb, bridge), [FLOWS[0]], 'and programs the new vswitchd');
});
