// What ports cost through the daemon's OVSDB client (src/ovs/ovsdb: one kept connection to
// `<rundir>/db.sock` with a monitor, as OVN and Neutron's native interface do) against the
// `ovs-vsctl` commands the daemon ran before it (issue #12, part 3), on a private userspace Open
// vSwitch (test/helpers/ovs.ts), both measured in the same run.
//
// Three hosts, built one after the other in one sandbox (netdev bridges, fail_mode=secure):
//   1. 2 bridges, no other port;
//   2. 100 bridges;
//   3. 100 bridges and 2,000 patch ports (1,000 pairs: the accept bench's 100-VPC/1,000-peering
//      host), made by one addPatchPairs.
// On each, interleaved so both see the same load:
// (50 samples on hosts 1 and 2, 15 on host 3; 3 untimed rounds first)
//   - the daemon's path: `createOvs(...).addPatchPairs([pair])` (one OVSDB transaction: both
//     Interface and Port rows, each Bridge's ports, `next_cfg += 1`; it resolves once the monitor
//     shows vswitchd's `cur_cfg` and the ofports), then `deletePorts` of both sides (waits too);
//   - ovs-vsctl as the daemon ran it before: one process with two `--may-exist add-port` and two
//     `set interface ... type=patch options:peer=... ofport_request=...` (it waits for vswitchd),
//     then one with two `--if-exists del-port`.
// On hosts 2 and 3, `topology()` (the monitor's rows after one echo round trip) against one
// `ovs-vsctl --format=json list` of Bridge, Port and Interface, what topology() ran before. And
// `ovs-vsctl --version` through the daemon's runner: a process start that never talks to OVS.
//
// Prints one JSON line per figure, then a human summary. Run it with
// `node dist/bench/ports.bench.js` after `npm run build` (or through `npm run bench`). Needs root
// and Open vSwitch, like the OVS tests; about 50 s on a 2-core VM.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { silentLogger } from '../src/log/logger.js';
import { createOvs, type Ovs, type PatchPair } from '../src/ovs/ovs.js';
import { type OvsSandbox, startOvs } from '../test/helpers/ovs.js';
import { type LatencyFigure, latency, ratio, withTeardowns } from './dataplane.bench.js';

const SAMPLES = 50;
/** On the 2,000-port host a pair through ovs-vsctl takes ~0.5 s each way: fewer samples keep the bench under a minute. */
const BIG_SAMPLES = 15;
const TOPOLOGY_SAMPLES = 20;
const BIG_TOPOLOGY_SAMPLES = 10;
/** Untimed rounds before the samples (page cache, vswitchd's first reconfigure of the bridges). */
const WARMUP = 3;
const BRIDGES = 100;
const BIG_PAIRS = 1000;
const BIG_WAIT_MS = 120_000;
/** ofport_request of the measured pair: far above those of the preloaded ports. */
const OFPORT = 60_000;

export interface PortOpFigures {
  readonly add: LatencyFigure;
  readonly delete: LatencyFigure;
}

export interface PortsHostFigure {
  readonly host: string;
  readonly bridges: number;
  readonly patchPorts: number;
  /** The ovs-vsctl commands of the daemon before the OVSDB client: one process to add a pair, one to delete it. */
  readonly vsctl: PortOpFigures;
  /** The daemon's createOvs(): addPatchPairs of one pair, deletePorts of its two ports, over its OVSDB connection. */
  readonly ovsdb: PortOpFigures;
  /** vsctl / ovsdb, p50 and p99. */
  readonly ratio: { readonly addP50: number; readonly addP99: number; readonly deleteP50: number; readonly deleteP99: number };
  readonly topology: { readonly vsctl: LatencyFigure; readonly ovsdb: LatencyFigure; readonly ratioP50: number } | null;
}

export interface PortsBenchResult {
  readonly hosts: readonly PortsHostFigure[];
  /** `ovs-vsctl --version` through the daemon's runner. */
  readonly version: LatencyFigure;
}

/** What addPatchPairs ran before the OVSDB client: every add-port, then every set interface, in one ovs-vsctl. */
function vsctlAddArgs(p: Required<PatchPair>): string[] {
  const sides = [
    [p.bridge, p.port, p.peerPort, p.ofport],
    [p.peerBridge, p.peerPort, p.port, p.peerOfport],
  ] as const;
  const adds = sides.map(([br, port]) => ['--may-exist', 'add-port', br, port]);
  const sets = sides.map(([, port, peer, ofport]) => ['set', 'interface', port, 'type=patch', `options:peer=${peer}`, `ofport_request=${ofport}`]);
  return [...adds, ...sets].flatMap((command, i) => (i === 0 ? command : ['--', ...command]));
}

