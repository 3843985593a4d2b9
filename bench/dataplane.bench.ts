// The data plane against a private Open vSwitch (userspace datapath, test/helpers/ovs.ts), each
// figure next to a floor measured in the same run: what the raw OVS tools need for the same work.
//
// 1. Converge from an empty flow table, 1,000 peerings (100 VPC bridges, each VPC peered with its
//    20 neighbours) and 10,000 (142 bridges, every pair of VPCs but 11: C(142,2) = 10,011). Set
//    up, not measured: bridges (netdev, fail_mode=secure), the patch ports with the names and
//    ofports the daemon asks for (made with OVSDB `create` in transactions of 2,000 ports), VPCs
//    and active peerings in an in-memory StateView. Then all flows are deleted (`del-flows BR`,
//    as after a vswitchd restart) and the start of a fresh `createOvsDataplane` (a real
//    `createOvs`, as the daemon builds it) is timed, `start()` to its first pass's end: a daemon
//    starting on a host whose flows are gone, cold caches, its OpenFlow channels and OVSDB
//    connection made first; "installed" is until its last bundle ended, and the OVS tool
//    processes it ran are counted. Floor: `ovs-ofctl --no-names
//    --bundle add-flows BR FILE` of the very lines the daemon sends, one process per bridge, as
//    many at once as the data plane works on (BRIDGE_CONCURRENCY), bridges in the same (sorted)
//    order. Also the floor of a reconciler that reads before it writes: raw `dump-flows`, then
//    the same bundle, per bridge.
// 2. A steady cycle over 100 bridges with nothing to do: the loop's pass over everything (what
//    the interval runs: `loop.trigger('all')` until idle; it reads the channels' tables, no dump),
//    and `reconcile` of the whole host (as reconcile.run does it: topology read first, every
//    bridge dumped), against one `ovs-ofctl dump-flows BR` per bridge with the daemon's arguments,
//    same concurrency. Then the steady state itself (issue 12): the data plane running with the
//    daemon's 5 s interval, its Runner wrapped to count every process it starts, over 3 intervals
//    from half a backstop slot after a read (so no read sits on the window's edges): processes per
//    bridge per interval (ovs-ofctl must be 1.0: the backstop's dumps) and the CPU per interval of
//    this process, where the data plane runs, with its children (the dumps), as a ratio to the same
//    CPU for just those dumps (N raw `dump-flows` per interval, measured first in the same run);
//    ovs-vswitchd's CPU beside it, for both.
// 3. Drift repair: the data plane running (loop, monitors, the daemon's default 5 s interval);
//    100 times, one steering flow of ours is deleted by `ovs-ofctl --strict del-flows` (a process
//    of its own), one bridge after another; the latency runs from that process's exit (the flow
//    is gone: ovs-ofctl waits for a barrier) to the end of the data plane's bundle that adds it
//    back (ovs-ofctl exits after its barrier: the flow is in). Deletions that overlapped a pass
//    over every bridge (the interval's) are also counted apart.
// 4. `peering.accept` → flows installed, with the real daemon process (dist/src/main.js), on a
//    host of 4 VPCs with no other peering and on one of 100 VPCs with 1,000 active peerings made
//    through its API. One accept at a time, on an idle daemon: from the start of the accept call
//    (and from its reply) to the moment the bench's own `ovs-ofctl monitor` of each bridge has
//    reported every flow of the peering ADDED. Floor: two `--no-names --bundle add-flows` of 7
//    such flows at once on the same two bridges.
// 5. `ovs-vswitchd` killed and started again on the 10,000-peering host, the data plane running:
//    from vswitchd answering (`ovs-appctl version`, as the sandbox polls it) to the end of the
//    last bundle that restores a bridge; a dump afterwards checks every flow is back. Its floor
//    is the converge floor of (1) for the same flows.
//
// Prints one JSON line per figure, then a human summary. Run it with
// `node dist/bench/dataplane.bench.js` after `npm run build` (or through `npm run bench`); one
// section or a few with `--only=steady` (converge, steady, drift, accept, restart; restart
// includes the 10k converge, whose floor it needs). Needs root, Open vSwitch and iproute2, like
// the OVS tests; about 10 minutes on a 2-core VM.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { StateIndex } from '../src/domain/state-index.js';
import type { Peering, State, Vpc } from '../src/domain/types.js';
import { silentLogger } from '../src/log/logger.js';
import { createOvs, type Ovs } from '../src/ovs/ovs.js';
import { createRunner, type OvsBinary, type Runner } from '../src/ovs/runner.js';
import { bundleLine } from '../src/ovs/flow.js';
import type { Unsent } from '../src/ovs/openflow/channel.js';
import { fromReported } from '../src/ovs/openflow/flows.js';
import type { FlowMod } from '../src/ovs/openflow/messages.js';
import { computeDesired, cookieMask, patchPortNames, peeringCookie } from '../src/reconcile/desired.js';
import type { ReconcileResult } from '../src/reconcile/dataplane.js';
import { BRIDGE_CONCURRENCY, createOvsDataplane, type OvsDataplane } from '../src/reconcile/ovs-dataplane.js';
import { bundleFor, planFlows } from '../src/reconcile/plan.js';
import type { RpcClient } from '../src/rpc/client.js';
import { type BenchDaemon, startBenchDaemon } from './daemon.js';
import { type OvsSandbox, PLATFORM_FLOW, startOvs } from '../test/helpers/ovs.js';

const COOKIE_PREFIX = 0x5ee0;
const COOKIE_FILTER = `cookie=0x${(BigInt(COOKIE_PREFIX) << 48n).toString(16)}/0x${cookieMask().toString(16)}`;
/** As many bridges at once as the data plane works on (BRIDGE_CONCURRENCY in ovs-dataplane.ts). */
const FLOOR_CONCURRENCY = BRIDGE_CONCURRENCY;
const AT = '2025-01-01T00:00:00.000Z';
/** The daemon's default `ovs.reconcileIntervalMs`. */
const INTERVAL_MS = 5000;
const BIG_TIMEOUT_MS = 120_000;
const DRIFT_SAMPLES = 100;
const ACCEPT_SAMPLES = 20;

export interface Timed {
  readonly medianMs: number;
  readonly runsMs: readonly number[];
}

