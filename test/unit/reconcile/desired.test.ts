import { containsCidr } from 'cidr-tools';
import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, PeeringStatus, Vpc } from '../../../src/domain/types.js';
import {
  type Desired,
  DesiredCache,
  canaryCookie,
  canaryFlow,
  computeDesired,
  cookieMask,
  isOurCookie,
  isOurPort,
  patchPortNames,
  peeringCookie,
} from '../../../src/reconcile/desired.js';
import { type Flow, canonicalActions, canonicalMatch, flowKey, sameFlow } from '../../../src/ovs/flow.js';
import { planPorts } from '../../../src/reconcile/plan.js';
import type { BridgeInfo, PortInfo, Topology } from '../../../src/ovs/topology-parser.js';

const PREFIX = 0x5ee0;
const AT = '2025-01-01T00:00:00.000Z';
/** The port of a VPC's instances on its bridge, in every topology below. */
const LOCAL_PORT = 1;

const vpc = (id: string, cidrs: string[], bridge = `br-${id}`): Vpc => ({
  id, tenantId: 't1', cidrs, bridge, createdAt: AT, updatedAt: AT,
});
/** A peering id whose 12-hex suffix is `n` (never 0: that suffix is the canary's cookie). */
const pid = (n: number): string => `pcx-${n.toString(16).padStart(12, '0')}00000`;
const peering = (id: string, r: string, a: string, status: PeeringStatus = 'active'): Peering => ({
  id, tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status, requestedBy: 'u',
  createdAt: AT, updatedAt: AT, expiresAt: AT,
});
const stateOf = (vpcs: Vpc[], peerings: Peering[]): StateIndex =>
  new StateIndex({
    vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])),
    peerings: Object.fromEntries(peerings.map((p) => [p.id, p])),
  });

const port = (name: string, extra: Partial<PortInfo> = {}): PortInfo => ({
  name, ofport: null, type: '', peer: null, error: null, ...extra,
});
/** Bridges holding only their instances' port. */
function bareTopology(bridges: readonly string[]): Topology {
  return {
    bridges: new Map(bridges.map((b) => [b, { name: b, ports: new Map([['vm', port('vm', { ofport: LOCAL_PORT })]]) }])),
  };
}
/**
 * `topology` plus the given ports. With `assign`, a port without ofport or error gets the next
 * free number (from 10 on each bridge), as vswitchd would.
 */
function withPorts(
  topology: Topology,
  added: readonly { bridge: string; port: PortInfo }[],
  assign = true,
): Topology {
  const bridges = new Map<string, BridgeInfo>();
  for (const [name, b] of topology.bridges) bridges.set(name, { name, ports: new Map(b.ports) });
  for (const { bridge, port: p } of added) {
    const ports = bridges.get(bridge)!.ports as Map<string, PortInfo>;
    ports.set(p.name, assign && p.ofport === null && p.error === null ? { ...p, ofport: 9 + ports.size } : p);
  }
  return { bridges };
}
/** What the loop does: compute, create the missing patch pairs, compute again with their ofports. */
function converge(view: StateIndex, bridges: readonly string[]): { desired: Desired; topology: Topology } {
  const bare = bareTopology(bridges);
  const pairs = planPorts(computeDesired({ view, topology: bare, cookiePrefix: PREFIX }), bare).add;
  const topology = withPorts(
    bare,
    pairs.flatMap((d) => [
      { bridge: d.bridge, port: port(d.port, { type: 'patch', peer: d.peerPort }) },
      { bridge: d.peerBridge, port: port(d.peerPort, { type: 'patch', peer: d.port }) },
    ]),
  );
  return { desired: computeDesired({ view, topology, cookiePrefix: PREFIX }), topology };
}
const flowsOn = (d: Desired, bridge: string): readonly Flow[] => d.flows.get(bridge) ?? [];
const ofportOf = (topology: Topology, bridge: string, name: string): number =>
  topology.bridges.get(bridge)!.ports.get(name)!.ofport!;
const texts = (flows: readonly Flow[]): string[] =>
  flows.map((f) => `${f.table}/${f.priority} ${f.match} → ${f.actions}`).sort();

