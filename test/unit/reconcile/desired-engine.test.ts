// The desired engine's law: after any history of state and topology changes, what it returns is
// what computeDesired returns for the same input (ports and each bridge's flows in order, the
// peerings and cookies in order). Random histories over a few VPCs with overlapping CIDRs (so
// steering pairs clash), peering ids sharing 12-hex suffixes (and the canary's zero suffix, and
// malformed ones), bridges that come and go, and patch ports that gain, lose or change ofports.
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Mutation, Peering, PeeringStatus, Vpc } from '../../../src/domain/types.js';
import type { Flow } from '../../../src/ovs/flow.js';
import type { BridgeInfo, PortInfo, Topology } from '../../../src/ovs/topology-parser.js';
import { createDesiredEngine } from '../../../src/reconcile/desired-engine.js';
import { computeDesired, type Desired, DesiredCache, patchPortNames } from '../../../src/reconcile/desired.js';
import { plannedTopology, planPorts, withRequestedOfports } from '../../../src/reconcile/plan.js';
import { holds } from '../../helpers/property.js';

const PREFIX = 0x5ee0;
/** How often each outcome came up over the histories (printed: a generator that stops reaching one shows). */
const STATS = new Map<string, number>();
const AT = '2025-01-01T00:00:00.000Z';
const BRIDGES = ['br-0', 'br-1', 'br-2', 'br-3', 'br-4', 'br-5'];
const VPC_IDS = ['vpc-0', 'vpc-1', 'vpc-2', 'vpc-3', 'vpc-4'];
/** Blocks that overlap and repeat across VPCs: equal pairs on a bridge are steering clashes. */
const BLOCKS = ['10.0.0.0/16', '10.0.0.0/24', '10.1.0.0/16', '10.2.0.0/16', '0.0.0.0/0', 'fd00::/64', 'fd01::/64'];
/** Suffixes 1 and 2 are shared by several ids; 0 is the canary's cookie. */
const PEERING_IDS = [
  'pcx-00000000000100000', 'pcx-00000000000100001', 'pcx-00000000000200000', 'pcx-00000000000200007',
  'pcx-00000000000300000', 'pcx-00000000000400000', 'pcx-00000000000500000', 'pcx-00000000000600000',
  'pcx-00000000000700000', 'pcx-00000000000800000', 'pcx-00000000000000009', 'pcx-bad',
];
const STATUSES: PeeringStatus[] = ['active', 'active', 'active', 'pending-acceptance', 'deleted'];

const vpc = (id: string, cidrs: string[], bridge: string): Vpc => ({ id, tenantId: 't1', cidrs, bridge, createdAt: AT, updatedAt: AT });
const peering = (id: string, r: string, a: string, status: PeeringStatus): Peering => ({
  id, tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status, requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
});
const port = (name: string, extra: Partial<PortInfo> = {}): PortInfo => ({ name, ofport: null, type: '', peer: null, error: null, ...extra });

