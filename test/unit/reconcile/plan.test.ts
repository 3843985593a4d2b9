import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, Vpc } from '../../../src/domain/types.js';
import {
  type Desired,
  type DesiredPort,
  canaryFlow,
  computeDesired,
  patchPortNames,
  peeringCookie,
} from '../../../src/reconcile/desired.js';
import { type Flow, bundleLine } from '../../../src/ovs/flow.js';
import { bundleFor, planFlows, planPorts } from '../../../src/reconcile/plan.js';
import type { PortInfo, Topology } from '../../../src/ovs/topology-parser.js';

const PREFIX = 0x5ee0;
const OURS = 0x5ee0_0000_0000_0001n;
const OURS_2 = 0x5ee0_0000_0000_0002n;
const FOREIGN = 0x1234_0000_0000_0001n;
const flow = (match: string, actions = 'NORMAL', cookie = OURS, priority = 100): Flow => ({ table: 0, priority, cookie, match, actions });

t.test('planFlows: add, modify, remove, unchanged', (t) => {
  const keep = flow('ip,nw_dst=10.1.0.0/16,nw_src=10.0.0.0/16', 'output:5');
  const recookied = flow('arp,arp_spa=10.0.0.0/16,arp_tpa=10.1.0.0/16', 'output:5');
  const retargeted = flow('in_port=5', 'drop', OURS, 99);
  const missing = flow('in_port=5,ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16');
  const stale = flow('in_port=9', 'drop', OURS_2, 99);
  const cases: { name: string; desired: Flow[]; installed: Flow[]; add: Flow[]; modify: Flow[]; remove: Flow[]; unchanged: number }[] = [
    { name: 'nothing', desired: [], installed: [], add: [], modify: [], remove: [], unchanged: 0 },
    { name: 'fresh bridge', desired: [keep, missing], installed: [], add: [keep, missing], modify: [], remove: [], unchanged: 0 },
    { name: 'converged', desired: [keep, missing], installed: [missing, keep], add: [], modify: [], remove: [], unchanged: 2 },
    { name: 'peering gone', desired: [], installed: [keep, stale], add: [], modify: [], remove: [keep, stale], unchanged: 0 },
    {
      name: 'drift of every kind',
      desired: [keep, recookied, retargeted, missing],
      installed: [keep, { ...recookied, cookie: OURS_2 }, { ...retargeted, actions: 'output:7' }, stale],
      add: [missing],
      modify: [recookied, retargeted],
      remove: [stale],
      unchanged: 1,
    },
    {
      name: 'another priority or table is another flow',
      desired: [keep],
      installed: [{ ...keep, priority: 101 }, { ...keep, table: 1 }],
      add: [keep],
      modify: [],
      remove: [{ ...keep, priority: 101 }, { ...keep, table: 1 }],
      unchanged: 0,
    },
  ];
  for (const c of cases) {
    t.same(planFlows(c.desired, c.installed, PREFIX), { add: c.add, modify: c.modify, remove: c.remove, unchanged: c.unchanged }, c.name);
  }
  t.end();
});

t.test('planFlows never removes a flow without our cookie prefix', (t) => {
  const foreign = flow('in_port=3', 'drop', FOREIGN, 99);
  const zero = flow('in_port=4', 'drop', 0n, 99);
  const plan = planFlows([], [foreign, zero, flow('in_port=5', 'drop', OURS, 99)], PREFIX);
  t.same(plan.remove.map((f) => f.match), ['in_port=5']);
  t.same(planFlows([], [foreign], 0x1234).remove, [foreign], 'the prefix is the caller’s');
  t.end();
});

t.test('planFlows: duplicate installed keys count once; duplicate desired keys are a bug', (t) => {
  const a = flow('in_port=5', 'drop', OURS, 99);
  const b = { ...a, actions: 'NORMAL' };
  t.same(planFlows([], [a, b, a], PREFIX), { add: [], modify: [], remove: [a], unchanged: 0 }, 'removed once');
  t.same(planFlows([a], [a, b], PREFIX), { add: [], modify: [], remove: [], unchanged: 1 }, 'the first is compared');
  t.same(planFlows([a], [b, a], PREFIX), { add: [], modify: [a], remove: [], unchanged: 0 }, 'the first is compared');
  t.throws(() => planFlows([a, b], [], PREFIX), /share the key/);
  t.end();
});

