// What ports cost through `ovs-vsctl` (issue #12, part 3), against a private userspace Open
// vSwitch (test/helpers/ovs.ts), each figure next to a floor measured in the same run: the same
// transaction sent as OVSDB `transact` over `<rundir>/db.sock` by a client that keeps its
// connection and a monitor open (bench/ovsdb-client.ts), as OVN and Neutron's native interface do.
//
// Three hosts, built one after the other in one sandbox (netdev bridges, fail_mode=secure):
//   1. 2 bridges, no other port;
//   2. 100 bridges;
//   3. 100 bridges and 2,000 patch ports (1,000 pairs: the accept bench's 100-VPC/1,000-peering
//      host), made in one OVSDB transaction.
// On each, interleaved so both see the same load:
// (50 samples on hosts 1 and 2, 15 on host 3; 3 untimed rounds first)
//   - the daemon's path: `createOvs(...).addPatchPairs([pair])` (one `ovs-vsctl`: two
//     `--may-exist add-port`, two `set interface ... type=patch options:peer=... ofport_request=...`;
//     it waits for vswitchd), then `deletePorts` of both sides (one `ovs-vsctl`, waits too);
//   - the floor: one `transact` inserting both Interface rows (type patch, options:peer,
//     ofport_request) and Port rows, `mutate` of each Bridge's ports, `next_cfg += 1`; then the
//     monitor is waited on until vswitchd's `cur_cfg` has caught up and both interfaces show an
//     ofport (what ovs-vsctl waits for); the delete is a `mutate` removing both ports from their
//     bridges, `next_cfg += 1`, wait for `cur_cfg`.
// On hosts 2 and 3, `topology()` (one `ovs-vsctl list` of Bridge, Port, Interface) against one
// `transact` selecting the same columns (a client with a monitor has it for nothing). And
// `ovs-vsctl --version` through the daemon's runner: a process start that never talks to OVS.
//
// Prints one JSON line per figure, then a human summary. Run it with
// `node dist/bench/ports.bench.js` after `npm run build` (or through `npm run bench`). Needs root
// and Open vSwitch, like the OVS tests; about 50 s on a 2-core VM.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { silentLogger } from '../src/log/logger.js';
import { createOvs, type Ovs, type PatchPair } from '../src/ovs/ovs.js';
import { type OvsSandbox, startOvs } from '../test/helpers/ovs.js';
import { type LatencyFigure, latency, ratio, withTeardowns } from './dataplane.bench.js';
import { connectOvsdb, type Json, type OvsdbClient } from './ovsdb-client.js';

const SAMPLES = 50;
/** On the 2,000-port host a pair through ovs-vsctl takes ~0.5 s each way: fewer samples keep the bench under a minute. */
const BIG_SAMPLES = 15;
const TOPOLOGY_SAMPLES = 20;
const BIG_TOPOLOGY_SAMPLES = 10;
/** Untimed rounds before the samples (page cache, vswitchd's first reconfigure of the bridges). */
const WARMUP = 3;
const BRIDGES = 100;
const BIG_PAIRS = 1000;
const WAIT_MS = 10_000;
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
  /** The daemon's createOvs(): addPatchPairs of one pair, deletePorts of its two ports. */
  readonly vsctl: PortOpFigures;
  /** The same over a kept OVSDB connection, waiting as ovs-vsctl waits. */
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

/** Waits until vswitchd has applied configuration `cfg` (cur_cfg, as ovs-vsctl waits). */
function waitCfg(db: OvsdbClient, cfg: number, timeoutMs = WAIT_MS): Promise<void> {
  return db.waitFor(`cur_cfg ${cfg}`, () => [...db.rows('Open_vSwitch').values()].some((r) => typeof r.cur_cfg === 'number' && r.cur_cfg >= cfg), timeoutMs);
}