t.test('names, cookies and masks', (t) => {
  const id = 'pcx-0123456789abcdef0';
  t.same(patchPortNames(id), { requester: 'px0123456789abr', accepter: 'px0123456789aba', suffixHex: '0123456789ab' });
  t.ok(patchPortNames(id).requester.length <= 15, 'fits in an OpenFlow port name');
  t.equal(peeringCookie(PREFIX, id), 0x5ee0_0123_4567_89abn);
  t.equal(peeringCookie(PREFIX, 'pcx-0123456789abfffff'), peeringCookie(PREFIX, id), 'only the first 12 hex digits count');
  t.equal(canaryCookie(PREFIX), 0x5ee0_0000_0000_0000n);
  t.equal(cookieMask(), 0xffff_0000_0000_0000n);
  t.equal(canaryFlow(PREFIX).cookie & cookieMask(), BigInt(PREFIX) << 48n, 'the canary is ours');
  t.ok(isOurCookie(PREFIX, peeringCookie(PREFIX, id)));
  t.notOk(isOurCookie(PREFIX, peeringCookie(0x5ee1, id)));
  t.notOk(isOurCookie(PREFIX, 0x0123_4567_89abn));

  const ports: [string, boolean][] = [
    ['px0123456789abr', true], ['px0123456789aba', true], ['pxffffffffffffr', true],
    ['px0123456789abx', false], ['px0123456789ABr', false], ['px0123456789ab', false],
    ['px0123456789abcr', false], ['qx0123456789abr', false], ['eth0', false], ['br-a', false], ['', false],
  ];
  for (const [name, ours] of ports) t.equal(isOurPort(name), ours, name);

  for (const bad of [0, -1, 0x10000, 1.5, Number.NaN]) {
    t.throws(() => canaryCookie(bad), RangeError, `prefix ${bad}`);
  }
  for (const bad of ['pcx-123', 'pcx-0123456789ABCDEF0', 'vpc-0123456789abcdef0', ' pcx-0123456789abcdef0']) {
    t.throws(() => patchPortNames(bad), RangeError, bad);
    t.throws(() => peeringCookie(PREFIX, bad), RangeError, bad);
  }
  t.end();
});

t.test('the flows of one peering, exactly (IPv4 and IPv6)', (t) => {
  const id = pid(1);
  const view = stateOf(
    [vpc('r', ['10.0.0.0/16', 'fd00::/64']), vpc('a', ['10.1.0.0/16', 'fd01::/64'])],
    [peering(id, 'r', 'a')],
  );
  const { desired, topology } = converge(view, ['br-r', 'br-a']);
  const pr = ofportOf(topology, 'br-r', 'px000000000001r');
  const pa = ofportOf(topology, 'br-a', 'px000000000001a');
  t.same(texts(flowsOn(desired, 'br-r')), [
    `0/100 arp,arp_spa=10.0.0.0/16,arp_tpa=10.1.0.0/16 → output:${pr}`,
    `0/100 arp,arp_spa=10.1.0.0/16,arp_tpa=10.0.0.0/16,in_port=${pr} → NORMAL`,
    `0/100 icmp6,icmp_type=135,in_port=${pr},ipv6_src=fd01::/64,nd_target=fd00::/64 → NORMAL`,
    `0/100 icmp6,icmp_type=135,ipv6_src=fd00::/64,nd_target=fd01::/64 → output:${pr}`,
    `0/100 in_port=${pr},ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16 → NORMAL`,
    `0/100 in_port=${pr},ipv6,ipv6_dst=fd00::/64,ipv6_src=fd01::/64 → NORMAL`,
    `0/100 ip,nw_dst=10.1.0.0/16,nw_src=10.0.0.0/16 → output:${pr}`,
    `0/100 ipv6,ipv6_dst=fd01::/64,ipv6_src=fd00::/64 → output:${pr}`,
    `0/101 arp,arp_spa=10.0.0.0/16,in_port=${pr} → drop`,
    `0/101 in_port=${pr},ip,nw_src=10.0.0.0/16 → drop`,
    `0/101 in_port=${pr},ipv6,ipv6_src=fd00::/64 → drop`,
    `0/99 in_port=${pr} → drop`,
    '250/0  → drop',
  ]);
  t.same(texts(flowsOn(desired, 'br-a')), [
    `0/100 arp,arp_spa=10.0.0.0/16,arp_tpa=10.1.0.0/16,in_port=${pa} → NORMAL`,
    `0/100 arp,arp_spa=10.1.0.0/16,arp_tpa=10.0.0.0/16 → output:${pa}`,
    `0/100 icmp6,icmp_type=135,in_port=${pa},ipv6_src=fd00::/64,nd_target=fd01::/64 → NORMAL`,
    `0/100 icmp6,icmp_type=135,ipv6_src=fd01::/64,nd_target=fd00::/64 → output:${pa}`,
    `0/100 in_port=${pa},ip,nw_dst=10.1.0.0/16,nw_src=10.0.0.0/16 → NORMAL`,
    `0/100 in_port=${pa},ipv6,ipv6_dst=fd01::/64,ipv6_src=fd00::/64 → NORMAL`,
    `0/100 ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16 → output:${pa}`,
    `0/100 ipv6,ipv6_dst=fd00::/64,ipv6_src=fd01::/64 → output:${pa}`,
    `0/101 arp,arp_spa=10.1.0.0/16,in_port=${pa} → drop`,
    `0/101 in_port=${pa},ip,nw_src=10.1.0.0/16 → drop`,
    `0/101 in_port=${pa},ipv6,ipv6_src=fd01::/64 → drop`,
    `0/99 in_port=${pa} → drop`,
    '250/0  → drop',
  ]);
  const cookie = peeringCookie(PREFIX, id);
  for (const f of [...flowsOn(desired, 'br-r'), ...flowsOn(desired, 'br-a')]) {
    t.equal(f.cookie, f.table === 250 ? canaryCookie(PREFIX) : cookie, `${f.match} carries its cookie`);
  }
  t.same(desired.peerings.get(id), { state: 'ready', flows: 24, bridges: ['br-r', 'br-a'] });
  t.same(desired.ports, [{ peeringId: id, bridge: 'br-r', port: 'px000000000001r', peerBridge: 'br-a', peerPort: 'px000000000001a' }]);
  t.same([...desired.cookies], [[cookie, id]]);
  t.end();
});