t.test('bundleFor: deletions first, then additions and modifications as adds', (t) => {
  const stale = flow('in_port=9', 'drop', OURS_2, 99);
  const added = flow('in_port=5', 'drop', OURS, 99);
  const modified = flow('in_port=5,ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16');
  const lines = bundleFor({ add: [added], modify: [modified], remove: [stale], unchanged: 3 });
  t.same(lines, [bundleLine('delete_strict', stale), bundleLine('add', added), bundleLine('add', modified)]);
  t.same(lines, [
    'delete_strict cookie=0x5ee0000000000002/-1,table=0,priority=99,in_port=9',
    'add cookie=0x5ee0000000000001,table=0,priority=99,in_port=5,actions=drop',
    'add cookie=0x5ee0000000000001,table=0,priority=100,in_port=5,ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16,actions=NORMAL',
  ]);
  t.same(bundleFor({ add: [], modify: [], remove: [], unchanged: 9 }), [], 'nothing to do, nothing to send');
  t.same(
    bundleFor({ add: [canaryFlow(PREFIX)], modify: [], remove: [canaryFlow(PREFIX)], unchanged: 0 }),
    ['delete_strict cookie=0x5ee0000000000000/-1,table=250,priority=0,', 'add cookie=0x5ee0000000000000,table=250,priority=0,,actions=drop'],
    'the canary’s empty match (ovs-ofctl skips empty fields)',
  );
  t.end();
});

// Ports: a small world of three VPCs, the hub peered with both others.
const AT = '2025-01-01T00:00:00.000Z';
const vpc = (id: string, cidr: string): Vpc => ({ id, tenantId: 't1', cidrs: [cidr], bridge: `br-${id}`, createdAt: AT, updatedAt: AT });
const peering = (id: string, r: string, a: string): Peering => ({
  id, tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status: 'active', requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
});
const P1 = 'pcx-00000000000100000';
const P2 = 'pcx-00000000000200000';
const N1 = patchPortNames(P1);
const N2 = patchPortNames(P2);
const view = new StateIndex({
  vpcs: { hub: vpc('hub', '10.0.0.0/16'), x: vpc('x', '10.1.0.0/16'), y: vpc('y', '10.2.0.0/16') },
  peerings: { [P1]: peering(P1, 'hub', 'x'), [P2]: peering(P2, 'y', 'hub') },
});
const PAIR1: DesiredPort = { peeringId: P1, bridge: 'br-hub', port: N1.requester, peerBridge: 'br-x', peerPort: N1.accepter };
const PAIR2: DesiredPort = { peeringId: P2, bridge: 'br-y', port: N2.requester, peerBridge: 'br-hub', peerPort: N2.accepter };

const patch = (name: string, peer: string, ofport = 10): PortInfo => ({ name, ofport, type: 'patch', peer, error: null });
const other = (name: string, type = ''): PortInfo => ({ name, ofport: 1, type, peer: null, error: null });
function topology(ports: Record<string, PortInfo[]>): Topology {
  return { bridges: new Map(Object.entries(ports).map(([b, list]) => [b, { name: b, ports: new Map(list.map((p) => [p.name, p])) }])) };
}
const desiredFor = (topo: Topology): Desired => computeDesired({ view, topology: topo, cookiePrefix: PREFIX });
/** The host with both pairs in place, plus ports that are not ours. */
const good = {
  'br-hub': [other('vm1'), other('br-hub', 'internal'), patch(N1.requester, N1.accepter), patch(N2.accepter, N2.requester, 11)],
  'br-x': [other('vm2'), patch(N1.accepter, N1.requester)],
  'br-y': [other('vm3'), patch(N2.requester, N2.accepter)],
};