/** `next_cfg += 1` and the new value read back, as the last two operations of a transaction. */
const BUMP_CFG: readonly Json[] = [
  { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
  { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
];

function nextCfg(results: readonly Json[]): number {
  const sel = results[results.length - 1] as { rows?: { next_cfg?: number }[] };
  const cfg = sel.rows?.[0]?.next_cfg;
  if (typeof cfg !== 'number') throw new Error(`no next_cfg in ${JSON.stringify(sel)}`);
  return cfg;
}

function uuidOf(result: Json | undefined): string {
  const u = (result as { uuid?: [string, string] } | undefined)?.uuid;
  if (u?.[0] !== 'uuid') throw new Error(`not an insert result: ${JSON.stringify(result)}`);
  return u[1];
}

/** Insert operations for one side of a patch pair (interface, port, the bridge's ports). */
function sideOps(tag: string, bridge: string, port: string, peer: string, ofport: number): Json[] {
  return [
    { op: 'insert', table: 'Interface', 'uuid-name': `i${tag}`, row: { name: port, type: 'patch', options: ['map', [['peer', peer]]], ofport_request: ofport } },
    { op: 'insert', table: 'Port', 'uuid-name': `p${tag}`, row: { name: port, interfaces: ['named-uuid', `i${tag}`] } },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'insert', ['set', [['named-uuid', `p${tag}`]]]]] },
  ];
}

/**
 * The floor of addPatchPairs([pair]): one transaction, then the monitor until vswitchd applied it
 * and both interfaces have an ofport. Returns the two Port uuids (what a deletion names).
 */
async function ovsdbAddPair(db: OvsdbClient, p: Required<PatchPair>): Promise<[string, string]> {
  const results = await db.transact([...sideOps('a', p.bridge, p.port, p.peerPort, p.ofport), ...sideOps('b', p.peerBridge, p.peerPort, p.port, p.peerOfport), ...BUMP_CFG]);
  const ifaces = [uuidOf(results[0]), uuidOf(results[3])];
  await waitCfg(db, nextCfg(results));
  const iface = db.rows('Interface');
  const ofports = ifaces.map((u) => iface.get(u)?.ofport);
  if (ofports[0] !== p.ofport || ofports[1] !== p.peerOfport) throw new Error(`patch pair ${p.port}/${p.peerPort}: ofports ${JSON.stringify(ofports)}`);
  return [uuidOf(results[1]), uuidOf(results[4])];
}

/** The floor of deletePorts of both sides: the ports out of their bridges (OVSDB collects the rows), then wait. */
async function ovsdbDeletePair(db: OvsdbClient, p: PatchPair, ports: readonly [string, string]): Promise<void> {
  const results = await db.transact([
    { op: 'mutate', table: 'Bridge', where: [['name', '==', p.bridge]], mutations: [['ports', 'delete', ['set', [['uuid', ports[0]]]]]] },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', p.peerBridge]], mutations: [['ports', 'delete', ['set', [['uuid', ports[1]]]]]] },
    ...BUMP_CFG,
  ]);
  await waitCfg(db, nextCfg(results));
}

/** The floor of topology(): one select of the columns TOPOLOGY_ARGS lists. */
async function ovsdbTopology(db: OvsdbClient): Promise<number> {
  const results = await db.transact([
    { op: 'select', table: 'Bridge', where: [], columns: ['name', 'ports'] },
    { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'interfaces'] },
    { op: 'select', table: 'Interface', where: [], columns: ['_uuid', 'name', 'ofport', 'type', 'options', 'error'] },
  ]);
  return (results[2] as { rows: unknown[] }).rows.length;
}

/** The named netdev bridges (fail_mode=secure), 50 per ovs-vsctl transaction, as the other benches make them. */
async function addBridges(sb: OvsSandbox, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    const args = names.slice(i, i + 50).flatMap((br, j) => [...(j === 0 ? [] : ['--']), 'add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=secure']);
    await sb.runner.run('ovs-vsctl', args, { timeoutMs: BIG_WAIT_MS });
  }
}