export interface ConvergeFigure {
  readonly peerings: number;
  readonly bridges: number;
  readonly flows: number;
  /** From start() until the first pass's last bundle ended (everything installed). */
  readonly installed: Timed;
  /** From start() until the first pass ended, the channels' connects included. */
  readonly cycle: Timed;
  readonly floor: Timed;
  readonly ratio: number;
  /** A reconciler must read before it writes: raw `dump-flows` then `--bundle add-flows` per bridge. */
  readonly readFloor: Timed;
  /** installed / readFloor (medians). */
  readonly readRatio: number;
  /** OVS tool processes the start ran (the most of any run): 0 when all went over the channels and OVSDB. */
  readonly processes: number;
  /** ovs-vswitchd's CPU (ms, medians) during the floor and during the start: how much of either is the switch's own work. */
  readonly vswitchdCpuMs: { readonly floor: number; readonly start: number };
  readonly setupMs: number;
}

export interface SteadyFigure {
  readonly peerings: number;
  readonly bridges: number;
  readonly flows: number;
  /** The loop's pass over everything (what the interval runs): trigger('all') → idle. */
  readonly pass: Timed;
  /** reconcile.run's: the topology read and desired flows first. */
  readonly cycle: Timed;
  readonly floor: Timed;
  /** pass / floor (medians). */
  readonly ratio: number;
  readonly cycleRatio: number;
}

export interface SteadyStateFigure {
  readonly bridges: number;
  readonly flows: number;
  readonly intervalMs: number;
  /** Intervals in the measured window. */
  readonly intervals: number;
  /** Processes the data plane started in the window, by binary. */
  readonly processes: Readonly<Partial<Record<OvsBinary, number>>>;
  /** ovs-ofctl processes per bridge per interval: the backstop's one dump each, so 1.0. */
  readonly ofctlPerBridgePerInterval: number;
  /** Every process per bridge per interval (the pass over everything reads the topology with one ovs-vsctl). */
  readonly processesPerBridgePerInterval: number;
  /** This process's CPU (the data plane runs in it) plus its children's, per interval (ms). */
  readonly cpuMsPerInterval: number;
  /** The same for one raw `dump-flows` per bridge with the daemon's arguments, one after another (ms). */
  readonly floorCpuMsPerInterval: number;
  /** cpuMsPerInterval / floorCpuMsPerInterval. */
  readonly ratio: number;
  /** ovs-vswitchd's CPU per interval (ms), with the data plane running and for the floor's dumps. */
  readonly vswitchdCpuMsPerInterval: number;
  readonly floorVswitchdCpuMsPerInterval: number;
}

