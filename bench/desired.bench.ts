// The desired-state computation of one peering.accept, in process (issue #12): a converged host
// (every VPC on its own bridge, every active peering's patch pair in the topology with its
// ofports), one more peering accepted, then what a pass computes for it: the desired flows for
// the topology (a fresh read: new objects), the port plan, and the desired flows again for the
// planned topology (the new pair with its requested ofports). Timed with the engine the data plane
// uses (desired-engine.ts) and with two full computeDesired calls (what prepare() did before),
// both with a warm DesiredCache. Prints one JSON line per figure and a summary. Pure CPU: run it
// with `node dist/bench/desired.bench.js` after `npm run build` (or through `npm run bench`).
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { StateIndex } from '../src/domain/state-index.js';
import type { Peering, Vpc } from '../src/domain/types.js';
import type { BridgeInfo, PortInfo, Topology } from '../src/ovs/topology-parser.js';
import { createDesiredEngine } from '../src/reconcile/desired-engine.js';
import { computeDesired, type Desired, DesiredCache, patchPortNames } from '../src/reconcile/desired.js';
import { plannedTopology, planPorts, withRequestedOfports } from '../src/reconcile/plan.js';
import { percentile } from './rpc.bench.js';

const PREFIX = 0x5ee0;
const AT = '2025-01-01T00:00:00.000Z';
const HOSTS = [
  { vpcs: 100, peerings: 1_000, runs: 200 },
  { vpcs: 200, peerings: 10_000, runs: 40 },
] as const;

export interface DesiredFigure {
  readonly way: 'engine' | 'full';
  readonly vpcs: number;
  readonly peerings: number;
  readonly runs: number;
  /** The first accept after the host was built (the closest to the daemon's cold run). */
  readonly firstMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  /** Of p50Ms's kind: the second compute alone (the planned topology of prepare()). */
  readonly plannedP50Ms: number;
  /**
   * What runs between the two computes (planPorts, withRequestedOfports, plannedTopology: not in
   * the figures above): they walk every port of the host, whichever way the desired state is computed.
   */
  readonly portPlanP50Ms: number;
}

const vpc = (i: number): Vpc => ({
  id: `vpc-${i}`, tenantId: 't1', cidrs: [`10.${i >> 8}.${i & 0xff}.0/24`], bridge: `br-${i}`, createdAt: AT, updatedAt: AT,
});
const peeringId = (n: number): string => `pcx-${(n + 1).toString(16).padStart(12, '0')}00000`;
const peering = (n: number, r: number, a: number): Peering => ({
  id: peeringId(n), tenantId: 't1', requesterVpcId: `vpc-${r}`, accepterVpcId: `vpc-${a}`, status: 'active', requestedBy: 'u',
  createdAt: AT, updatedAt: AT, expiresAt: AT,
});

/** The n-th pair of distinct VPCs (r < a), in a fixed order: every peering joins a pair no other does. */
function* vpcPairs(vpcs: number): Generator<[number, number]> {
  for (let gap = 1; gap < vpcs; gap++) for (let r = 0; r + gap < vpcs; r++) yield [r, r + gap];
}

/** The same topology in new objects: what a fresh read of OVS gives. */
function reread(topology: Topology): Topology {
  const bridges = new Map<string, BridgeInfo>();
  for (const [name, b] of topology.bridges) bridges.set(name, { name, ports: new Map([...b.ports].map(([n, p]) => [n, { ...p }])) });
  return { bridges };
}

function host(vpcs: number, peerings: number): { view: StateIndex; topology: Topology; pairs: Generator<[number, number]> } {
  const pairs = vpcPairs(vpcs);
  const view = new StateIndex();
  view.apply(Array.from({ length: vpcs }, (_, i) => ({ op: 'vpc.put' as const, vpc: vpc(i) })));
  const ports = Array.from({ length: vpcs }, () => new Map<string, PortInfo>([['vm', { name: 'vm', ofport: 1, type: '', peer: null, error: null }]]));
  for (let n = 0; n < peerings; n++) {
    const [r, a] = pairs.next().value as [number, number];
    view.apply([{ op: 'peering.put', peering: peering(n, r, a) }]);
    const names = patchPortNames(peeringId(n));
    const side = (on: number, name: string, peer: string): void => {
      const m = ports[on] as Map<string, PortInfo>;
      m.set(name, { name, ofport: 32768 + m.size, type: 'patch', peer, error: null });
    };
    side(r, names.requester, names.accepter);
    side(a, names.accepter, names.requester);
  }
  const bridges = new Map<string, BridgeInfo>(ports.map((m, i) => [`br-${i}`, { name: `br-${i}`, ports: m }]));
  return { view, topology: { bridges }, pairs };
}