t.test('families and CIDR cross products', (t) => {
  // Flows on the requester's bridge: 4 per same-family pair of blocks, 2 guards per local IPv4
  // block and 1 per local IPv6 block (whatever the peer has), and the patch drop.
  const count = (l4: number, l6: number, q4: number, q6: number): number => 4 * (l4 * q4 + l6 * q6) + 2 * l4 + l6 + 1;
  const cases: { name: string; r: string[]; a: string[] }[] = [
    { name: 'IPv4 only', r: ['10.0.0.0/16'], a: ['10.1.0.0/16'] },
    { name: 'IPv6 only', r: ['fd00::/64'], a: ['fd01::/48'] },
    { name: 'dual stack', r: ['10.0.0.0/16', 'fd00::/64'], a: ['10.1.0.0/16', 'fd01::/64'] },
    { name: 'several blocks per side', r: ['10.0.0.0/16', '10.2.0.0/16', '192.168.7.0/24'], a: ['10.1.0.0/16', '172.16.0.0/12'] },
    { name: 'host blocks', r: ['10.0.0.7/32', 'fd00::7/128'], a: ['10.1.0.0/16', 'fd01::/64'] },
    { name: 'v4 meets v6 only', r: ['10.0.0.0/16'], a: ['fd01::/64'] },
    { name: 'mixed, unequal', r: ['10.0.0.0/16', 'fd00::/64', 'fd02::/64'], a: ['10.1.0.0/16', '10.3.0.0/16', 'fd01::/64'] },
  ];
  for (const c of cases) {
    const id = pid(7);
    const view = stateOf([vpc('r', c.r), vpc('a', c.a)], [peering(id, 'r', 'a')]);
    const { desired } = converge(view, ['br-r', 'br-a']);
    const fam = (list: string[], v6: boolean): string[] => list.filter((x) => x.includes(':') === v6);
    const [r4, r6, a4, a6] = [fam(c.r, false), fam(c.r, true), fam(c.a, false), fam(c.a, true)];
    const onR = flowsOn(desired, 'br-r').filter((f) => f.table === 0);
    const onA = flowsOn(desired, 'br-a').filter((f) => f.table === 0);
    t.equal(onR.length, count(r4.length, r6.length, a4.length, a6.length), `${c.name}: count on br-r`);
    t.equal(onA.length, count(a4.length, a6.length, r4.length, r6.length), `${c.name}: count on br-a`);
    t.equal(desired.peerings.get(id)?.flows, onR.length + onA.length, `${c.name}: flows of the peering`);
    t.equal(new Set(onR.map(flowKey)).size, onR.length, `${c.name}: no duplicate keys`);
    // The cross product: every same-family (local, peer) pair is steered out, and nothing else.
    const outPairs = (flows: readonly Flow[]): string[] =>
      flows
        .filter((f) => f.actions.startsWith('output:') && /^(ip|ipv6),/.test(f.match))
        .map((f) => {
          const src = /(?:nw|ipv6)_src=([^,]+)/.exec(f.match)![1]!;
          const dst = /(?:nw|ipv6)_dst=([^,]+)/.exec(f.match)![1]!;
          return `${src} ${dst}`;
        })
        .sort();
    const canonical = (cidr: string): string => canonicalMatch(cidr.includes(':') ? `ipv6,ipv6_src=${cidr}` : `ip,nw_src=${cidr}`).split('=')[1]!;
    const expected = [
      ...r4.flatMap((l) => a4.map((q) => `${canonical(l)} ${canonical(q)}`)),
      ...r6.flatMap((l) => a6.map((q) => `${canonical(l)} ${canonical(q)}`)),
    ].sort();
    t.same(outPairs(onR), expected, `${c.name}: steered pairs`);
    for (const f of [...onR, ...onA]) {
      t.notOk(/\d+\.\d+\.\d+\.\d+/.test(f.match) && f.match.includes(':'), `${c.name}: one family per flow: ${f.match}`);
    }
  }
  t.end();
});