export interface LatencyFigure {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface DriftFigure extends LatencyFigure {
  /** Deletions during which a pass over every bridge ran too (the 5 s interval's): they wait on it. */
  readonly duringFullPass: number;
  /** The others. */
  readonly quiet: LatencyFigure;
  readonly bridges: number;
}

export interface AcceptFigure {
  readonly vpcs: number;
  /** Active peerings on the host before the samples (created through the API). */
  readonly peerings: number;
  /** Accept call start → every flow of the peering reported ADDED on both bridges. */
  readonly fromCall: LatencyFigure;
  /** Accept reply → the same. */
  readonly fromReply: LatencyFigure;
  /** The accept call alone (a durable commit). */
  readonly call: LatencyFigure;
  /** Two `--bundle add-flows` of 7 flows at once, on the same two bridges. */
  readonly floor: LatencyFigure;
  /** p50 over the floor's p50. */
  readonly ratio: number;
  /** Setup: the daemon creating and programming the preloaded peerings through its API. */
  readonly preloadMs: number;
}

export interface RestartFigure {
  readonly peerings: number;
  readonly flows: number;
  /** vswitchd answering → the last bundle that restored a bridge ended. */
  readonly backMs: number;
  /** kill → vswitchd answering again (the sandbox's restart, not the daemon's doing). */
  readonly vswitchdStartMs: number;
  readonly floorMs: number;
  readonly ratio: number;
}

/** What runDataplaneBench measured: every section, or those asked for (`--only=`). */
export interface DataplaneBenchResult {
  readonly converge?: readonly ConvergeFigure[];
  readonly steady?: SteadyFigure;
  readonly steadyState?: SteadyStateFigure;
  readonly drift?: DriftFigure;
  readonly accept?: readonly AcceptFigure[];
  readonly restart?: RestartFigure;
}

export const DATAPLANE_SECTIONS = ['converge', 'steady', 'drift', 'accept', 'restart'] as const;
export type DataplaneSection = (typeof DATAPLANE_SECTIONS)[number];

/** The sections of `--only=a,b` among `argv` (every section without it); throws on a name it does not know. */
export function sectionsOf(argv: readonly string[]): ReadonlySet<DataplaneSection> {
  const only = argv.find((a) => a.startsWith('--only='));
  if (only === undefined) return new Set(DATAPLANE_SECTIONS);
  const names = only.slice('--only='.length).split(',').filter((n) => n !== '');
  const unknown = names.filter((n) => !(DATAPLANE_SECTIONS as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) throw new Error(`--only takes some of ${DATAPLANE_SECTIONS.join(', ')}; got ${only}`);
  return new Set(names as DataplaneSection[]);
}

/** Cleanup that runs pass or fail, newest first (what startOvs needs from a tap test). */
/**
 * Runs a benchmark's body with a fresh teardowns(): what it started is stopped when it ends,
 * throws, or the process is interrupted (SIGINT/SIGTERM: cleanup, then death by the same signal).
 */
export async function withTeardowns<T>(body: (t: Teardowns) => Promise<T>): Promise<T> {
  const t = teardowns();
  const onSignal = (signal: NodeJS.Signals): void => {
    void t.run().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(t);
  } finally {
    await t.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Cleanup steps of a benchmark, run last-first by run() (like tap's t.teardown). */
export type Teardowns = ReturnType<typeof teardowns>;

export function teardowns(): { teardown(fn: () => unknown): void; run(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    teardown: (fn) => void fns.push(fn),
    async run() {
      const errors: unknown[] = [];
      for (const fn of fns.reverse()) await Promise.resolve().then(fn).catch((e: unknown) => errors.push(e));
      fns.length = 0;
      if (errors.length > 0) throw new Error(`bench cleanup: ${errors.map(String).join('; ')}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A host: bridges, patch ports, the state

interface Host {
  readonly sb: OvsSandbox;
  readonly view: StateIndex;
  readonly bridges: readonly string[];
  readonly peerings: readonly Peering[];
  /** Desired flows per bridge, as bundle lines from an empty table (what the daemon sends). */
  readonly lines: ReadonlyMap<string, readonly string[]>;
  readonly flows: number;
  readonly setupMs: number;
}

function peeringId(n: number): string {
  // The first 12 hex digits name the patch ports and the cookie: they must differ.
  return `pcx-${(n + 1).toString(16).padStart(12, '0')}00000`;
}

/** VPC i: one /24 that overlaps no other VPC's. */
function vpcOf(i: number, bridge: string): Vpc {
  return { id: `vpc-${i}`, tenantId: 'bench', cidrs: [`10.${i >> 8}.${i & 255}.0/24`], bridge, createdAt: AT, updatedAt: AT };
}

function activePeering(n: number, r: number, a: number): Peering {
  return {
    id: peeringId(n), tenantId: 'bench', requesterVpcId: `vpc-${r}`, accepterVpcId: `vpc-${a}`, status: 'active',
    requestedBy: 'bench', acceptedBy: 'bench', createdAt: AT, updatedAt: AT, expiresAt: '2025-01-08T00:00:00.000Z',
  };
}

/** 100 VPCs, each peered with the 10 after it (mod 100): 1,000 peerings, 20 per VPC. */
export function ringPairs(vpcs: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  for (let d = 1; d <= k; d++) for (let i = 0; i < vpcs; i++) out.push([i, (i + d) % vpcs]);
  return out;
}

/** Every pair of VPCs, first `limit` of them. */
export function allPairs(vpcs: number, limit: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < vpcs && out.length < limit; i++) for (let j = i + 1; j < vpcs && out.length < limit; j++) out.push([i, j]);
  return out;
}

/** Runs one ovs-vsctl transaction per chunk of commands (argv arrays joined by `--`). */
async function vsctlBatches(sb: OvsSandbox, commands: readonly string[][], perCall: number): Promise<void> {
  for (let i = 0; i < commands.length; i += perCall) {
    const args = commands.slice(i, i + perCall).flatMap((c, j) => (j === 0 ? c : ['--', ...c]));
    await sb.runner.run('ovs-vsctl', args, { timeoutMs: BIG_TIMEOUT_MS });
  }
}

export async function buildHost(t: { teardown(fn: () => unknown): void }, label: string, vpcCount: number, pairs: readonly [number, number][]): Promise<Host> {
  const started = performance.now();
  const sb = await startOvs(t, { name: label });
  const bridges = Array.from({ length: vpcCount }, (_, i) => sb.name(`b${i}`));
  // Bridges 50 per transaction, made as addBridge makes them (netdev, fail_mode=secure).
  await vsctlBatches(sb, bridges.map((br) => ['add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=secure']), 50);
  const broken = (await sb.vsctl('--columns=name,error', '--format=csv', '--no-headings', 'find', 'Interface', 'type=internal'))
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith(',[]') && !l.endsWith(',""'));
  if (broken.length > 0) throw new Error(`bridges did not come up: ${broken.slice(0, 3).join('; ')}`);
  await forEachLimited(bridges, FLOOR_CONCURRENCY, (br) => sb.ofctl('add-flow', br, PLATFORM_FLOW).then(() => undefined));

  const vpcs = bridges.map((br, i) => vpcOf(i, br));
  const peerings = pairs.map(([r, a], n) => activePeering(n, r, a));
  const state: State = { vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])), peerings: Object.fromEntries(peerings.map((p) => [p.id, p])) };
  const view = new StateIndex(state);

  // Patch pairs as the data plane names and numbers them (ofport_request from 32768 per bridge,
  // in peering-id order), created with OVSDB's own `create`: `add-port` re-reads every port of
  // the database per command once a `set` follows it, which is quadratic at this scale.
  const next = new Map<string, number>();
  const ofport = (br: string): number => {
    const n = next.get(br) ?? 32768;
    next.set(br, n + 1);
    return n;
  };
  const commands: string[][] = [];
  let id = 0;
  for (const p of peerings) {
    const names = patchPortNames(p.id);
    const r = vpcs[Number(p.requesterVpcId.slice(4))] as Vpc;
    const a = vpcs[Number(p.accepterVpcId.slice(4))] as Vpc;
    for (const [br, port, peer] of [
      [r.bridge, names.requester, names.accepter],
      [a.bridge, names.accepter, names.requester],
    ] as const) {
      id++;
      commands.push(
        [`--id=@i${id}`, 'create', 'Interface', `name=${port}`, 'type=patch', `options:peer=${peer}`, `ofport_request=${ofport(br)}`],
        [`--id=@p${id}`, 'create', 'Port', `name=${port}`, `interfaces=@i${id}`],
        ['add', 'Bridge', br, 'ports', `@p${id}`],
      );
    }
  }
  await vsctlBatches(sb, commands, 3 * 2000);

  const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger(), timeoutMs: BIG_TIMEOUT_MS });
  const topology = await ovs.topology();
  const missing = [...topology.bridges.values()].flatMap((b) => [...b.ports.values()].filter((p) => p.type === 'patch' && (p.ofport === null || p.ofport < 1)));
  if (missing.length > 0) throw new Error(`${missing.length} patch ports have no ofport`);
  const desired = computeDesired({ view, topology, cookiePrefix: COOKIE_PREFIX });
  const notReady = [...desired.peerings.values()].filter((d) => d.state !== 'ready');
  if (notReady.length > 0) throw new Error(`${notReady.length} peerings are not ready: ${JSON.stringify(notReady[0])}`);
  const lines = new Map<string, string[]>();
  let flows = 0;
  for (const br of [...bridges].sort()) {
    const want = desired.flows.get(br) ?? [];
    lines.set(br, bundleFor(planFlows(want, [], COOKIE_PREFIX)));
    flows += want.length;
  }
  return { sb, view, bridges: [...bridges].sort(), peerings, lines, flows, setupMs: round(performance.now() - started) };
}

async function deleteAllFlows(host: Host): Promise<void> {
  await forEachLimited(host.bridges, FLOOR_CONCURRENCY, (br) => host.sb.ofctl('del-flows', br).then(() => undefined));
}

/** Our flows per bridge, as dumped; throws unless every bridge has exactly what it should. */
async function checkInstalled(host: Host): Promise<void> {
  const wrong: string[] = [];
  await forEachLimited(host.bridges, FLOOR_CONCURRENCY, async (br) => {
    const out = await host.sb.runner.run('ovs-ofctl', ['dump-flows', br, COOKIE_FILTER, '--no-stats', '--no-names'], { timeoutMs: BIG_TIMEOUT_MS });
    const n = out.stdout.split('\n').filter((l) => l.includes('cookie=')).length;
    const want = host.lines.get(br)?.length ?? 0;
    if (n !== want) wrong.push(`${br}: ${n} flows, want ${want}`);
  });
  if (wrong.length > 0) throw new Error(`flows not as desired on ${wrong.length} bridges: ${wrong.slice(0, 3).join('; ')}`);
}

/** The Ovs the data plane gets, recording when each bundle ended (as the daemon wraps it for metrics). */
interface Recorded {
  readonly ovs: Ovs;
  /** bridge → end of its last bundle (performance.now()). */
  readonly bundles: Map<string, number>;
  onBundle: ((bridge: string, lines: readonly string[], at: number) => void) | null;
  /** Flow monitors running now. */
  monitors: number;
  /** Topology reads started, and running now: only passes over every bridge read it when nothing changed. */
  topologyReads: number;
  topologyReading: number;
  dumps: number;
}

function recording(ovs: Ovs): Recorded {
  const rec: Recorded = {
    bundles: new Map(),
    onBundle: null,
    monitors: 0,
    topologyReads: 0,
    topologyReading: 0,
    dumps: 0,
    ovs: {
      ...ovs,
      dumpFlows(bridge, cookie, mask) {
        rec.dumps += 1;
        return ovs.dumpFlows(bridge, cookie, mask);
      },
      async topology() {
        rec.topologyReads += 1;
        rec.topologyReading += 1;
        try {
          return await ovs.topology();
        } finally {
          rec.topologyReading -= 1;
        }
      },
      async applyBundle(bridge, lines) {
        await ovs.applyBundle(bridge, lines);
        const at = performance.now();
        rec.bundles.set(bridge, at);
        rec.onBundle?.(bridge, lines, at);
      },
      openFlow(bridge, events) {
        // A bridge counts once its channel is up and its table read (the data plane's monitor).
        let up = false;
        const down = (): void => {
          if (up) rec.monitors -= 1;
          up = false;
        };
        const channel = ovs.openFlow(bridge, {
          ...events,
          onConnect: () => {
            events.onConnect?.();
            if (!up) rec.monitors += 1;
            up = true;
          },
          onDisconnect: (err) => {
            down();
            events.onDisconnect?.(err);
          },
        });
        return {
          ...channel,
          get connected() {
            return channel.connected;
          },
          bundle: async (mods, inOrder) => {
            await channel.bundle(mods, inOrder);
            const at = performance.now();
            rec.bundles.set(bridge, at);
            // As the bundle lines ovs-ofctl would have been given, which is what the drift bench looks for.
            rec.onBundle?.(bridge, mods.map(bundleLineOf), at);
          },
          close: () => {
            down();
            channel.close();
          },
        };
      },
    },
  };
  return rec;
}

/** One reconcile (it must succeed), then the data plane running, a flow monitor on every bridge. */
async function runConverged(dp: OvsDataplane, rec: Recorded, host: Host): Promise<void> {
  const first = await dp.reconcile({});
  if (first.errors.length > 0) throw new Error(`reconcile failed: ${JSON.stringify(first.errors[0])}`);
  dp.start();
  await dp.loop.idle();
  await monitorsUp(rec, host.bridges.length);
}

/** Waits until the data plane runs a flow monitor on every bridge, and they had time to subscribe. */
async function monitorsUp(rec: Recorded, bridges: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (rec.monitors < bridges) {
    if (performance.now() > deadline) throw new Error(`${rec.monitors} of ${bridges} flow monitors after 30 s`);
    await delay(20);
  }
  await delay(300);
}

function dataplaneOn(host: Host, rec: Recorded, intervalMs = INTERVAL_MS): OvsDataplane {
  return createOvsDataplane({ ovs: rec.ovs, view: () => host.view, cookiePrefix: COOKIE_PREFIX, intervalMs, logger: silentLogger() });
}

function ovsOf(host: Host): Ovs {
  // The daemon's runner timeout (5 s) is kept: it is part of what is measured.
  return createOvs({ rundir: host.sb.rundir, logger: silentLogger() });
}

// ---------------------------------------------------------------------------------------------
// 1. Converge from empty

async function floorInstall(host: Host, files: ReadonlyMap<string, string>, readFirst: boolean): Promise<number> {
  const t0 = performance.now();
  await forEachLimited(host.bridges, FLOOR_CONCURRENCY, async (br) => {
    if (readFirst) await host.sb.runner.run('ovs-ofctl', ['dump-flows', br, COOKIE_FILTER, '--no-stats', '--no-names'], { timeoutMs: BIG_TIMEOUT_MS });
    await host.sb.runner.run('ovs-ofctl', ['--no-names', '--bundle', 'add-flows', br, files.get(br) as string], { timeoutMs: BIG_TIMEOUT_MS });
  });
  return performance.now() - t0;
}

export async function benchConverge(host: Host, runs: number): Promise<ConvergeFigure> {
  const files = new Map<string, string>();
  for (const [br, lines] of host.lines) {
    const file = join(host.sb.rundir, `floor-${br}.flows`);
    await writeFile(file, lines.join('\n') + '\n');
    files.set(br, file);
  }
  const floor: number[] = [];
  const readFloor: number[] = [];
  const installed: number[] = [];
  const cycle: number[] = [];
  let processes = 0;
  /** ovs-vswitchd's CPU (ms) during each floor and each start. */
  const vswitchdFloor: number[] = [];
  const vswitchdStart: number[] = [];
  for (let run = 0; run < runs; run++) {
    await deleteAllFlows(host);
    const f0 = await cpuNow(host.sb);
    floor.push(await floorInstall(host, files, false));
    vswitchdFloor.push((await cpuNow(host.sb)).vswitchd - f0.vswitchd);
    if (run === 0) await checkInstalled(host);
    await deleteAllFlows(host);
    readFloor.push(await floorInstall(host, files, true));
    await deleteAllFlows(host);
    const counting = countingRunner(createRunner({ rundir: host.sb.rundir }));
    const rec = recording(createOvs({ rundir: host.sb.rundir, logger: silentLogger(), runner: counting.runner }));
    const dp = dataplaneOn(host, rec);
    try {
      // As a daemon starts: the channels of the rundir's bridges first, then the first pass.
      const c0 = await cpuNow(host.sb);
      const t0 = performance.now();
      dp.start();
      const outcome = await dp.loop.firstCycle;
      const t1 = performance.now();
      vswitchdStart.push((await cpuNow(host.sb)).vswitchd - c0.vswitchd);
      if (outcome !== 'converged') throw new Error(`the first pass ended ${outcome}: ${String(dp.status().lastError)}`);
      if (rec.bundles.size !== host.bridges.length) throw new Error(`bundles on ${rec.bundles.size} bridges, want ${host.bridges.length}`);
      cycle.push(t1 - t0);
      installed.push(Math.max(...rec.bundles.values()) - t0);
      processes = Math.max(processes, [...counting.counts.values()].reduce((a, b) => a + b, 0));
    } finally {
      await dp.close();
    }
    if (run === 0) await checkInstalled(host);
  }
  return {
    peerings: host.peerings.length,
    bridges: host.bridges.length,
    flows: host.flows,
    installed: timed(installed),
    cycle: timed(cycle),
    floor: timed(floor),
    ratio: ratio(median(installed), median(floor)),
    readFloor: timed(readFloor),
    readRatio: ratio(median(installed), median(readFloor)),
    processes,
    vswitchdCpuMs: { floor: median(vswitchdFloor), start: median(vswitchdStart) },
    setupMs: host.setupMs,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Steady cycle

export async function benchSteady(host: Host, runs: number): Promise<SteadyFigure> {
  const rec = recording(ovsOf(host));
  const dp = dataplaneOn(host, rec, 3_600_000);
  const pass: number[] = [];
  const cycle: number[] = [];
  const floor: number[] = [];
  const check = (r: ReconcileResult): void => {
    if (r.added + r.removed !== 0 || r.errors.length > 0 || r.bridges.length !== host.bridges.length) {
      throw new Error(`a steady cycle changed something: ${JSON.stringify({ ...r, bridges: r.bridges.length })}`);
    }
  };
  try {
    await runConverged(dp, rec, host);
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now();
      await forEachLimited(host.bridges, FLOOR_CONCURRENCY, async (br) => {
        await host.sb.runner.run('ovs-ofctl', ['dump-flows', br, COOKIE_FILTER, '--no-stats', '--no-names']);
      });
      floor.push(performance.now() - t0);
      const dumps = rec.dumps;
      const t1 = performance.now();
      dp.loop.trigger('all');
      await dp.loop.idle();
      pass.push(performance.now() - t1);
      // It reads the channels' tables; the hour-long interval's first backstop read is 36 s away.
      if (rec.dumps !== dumps || dp.status().lastError !== null) throw new Error(`a steady pass dumped ${rec.dumps - dumps} bridges`);
      const t2 = performance.now();
      check(await dp.reconcile({}));
      cycle.push(performance.now() - t2);
    }
  } finally {
    await dp.close();
  }
  return {
    peerings: host.peerings.length,
    bridges: host.bridges.length,
    flows: host.flows,
    pass: timed(pass),
    cycle: timed(cycle),
    floor: timed(floor),
    ratio: ratio(median(pass), median(floor)),
    cycleRatio: ratio(median(cycle), median(floor)),
  };
}

/** The Runner the data plane is given, counting the processes it starts by binary. */
interface CountingRunner {
  readonly runner: Runner;
  readonly counts: Map<OvsBinary, number>;
  /** Told of every process as it starts. */
  onRun: ((bin: OvsBinary, args: readonly string[]) => void) | null;
}

function countingRunner(inner: Runner): CountingRunner {
  const c: CountingRunner = {
    counts: new Map(),
    onRun: null,
    runner: {
      rundir: inner.rundir,
      run(bin, args, opts) {
        c.counts.set(bin, (c.counts.get(bin) ?? 0) + 1);
        c.onRun?.(bin, args);
        return inner.run(bin, args, opts);
      },
    },
  };
  return c;
}

/** Clock ticks per second of /proc's CPU times. */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of `pid` and of its reaped children (cutime + cstime), from /proc/PID/stat, in ms. */
async function procCpuMs(pid: number | 'self'): Promise<{ own: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces), from field 3: utime is field 14.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ms = (ticks: number | undefined): number => ((ticks ?? Number.NaN) * 1000) / CLK_TCK;
  return { own: ms(f[11]) + ms(f[12]), children: ms(f[13]) + ms(f[14]) };
}

/** CPU so far (ms): this process (process.cpuUsage, µs precision) with its reaped children, and ovs-vswitchd. */
async function cpuNow(sb: OvsSandbox): Promise<{ daemon: number; vswitchd: number }> {
  const { user, system } = process.cpuUsage();
  const self = await procCpuMs('self');
  const pid = sb.pids().vswitchd;
  if (pid === null) throw new Error('ovs-vswitchd is not running');
  return { daemon: (user + system) / 1000 + self.children, vswitchd: (await procCpuMs(pid)).own };
}

/**
 * The steady state over the host's bridges: the floor first (one raw dump per bridge per
 * "interval", back to back, `intervals` times: CPU only, not time), then the data plane running
 * with the daemon's interval, measured over `intervals` of them.
 */
export async function benchSteadyState(host: Host, intervals: number): Promise<SteadyStateFigure> {
  const f0 = await cpuNow(host.sb);
  for (let i = 0; i < intervals; i++) {
    for (const br of host.bridges) await host.sb.runner.run('ovs-ofctl', ['dump-flows', br, COOKIE_FILTER, '--no-stats', '--no-names']);
  }
  const f1 = await cpuNow(host.sb);

  const counting = countingRunner(createRunner({ rundir: host.sb.rundir }));
  const rec = recording(createOvs({ rundir: host.sb.rundir, logger: silentLogger(), runner: counting.runner }));
  const dp = dataplaneOn(host, rec, INTERVAL_MS);
  try {
    await runConverged(dp, rec, host);
    // The window opens half a backstop slot after a read of the first bridge: no read sits on its edges.
    const first = host.bridges[0] as string;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no backstop read of ${first} in ${2 * INTERVAL_MS} ms`)), 2 * INTERVAL_MS);
      counting.onRun = (bin, args) => {
        if (bin !== 'ovs-ofctl' || args[0] !== 'dump-flows' || args[1] !== first) return;
        counting.onRun = null;
        clearTimeout(timer);
        resolve();
      };
    });
    await delay(INTERVAL_MS / host.bridges.length / 2);
    const before = new Map(counting.counts);
    const c0 = await cpuNow(host.sb);
    await delay(intervals * INTERVAL_MS);
    const c1 = await cpuNow(host.sb);
    const processes: Partial<Record<OvsBinary, number>> = {};
    for (const [bin, n] of counting.counts) if (n > (before.get(bin) ?? 0)) processes[bin] = n - (before.get(bin) ?? 0);
    const s = dp.status();
    if (s.lastError !== null || s.channelDisagreements !== 0) throw new Error(`the steady state was not steady: ${JSON.stringify({ lastError: s.lastError, channelDisagreements: s.channelDisagreements })}`);
    const all = Object.values(processes).reduce((a, b) => a + b, 0);
    const perBridge = (n: number): number => Math.round((n / host.bridges.length / intervals) * 1000) / 1000;
    const cpu = (c1.daemon - c0.daemon) / intervals;
    const floor = (f1.daemon - f0.daemon) / intervals;
    return {
      bridges: host.bridges.length,
      flows: host.flows,
      intervalMs: INTERVAL_MS,
      intervals,
      processes,
      ofctlPerBridgePerInterval: perBridge(processes['ovs-ofctl'] ?? 0),
      processesPerBridgePerInterval: perBridge(all),
      cpuMsPerInterval: round(cpu),
      floorCpuMsPerInterval: round(floor),
      ratio: ratio(cpu, floor),
      vswitchdCpuMsPerInterval: round((c1.vswitchd - c0.vswitchd) / intervals),
      floorVswitchdCpuMsPerInterval: round((f1.vswitchd - f0.vswitchd) / intervals),
    };
  } finally {
    counting.onRun = null;
    await dp.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Drift repair

export async function benchDrift(host: Host): Promise<DriftFigure> {
  const rec = recording(ovsOf(host));
  const dp = dataplaneOn(host, rec);
  const latencies: number[] = [];
  const quiet: number[] = [];
  try {
    await runConverged(dp, rec, host);
    for (let i = 0; i < DRIFT_SAMPLES; i++) {
      const br = host.bridges[i % host.bridges.length] as string;
      const lines = host.lines.get(br) ?? [];
      // A steering flow (`add cookie=…,table=0,priority=100,ip,…,actions=output:N`).
      const add = lines.filter((l) => l.includes(',priority=100,ip,') && l.includes('actions=output:'))[Math.floor(i / host.bridges.length)];
      if (add === undefined) throw new Error(`no steering flow on ${br}`);
      const match = add.slice(add.indexOf(',priority=') + 1, add.indexOf(',actions='));
      let resolveBack!: (at: number) => void;
      const back = new Promise<number>((resolve) => (resolveBack = resolve));
      rec.onBundle = (bridge, bundle, at) => {
        if (bridge === br && bundle.includes(add)) resolveBack(at);
      };
      const reads = rec.topologyReads;
      const passRunning = dp.loop.health().running;
      await host.sb.runner.run('ovs-ofctl', ['--strict', 'del-flows', br, match]);
      const t0 = performance.now();
      const at = await Promise.race([back, delay(10_000).then(() => Number.NaN)]);
      if (Number.isNaN(at)) throw new Error(`a deleted flow did not come back within 10 s: ${br} ${match}`);
      latencies.push(at - t0);
      // A cycle already running at the deletion, or a topology read meanwhile, is a full pass.
      if (!passRunning && rec.topologyReads === reads && rec.topologyReading === 0) quiet.push(at - t0);
      rec.onBundle = null;
      await dp.loop.idle();
      await delay(20);
    }
    const dump = await host.sb.ofctl('dump-flows', host.bridges[0] as string, COOKIE_FILTER, '--no-stats', '--no-names');
    const n = dump.split('\n').filter((l) => l.includes('cookie=')).length;
    if (n !== host.lines.get(host.bridges[0] as string)?.length) throw new Error(`after the drift runs, ${n} flows on ${host.bridges[0]}`);
  } finally {
    await dp.close();
  }
  return { ...latency(latencies), duringFullPass: latencies.length - quiet.length, quiet: latency(quiet), bridges: host.bridges.length };
}

// ---------------------------------------------------------------------------------------------
// 4. peering.accept → flows installed, with the real daemon

/** The daemon on the sandbox's OVS, stopped (and its directory removed) by the teardowns. */
async function startDaemon(t: { teardown(fn: () => unknown): void }, rundir: string): Promise<BenchDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-dp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const d = await startBenchDaemon(dir, { ovs: { enabled: true, rundir } }, 60_000);
  t.teardown(() => d.stop());
  return d;
}

/** The bench's own `ovs-ofctl monitor` of a bridge: counts ADDED events per cookie. */
interface FlowWatch {
  added(cookie: bigint): number;
  /** Resolves at the moment the `count`-th ADDED event with `cookie` was read. */
  waitAdded(cookie: bigint, count: number): Promise<number>;
  stop(): void;
}

export async function watchFlows(sb: OvsSandbox, bridge: string): Promise<FlowWatch> {
  const child = spawn('ovs-ofctl', ['monitor', bridge, 'watch:!initial', '--no-names'], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', OVS_RUNDIR: sb.rundir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const counts = new Map<bigint, number>();
  const waiters: { cookie: bigint; count: number; resolve: (at: number) => void }[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const at = performance.now();
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /event=ADDED .*\bcookie=0x([0-9a-f]+)/.exec(line);
      if (!m) continue;
      const cookie = BigInt(`0x${m[1]}`);
      const n = (counts.get(cookie) ?? 0) + 1;
      counts.set(cookie, n);
      for (const w of waiters.filter((x) => x.cookie === cookie && n >= x.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(at);
      }
    }
  });
  // Ready once the monitor request is answered (on stdout).
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`monitor of ${bridge} not ready`)), 5000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    added: (cookie) => counts.get(cookie) ?? 0,
    waitAdded: (cookie, count) =>
      (counts.get(cookie) ?? 0) >= count ? Promise.resolve(performance.now()) : new Promise((resolve) => waiters.push({ cookie, count, resolve })),
    stop: () => void child.kill('SIGTERM'),
  };
}