async function time(way: DesiredFigure['way'], vpcs: number, peerings: number, runs: number): Promise<DesiredFigure & { last: Desired; check: Desired }> {
  const { view, topology: built, pairs } = host(vpcs, peerings);
  const cache = new DesiredCache();
  const engine = createDesiredEngine(cache);
  const compute = (topology: Topology): Desired =>
    way === 'engine' ? engine.compute({ view, topology, cookiePrefix: PREFIX }) : computeDesired({ view, topology, cookiePrefix: PREFIX, cache });
  // The host as the daemon has it before the accept: computed once, its flows installed.
  let topology = built;
  compute(topology);
  const ms: number[] = [];
  const planMs: number[] = [];
  const plannedMs: number[] = [];
  let last: Desired | null = null;
  for (let i = 0; i < runs; i++) {
    const [r, a] = pairs.next().value as [number, number];
    view.apply([{ op: 'peering.put', peering: peering(peerings + i, r, a) }]);
    topology = reread(topology);
    // Let the event loop turn (the daemon does an RPC, an fsync): no run rides on the last one's JIT state alone.
    await new Promise((resolve) => setImmediate(resolve));
    const start = performance.now();
    const first = compute(topology);
    const between = performance.now();
    const plan = planPorts(first, topology);
    const planned = plannedTopology(topology, withRequestedOfports(plan.add, topology, []), []);
    const second = performance.now();
    last = compute(planned);
    const end = performance.now();
    ms.push(between - start + (end - second));
    plannedMs.push(end - second);
    planMs.push(second - between);
    topology = planned;
  }
  const firstMs = ms[0] ?? 0;
  ms.sort((x, y) => x - y);
  planMs.sort((x, y) => x - y);
  plannedMs.sort((x, y) => x - y);
  const check = computeDesired({ view, topology, cookiePrefix: PREFIX });
  return { way, vpcs, peerings, runs, firstMs, p50Ms: percentile(ms, 50), p90Ms: percentile(ms, 90), plannedP50Ms: percentile(plannedMs, 50), portPlanP50Ms: percentile(planMs, 50), last: last as Desired, check };
}

/** A Desired as plain data, for the one check that the engine's result is computeDesired's. */
function plain(d: Desired): unknown {
  return { ports: d.ports, flows: [...d.flows].sort(([a], [b]) => (a < b ? -1 : 1)), peerings: [...d.peerings], cookies: [...d.cookies] };
}

export async function runDesiredBench(): Promise<DesiredFigure[]> {
  const figures: DesiredFigure[] = [];
  for (const h of HOSTS) {
    for (const way of ['full', 'engine'] as const) {
      const { last, check, ...figure } = await time(way, h.vpcs, h.peerings, h.runs);
      if (!isDeepStrictEqual(plain(last), plain(check))) throw new Error(`desired bench: the ${way} result differs from computeDesired's`);
      figures.push(figure);
    }
  }
  return figures;
}

export function printDesiredFigures(figures: readonly DesiredFigure[]): void {
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  for (const f of figures) {
    console.log(JSON.stringify({ bench: 'desired', ...f, firstMs: round(f.firstMs), p50Ms: round(f.p50Ms), p90Ms: round(f.p90Ms), plannedP50Ms: round(f.plannedP50Ms), portPlanP50Ms: round(f.portPlanP50Ms) }));
  }
  for (const f of figures) {
    console.log(
      `desired state of one accept, ${f.peerings} peerings on ${f.vpcs} VPCs, ${f.way === 'engine' ? 'engine' : 'two full computes'}: ` +
        `first ${f.firstMs.toFixed(2)} ms, p50 ${f.p50Ms.toFixed(3)} ms, p90 ${f.p90Ms.toFixed(3)} ms, of which the planned topology's p50 ${f.plannedP50Ms.toFixed(3)} ms (${f.runs} accepts; the port plan between them p50 ${f.portPlanP50Ms.toFixed(3)} ms more)`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printDesiredFigures(await runDesiredBench());
}