/** What topology() ran before the OVSDB client. */
const VSCTL_TOPOLOGY = [
  '--format=json', '--columns=name,ports', 'list', 'Bridge', '--',
  '--columns=_uuid,name,interfaces', 'list', 'Port', '--',
  '--columns=_uuid,name,ofport,type,options,error', 'list', 'Interface',
];

/** The named netdev bridges (fail_mode=secure), 50 per ovs-vsctl transaction, as the other benches make them. */
async function addBridges(sb: OvsSandbox, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    const args = names.slice(i, i + 50).flatMap((br, j) => [...(j === 0 ? [] : ['--']), 'add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=secure']);
    await sb.runner.run('ovs-vsctl', args, { timeoutMs: BIG_WAIT_MS });
  }
}

/** `pairs` patch pairs between the bridges (ring neighbours at growing distance), one addPatchPairs. */
async function addPatchLoad(sb: OvsSandbox, bridges: readonly string[], pairs: number): Promise<void> {
  const next = new Map<string, number>();
  const ofport = (br: string): number => {
    const n = next.get(br) ?? 32768;
    next.set(br, n + 1);
    return n;
  };
  const load: PatchPair[] = [];
  for (let n = 0; n < pairs; n++) {
    const a = bridges[n % bridges.length] as string;
    const b = bridges[(n + 1 + Math.floor(n / bridges.length)) % bridges.length] as string;
    load.push({ bridge: a, port: `la${n.toString(16)}`, peerBridge: b, peerPort: `lb${n.toString(16)}`, ofport: ofport(a), peerOfport: ofport(b) });
  }
  // vswitchd takes a while to set up 2,000 ports: a client with a longer timeout than the daemon's.
  const loader = createOvs({ rundir: sb.rundir, logger: silentLogger(), timeoutMs: BIG_WAIT_MS });
  try {
    await loader.addPatchPairs(load);
  } finally {
    loader.close();
  }
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface HostRun {
  readonly host: string;
  readonly bridges: readonly string[];
  readonly patchPorts: number;
  readonly samples: number;
  /** Topology samples; 0: not measured. */
  readonly topologySamples: number;
}

async function benchHost(sb: OvsSandbox, ovs: Ovs, { host, bridges, patchPorts, samples, topologySamples }: HostRun): Promise<PortsHostFigure> {
  const pair: Required<PatchPair> = { bridge: bridges[0] as string, port: 'pxa-bench', peerBridge: bridges[1] as string, peerPort: 'pxb-bench', ofport: OFPORT, peerOfport: OFPORT + 1 };
  const refs = [
    { bridge: pair.bridge, port: pair.port },
    { bridge: pair.peerBridge, port: pair.peerPort },
  ];
  const runVsctl = (args: string[]): Promise<unknown> => sb.runner.run('ovs-vsctl', args, { timeoutMs: BIG_WAIT_MS });
  const delArgs = ['--if-exists', 'del-port', pair.bridge, pair.port, '--', '--if-exists', 'del-port', pair.peerBridge, pair.peerPort];
  const vAdd: number[] = [];
  const vDel: number[] = [];
  const dAdd: number[] = [];
  const dDel: number[] = [];
  for (let i = 0; i < WARMUP + samples; i++) {
    const keep = i >= WARMUP;
    const a = await timeIt(() => runVsctl(vsctlAddArgs(pair)));
    const d = await timeIt(() => runVsctl(delArgs));
    const oa = await timeIt(() => ovs.addPatchPairs([pair]));
    const od = await timeIt(() => ovs.deletePorts(refs));
    if (keep) {
      vAdd.push(a);
      vDel.push(d);
      dAdd.push(oa);
      dDel.push(od);
    }
  }
  // Both paths really did the work (checked once): the client's pair has its ofports, in its
  // topology and as ovs-vsctl reads them; the pair is gone after each delete.
  await ovs.addPatchPairs([pair]);
  const seen = (await ovs.topology()).bridges.get(pair.bridge)?.ports.get(pair.port)?.ofport;
  const got = (await sb.vsctl('get', 'interface', pair.port, 'ofport')).trim();
  if (seen !== OFPORT || got !== String(OFPORT)) throw new Error(`the client's patch port: ofport ${seen} in its topology, ${got} by ovs-vsctl, want ${OFPORT}`);
  await ovs.deletePorts(refs);
  if ((await sb.vsctl('--if-exists', 'get', 'interface', pair.port, 'ofport')).trim() !== '') throw new Error('the pair was not deleted');

  let topology: PortsHostFigure['topology'] = null;
  if (topologySamples > 0) {
    const tv: number[] = [];
    const td: number[] = [];
    for (let i = 0; i < WARMUP + topologySamples; i++) {
      let listed = 0;
      const v = await timeIt(async () => {
        const { stdout } = await sb.runner.run('ovs-vsctl', VSCTL_TOPOLOGY, { timeoutMs: BIG_WAIT_MS });
        listed = ((JSON.parse(stdout.split('\n')[2] ?? '{}') as { data?: unknown[] }).data ?? []).length;
      });
      let seen = 0;
      const o = await timeIt(async () => (seen = [...(await ovs.topology()).bridges.values()].reduce((n, b) => n + b.ports.size, 0)));
      if (seen !== listed) throw new Error(`topology: the client saw ${seen} ports, ovs-vsctl listed ${listed} interfaces`);
      if (i >= WARMUP) {
        tv.push(v);
        td.push(o);
      }
    }
    const vs = latency(tv);
    const os = latency(td);
    topology = { vsctl: vs, ovsdb: os, ratioP50: ratio(vs.p50Ms, os.p50Ms) };
  }

  const vsctl = { add: latency(vAdd), delete: latency(vDel) };
  const ovsdb = { add: latency(dAdd), delete: latency(dDel) };
  const figure: PortsHostFigure = {
    host,
    bridges: bridges.length,
    patchPorts,
    vsctl,
    ovsdb,
    ratio: {
      addP50: ratio(vsctl.add.p50Ms, ovsdb.add.p50Ms),
      addP99: ratio(vsctl.add.p99Ms, ovsdb.add.p99Ms),
      deleteP50: ratio(vsctl.delete.p50Ms, ovsdb.delete.p50Ms),
      deleteP99: ratio(vsctl.delete.p99Ms, ovsdb.delete.p99Ms),
    },
    topology,
  };
  console.error(`ports bench: ${host}: ${JSON.stringify(figure)}`);
  return figure;
}

export function runPortsBench(): Promise<PortsBenchResult> {
  return withTeardowns(async (t) => {
    const sb = await startOvs(t, { name: 'ports' });
    // The daemon's client, with its default timeout: part of what is measured.
    const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger() });
    t.teardown(() => ovs.close());

    const bridges = Array.from({ length: BRIDGES }, (_, i) => sb.name(`b${i}`));
    await addBridges(sb, bridges.slice(0, 2));
    const hosts = [await benchHost(sb, ovs, { host: '2 bridges', bridges: bridges.slice(0, 2), patchPorts: 0, samples: SAMPLES, topologySamples: 0 })];
    await addBridges(sb, bridges.slice(2));
    hosts.push(await benchHost(sb, ovs, { host: '100 bridges', bridges, patchPorts: 0, samples: SAMPLES, topologySamples: TOPOLOGY_SAMPLES }));
    await addPatchLoad(sb, bridges, BIG_PAIRS);
    hosts.push(await benchHost(sb, ovs, { host: '100 bridges, 2,000 patch ports', bridges, patchPorts: 2 * BIG_PAIRS, samples: BIG_SAMPLES, topologySamples: BIG_TOPOLOGY_SAMPLES }));

    const version: number[] = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const ms = await timeIt(() => sb.runner.run('ovs-vsctl', ['--version']));
      if (i >= WARMUP) version.push(ms);
    }
    return { hosts, version: latency(version) };
  });
}