/**
 * `samples` accepts, one at a time on an idle daemon: create (pending), wait until the daemon has
 * applied it, accept, wait until the bench's monitors have seen every flow of the peering on both
 * bridges, wait until the daemon is idle again (its patch ports made), delete it, wait again.
 */
export async function benchAccept(t: { teardown(fn: () => unknown): void }, label: string, vpcs: number, preload: readonly [number, number][], samples: readonly [number, number][]): Promise<AcceptFigure> {
  const sb = await startOvs(t, { name: label });
  const bridges = Array.from({ length: vpcs }, (_, i) => sb.name(`b${i}`));
  await vsctlBatches(sb, bridges.map((br) => ['add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=secure']), 50);
  await forEachLimited(bridges, FLOOR_CONCURRENCY, (br) => sb.ofctl('add-flow', br, PLATFORM_FLOW).then(() => undefined));
  const d = await startDaemon(t, sb.rundir);
  const c = d.client;
  for (let i = 0; i < vpcs; i++) await c.call('vpc.create', { id: `vpc-${i}`, tenantId: 'bench', cidrs: [`10.0.${i}.0/24`], bridge: bridges[i] });

  const preloadStart = performance.now();
  await forEachLimited(preload, 32, async ([r, a]) => {
    const p = (await c.call('peering.create', { requesterVpcId: `vpc-${r}`, accepterVpcId: `vpc-${a}` })) as { id: string };
    await c.call('peering.accept', { id: p.id });
  });
  await daemonIdle(c, 300_000);
  const preloadMs = performance.now() - preloadStart;

  const fromCall: number[] = [];
  const fromReply: number[] = [];
  const call: number[] = [];
  const floor: number[] = [];
  for (const [r, a] of samples) {
    const pair = [bridges[r] as string, bridges[a] as string];
    const watches = await Promise.all(pair.map((br) => watchFlows(sb, br)));
    try {
      const p = (await c.call('peering.create', { requesterVpcId: `vpc-${r}`, accepterVpcId: `vpc-${a}` })) as { id: string };
      await daemonIdle(c, 30_000);
      const cookie = peeringCookie(COOKIE_PREFIX, p.id);
      // One IPv4 block each side: 4 steering flows, 2 guards, 1 drop per bridge.
      const done = Promise.all(watches.map((w) => w.waitAdded(cookie, 7)));
      const t0 = performance.now();
      await c.call('peering.accept', { id: p.id });
      const t1 = performance.now();
      const at = Math.max(...(await Promise.race([done, delay(10_000).then(() => [Number.NaN])])));
      if (Number.isNaN(at)) throw new Error(`the flows of ${p.id} were not all reported within 10 s`);
      fromCall.push(at - t0);
      fromReply.push(at - t1);
      call.push(t1 - t0);
      await daemonIdle(c, 30_000);
      await c.call('peering.delete', { id: p.id });
      await daemonIdle(c, 30_000);
      floor.push(await floorBundles(sb, pair));
    } finally {
      for (const w of watches) w.stop();
    }
  }
  await d.stop();
  return {
    vpcs,
    peerings: preload.length,
    fromCall: latency(fromCall),
    fromReply: latency(fromReply),
    call: latency(call),
    floor: latency(floor),
    ratio: ratio(percentile(sorted(fromCall), 50), percentile(sorted(floor), 50)),
    preloadMs: round(preloadMs),
  };
}