t.test('every match spells its protocol keyword and is already canonical', (t) => {
  const view = stateOf(
    [
      vpc('hub', ['10.0.0.0/16', 'FD00:0:0:0::/64', '192.168.0.1/32']),
      vpc('x', ['10.1.0.0/16', 'fd01::1/128']),
      vpc('y', ['fd02::/64']),
      vpc('z', ['10.3.0.0/24']),
    ],
    [peering(pid(1), 'hub', 'x'), peering(pid(2), 'y', 'hub'), peering(pid(3), 'hub', 'z'), peering(pid(4), 'x', 'z')],
  );
  const { desired } = converge(view, ['br-hub', 'br-x', 'br-y', 'br-z']);
  const needs: [RegExp, RegExp][] = [
    [/(^|,)nw_(src|dst)=/, /(^|,)ip(,|$)/],
    [/(^|,)arp_(spa|tpa)=/, /(^|,)arp(,|$)/],
    [/(^|,)ipv6_(src|dst)=/, /(^|,)(ipv6|icmp6)(,|$)/],
    [/(^|,)nd_target=/, /(^|,)icmp6(,|$)/],
    [/(^|,)nd_target=/, /(^|,)icmp_type=(135|136)(,|$)/],
    [/(^|,)icmp_type=/, /(^|,)icmp6(,|$)/],
  ];
  let checked = 0;
  for (const [bridge, flows] of desired.flows) {
    for (const f of flows) {
      for (const [field, keyword] of needs) {
        if (field.test(f.match)) t.match(f.match, keyword, `${bridge}: ${f.match}`);
      }
      if (f.match !== '') t.equal(canonicalMatch(f.match), f.match, 'match is canonical');
      t.equal(canonicalActions(f.actions), f.actions, 'actions are canonical');
      checked++;
    }
  }
  t.ok(checked > 50, `${checked} flows checked`);
  t.end();
});

// A small classifier for the flows we write, to show what a packet meets on each bridge.
type Kind = 'ip' | 'arp' | 'ipv6' | 'ns' | 'na';
interface Packet {
  readonly kind: Kind;
  readonly src: string;
  readonly dst: string;
  /** Neighbour discovery target. */
  readonly target?: string;
}
const KEYWORDS: Record<string, readonly Kind[]> = { ip: ['ip'], arp: ['arp'], ipv6: ['ipv6', 'ns', 'na'], icmp6: ['ns', 'na'] };
const inBlock = (address: string | undefined, block: string): boolean =>
  address !== undefined && address.includes(':') === block.includes(':') && containsCidr(block, address);

function matches(f: Flow, inPort: number, p: Packet): boolean {
  for (const token of f.match === '' ? [] : f.match.split(',')) {
    const [key = '', value] = token.split('=');
    let ok: boolean;
    if (value === undefined) ok = KEYWORDS[key]?.includes(p.kind) ?? t.fail(`unknown keyword ${key}`);
    else if (key === 'in_port') ok = Number(value) === inPort;
    else if (key === 'icmp_type') ok = p.kind === (value === '135' ? 'ns' : 'na');
    else if (/^(nw_src|arp_spa|ipv6_src)$/.test(key)) ok = inBlock(p.src, value);
    else if (/^(nw_dst|arp_tpa|ipv6_dst)$/.test(key)) ok = inBlock(p.dst, value);
    else if (key === 'nd_target') ok = inBlock(p.target, value);
    else ok = t.fail(`unknown field ${key}`);
    if (!ok) return false;
  }
  return true;
}

/** The action table 0 takes for a packet; `default` when none of ours matches (the platform's NORMAL). */
function classify(flows: readonly Flow[], inPort: number, p: Packet): string {
  const hits = flows.filter((f) => f.table === 0 && matches(f, inPort, p));
  if (hits.length === 0) return 'default';
  const top = Math.max(...hits.map((f) => f.priority));
  const actions = new Set(hits.filter((f) => f.priority === top).map((f) => f.actions));
  // Two equal-priority flows with different actions would leave the choice to OVS.
  if (actions.size > 1) t.fail(`ambiguous at priority ${top}: ${[...actions].join(' | ')}`);
  return [...actions][0]!;
}

/**
 * Follows a packet sent by the instances of `from` through the data plane, flooding at every
 * NORMAL (the worst case: unknown unicast and broadcast go out of every port, patches
 * included). Returns the bridges whose instances the packet reaches.
 */
function reach(desired: Desired, topology: Topology, from: string, p: Packet): Set<string> {
  const patches = new Map<string, { bridge: string; ofport: number }>();
  for (const d of desired.ports) {
    const r = { bridge: d.bridge, ofport: ofportOf(topology, d.bridge, d.port) };
    const a = { bridge: d.peerBridge, ofport: ofportOf(topology, d.peerBridge, d.peerPort) };
    patches.set(`${r.bridge}/${r.ofport}`, a);
    patches.set(`${a.bridge}/${a.ofport}`, r);
  }
  const reached = new Set<string>();
  const seen = new Set<string>();
  const queue: [string, number][] = [[from, LOCAL_PORT]];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [bridge, inPort] = next;
    if (seen.has(`${bridge}/${inPort}`)) continue;
    seen.add(`${bridge}/${inPort}`);
    const action = classify(flowsOn(desired, bridge), inPort, p);
    const out: number[] = [];
    if (action.startsWith('output:')) out.push(Number(action.slice(7)));
    else if (action === 'NORMAL' || action === 'default') {
      if (bridge !== from) reached.add(bridge);
      for (const port of topology.bridges.get(bridge)!.ports.values()) {
        if (port.ofport !== inPort && port.ofport !== LOCAL_PORT) out.push(port.ofport!);
      }
    } else if (action !== 'drop') t.fail(`unexpected action ${action}`);
    for (const o of out) {
      const there = patches.get(`${bridge}/${o}`);
      if (there) queue.push([there.bridge, there.ofport]);
    }
  }
  return reached;
}