export function printPortsFigures(r: PortsBenchResult): void {
  for (const h of r.hosts) console.log(JSON.stringify({ bench: 'ports', figure: 'patch-pair', ...h }));
  console.log(JSON.stringify({ bench: 'ports', figure: 'vsctl-version', ...r.version }));
  const pp = (f: LatencyFigure): string => `p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms`;
  for (const h of r.hosts) {
    console.log(
      `ports ${h.host}: add pair ovs-vsctl ${pp(h.vsctl.add)} vs the OVSDB client ${pp(h.ovsdb.add)} (ratio p50 ${h.ratio.addP50}, p99 ${h.ratio.addP99}); ` +
        `delete ovs-vsctl ${pp(h.vsctl.delete)} vs the OVSDB client ${pp(h.ovsdb.delete)} (ratio p50 ${h.ratio.deleteP50}, p99 ${h.ratio.deleteP99})`,
    );
    if (h.topology !== null) {
      console.log(`ports ${h.host}: topology ovs-vsctl list ${pp(h.topology.vsctl)} vs the client's topology() ${pp(h.topology.ovsdb)} (ratio p50 ${h.topology.ratioP50})`);
    }
  }
  console.log(`ports ovs-vsctl --version (a process start): ${pp(r.version)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printPortsFigures(await runPortsBench());
}