/**
 * The floor of an accept: one `ovs-ofctl --bundle add-flows` of 7 flows like a peering's on each
 * of the two bridges, both at once (as the data plane does), under a cookie the daemon ignores;
 * removed afterwards (not timed).
 */
async function floorBundles(sb: OvsSandbox, pair: readonly string[]): Promise<number> {
  const cookie = '0x0be0000000000001';
  const lines = [
    'priority=100,ip,nw_src=10.200.0.0/24,nw_dst=10.201.0.0/24,actions=output:40000',
    'priority=100,arp,arp_spa=10.200.0.0/24,arp_tpa=10.201.0.0/24,actions=output:40000',
    'priority=100,ip,in_port=40000,nw_src=10.201.0.0/24,nw_dst=10.200.0.0/24,actions=NORMAL',
    'priority=100,arp,in_port=40000,arp_spa=10.201.0.0/24,arp_tpa=10.200.0.0/24,actions=NORMAL',
    'priority=101,ip,in_port=40000,nw_src=10.200.0.0/24,actions=drop',
    'priority=101,arp,in_port=40000,arp_spa=10.200.0.0/24,actions=drop',
    'priority=99,in_port=40000,actions=drop',
  ].map((l) => `add cookie=${cookie},table=0,${l}`);
  const t0 = performance.now();
  await Promise.all(pair.map((br) => sb.runner.run('ovs-ofctl', ['--no-names', '--bundle', 'add-flows', br, '-'], { stdin: lines.join('\n') + '\n' })));
  const took = performance.now() - t0;
  await Promise.all(pair.map((br) => sb.ofctl('del-flows', br, `cookie=${cookie}/-1`)));
  return took;
}