t.test('peering is not transitive (SPEC §3 rule 7): A–B and B–C never let A reach C', (t) => {
  // A is IPv4-only, B and C dual stack: A's patch on B must not reach C's IPv6 either.
  const cidrs: Record<string, string[]> = {
    a: ['10.1.0.0/16'],
    b: ['10.2.0.0/16', 'fd02::/64'],
    c: ['10.3.0.0/16', 'fd03::/64', '192.168.3.0/24'],
  };
  const view = stateOf(
    Object.entries(cidrs).map(([id, list]) => vpc(id, list)),
    [peering(pid(1), 'a', 'b'), peering(pid(2), 'b', 'c')],
  );
  const { desired, topology } = converge(view, ['br-a', 'br-b', 'br-c']);
  t.equal(desired.peerings.get(pid(1))?.state, 'ready');
  t.equal(desired.peerings.get(pid(2))?.state, 'ready');

  // One host per block, an outsider per family, and what every kind of packet can claim.
  const v4 = ['10.1.0.5', '10.2.0.5', '10.3.0.5', '192.168.3.5', '198.51.100.5'];
  const v6 = ['fd02::5', 'fd03::5', '2001:db8::5'];
  const packets: Packet[] = [];
  for (const src of v4) for (const dst of v4) packets.push({ kind: 'ip', src, dst }, { kind: 'arp', src, dst });
  for (const src of [...v6, '::']) {
    for (const target of v6) {
      packets.push({ kind: 'ns', src, dst: 'ff02::1:ff00:5', target }, { kind: 'ns', src, dst: target, target });
      packets.push({ kind: 'na', src, dst: 'ff02::1', target });
      for (const dst of v6) packets.push({ kind: 'ipv6', src, dst }, { kind: 'na', src, dst, target });
    }
  }
  const owner = (addr: string): string | undefined =>
    Object.keys(cidrs).find((id) => cidrs[id]!.some((c) => inBlock(addr, c)));

  for (const p of packets) {
    const label = `${p.kind} ${p.src} → ${p.dst}${p.target ? ` (target ${p.target})` : ''}`;
    const fromA = reach(desired, topology, 'br-a', p);
    const fromC = reach(desired, topology, 'br-c', p);
    t.notOk(fromA.has('br-c'), `A never reaches C: ${label}`);
    t.notOk(fromC.has('br-a'), `C never reaches A: ${label}`);
    // What crosses a peering carries a source of the VPC it came from.
    const fromB = reach(desired, topology, 'br-b', p);
    for (const reached of [...fromA, ...fromB, ...fromC]) t.not(`br-${owner(p.src)}`, reached, `no echo: ${label}`);
    if (fromA.has('br-b')) t.equal(owner(p.src), 'a', `only A's sources cross A–B: ${label}`);
    if (fromC.has('br-b')) t.equal(owner(p.src), 'c', `only C's sources cross B–C: ${label}`);
    if (fromB.has('br-a')) t.equal(owner(p.src), 'b', `only B's sources reach A: ${label}`);
  }

  // And what should pass does.
  const legit: [string, Packet, string][] = [
    ['br-a', { kind: 'ip', src: '10.1.0.5', dst: '10.2.0.5' }, 'br-b'],
    ['br-a', { kind: 'arp', src: '10.1.0.5', dst: '10.2.0.5' }, 'br-b'],
    ['br-b', { kind: 'ip', src: '10.2.0.5', dst: '10.1.0.5' }, 'br-a'],
    ['br-b', { kind: 'ip', src: '10.2.0.5', dst: '192.168.3.5' }, 'br-c'],
    ['br-b', { kind: 'ipv6', src: 'fd02::5', dst: 'fd03::5' }, 'br-c'],
    ['br-b', { kind: 'ns', src: 'fd02::5', dst: 'ff02::1:ff00:5', target: 'fd03::5' }, 'br-c'],
    ['br-c', { kind: 'na', src: 'fd03::5', dst: 'fd02::5', target: 'fd03::5' }, 'br-b'],
    ['br-c', { kind: 'ns', src: 'fd03::5', dst: 'ff02::1:ff00:5', target: 'fd02::5' }, 'br-b'],
    ['br-c', { kind: 'ipv6', src: 'fd03::5', dst: 'fd02::5' }, 'br-b'],
  ];
  for (const [from, p, to] of legit) t.ok(reach(desired, topology, from, p).has(to), `${from} → ${to}: ${p.kind} ${p.src} → ${p.dst}`);
  t.end();
});