/** `pairs` patch pairs between the bridges (ring neighbours at growing distance), one transaction. */
async function addPatchLoad(db: OvsdbClient, bridges: readonly string[], pairs: number): Promise<void> {
  const ops: Json[] = [];
  const next = new Map<string, number>();
  const ofport = (br: string): number => {
    const n = next.get(br) ?? 32768;
    next.set(br, n + 1);
    return n;
  };
  for (let n = 0; n < pairs; n++) {
    const a = bridges[n % bridges.length] as string;
    const b = bridges[(n + 1 + Math.floor(n / bridges.length)) % bridges.length] as string;
    const pa = `la${n.toString(16)}`;
    const pb = `lb${n.toString(16)}`;
    ops.push(...sideOps(`${n}a`, a, pa, pb, ofport(a)), ...sideOps(`${n}b`, b, pb, pa, ofport(b)));
  }
  const results = await db.transact([...ops, ...BUMP_CFG]);
  await waitCfg(db, nextCfg(results), BIG_WAIT_MS);
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

async function benchHost(sb: OvsSandbox, ovs: Ovs, db: OvsdbClient, { host, bridges, patchPorts, samples, topologySamples }: HostRun): Promise<PortsHostFigure> {
  const pair: Required<PatchPair> = { bridge: bridges[0] as string, port: 'pxa-bench', peerBridge: bridges[1] as string, peerPort: 'pxb-bench', ofport: OFPORT, peerOfport: OFPORT + 1 };
  const refs = [
    { bridge: pair.bridge, port: pair.port },
    { bridge: pair.peerBridge, port: pair.peerPort },
  ];
  const vAdd: number[] = [];
  const vDel: number[] = [];
  const dAdd: number[] = [];
  const dDel: number[] = [];
  for (let i = 0; i < WARMUP + samples; i++) {
    const keep = i >= WARMUP;
    const a = await timeIt(() => ovs.addPatchPairs([pair]));
    const d = await timeIt(() => ovs.deletePorts(refs));
    let ports: [string, string] = ['', ''];
    const oa = await timeIt(async () => (ports = await ovsdbAddPair(db, pair)));
    const od = await timeIt(() => ovsdbDeletePair(db, pair, ports));
    if (keep) {
      vAdd.push(a);
      vDel.push(d);
      dAdd.push(oa);
      dDel.push(od);
    }
  }
  // Both paths really did the work: the pair is gone, and ovs-vsctl's pair had its ofports (checked once).
  await ovs.addPatchPairs([pair]);
  const got = (await sb.vsctl('get', 'interface', pair.port, 'ofport')).trim();
  if (got !== String(OFPORT)) throw new Error(`ovs-vsctl's patch port got ofport ${got}, want ${OFPORT}`);
  await ovs.deletePorts(refs);

  let topology: PortsHostFigure['topology'] = null;
  if (topologySamples > 0) {
    const tv: number[] = [];
    const td: number[] = [];
    for (let i = 0; i < WARMUP + topologySamples; i++) {
      let seen = 0;
      const v = await timeIt(async () => (seen = [...(await ovs.topology()).bridges.values()].reduce((n, b) => n + b.ports.size, 0)));
      let rows = 0;
      const o = await timeIt(async () => (rows = await ovsdbTopology(db)));
      if (seen !== rows) throw new Error(`topology: ovs-vsctl saw ${seen} ports, the select ${rows} interfaces`);
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
    const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger() });
    const db = await connectOvsdb(join(sb.rundir, 'db.sock'));
    t.teardown(() => db.close());
    await db.monitor({ Open_vSwitch: ['cur_cfg'], Interface: ['ofport'] });

    const bridges = Array.from({ length: BRIDGES }, (_, i) => sb.name(`b${i}`));
    await addBridges(sb, bridges.slice(0, 2));
    const hosts = [await benchHost(sb, ovs, db, { host: '2 bridges', bridges: bridges.slice(0, 2), patchPorts: 0, samples: SAMPLES, topologySamples: 0 })];
    await addBridges(sb, bridges.slice(2));
    hosts.push(await benchHost(sb, ovs, db, { host: '100 bridges', bridges, patchPorts: 0, samples: SAMPLES, topologySamples: TOPOLOGY_SAMPLES }));
    await addPatchLoad(db, bridges, BIG_PAIRS);
    hosts.push(await benchHost(sb, ovs, db, { host: '100 bridges, 2,000 patch ports', bridges, patchPorts: 2 * BIG_PAIRS, samples: BIG_SAMPLES, topologySamples: BIG_TOPOLOGY_SAMPLES }));

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
      `ports ${h.host}: add pair ovs-vsctl ${pp(h.vsctl.add)} vs OVSDB ${pp(h.ovsdb.add)} (ratio p50 ${h.ratio.addP50}, p99 ${h.ratio.addP99}); ` +
        `delete ovs-vsctl ${pp(h.vsctl.delete)} vs OVSDB ${pp(h.ovsdb.delete)} (ratio p50 ${h.ratio.deleteP50}, p99 ${h.ratio.deleteP99})`,
    );
    if (h.topology !== null) {
      console.log(`ports ${h.host}: topology() ovs-vsctl ${pp(h.topology.vsctl)} vs one OVSDB select ${pp(h.topology.ovsdb)} (ratio p50 ${h.topology.ratioP50}; a monitor: 0)`);
    }
  }
  console.log(`ports ovs-vsctl --version (a process start): ${pp(r.version)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printPortsFigures(await runPortsBench());
}