/** Polls `status` until the data plane has applied every commit and reports no error. */
async function daemonIdle(c: RpcClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await c.call('status', {})) as { ovs: { desiredGeneration: number; appliedGeneration: number; lastError: string | null } };
    if (s.ovs.desiredGeneration === s.ovs.appliedGeneration && s.ovs.lastError === null) return;
    if (Date.now() > deadline) throw new Error(`the daemon did not converge within ${timeoutMs} ms: ${JSON.stringify(s.ovs)}`);
    await delay(10);
  }
}

// ---------------------------------------------------------------------------------------------
// 5. vswitchd restart

export async function benchRestart(host: Host, floorMs: number): Promise<RestartFigure> {
  const rec = recording(ovsOf(host));
  const dp = dataplaneOn(host, rec);
  try {
    // The flows are in (the last converge run put them there): this pass only checks them.
    await runConverged(dp, rec, host);
    const tKill = performance.now();
    await host.sb.killVswitchd();
    // A killed vswitchd with thousands of ports may hold its pidfile lock a moment longer.
    for (let attempt = 1; ; attempt++) {
      try {
        await host.sb.startVswitchd();
        break;
      } catch (err) {
        if (attempt >= 50 || !/already running/.test(String(err))) throw err;
        await delay(100);
      }
    }
    const t0 = performance.now();
    // Every bridge restored (a bundle since the kill: none can end while vswitchd is down), then the loop quiet.
    const restored = (): number[] => [...rec.bundles.values()].filter((at) => at > tKill);
    const deadline = t0 + 180_000;
    while (restored().length < host.bridges.length || dp.loop.health().running || dp.status().state !== 'enabled') {
      if (performance.now() > deadline) throw new Error(`after the restart, ${restored().length} of ${host.bridges.length} bridges restored in 180 s`);
      await delay(5);
    }
    await dp.loop.idle();
    const backMs = Math.max(...restored()) - t0;
    await checkInstalled(host);
    return { peerings: host.peerings.length, flows: host.flows, backMs: round(backMs), vswitchdStartMs: round(t0 - tKill), floorMs: round(floorMs), ratio: ratio(backMs, floorMs) };
  } finally {
    await dp.close();
  }
}