t.test('many peerings on one bridge', (t) => {
  const spokes = Array.from({ length: 60 }, (_, i) => vpc(`s${i}`, [`10.${i + 1}.0.0/16`, `fd00:${i + 1}::/64`]));
  const view = stateOf(
    [vpc('hub', ['10.0.0.0/16', 'fd00::/64']), ...spokes],
    spokes.map((s, i) => (i % 2 === 0 ? peering(pid(i + 1), 'hub', s.id) : peering(pid(i + 1), s.id, 'hub'))),
  );
  const { desired } = converge(view, ['br-hub', ...spokes.map((s) => s.bridge)]);
  const hub = flowsOn(desired, 'br-hub');
  t.equal(hub.length, 1 + 60 * 12, 'the canary and 12 flows per peering');
  t.equal(new Set(hub.map(flowKey)).size, hub.length, 'no two flows share a key');
  t.equal(new Set(hub.map((f) => f.cookie)).size, 61, 'one cookie per peering, plus the canary');
  const inPorts = new Set(hub.flatMap((f) => /in_port=(\d+)/.exec(f.match)?.[1] ?? []));
  t.equal(inPorts.size, 60, 'one patch port per peering');
  t.ok([...desired.peerings.values()].every((p) => p.state === 'ready'));
  t.equal(desired.ports.length, 60);
  t.end();
});

t.test('a cookie selects exactly one peering; the canary is reserved', (t) => {
  const view = stateOf(
    [vpc('a', ['10.1.0.0/16']), vpc('b', ['10.2.0.0/16']), vpc('c', ['10.3.0.0/16'])],
    [peering(pid(1), 'a', 'b'), peering(pid(2), 'b', 'c'), peering(pid(3), 'a', 'c')],
  );
  const { desired } = converge(view, ['br-a', 'br-b', 'br-c']);
  const all = [...desired.flows.values()].flat();
  for (const id of [pid(1), pid(2), pid(3)]) {
    const c = peeringCookie(PREFIX, id);
    const selected = all.filter((f) => (f.cookie & -1n) === c); // what `cookie=C/-1` selects
    t.equal(selected.length, desired.peerings.get(id)!.flows, `${id}: all its flows and only them`);
    t.equal(desired.cookies.get(c), id);
  }
  const canaries = all.filter((f) => f.cookie === canaryCookie(PREFIX));
  t.same(canaries, [canaryFlow(PREFIX), canaryFlow(PREFIX), canaryFlow(PREFIX)], 'one canary per bridge, nothing else');
  t.ok(all.every((f) => isOurCookie(PREFIX, f.cookie)), 'every flow carries our prefix');

  const other = computeDesired({ view, topology: bareTopology([]), cookiePrefix: 0x1234 });
  t.equal(other.cookies.get(0x1234_0000_0000_0001n), pid(1), 'the prefix comes from the caller');

  // The suffix 0 would be the canary's cookie.
  const zero = 'pcx-00000000000012345';
  const z = computeDesired({
    view: stateOf([vpc('a', ['10.1.0.0/16']), vpc('b', ['10.2.0.0/16'])], [peering(zero, 'a', 'b')]),
    topology: bareTopology(['br-a', 'br-b']),
    cookiePrefix: PREFIX,
  });
  t.equal(z.peerings.get(zero)?.state, 'error');
  t.match(z.peerings.get(zero)?.error, /canary/);
  t.same(z.ports, []);
  t.equal(z.cookies.size, 0);
  t.end();
});

t.test('only active peerings produce anything', (t) => {
  const statuses: PeeringStatus[] = ['pending-acceptance', 'rejected', 'deleted', 'expired', 'failed'];
  const view = stateOf(
    [vpc('a', ['10.1.0.0/16']), vpc('b', ['10.2.0.0/16'])],
    statuses.map((s, i) => peering(pid(i + 1), 'a', 'b', s)),
  );
  const { desired } = converge(view, ['br-a', 'br-b']);
  t.same(desired.ports, []);
  t.equal(desired.flows.size, 0, 'no flows, not even a canary');
  t.equal(desired.peerings.size, 0);
  t.equal(desired.cookies.size, 0);
  t.end();
});