t.test('planPorts', (t) => {
  const foreign = [other('eth0'), other('px123'), other('pxABCDEF012345r'), other('px0123456789abcr'), patch('patch-to-x', 'patch-to-hub')];
  type Ref = { bridge: string; port: string };
  const cases: { name: string; ports: Record<string, PortInfo[]>; add: DesiredPort[]; replace?: Ref[]; remove?: Ref[] }[] = [
    {
      name: 'nothing yet',
      ports: { 'br-hub': [other('vm1')], 'br-x': [other('vm2')], 'br-y': [other('vm3')] },
      add: [PAIR1, PAIR2],
    },
    { name: 'all in place', ports: good, add: [] },
    { name: 'foreign ports are never touched', ports: { ...good, 'br-x': [...good['br-x'], ...foreign] }, add: [] },
    { name: 'half a pair', ports: { ...good, 'br-x': [other('vm2')] }, add: [PAIR1] },
    {
      name: 'stale ports of a gone peering, on any bridge',
      ports: { ...good, 'br-x': [...good['br-x'], patch('px00000000000fr', 'px00000000000fa')], 'br-z': [patch('px00000000000fa', 'px00000000000fr')] },
      add: [],
      remove: [{ bridge: 'br-x', port: 'px00000000000fr' }, { bridge: 'br-z', port: 'px00000000000fa' }],
    },
    {
      name: 'wrong peer option repaired',
      ports: { ...good, 'br-x': [other('vm2'), patch(N1.accepter, 'px0000000000ffr')] },
      add: [PAIR1],
      replace: [{ bridge: 'br-x', port: N1.accepter }],
    },
    {
      name: 'not a patch port',
      ports: { ...good, 'br-y': [other('vm3'), { ...patch(N2.requester, N2.accepter), type: 'internal' }] },
      add: [PAIR2],
      replace: [{ bridge: 'br-y', port: N2.requester }],
    },
    {
      name: 'on the wrong bridge',
      ports: { ...good, 'br-x': [other('vm2')], 'br-y': [...good['br-y'], patch(N1.accepter, N1.requester)] },
      add: [PAIR1],
      replace: [{ bridge: 'br-y', port: N1.accepter }],
    },
    {
      name: 'the bridges of a peering left the host',
      ports: { 'br-hub': good['br-hub'], 'br-y': good['br-y'] },
      add: [],
      remove: [{ bridge: 'br-hub', port: N1.requester }],
    },
  ];
  for (const c of cases) {
    const topo = topology(c.ports);
    t.same(planPorts(desiredFor(topo), topo), { add: c.add, replace: c.replace ?? [], remove: c.remove ?? [] }, c.name);
  }
  t.end();
});

t.test('desired and plan together: converge, then stop a peering', (t) => {
  const topo = topology(good);
  const desired = desiredFor(topo);
  const onHub = desired.flows.get('br-hub') ?? [];
  t.equal(onHub.length, 1 + 2 * 7, 'the canary and 7 flows per IPv4 peering');

  const fresh = planFlows(onHub, [], PREFIX);
  t.same([fresh.add.length, fresh.modify.length, fresh.remove.length, fresh.unchanged], [onHub.length, 0, 0, 0]);
  const converged = planFlows(onHub, [...onHub].reverse(), PREFIX);
  t.same([converged.add.length, converged.modify.length, converged.remove.length, converged.unchanged], [0, 0, 0, onHub.length]);

  // P1 is deleted: its flows and ports on the hub go, P2's and the canary stay.
  const after = new StateIndex(view.toState());
  after.apply([{ op: 'peering.put', peering: { ...peering(P1, 'hub', 'x'), status: 'deleted' } }]);
  const next = computeDesired({ view: after, topology: topo, cookiePrefix: PREFIX });
  const plan = planFlows(next.flows.get('br-hub') ?? [], onHub, PREFIX);
  t.equal(plan.remove.length, 7);
  t.ok(plan.remove.every((f) => f.cookie === peeringCookie(PREFIX, P1)), 'only the stopped peering’s flows');
  t.same([plan.add.length, plan.modify.length, plan.unchanged], [0, 0, 8]);
  t.equal(next.flows.get('br-x'), undefined, 'nothing left on br-x, not even the canary');
  const emptied = planFlows([], desired.flows.get('br-x') ?? [], PREFIX);
  t.equal(emptied.remove.length, 8, 'so the whole bridge is cleaned, canary included');
  t.same(planPorts(next, topo), { add: [], replace: [], remove: [{ bridge: 'br-hub', port: N1.requester }, { bridge: 'br-x', port: N1.accepter }] });
  t.end();
});