type Step =
  | { t: 'vpc.put'; id: string; cidrs: string[]; bridge: string }
  | { t: 'vpc.del'; id: string }
  | { t: 'peering.put'; id: string; r: string; a: string; status: PeeringStatus }
  | { t: 'peering.del'; id: string }
  | { t: 'several'; n: number }
  | { t: 'bridge.add'; bridge: string }
  | { t: 'bridge.del'; bridge: string }
  | { t: 'port.set'; own: boolean; bridge: string; id: string; side: 'r' | 'a'; ofport: number | null; kind: 'patch' | 'wrong-peer' | 'internal' | 'error' | 'failed' }
  | { t: 'port.del'; own: boolean; bridge: string; id: string; side: 'r' | 'a' }
  | { t: 'converge' }
  | { t: 'reread' }
  | { t: 'new-view' }
  | { t: 'prefix'; prefix: number };

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('vpc.put' as const), id: pick(VPC_IDS), cidrs: fc.subarray(BLOCKS, { minLength: 1, maxLength: 3 }), bridge: pick(BRIDGES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('vpc.del' as const), id: pick(VPC_IDS) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('peering.put' as const), id: pick(PEERING_IDS), r: pick([...VPC_IDS, 'vpc-x']), a: pick(VPC_IDS), status: pick(STATUSES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('peering.del' as const), id: pick(PEERING_IDS) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('several' as const), n: fc.integer({ min: 2, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('bridge.add' as const), bridge: pick(BRIDGES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bridge.del' as const), bridge: pick(BRIDGES) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('port.set' as const), own: fc.boolean(), bridge: pick(BRIDGES), id: pick(PEERING_IDS.slice(0, -1)), side: pick(['r', 'a'] as const),
      ofport: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null, freq: 3 }), kind: pick(['patch', 'patch', 'wrong-peer', 'internal', 'error', 'failed'] as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('port.del' as const), own: fc.boolean(), bridge: pick(BRIDGES), id: pick(PEERING_IDS.slice(0, -1)), side: pick(['r', 'a'] as const) }) },
  { weight: 5, arbitrary: fc.constant({ t: 'converge' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reread' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'new-view' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('prefix' as const), prefix: pick([PREFIX, 0x1]) }) },
);

/** A history's world: the one StateIndex the engine reads (mutated in place, as the store does), a topology, a prefix. */
interface World {
  view: StateIndex;
  topology: Topology;
  prefix: number;
}

function setPorts(topology: Topology, bridge: string, edit: (ports: Map<string, PortInfo>) => void): Topology {
  const b = topology.bridges.get(bridge);
  if (!b) return topology;
  const bridges = new Map(topology.bridges);
  const ports = new Map(b.ports);
  edit(ports);
  bridges.set(bridge, { name: bridge, ports });
  return { bridges };
}

/** The same topology in new objects, as a fresh read from OVS gives it. */
function reread(topology: Topology): Topology {
  const bridges = new Map<string, BridgeInfo>();
  for (const [name, b] of topology.bridges) bridges.set(name, { name, ports: new Map([...b.ports].map(([n, p]) => [n, { ...p }])) });
  return { bridges };
}

let mutationSeed = 0;
/** A mutation of the state that the generator did not choose (for `several`). */
function anyMutation(): Mutation {
  const n = mutationSeed++;
  const id = PEERING_IDS[n % PEERING_IDS.length] as string;
  if (n % 3 === 0) return { op: 'vpc.put', vpc: vpc(VPC_IDS[n % VPC_IDS.length] as string, [BLOCKS[n % BLOCKS.length] as string], BRIDGES[n % BRIDGES.length] as string) };
  return { op: 'peering.put', peering: peering(id, VPC_IDS[n % 5] as string, VPC_IDS[(n * 7 + 1) % 5] as string, STATUSES[n % STATUSES.length] as PeeringStatus) };
}

/** `own`: the bridge of the VPC of that side, where the peering looks for its port; else `bridge`. */
function where(w: World, s: { own: boolean; bridge: string; id: string; side: 'r' | 'a' }): string {
  const p = w.view.getPeering(s.id);
  const own = p && w.view.getVpc(s.side === 'r' ? p.requesterVpcId : p.accepterVpcId)?.bridge;
  return s.own && own ? own : s.bridge;
}

function apply(w: World, s: Step, cache: DesiredCache): void {
  switch (s.t) {
    case 'vpc.put':
      w.view.apply([{ op: 'vpc.put', vpc: vpc(s.id, s.cidrs, s.bridge) }]);
      return;
    case 'vpc.del':
      w.view.apply([{ op: 'vpc.del', id: s.id }]);
      return;
    case 'peering.put':
      w.view.apply([{ op: 'peering.put', peering: peering(s.id, s.r, s.a, s.status) }]);
      return;
    case 'peering.del':
      w.view.apply([{ op: 'peering.del', id: s.id }]);
      return;
    case 'several':
      w.view.apply(Array.from({ length: s.n }, anyMutation));
      return;
    case 'bridge.add': {
      if (w.topology.bridges.has(s.bridge)) return;
      const bridges = new Map(w.topology.bridges);
      bridges.set(s.bridge, { name: s.bridge, ports: new Map([['vm', port('vm', { ofport: 1 })]]) });
      w.topology = { bridges };
      return;
    }
    case 'bridge.del': {
      const bridges = new Map(w.topology.bridges);
      bridges.delete(s.bridge);
      w.topology = { bridges };
      return;
    }
    case 'port.set': {
      if (!/^pcx-[0-9a-f]{17}$/.test(s.id)) return;
      const names = patchPortNames(s.id);
      const [name, peer] = s.side === 'r' ? [names.requester, names.accepter] : [names.accepter, names.requester];
      const info =
        s.kind === 'patch' ? port(name, { type: 'patch', peer, ofport: s.ofport })
        : s.kind === 'wrong-peer' ? port(name, { type: 'patch', peer: 'elsewhere', ofport: s.ofport })
        : s.kind === 'internal' ? port(name, { type: 'internal', ofport: s.ofport })
        : s.kind === 'error' ? port(name, { type: 'patch', peer, ofport: s.ofport, error: 'could not add' })
        : port(name, { type: 'patch', peer, ofport: null, error: 'could not add' });
      w.topology = setPorts(w.topology, where(w, s), (ports) => ports.set(name, info));
      return;
    }
    case 'port.del': {
      if (!/^pcx-[0-9a-f]{17}$/.test(s.id)) return;
      const names = patchPortNames(s.id);
      w.topology = setPorts(w.topology, where(w, s), (ports) => ports.delete(s.side === 'r' ? names.requester : names.accepter));
      return;
    }
    case 'converge': {
      // What a pass does: the planned topology (stale ports gone, new pairs with requested ofports).
      const desired = computeDesired({ view: w.view, topology: w.topology, cookiePrefix: w.prefix, cache });
      const plan = planPorts(desired, w.topology);
      const doomed = [...plan.remove, ...plan.replace];
      w.topology = plannedTopology(w.topology, withRequestedOfports(plan.add, w.topology, doomed), doomed);
      return;
    }
    case 'reread':
      w.topology = reread(w.topology);
      return;
    case 'new-view':
      w.view = new StateIndex(w.view.toState());
      return;
    case 'prefix':
      w.prefix = s.prefix;
      return;
  }
}

/** A Desired as plain data: the flows map by bridge name (its order is not part of the contract). */
function plain(d: Desired): unknown {
  return {
    ports: [...d.ports],
    flows: [...d.flows].sort(([a], [b]) => (a < b ? -1 : 1)),
    peerings: [...d.peerings],
    cookies: [...d.cookies],
    sizes: [d.peerings.size, d.cookies.size],
    gets: [...d.peerings.keys()].map((id) => d.peerings.get(id)),
  };
}

t.test('the engine returns what computeDesired returns, after every step of any history', (t) => {
  // Every VPC and bridge to begin with, so that most peerings get as far as the steering claims.
  const vpcArb = fc.record({ cidrs: fc.subarray(BLOCKS, { minLength: 1, maxLength: 2 }), bridge: pick(BRIDGES) });
  const history = fc.record({
    vpcs: fc.tuple(...VPC_IDS.map(() => vpcArb)),
    initial: fc.array(stepArb, { maxLength: 12 }),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 40 }),
  });
  holds(
    t,
    'incremental equals full',
    fc.property(history, ({ vpcs, initial, steps }) => {
      const cache = new DesiredCache();
      const w: World = { view: new StateIndex(), topology: { bridges: new Map() }, prefix: PREFIX };
      vpcs.forEach((v, i) => apply(w, { t: 'vpc.put', id: VPC_IDS[i] as string, ...v }, cache));
      for (const bridge of BRIDGES) apply(w, { t: 'bridge.add', bridge }, cache);
      for (const s of initial) apply(w, s, cache);
      const engine = createDesiredEngine();
      for (const s of [{ t: 'reread' } as Step, ...steps]) {
        apply(w, s, cache);
        const got = engine.compute({ view: w.view, topology: w.topology, cookiePrefix: w.prefix });
        // A fresh cache: the reference shares nothing with the engine.
        const want = computeDesired({ view: w.view, topology: w.topology, cookiePrefix: w.prefix });
        for (const d of want.peerings.values()) STATS.set(d.reason ?? d.state, (STATS.get(d.reason ?? d.state) ?? 0) + 1);
        if (!isDeepStrictEqual(plain(got), plain(want))) {
          throw new Error(`after ${JSON.stringify(s)}:\ngot  ${inspect(got)}\nwant ${inspect(want)}`);
        }
      }
      return true;
    }),
    400,
  );
  t.comment(JSON.stringify([...STATS]));
  t.end();
});

function inspect(d: Desired): string {
  return JSON.stringify(plain(d), (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v));
}

/** Three peerings, each between its own two VPCs on their own bridges, with their patch ports. */
function threePeerings(): { view: StateIndex; topology: Topology; ids: string[] } {
  const ids = ['pcx-00000000000a00000', 'pcx-00000000000b00000', 'pcx-00000000000c00000'];
  const vpcs = ids.flatMap((_, i) => [vpc(`r${i}`, [`10.${2 * i}.0.0/16`], `br-r${i}`), vpc(`a${i}`, [`10.${2 * i + 1}.0.0/16`], `br-a${i}`)]);
  const view = new StateIndex({
    vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])),
    peerings: Object.fromEntries(ids.map((id, i) => [id, peering(id, `r${i}`, `a${i}`, 'active')])),
  });
  const bridges = new Map<string, BridgeInfo>();
  ids.forEach((id, i) => {
    const n = patchPortNames(id);
    bridges.set(`br-r${i}`, { name: `br-r${i}`, ports: new Map([[n.requester, port(n.requester, { type: 'patch', peer: n.accepter, ofport: 5 })]]) });
    bridges.set(`br-a${i}`, { name: `br-a${i}`, ports: new Map([[n.accepter, port(n.accepter, { type: 'patch', peer: n.requester, ofport: 6 })]]) });
  });
  return { view, topology: { bridges }, ids };
}