t.test('not-local, pending and error states', (t) => {
  const id = pid(0xabc);
  const names = patchPortNames(id);
  const view = stateOf([vpc('r', ['10.0.0.0/16']), vpc('a', ['10.1.0.0/16'])], [peering(id, 'r', 'a')]);
  const pair = { peeringId: id, bridge: 'br-r', port: names.requester, peerBridge: 'br-a', peerPort: names.accepter };
  const patch = (name: string, peer: string, extra: Partial<PortInfo> = {}): PortInfo =>
    port(name, { type: 'patch', peer, ...extra });
  const r = (extra: Partial<PortInfo> = {}): { bridge: string; port: PortInfo } =>
    ({ bridge: 'br-r', port: patch(names.requester, names.accepter, extra) });
  const a = (extra: Partial<PortInfo> = {}): { bridge: string; port: PortInfo } =>
    ({ bridge: 'br-a', port: patch(names.accepter, names.requester, extra) });
  const both = bareTopology(['br-r', 'br-a']);

  const cases: { name: string; topology: Topology; state: string; ports: boolean; error?: RegExp }[] = [
    { name: 'no bridge here', topology: bareTopology(['br-x']), state: 'not-local', ports: false },
    { name: 'accepter bridge missing', topology: bareTopology(['br-r']), state: 'not-local', ports: false },
    { name: 'requester bridge missing', topology: bareTopology(['br-a']), state: 'not-local', ports: false },
    { name: 'no patch ports yet', topology: both, state: 'pending', ports: true },
    { name: 'no ofport yet', topology: withPorts(both, [r(), a()], false), state: 'pending', ports: true },
    { name: 'ofport -1, no error text', topology: withPorts(both, [r(), a({ ofport: -1 })]), state: 'pending', ports: true },
    { name: 'one side only', topology: withPorts(both, [r()]), state: 'pending', ports: true },
    { name: 'one side wrong peer', topology: withPorts(both, [r(), { bridge: 'br-a', port: patch(names.accepter, 'elsewhere') }]), state: 'pending', ports: true },
    { name: 'one side not a patch', topology: withPorts(both, [r(), { bridge: 'br-a', port: port(names.accepter, { type: 'internal' }) }]), state: 'pending', ports: true },
    { name: 'one side on the wrong bridge', topology: withPorts(withPorts(both, [r()]), [{ bridge: 'br-r', port: patch(names.accepter, names.requester) }]), state: 'pending', ports: true },
    { name: 'interface error', topology: withPorts(both, [r(), a({ error: 'could not add network device' })]), state: 'error', ports: true, error: /could not add network device/ },
    { name: 'an error but an ofport', topology: withPorts(both, [r(), a({ ofport: 12, error: 'stale text' })]), state: 'ready', ports: true },
    { name: 'both ready', topology: withPorts(both, [r(), a()]), state: 'ready', ports: true },
  ];
  for (const c of cases) {
    const d = computeDesired({ view, topology: c.topology, cookiePrefix: PREFIX });
    const p = d.peerings.get(id);
    t.equal(p?.state, c.state, `${c.name}: state`);
    t.same(p?.bridges, ['br-r', 'br-a'], `${c.name}: bridges`);
    t.same(d.ports, c.ports ? [pair] : [], `${c.name}: ports`);
    if (c.state === 'ready') t.ok(p!.flows > 0 && d.flows.size === 2, `${c.name}: flows on both bridges`);
    else t.ok(p?.flows === 0 && d.flows.size === 0, `${c.name}: no flows`);
    if (c.error) t.match(p?.error, c.error, `${c.name}: error`);
    else if (c.state !== 'error') t.notOk(p && 'error' in p, `${c.name}: no error`);
  }

  const orphan = computeDesired({
    view: stateOf([vpc('r', ['10.0.0.0/16'])], [peering(id, 'r', 'gone')]),
    topology: both,
    cookiePrefix: PREFIX,
  });
  t.match(orphan.peerings.get(id), { state: 'error', error: /gone/ }, 'unknown VPC');
  const loop = computeDesired({
    view: stateOf([vpc('r', ['10.0.0.0/16']), vpc('a', ['10.1.0.0/16'], 'br-r')], [peering(id, 'r', 'a')]),
    topology: both,
    cookiePrefix: PREFIX,
  });
  t.match(loop.peerings.get(id), { state: 'error', error: /br-r/ }, 'both VPCs on one bridge');
  t.same(loop.ports, [], 'no patch loop');
  t.end();
});

t.test('conflicts go to the smaller peering id; the other gets error and no ports', (t) => {
  // Same 12-hex suffix: same port names, same cookie.
  const first = 'pcx-00000000000a00001';
  const second = 'pcx-00000000000a00002';
  const clash = stateOf(
    [vpc('a', ['10.1.0.0/16']), vpc('b', ['10.2.0.0/16']), vpc('c', ['10.3.0.0/16'])],
    [peering(second, 'a', 'b'), peering(first, 'b', 'c')],
  );
  const d1 = converge(clash, ['br-a', 'br-b', 'br-c']).desired;
  t.equal(d1.peerings.get(first)?.state, 'ready');
  t.match(d1.peerings.get(second), { state: 'error', flows: 0, error: new RegExp(first) });
  t.same(d1.ports.map((p) => p.peeringId), [first]);
  t.equal(d1.cookies.get(peeringCookie(PREFIX, first)), first);
  t.equal(flowsOn(d1, 'br-a').length, 0, 'nothing of the loser');

  // Two peerings of one VPC steering to the same block (SPEC §3 rule 4 broken by a race).
  const overlap = stateOf(
    [vpc('r', ['10.0.0.0/16', 'fd00::/64']), vpc('x', ['10.5.0.0/16']), vpc('y', ['10.5.0.0/16', 'fd05::/64'])],
    [peering(pid(2), 'r', 'x'), peering(pid(1), 'y', 'r')],
  );
  const d2 = converge(overlap, ['br-r', 'br-x', 'br-y']).desired;
  t.equal(d2.peerings.get(pid(1))?.state, 'ready');
  t.match(d2.peerings.get(pid(2)), { state: 'error', error: /10\.0\.0\.0\/16 → 10\.5\.0\.0\/16.*br-r/ });
  t.same(d2.ports.map((p) => p.peeringId), [pid(1)], 'no patch pair without its flows');
  t.equal(flowsOn(d2, 'br-x').length, 0);
  t.end();
});