// ---------------------------------------------------------------------------------------------

export function runDataplaneBench(sections: ReadonlySet<DataplaneSection> = new Set(DATAPLANE_SECTIONS)): Promise<DataplaneBenchResult> {
  const on = (s: DataplaneSection): boolean => sections.has(s);
  return withTeardowns(async (t) => {
    const r: { -readonly [K in keyof DataplaneBenchResult]: DataplaneBenchResult[K] } = {};
    if (on('converge') || on('steady') || on('drift')) {
      const small = await buildHost(t, 'dpsmall', 100, ringPairs(100, 10));
      if (on('converge')) r.converge = [progress('converge 1k', await benchConverge(small, 3))];
      if (on('steady')) {
        r.steady = progress('steady', await benchSteady(small, 5));
        r.steadyState = progress('steady state', await benchSteadyState(small, 3));
      }
      if (on('drift')) r.drift = progress('drift', await benchDrift(small));
      await t.run();
    }

    if (on('accept')) {
      const accept = [
        progress('accept, 4 VPCs', await benchAccept(t, 'acctiny', 4, [], Array.from({ length: ACCEPT_SAMPLES }, (_, i): [number, number] => (i % 2 === 0 ? [0, 1] : [2, 3])))),
      ];
      await t.run();
      const loaded = Array.from({ length: ACCEPT_SAMPLES }, (_, i): [number, number] => [i % 100, (i + 11) % 100]);
      accept.push(progress('accept, 100 VPCs', await benchAccept(t, 'accload', 100, ringPairs(100, 10), loaded)));
      await t.run();
      r.accept = accept;
    }

    if (on('converge') || on('restart')) {
      const large = await buildHost(t, 'dplarge', 142, allPairs(142, 10_000));
      const converge10k = progress('converge 10k', await benchConverge(large, 1));
      r.converge = [...(r.converge ?? []), converge10k];
      if (on('restart')) r.restart = progress('restart', await benchRestart(large, converge10k.floor.medianMs));
      await t.run();
    }
    return r;
  });
}