t.test('bridges a change does not reach keep their flow arrays; an unchanged input keeps the whole result', (t) => {
  const { view, topology, ids } = threePeerings();
  const engine = createDesiredEngine();
  const first = engine.compute({ view, topology, cookiePrefix: PREFIX });
  t.equal(engine.compute({ view, topology, cookiePrefix: PREFIX }), first, 'nothing changed: the same result');
  t.equal(engine.compute({ view, topology: reread(topology), cookiePrefix: PREFIX }), first, 'the same topology read again: the same result');

  view.apply([{ op: 'peering.put', peering: peering(ids[1] as string, 'r1', 'a1', 'deleted') }]);
  const second = engine.compute({ view, topology, cookiePrefix: PREFIX });
  for (const b of ['br-r0', 'br-a0', 'br-r2', 'br-a2']) t.equal(second.flows.get(b), first.flows.get(b), `${b}: the same array`);
  t.notOk(second.flows.has('br-r1'), 'the deleted peering took its bridge flows (and canary) with it');
  t.equal(second.peerings.get(ids[0] as string), first.peerings.get(ids[0] as string), 'an untouched peering keeps its entry');
  t.same(second.ports.map((p) => p.peeringId), [ids[0], ids[2]]);
  t.same(first.ports.map((p) => p.peeringId), ids, 'an earlier result is not changed by a later one');
  t.equal(first.peerings.size, 3);

  const moved = setPorts(topology, 'br-a2', (ports) => ports.set(patchPortNames(ids[2] as string).accepter, port('x', { type: 'patch', peer: patchPortNames(ids[2] as string).requester, ofport: 9 })));
  const third = engine.compute({ view, topology: moved, cookiePrefix: PREFIX });
  t.equal(third.flows.get('br-r2'), second.flows.get('br-r2'), 'the other side of a moved ofport keeps its array');
  t.not(third.flows.get('br-a2'), second.flows.get('br-a2'));
  t.ok((third.flows.get('br-a2') as Flow[]).some((f) => f.match.includes('in_port=9')), 'rendered for the new ofport');

  // Only the error text of a port without ofport changes: failed, then pending.
  const names = patchPortNames(ids[0] as string);
  const failing = (error: string | null): Topology =>
    setPorts(moved, 'br-a0', (ports) => ports.set(names.accepter, port(names.accepter, { type: 'patch', peer: names.requester, error })));
  t.equal(engine.compute({ view, topology: failing('no such device'), cookiePrefix: PREFIX }).peerings.get(ids[0] as string)?.reason, 'PATCH_PORT_FAILED');
  t.equal(engine.compute({ view, topology: failing(null), cookiePrefix: PREFIX }).peerings.get(ids[0] as string)?.state, 'pending');
  t.end();
});

t.test('a view further behind than its change log, or another view, is read afresh', (t) => {
  const { view, topology, ids } = threePeerings();
  const engine = createDesiredEngine();
  engine.compute({ view, topology, cookiePrefix: PREFIX });
  // Many puts of the same record: beyond what the log keeps.
  const again = view.getPeering(ids[0] as string) as Peering;
  for (let i = 0; i < 9000; i++) view.apply([{ op: 'peering.put', peering: { ...again, updatedAt: `${i}` } }]);
  view.apply([{ op: 'peering.del', id: ids[2] as string }]);
  const got = engine.compute({ view, topology, cookiePrefix: PREFIX });
  t.same(plain(got), plain(computeDesired({ view, topology, cookiePrefix: PREFIX })));
  const other = new StateIndex(view.toState());
  t.same(plain(engine.compute({ view: other, topology, cookiePrefix: PREFIX })), plain(computeDesired({ view: other, topology, cookiePrefix: PREFIX })));
  t.end();
});