t.test('a cache reuses flows of unchanged records and nothing else', (t) => {
  const id = pid(1);
  const r = vpc('r', ['10.0.0.0/16']);
  const a = vpc('a', ['10.1.0.0/16']);
  const state = stateOf([r, a], [peering(id, 'r', 'a')]);
  const { topology } = converge(state, ['br-r', 'br-a']);
  const cache = new DesiredCache();
  const run = (view: StateIndex, topo = topology): Desired => computeDesired({ view, topology: topo, cookiePrefix: PREFIX, cache });

  const first = run(state);
  const again = run(state);
  t.equal(flowsOn(again, 'br-r')[1], flowsOn(first, 'br-r')[1], 'same records: the same Flow objects');
  t.same(again, computeDesired({ view: state, topology, cookiePrefix: PREFIX }), 'equal to an uncached result');

  state.apply([{ op: 'vpc.put', vpc: { ...a, cidrs: ['10.1.0.0/16', '10.9.0.0/16'] } }]);
  const grown = run(state);
  t.same(grown, computeDesired({ view: state, topology, cookiePrefix: PREFIX }), 'a replaced VPC record is read afresh');
  t.ok(flowsOn(grown, 'br-r').some((f) => f.match.includes('10.9.0.0/16')));

  const moved = withPorts(topology, [{ bridge: 'br-r', port: port('px000000000001r', { type: 'patch', peer: 'px000000000001a', ofport: 77 }) }], false);
  const renumbered = run(state, moved);
  t.same(renumbered, computeDesired({ view: state, topology: moved, cookiePrefix: PREFIX }), 'a new ofport renders anew');
  t.ok(flowsOn(renumbered, 'br-r').some((f) => f.match === 'in_port=77'));

  const other = computeDesired({ view: state, topology: moved, cookiePrefix: 0x1234, cache });
  t.ok([...other.flows.values()].flat().every((f) => isOurCookie(0x1234, f.cookie)), 'another prefix renders anew');
  t.end();
});

t.test('computes 10,000 active peerings over 100 bridges quickly', (t) => {
  // 100 local VPCs in a full mesh (4,950 peerings, dual stack: 24 flows each) and 5,050 more
  // peerings from them to VPCs on other hosts (not-local).
  const local = Array.from({ length: 100 }, (_, i) => vpc(`v${i}`, [`10.${i}.0.0/16`, `fd00:${i}::/64`]));
  const remote = Array.from({ length: 5050 }, (_, i) => vpc(`w${i}`, [`172.${16 + (i >> 8)}.${i & 255}.0/24`]));
  const peerings: Peering[] = [];
  for (let i = 0; i < 100; i++) for (let j = i + 1; j < 100; j++) peerings.push(peering(pid(peerings.length + 1), `v${i}`, `v${j}`));
  remote.forEach((w, i) => peerings.push(peering(pid(peerings.length + 1), `v${i % 100}`, w.id)));
  const view = stateOf([...local, ...remote], peerings);
  const { topology } = converge(view, local.map((v) => v.bridge));

  const time = (runs: number, cache?: DesiredCache): { ms: number[]; d: Desired } => {
    const ms: number[] = [];
    let d = computeDesired({ view, topology, cookiePrefix: PREFIX, cache });
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      d = computeDesired({ view, topology, cookiePrefix: PREFIX, cache });
      ms.push(performance.now() - started);
    }
    return { ms, d };
  };
  const median = (ms: number[]): string => [...ms].sort((x, y) => x - y)[ms.length >> 1]!.toFixed(1);
  const cold = time(5);
  const warm = time(5, new DesiredCache());
  const states = [...warm.d.peerings.values()].map((p) => p.state);
  t.equal(states.filter((s) => s === 'ready').length, 4950);
  t.equal(states.filter((s) => s === 'not-local').length, 5050);
  const flows = [...warm.d.flows.values()].reduce((n, f) => n + f.length, 0);
  t.equal(flows, 4950 * 24 + 100);
  const same = [...cold.d.flows].every(([bridge, list]) => {
    const other = warm.d.flows.get(bridge)!;
    return other.length === list.length && list.every((f, i) => sameFlow(f, other[i]!));
  });
  t.ok(same && warm.d.flows.size === cold.d.flows.size, 'the cache changes nothing but the time');
  t.comment(`computeDesired, ${peerings.length} active peerings, 100 bridges, ${flows} flows: ` +
    `without cache median ${median(cold.ms)} ms, with a warm cache median ${median(warm.ms)} ms`);
  t.end();
});