export function printDataplaneFigures(r: DataplaneBenchResult): void {
  for (const f of r.converge ?? []) console.log(JSON.stringify({ bench: 'dataplane', figure: 'converge-from-empty', ...f }));
  if (r.steady) console.log(JSON.stringify({ bench: 'dataplane', figure: 'steady-cycle', ...r.steady }));
  if (r.steadyState) console.log(JSON.stringify({ bench: 'dataplane', figure: 'steady-state', ...r.steadyState }));
  if (r.drift) console.log(JSON.stringify({ bench: 'dataplane', figure: 'drift-repair', ...r.drift }));
  for (const a of r.accept ?? []) console.log(JSON.stringify({ bench: 'dataplane', figure: 'accept-to-flows', ...a }));
  if (r.restart) console.log(JSON.stringify({ bench: 'dataplane', figure: 'vswitchd-restart', ...r.restart }));
  for (const f of r.converge ?? []) {
    console.log(
      `dataplane converge ${String(f.peerings).padStart(6)} peerings (${f.bridges} bridges, ${f.flows} flows): ` +
        `installed ${ms(f.installed.medianMs)} (cycle ${ms(f.cycle.medianMs)}), floor ${ms(f.floor.medianMs)}, ratio ${f.ratio}  [${f.peerings < 10_000 ? 'target ≤ 0.5' : 'report'}]; ` +
        `read-then-write floor ${ms(f.readFloor.medianMs)}, ratio ${f.readRatio}; ${f.processes} OVS tool processes; ovs-vswitchd CPU ${ms(f.vswitchdCpuMs.start)} (floor's ${ms(f.vswitchdCpuMs.floor)})`,
    );
  }
  const s = r.steady;
  if (s) {
    console.log(
      `dataplane steady pass, ${s.bridges} bridges (${s.flows} flows): ${ms(s.pass.medianMs)} from the channels' tables (reconcile.run, which dumps, ${ms(s.cycle.medianMs)}, ratio ${s.cycleRatio}), ` +
        `floor ${ms(s.floor.medianMs)} (a dump per bridge), ratio ${s.ratio}`,
    );
  }
  const ss = r.steadyState;
  if (ss) {
    const procs = Object.entries(ss.processes).map(([bin, n]) => `${n} ${bin}`).join(', ');
    console.log(
      `dataplane steady state, ${ss.bridges} bridges, ${ss.intervals} intervals of ${ms(ss.intervalMs)}: ${procs}; ovs-ofctl ${ss.ofctlPerBridgePerInterval.toFixed(2)} per bridge per interval ` +
        `[target 1.00], all processes ${ss.processesPerBridgePerInterval.toFixed(2)}; CPU ${ms(ss.cpuMsPerInterval)} per interval against ${ms(ss.floorCpuMsPerInterval)} for the dumps alone, ratio ${ss.ratio} [report] ` +
        `(ovs-vswitchd ${ms(ss.vswitchdCpuMsPerInterval)} against ${ms(ss.floorVswitchdCpuMsPerInterval)})`,
    );
  }
  const d = r.drift;
  if (d) {
    console.log(
      `dataplane drift repair (${d.samples} deletions, ${d.bridges} bridges, the daemon's 5 s interval): p50 ${ms(d.p50Ms)}, p99 ${ms(d.p99Ms)} [target < 20 ms], max ${ms(d.maxMs)}; ` +
        `${d.duringFullPass} overlapped a pass over every bridge, the other ${d.quiet.samples}: p50 ${ms(d.quiet.p50Ms)}, p99 ${ms(d.quiet.p99Ms)}`,
    );
  }
  for (const a of r.accept ?? []) {
    console.log(
      `dataplane peering.accept → flows (${a.vpcs} VPCs, ${a.peerings} peerings): p50 ${ms(a.fromCall.p50Ms)} from the call, ` +
        `${ms(a.fromReply.p50Ms)} from the reply (the call ${ms(a.call.p50Ms)}), p99 ${ms(a.fromCall.p99Ms)}; floor p50 ${ms(a.floor.p50Ms)}, ratio ${a.ratio}  [target ≤ ${a.vpcs <= 4 ? '0.25' : '0.3'}]`,
    );
  }
  const x = r.restart;
  if (x) {
    console.log(
      `dataplane vswitchd restart (${x.peerings} peerings, ${x.flows} flows): all back ${ms(x.backMs)} after vswitchd answered ` +
        `(floor ${ms(x.floorMs)}, ratio ${x.ratio}; kill → answering ${ms(x.vswitchdStartMs)})  [report]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** A figure as soon as it is measured, on stderr (the whole run takes minutes). */
function progress<T>(what: string, figure: T): T {
  console.error(`dataplane bench: ${what}: ${JSON.stringify(figure)}`);
  return figure;
}

/** Resolves after `msec` ms (the benches pace their samples). */
export function delay(msec: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msec));
}

/** `x` to one decimal, as the figures print. */
export function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
}

function timed(xs: readonly number[]): Timed {
  return { medianMs: round(median(xs)), runsMs: xs.map(round) };
}

/** `x / floor` to two decimals, as the figures print. */
export function ratio(x: number, floor: number): number {
  return Math.round((x / floor) * 100) / 100;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Samples (ms) → count, p50, p99 and max, rounded as the figures print. */
export function latency(xs: readonly number[]): LatencyFigure {
  const s = sorted(xs);
  return { samples: s.length, p50Ms: round(percentile(s, 50)), p99Ms: round(percentile(s, 99)), maxMs: round(s[s.length - 1] ?? Number.NaN) };
}

function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printDataplaneFigures(await runDataplaneBench(sectionsOf(process.argv.slice(2))));
}

/** The ovs-ofctl bundle line of a flow mod of ours (bundleLine of its canonical flow). */
function bundleLineOf(mod: Unsent<FlowMod>): string {
  const flow = fromReported({ ...mod.flow, matchBytes: Buffer.alloc(0) });
  if (flow === null) throw new Error('a flow mod of ours the codec cannot read back');
  return bundleLine(mod.command === 'delete_strict' ? 'delete_strict' : 'add', flow);
}
