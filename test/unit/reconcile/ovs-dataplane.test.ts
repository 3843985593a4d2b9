// The OVS data plane's cycle against an in-memory Open vSwitch (FakeOvs below): what it reads,
// dumps and applies, and when. The real-OVS behaviour is in test/integration/dataplane.ovs.test.ts;
// here are the properties that are about the calls made: drift repaired by one dump and one
// bundle of its bridge, our own bundles not taken for drift, monitors started again after they
// end, drift jumping the queue of a long pass, and a periodic pass that does not wait for its
// topology read but does again what the read shows was done on a stale one.
import t, { type Test } from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, Vpc } from '../../../src/domain/types.js';
import { createLogger, silentLogger } from '../../../src/log/logger.js';
import { type OfChannel, OfChannelError, type OfChannelEvents, OfErrorReply } from '../../../src/ovs/openflow/channel.js';
import { encodeMatchFields } from '../../../src/ovs/openflow/codec.js';
import { fromReported, toOfFlow } from '../../../src/ovs/openflow/flows.js';
import type { FlowUpdate, ReportedFlow } from '../../../src/ovs/openflow/messages.js';
import { type Ovs, OvsError, type PatchPair, type PortInfo, type PortRef, type Topology } from '../../../src/ovs/ovs.js';
import { isOurCookie } from '../../../src/reconcile/desired.js';
import { compareFlows, type Flow, flowKey, flowText, strictFlowText } from '../../../src/ovs/flow.js';
import { createOvsDataplane, type OvsDataplane, type OvsDataplaneOptions } from '../../../src/reconcile/ovs-dataplane.js';
import { REPAIRS_BEFORE_GUARD } from '../../../src/reconcile/guard.js';

const PREFIX = 0x5ee0;
/** The store's commit seq, as the tests' commits advance it. */
let commitSeq = 0;
const AT = '2025-01-01T00:00:00.000Z';

const vpc = (n: number): Vpc => ({ id: `vpc-${n}`, tenantId: 't1', cidrs: [`10.${n}.0.0/16`], bridge: `br-${n}`, createdAt: AT, updatedAt: AT });
const peering = (n: number, r: number, a: number): Peering => ({
  id: `pcx-${n.toString(16).padStart(12, '0')}00000`, tenantId: 't1', requesterVpcId: `vpc-${r}`, accepterVpcId: `vpc-${a}`,
  status: 'active', requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
});

const ADD = /^add cookie=0x([0-9a-f]+),table=(\d+),priority=(\d+),(.*),actions=(.*)$/;
const DELETE = /^delete_strict cookie=0x([0-9a-f]+)\/-1,table=(\d+),priority=(\d+),(.*)$/;

/** A flow as the switch reports it over OpenFlow; a match the codec cannot type (the test hook's) as null. */
function reported(f: Flow): ReportedFlow {
  try {
    return { ...toOfFlow(f), matchBytes: Buffer.alloc(0) };
  } catch {
    return { table: f.table, priority: f.priority, cookie: f.cookie, match: null, matchBytes: Buffer.alloc(0), actions: null };
  }
}

/** One OpenFlow channel to a FakeOvs bridge: connected while the bridge exists and OVS is up. */
interface FakeChannel {
  readonly bridge: string;
  readonly events: OfChannelEvents;
  connected: boolean;
  closed: boolean;
  /** Dropped and waiting out a long backoff: it connects again only when kicked. */
  parked: boolean;
  /** The last attempt failed or the link dropped (OfChannel.unreachable). */
  unreachable: boolean;
}

/**
 * An Open vSwitch in memory: bridges with ports and flows; OpenFlow channels (openFlow) that
 * apply bundles, answer flow stats and monitors, and hear every change made by anything else
 * (a hand deletion, a bundle through applyBundle: another OpenFlow connection).
 */
class FakeOvs implements Ovs {
  readonly bridges = new Map<string, { ports: Map<string, PortInfo>; flows: Map<string, Flow> }>();
  readonly channels = new Set<FakeChannel>();
  /** `bundles`: every bundle applied, over a channel or through applyBundle. */
  readonly calls = { topology: 0, dumps: [] as string[], bundles: [] as string[], stats: [] as string[], ofctlBundles: [] as string[], kicks: [] as string[] };
  /** Bridges the rundir shows sockets of, beside those that exist (a dead vswitchd leaves them). */
  readonly staleSockets = new Set<string>();
  /** Set to hold topology reads until the test lets them answer. */
  topologyGate: Promise<void> | null = null;
  dumpDelayMs = 0;
  /** Called as each dump starts (its bridge, how many dumps so far): drift injected at an exact point. */
  onDump: ((bridge: string, count: number) => void) | null = null;
  /** Set while ovsdb-server and ovs-vswitchd do not answer. */
  down = false;
  /** Set while ovs-vswitchd does not answer (its database does): no channel, no ovs-ofctl. */
  vswitchdDown = false;
  /** Bridges whose bundles OVS refuses. */
  readonly refuse = new Set<string>();
  /** close() was called (the data plane closes its Ovs last). */
  closed = false;
  /** watchTopology's listeners: told of every change of bridges and ports, ours included, as the OVSDB monitor tells. */
  readonly watchers = new Set<() => void>();

  addBridge(name: string): void {
    this.bridges.set(name, { ports: new Map([['vm', { name: 'vm', ofport: 1, type: '', peer: null, error: null }]]), flows: new Map() });
    this.topologyChanged();
  }

  watchTopology(listener: () => void): () => void {
    const own = (): void => listener();
    this.watchers.add(own);
    return () => void this.watchers.delete(own);
  }

  /** What the monitor's update does: every listener hears it. */
  topologyChanged(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Someone else deletes a port (ovs-vsctl del-port). */
  foreignDeletePort(bridge: string, port: string): void {
    if (!this.bridges.get(bridge)?.ports.delete(port)) throw new Error(`no port ${port} on ${bridge}`);
    this.topologyChanged();
  }

  /** `ovs-vsctl del-br`: the bridge, its ports and flows go; its channels' links drop. */
  deleteBridge(name: string): void {
    this.bridges.delete(name);
    for (const ch of this.channels) {
      if (ch.bridge !== name || !ch.connected) continue;
      ch.connected = false;
      ch.unreachable = true;
      ch.events.onDisconnect?.(new OfChannelError('disconnected', 'the switch closed the connection'));
      this.connectLater(ch);
    }
  }

  async topology(): Promise<Topology> {
    this.calls.topology += 1;
    if (this.topologyGate) await this.topologyGate;
    if (this.down) throw new OvsError('unavailable', 'ovs-vsctl: database connection failed');
    return { bridges: new Map([...this.bridges].map(([name, b]) => [name, { name, ports: new Map(b.ports) }])) };
  }

  async dumpFlows(bridge: string, cookie: bigint, mask: bigint): Promise<Flow[]> {
    this.calls.dumps.push(bridge);
    this.onDump?.(bridge, this.calls.dumps.length);
    if (this.dumpDelayMs > 0) await new Promise((r) => setTimeout(r, this.dumpDelayMs));
    const b = this.bridges.get(bridge);
    if (!b || this.down || this.vswitchdDown) throw new OvsError('unavailable', `ovs-ofctl: ${bridge} is not a bridge or a socket`);
    // Sorted, as Ovs.dumpFlows promises.
    return [...b.flows.values()].filter((f) => (f.cookie & mask) === (cookie & mask)).sort(compareFlows);
  }

  async dumpFlowLines(bridge: string, cookie: bigint, mask: bigint): Promise<string[]> {
    return (await this.dumpFlows(bridge, cookie, mask)).map(flowText);
  }

  async applyBundle(bridge: string, lines: readonly string[]): Promise<void> {
    await Promise.resolve();
    const b = this.bridges.get(bridge);
    if (!b || this.down || this.vswitchdDown) throw new OvsError('unavailable', `ovs-ofctl: ${bridge} is not a bridge or a socket`);
    if (this.refuse.has(bridge)) throw new OvsError('failed', `ovs-ofctl: ${bridge}: OFPT_ERROR: OFPBMC_BAD_FIELD`);
    this.calls.bundles.push(bridge);
    this.calls.ofctlBundles.push(bridge);
    for (const line of lines) {
      const add = ADD.exec(line);
      const del = DELETE.exec(line);
      if (add) {
        const [, cookie = '', table = '', priority = '', match = '', actions = ''] = add;
        // Kept as OVS prints it: a MAC in lower case (the only upper case a match of ours may hold is the test hook's).
        const f: Flow = { cookie: BigInt(`0x${cookie}`), table: Number(table), priority: Number(priority), match: match.toLowerCase(), actions };
        b.flows.set(flowKey(f), f);
        this.emit(bridge, 'added', f);
      } else if (del) {
        const [, , table = '', priority = '', match = ''] = del;
        const key = flowKey({ table: Number(table), priority: Number(priority), match: match.toLowerCase() });
        const f = b.flows.get(key);
        if (f) {
          b.flows.delete(key);
          this.emit(bridge, 'deleted', f);
        }
      } else {
        throw new Error(`FakeOvs cannot read ${line}`);
      }
    }
  }

  async addPatchPairs(pairs: readonly PatchPair[]): Promise<void> {
    for (const p of pairs) {
      this.putPort(p.bridge, p.port, p.peerPort, p.ofport);
      this.putPort(p.peerBridge, p.peerPort, p.port, p.peerOfport);
    }
  }

  /** The patch port of ours on `bridge` (the first, by name). */
  patchPort(bridge: string): PortInfo {
    const port = [...(this.bridges.get(bridge)?.ports.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name)).find((p) => p.type === 'patch');
    if (!port) throw new Error(`no patch port on ${bridge}`);
    return port;
  }

  putPort(bridge: string, port: string, peer: string, ofport?: number): void {
    const ports = this.bridges.get(bridge)?.ports;
    if (!ports) return;
    const used = new Set([...ports.values()].map((p) => p.ofport));
    let n = ofport ?? 100;
    while (ofport === undefined && used.has(n)) n++;
    ports.set(port, { name: port, ofport: n, type: 'patch', peer, error: null });
    this.topologyChanged();
  }

  async deletePorts(ports: readonly PortRef[]): Promise<void> {
    for (const p of ports) this.bridges.get(p.bridge)?.ports.delete(p.port);
    if (ports.length > 0) this.topologyChanged();
  }

  close(): void {
    this.closed = true;
  }

  openFlow(bridge: string, events: OfChannelEvents): OfChannel {
    const ch: FakeChannel = { bridge, events, connected: false, closed: false, parked: false, unreachable: false };
    this.channels.add(ch);
    this.connectLater(ch);
    const ours = (cookie: bigint, mask: bigint): Flow[] => [...(this.bridges.get(bridge)?.flows.values() ?? [])].filter((f) => (f.cookie & mask) === (cookie & mask));
    const live = (): void => {
      if (!ch.connected) throw new OfChannelError('disconnected', `not connected to ${bridge}.mgmt`);
    };
    return {
      get connected() {
        return ch.connected;
      },
      get unreachable() {
        return ch.unreachable;
      },
      request: () => Promise.reject(new Error('FakeOvs: request() is not used by the data plane')),
      flowStats: async (cookie, mask, inOrder) => {
        await Promise.resolve();
        live();
        this.calls.stats.push(bridge);
        const flows = ours(cookie, mask).map(reported);
        inOrder?.(flows);
        return flows;
      },
      monitor: async (_opts, inOrder) => {
        await Promise.resolve();
        live();
        const updates: FlowUpdate[] = ours(0n, 0n).map((f) => ({ event: 'initial', flow: reported(f) }));
        inOrder?.(updates);
        return updates;
      },
      bundle: async (mods, inOrder) => {
        await Promise.resolve();
        live();
        const b = this.bridges.get(bridge);
        if (!b) throw new OfChannelError('disconnected', `${bridge} is gone`);
        // As the real channel: the whole bundle is encoded before any of it is sent (OfCodecError).
        for (const mod of mods) encodeMatchFields(mod.flow.match);
        if (this.refuse.has(bridge)) throw new OfErrorReply(4, 3, 0);
        for (const mod of mods) {
          const f = fromReported({ ...mod.flow, matchBytes: Buffer.alloc(0) });
          if (f === null) throw new Error('FakeOvs: a flow mod the codec cannot read back');
          if (mod.command === 'delete_strict') b.flows.delete(flowKey(f));
          else b.flows.set(flowKey(f), f);
        }
        // Our own changes come back as abbreviated updates: nothing to report.
        this.calls.bundles.push(bridge);
        inOrder?.();
      },
      kick: () => {
        this.calls.kicks.push(bridge);
        if (!ch.parked) return;
        ch.parked = false;
        this.connectLater(ch);
      },
      close: () => {
        ch.closed = true;
        ch.connected = false;
        this.channels.delete(ch);
      },
    };
  }

  /** Channels up with their bridge (the test waits for them as the data plane's view of OVS). */
  connected(): number {
    return [...this.channels].filter((c) => c.connected).length;
  }

  private connectLater(ch: FakeChannel, afterMs = 1): void {
    setTimeout(() => {
      if (ch.closed || ch.connected || ch.parked) return;
      if (this.down || this.vswitchdDown || !this.bridges.has(ch.bridge)) {
        ch.unreachable = true;
        this.connectLater(ch);
        return;
      }
      ch.connected = true;
      ch.unreachable = false;
      ch.events.onConnect?.();
    }, afterMs);
  }

  bridgeHints = async (): Promise<string[]> => [...new Set([...this.bridges.keys(), ...this.staleSockets])].sort();
  probe = async (): Promise<'up' | 'down'> => 'up';
  /** ovs-vswitchd's pid; null: not readable (hidden /proc). */
  pid: number | null = 1;
  vswitchdPid = async (): Promise<number | null> => this.pid;

  /** Someone else deletes one of our flows. */
  foreignDelete(bridge: string, pick: (f: Flow) => boolean): Flow {
    const b = this.bridges.get(bridge);
    const f = [...(b?.flows.values() ?? [])].find(pick);
    if (!b || !f) throw new Error(`no such flow on ${bridge}`);
    b.flows.delete(flowKey(f));
    this.emit(bridge, 'deleted', f);
    return f;
  }

  /** The switch paused its monitor updates and resumed them: changes may have been missed. */
  pauseAndResume(bridge: string): void {
    for (const ch of this.channels) if (ch.bridge === bridge && ch.connected) ch.events.onMonitorUpdates?.([{ event: 'paused' }, { event: 'resumed' }]);
  }

  /**
   * Every channel drops as when vswitchd dies, then connects again (the new vswitchd): at once,
   * or `staggerMs` apart in bridge order; those of `parked` only when kicked (a long backoff).
   */
  dropChannels(opts: { staggerMs?: number; parked?: ReadonlySet<string> } = {}): void {
    const dropped = [...this.channels].filter((ch) => ch.connected).sort((a, b) => a.bridge.localeCompare(b.bridge));
    dropped.forEach((ch, i) => {
      ch.connected = false;
      ch.unreachable = true;
      ch.events.onDisconnect?.(new OfChannelError('disconnected', 'the switch closed the connection'));
      if (opts.parked?.has(ch.bridge)) ch.parked = true;
      else this.connectLater(ch, 1 + i * (opts.staggerMs ?? 0));
    });
  }

  ourFlows(bridge: string): Flow[] {
    return [...(this.bridges.get(bridge)?.flows.values() ?? [])].filter((f) => isOurCookie(PREFIX, f.cookie));
  }

  /** A change made by another connection, as the monitor of every channel of the bridge reports it. */
  private emit(bridge: string, kind: 'added' | 'deleted', f: Flow): void {
    const update: FlowUpdate = { event: kind === 'added' ? 'added' : 'removed', flow: reported(f) };
    for (const ch of this.channels) {
      // A moment later, as the switch sends it.
      if (ch.bridge === bridge && ch.connected) setImmediate(() => ch.connected && ch.events.onMonitorUpdates?.([update]));
    }
  }
}

interface Rig {
  readonly ovs: FakeOvs;
  readonly dp: OvsDataplane;
  readonly view: StateIndex;
}

/** A data plane over `vpcs`, each on a bridge of its own, and `peerings`; not started, closed at teardown. */
function unstarted(t: Test, vpcs: readonly Vpc[], peerings: readonly Peering[], extra: Partial<OvsDataplaneOptions> = {}): Rig {
  const ovs = new FakeOvs();
  for (const v of vpcs) ovs.addBridge(v.bridge);
  const view = new StateIndex({ vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])), peerings: Object.fromEntries(peerings.map((p) => [p.id, p])) });
  const dp = createOvsDataplane({ ovs, view: () => view, cookiePrefix: PREFIX, intervalMs: 3_600_000, logger: silentLogger(), ...extra });
  t.teardown(() => dp.close());
  return { ovs, dp, view };
}

/** `bridges` VPCs on their own bridges; VPC 0 peered with every other one. */
async function rig(t: Test, bridges: number, extra: Partial<OvsDataplaneOptions> = {}): Promise<Rig> {
  const vpcs = Array.from({ length: bridges }, (_, i) => vpc(i));
  const { ovs, dp, view } = unstarted(t, vpcs, vpcs.slice(1).map((v, i) => peering(i + 1, 0, Number(v.id.slice(4)))), extra);
  dp.start();
  await dp.loop.idle();
  await until(() => ovs.connected() === bridges, 'a channel on every bridge');
  await dp.loop.idle();
  return { ovs, dp, view };
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const steering = (f: Flow): boolean => f.priority === 100 && f.match.includes('nw_dst') && f.actions.startsWith('output:');

t.test('converged: every bridge has its flows and a monitor; our own bundles caused no further dumps', async (t) => {
  const { ovs, dp } = await rig(t, 4);
  t.same(dp.status().state, 'enabled');
  // br-0 carries 3 peerings × 7 flows + the canary; each other bridge 7 + 1.
  t.same([0, 1, 2, 3].map((i) => ovs.ourFlows(`br-${i}`).length), [22, 8, 8, 8]);
  const dumps = ovs.calls.dumps.length;
  await new Promise((r) => setTimeout(r, 30));
  await dp.loop.idle();
  t.equal(ovs.calls.dumps.length, dumps, 'the monitors heard our bundles, and knew them for ours');
});

t.test('drift: one bundle of the bridge, read from its channel (no dump), no topology read, no cycle after', async (t) => {
  const { ovs, dp } = await rig(t, 4);
  const before = { topology: ovs.calls.topology, dumps: ovs.calls.dumps.length, bundles: ovs.calls.bundles.length, cycles: dp.loop.health().cycles };
  const lost = ovs.foreignDelete('br-2', steering);
  await until(() => ovs.ourFlows('br-2').some((f) => flowKey(f) === flowKey(lost)), 'the flow back');
  await new Promise((r) => setTimeout(r, 30));
  await dp.loop.idle();
  t.equal(ovs.calls.topology, before.topology, 'no topology read');
  t.same(ovs.calls.dumps.slice(before.dumps), [], 'no dump: the channel’s table had the deletion');
  t.same(ovs.calls.bundles.slice(before.bundles), ['br-2'], 'one bundle');
  t.equal(dp.loop.health().cycles, before.cycles + 1, 'one cycle: the repair was not taken for drift again');
  t.equal(dp.status().driftRepaired, 1);
});

t.test('channels that drop (vswitchd died) connect again and replay every flow, with no dump', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  // vswitchd restarted: its flows are gone, its channels dropped, its pid is another.
  const dumps = ovs.calls.dumps.length;
  for (const b of ovs.bridges.values()) b.flows.clear();
  ovs.pid = 2;
  ovs.dropChannels();
  await until(() => ovs.connected() === 3, 'channels again');
  await until(() => [0, 1, 2].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'flows again');
  await dp.loop.idle();
  t.equal(ovs.calls.dumps.length, dumps, 'replayed from the channels’ tables: no dump');
  t.same([0, 1, 2].map((i) => ovs.ourFlows(`br-${i}`).length), [15, 8, 8], 'every flow back');
  t.equal(dp.status().restartsDetected, 1, 'one restart of the switch counted once');
  t.same(Object.values(dp.status().perBridge).map((b) => b.flowsLost), [1, 1, 1], 'and the lost canary once per bridge');
  // Without a readable pid, a pass that finds canaries lost counts one restart.
  ovs.pid = null;
  for (const b of ovs.bridges.values()) b.flows.clear();
  ovs.dropChannels();
  await until(() => ovs.connected() === 3, 'channels again');
  await until(() => [0, 1, 2].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'flows again');
  await dp.loop.idle();
  t.equal(dp.status().restartsDetected, 2, 'counted once more, not once per bridge');
  const lost = ovs.foreignDelete('br-1', steering);
  await until(() => ovs.ourFlows('br-1').some((f) => flowKey(f) === flowKey(lost)), 'drift heard by the new channel');
});

t.test('drift during a long pass is taken next, not after the pass', async (t) => {
  const { ovs, dp } = await rig(t, 12);
  ovs.dumpDelayMs = 15;
  const from = ovs.calls.dumps.length;
  const cycles = dp.loop.health().cycles;
  // reconcile.run dumps every bridge (the loop's passes read the channels' tables).
  // The drift lands as the pass's second dump starts (sorted: br-0, br-1, br-10, br-11, br-2, ...,
  // br-9 last), inside the fake, so a loaded machine cannot move it later.
  ovs.onDump = (_bridge, count) => {
    if (count !== from + 2) return;
    ovs.onDump = null;
    ovs.foreignDelete('br-9', steering);
  };
  const run = dp.reconcile({});
  await until(() => ovs.calls.dumps.slice(from).includes('br-9'), 'br-9 dumped');
  const order = ovs.calls.dumps.slice(from);
  t.ok(order.indexOf('br-9') < 8, `br-9 is dumped among the first (dump ${order.indexOf('br-9') + 1} of the pass), not last`);
  await run;
  await dp.loop.idle();
  t.equal(dp.loop.health().cycles, cycles, 'repaired within the pass: no cycle after it');
  t.equal(ovs.ourFlows('br-9').length, 8);
});

t.test('a periodic pass works from the known topology before its read answers, and redoes what the read shows stale', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  let open!: () => void;
  ovs.topologyGate = new Promise((resolve) => (open = resolve));
  const lost = ovs.foreignDelete('br-1', steering);
  // Only the interval's pass (scope all, not reconcile.run) works before its read.
  dp.loop.trigger('all');
  await until(() => ovs.ourFlows('br-1').some((f) => flowKey(f) === flowKey(lost)), 'repaired while the read is held');
  // Meanwhile someone re-created br-2's patch port with another number.
  const ours = [...(ovs.bridges.get('br-2')?.ports.values() ?? [])].find((p) => p.type === 'patch');
  if (!ours?.peer) throw new Error('no patch port on br-2');
  ovs.putPort('br-2', ours.name, ours.peer, 4242);
  open();
  ovs.topologyGate = null;
  await dp.loop.idle();
  t.ok(ovs.ourFlows('br-2').some((f) => f.actions === 'output:4242'), 'br-2 done again with the ofport the read showed');
  t.notOk(ovs.ourFlows('br-2').some((f) => f.actions === `output:${ours.ofport}`), 'no flow for the old number');
});

t.test('a cycle of a bridge the known topology lacks reads the topology', async (t) => {
  const { ovs, dp, view } = await rig(t, 2);
  ovs.addBridge('br-9');
  const reads = ovs.calls.topology;
  const v = vpc(9);
  view.apply([{ op: 'vpc.put', vpc: v }, { op: 'peering.put', peering: peering(9, 0, 9) }]);
  dp.onCommit([{ op: 'vpc.put', vpc: v }, { op: 'peering.put', peering: peering(9, 0, 9) }], ++commitSeq);
  await dp.loop.idle();
  t.ok(ovs.calls.topology > reads, 'read');
  t.equal(ovs.ourFlows('br-9').length, 8, 'the new peering programmed');
  t.equal(dp.peering(peering(9, 0, 9)).state, 'programmed');
});

t.test('a commit is planned from the channel’s table; so is the pass over everything; the backstop’s dump finds a loss the channel missed', async (t) => {
  const { ovs, dp, view } = await rig(t, 3);
  const from = { dumps: ovs.calls.dumps.length, bundles: ovs.calls.bundles.length };
  const p = peering(7, 1, 2);
  view.apply([{ op: 'peering.put', peering: p }]);
  dp.onCommit([{ op: 'peering.put', peering: p }], ++commitSeq);
  await dp.loop.idle();
  t.same(ovs.calls.dumps.slice(from.dumps), [], 'no dump');
  t.same(ovs.calls.bundles.slice(from.bundles).sort(), ['br-1', 'br-2'], 'one bundle per bridge of the peering');
  t.equal(dp.peering(p).state, 'programmed');
  t.equal(ovs.ourFlows('br-1').length, 15, 'both peerings of br-1 installed');

  // Changed behind the channel's back (no update: a codec blind spot).
  const b1 = ovs.bridges.get('br-1');
  const hidden = ovs.ourFlows('br-1').find(steering);
  if (!b1 || !hidden) throw new Error('no steering flow on br-1');
  b1.flows.delete(flowKey(hidden));
  const passFrom = { dumps: ovs.calls.dumps.length, topology: ovs.calls.topology };
  dp.loop.trigger('all');
  await dp.loop.idle();
  t.same(ovs.calls.dumps.slice(passFrom.dumps), [], 'the pass over everything reads the channels’ tables: no dump');
  t.equal(ovs.calls.topology, passFrom.topology + 1, 'and still reads the topology');
  t.notOk(ovs.ourFlows('br-1').some((f) => flowKey(f) === flowKey(hidden)), 'so it cannot see the loss');

  // The backstop reads each bridge once per interval: br-1 within one.
  const intervalMs = 300;
  const started = Date.now();
  dp.setIntervalMs(intervalMs);
  await until(() => ovs.ourFlows('br-1').some((f) => flowKey(f) === flowKey(hidden)), 'the unreported loss repaired', 3 * intervalMs);
  const took = Date.now() - started;
  t.ok(took < intervalMs + 150, `repaired ${took} ms after the interval was set to ${intervalMs} ms`);
  t.ok(ovs.calls.dumps.slice(passFrom.dumps).includes('br-1'), 'by the backstop’s dump of br-1');
  await dp.loop.idle();
  t.equal(dp.status().channelDisagreements, 1, 'the dump and the channel’s table disagreed once');
  const again = ovs.calls.dumps.length;
  await until(() => ovs.calls.dumps.length >= again + 3, 'a round more of backstop reads', 3 * intervalMs);
  await dp.loop.idle();
  t.equal(dp.status().channelDisagreements, 1, 'and agrees: the table took the dump and the repair');
});

t.test('steady state: the backstop dumps each bridge once per interval, spread over it, and nothing else reads with ovs-ofctl', async (t) => {
  const bridges = 4;
  const intervalMs = 400;
  const { ovs, dp } = await rig(t, bridges);
  const dumps: { bridge: string; at: number }[] = [];
  ovs.onDump = (bridge) => void dumps.push({ bridge, at: Date.now() });
  const from = { stats: ovs.calls.stats.length, bundles: ovs.calls.bundles.length, ofctl: ovs.calls.ofctlBundles.length };
  dp.setIntervalMs(intervalMs);
  const rounds = 3;
  // The window starts half a slot before the first read of br-0 after the change, so that no read sits on its edges.
  await until(() => dumps.some((d) => d.bridge === 'br-0'), 'a first backstop read of br-0', 3 * intervalMs);
  const first = dumps.find((d) => d.bridge === 'br-0');
  const slot = intervalMs / bridges;
  const windowStart = (first?.at ?? 0) - slot / 2;
  const windowEnd = windowStart + rounds * intervalMs;
  await until(() => Date.now() > windowEnd + slot, 'the window over', (rounds + 2) * intervalMs);
  ovs.onDump = null;
  const inWindow = dumps.filter((d) => d.at >= windowStart && d.at < windowEnd);
  const perBridge = new Map<string, number>();
  for (const d of inWindow) perBridge.set(d.bridge, (perBridge.get(d.bridge) ?? 0) + 1);
  t.same(
    [...perBridge].sort(),
    Array.from({ length: bridges }, (_, i) => [`br-${i}`, rounds]),
    `${rounds} intervals: one dump per bridge per interval (${inWindow.map((d) => d.bridge).join(' ')})`,
  );
  t.same(inWindow.slice(0, bridges).map((d) => d.bridge), ['br-0', 'br-1', 'br-2', 'br-3'], 'in a stable order');
  const gaps = inWindow.slice(1).map((d, i) => d.at - (inWindow[i]?.at ?? d.at));
  t.ok(Math.min(...gaps) >= slot / 4, `spread over the interval: ${gaps.join(', ')} ms apart (a slot is ${slot} ms)`);
  t.equal(ovs.calls.stats.length, from.stats, 'no table read over the channels either');
  t.same([ovs.calls.bundles.length, ovs.calls.ofctlBundles.length], [from.bundles, from.ofctl], 'no bundle: nothing to repair');
  t.ok(dp.loop.health().cycles > 0 && dp.status().lastReconcileAt !== null, 'the passes over everything still run and are reported');
  t.equal(dp.status().channelDisagreements, 0);
});

t.test('onReconciled says whether peering() may have changed: not for a backstop read or a repaired drift, yes when OVS stops answering', async (t) => {
  const calls: { viewChanged: boolean; views: string; topologyReads: number }[] = [];
  let dp: OvsDataplane | null = null;
  let ovs: FakeOvs | null = null;
  const peerings = [1, 2, 3].map((i) => peering(i, 0, i));
  const views = (): string => JSON.stringify(peerings.map((p) => (dp ? [dp.peering(p).state, dp.peering(p).flows, dp.peering(p).error ?? null] : null)));
  const r = await rig(t, 4, { onReconciled: (_ms, viewChanged) => void calls.push({ viewChanged, views: views(), topologyReads: ovs?.calls.topology ?? 0 }) });
  dp = r.dp;
  ovs = r.ovs;
  const from = calls.length;
  r.dp.setIntervalMs(200);
  await until(() => calls.length >= from + 8, 'backstop reads and passes over everything');
  r.ovs.foreignDelete('br-2', steering);
  await until(() => r.dp.status().driftRepaired === 1, 'the drift repaired');
  await r.dp.loop.idle();
  const quiet = calls.slice(from);
  // A pass over everything reads a new topology object (equal, but not the same): it may say changed.
  const oneBridge = quiet.filter((c, i) => c.topologyReads === (i === 0 ? calls[from - 1]?.topologyReads : quiet[i - 1]?.topologyReads));
  t.ok(oneBridge.length >= 4 && oneBridge.every((c) => !c.viewChanged), `${oneBridge.length} passes of a bridge (of ${quiet.length}), none changing a peering's view`);
  r.ovs.down = true;
  r.ovs.dropChannels();
  r.dp.loop.trigger('all');
  await until(() => r.dp.status().state === 'unavailable', 'unavailable');
  const down = calls.slice(from + quiet.length);
  t.ok(down.some((c) => c.viewChanged), 'the pass that found OVS down said so');
  // The law the flag stands for: a pass that says no change leaves every peering's view as it was.
  // (From the first pass after the rig is built: before it, `dp` is not there to be asked.)
  for (const [i, c] of calls.entries()) if (i > from && !c.viewChanged) t.equal(c.views, calls[i - 1]?.views, `pass ${i}: unchanged as it said`);
});

t.test('start with OVS down: the topology read ahead of the first pass fails quietly, the loop starts, and OVS is programmed once it answers', async (t) => {
  const p = peering(1, 0, 1);
  const { ovs, dp } = unstarted(t, [vpc(0), vpc(1)], [p]);
  ovs.down = true;
  dp.start();
  t.equal(await dp.loop.firstCycle, 'failed', 'the first pass ran, and found OVS down');
  t.equal(dp.status().state, 'unavailable');
  ovs.down = false;
  await until(() => dp.peering(p).state === 'programmed', 'programmed once OVS answers');
});

t.test('vswitchd down, its database up: the retries start no ovs-ofctl and kick the channels; the flows are replayed once it is back', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  const before = { dumps: ovs.calls.dumps.length, ofctl: ovs.calls.ofctlBundles.length, kicks: ovs.calls.kicks.length };
  ovs.vswitchdDown = true;
  for (const b of ovs.bridges.values()) b.flows.clear();
  ovs.dropChannels();
  dp.loop.trigger('all');
  await until(() => dp.status().state === 'unavailable', 'unavailable');
  await until(() => dp.loop.health().consecutiveFailures >= 3, 'three retries');
  t.same(ovs.calls.dumps.slice(before.dumps), [], 'no dump while the switch is away');
  t.same(ovs.calls.ofctlBundles.slice(before.ofctl), [], 'no ovs-ofctl bundle either');
  t.ok(ovs.calls.kicks.length > before.kicks, `the retries kick the channels (${ovs.calls.kicks.length - before.kicks} kicks)`);
  ovs.vswitchdDown = false;
  await until(() => dp.status().state === 'enabled' && [0, 1, 2].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'every bridge replayed');
  t.same(ovs.calls.ofctlBundles.slice(before.ofctl), [], 'replayed over the channels');
});

t.test('a bridge deleted under a pass is not an OVS outage: the others stay ok, OVS stays enabled', async (t) => {
  const { ovs, dp } = await rig(t, 4);
  const states: string[] = [];
  ovs.onDump = () => void states.push(dp.status().state);
  // An OVS taken for down keeps the loop retrying: idle within a deadline, or fail.
  const idle = (): Promise<void> =>
    Promise.race([dp.loop.idle(), new Promise<void>((_, reject) => setTimeout(() => reject(new Error('the loop did not go idle within 3 s')), 3000).unref())]);
  ovs.deleteBridge('br-3');
  dp.loop.trigger(['br-3', 'br-2']);
  await idle();
  dp.loop.trigger('all');
  await idle();
  t.equal(dp.status().state, 'enabled', 'OVS enabled throughout');
  t.equal(dp.status().lastError, null);
  t.notOk('br-3' in dp.status().perBridge, 'the bridge is forgotten');
  t.ok(Object.values(dp.status().perBridge).every((b) => b.ok), 'every other bridge ok');
  t.notOk(states.includes('unavailable'));
});

t.test('start: the channels of the rundir’s bridges connect before the first pass, which then dumps nothing', async (t) => {
  const { ovs, dp } = unstarted(t, [vpc(0), vpc(1), vpc(2)], [peering(1, 0, 1), peering(2, 0, 2)]);
  dp.start();
  t.equal(await dp.loop.firstCycle, 'converged', 'the first pass converged');
  t.same(ovs.calls.dumps, [], 'the first pass read every table from its channel: no dump');
  t.same(ovs.calls.ofctlBundles, [], 'and wrote over the channels: no ovs-ofctl bundle');
  t.same(ovs.calls.bundles.sort(), ['br-0', 'br-1', 'br-2'], 'one bundle per bridge');
  t.same([0, 1, 2].map((i) => ovs.ourFlows(`br-${i}`).length), [15, 8, 8], 'every flow in');
  t.equal(ovs.channels.size, 3, 'one channel per bridge');
  await dp.close();
  t.equal(ovs.channels.size, 0, 'close() closes every channel');
});

t.test('start: a stale socket’s channel holds the first pass back a bounded time only, and is closed once the topology does not list it', async (t) => {
  const { ovs, dp } = unstarted(t, [vpc(0)], []);
  ovs.staleSockets.add('br-gone');
  const started = Date.now();
  dp.start();
  t.equal(await dp.loop.firstCycle, 'converged');
  t.ok(Date.now() - started < 3000, `the first pass ended ${Date.now() - started} ms after start`);
  t.same([...ovs.channels].map((c) => c.bridge), ['br-0'], 'and the channel to nowhere is closed');
});

t.test('closed while the channels connect: the first pass never runs, nothing is left open', async (t) => {
  const { ovs, dp } = unstarted(t, [vpc(0)], []);
  ovs.staleSockets.add('br-gone');
  dp.start();
  await until(() => ovs.channels.size === 2, 'both channels opened');
  await dp.close();
  t.equal(await dp.loop.firstCycle, 'stopped');
  t.equal(ovs.channels.size, 0, 'every channel closed');
  t.same(ovs.calls.dumps, [], 'no dump');
});

t.test('without a readable pid, one restart seen by passes one bridge at a time counts once', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  ovs.pid = null;
  for (const restart of [1, 2]) {
    for (const b of ovs.bridges.values()) b.flows.clear();
    // The channels come back 40 ms apart: one pass per bridge, each finding its canary lost.
    const cycles = dp.loop.health().cycles;
    ovs.dropChannels({ staggerMs: 40 });
    await until(() => [0, 1, 2].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'flows again');
    await dp.loop.idle();
    t.ok(dp.loop.health().cycles >= cycles + 2, `the bridges came back in passes of their own (${dp.loop.health().cycles - cycles})`);
    t.equal(dp.status().restartsDetected, restart, `restart ${restart} counted once`);
  }
  t.same(Object.values(dp.status().perBridge).map((b) => b.flowsLost), [2, 2, 2], 'each bridge lost its flows twice');
});

t.test('a restart whose pidfile names the new vswitchd only after the replay counts once', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  t.equal(dp.status().restartsDetected, 0);
  // The old pid is gone and the new one not written yet when the channels reconnect.
  ovs.pid = null;
  for (const b of ovs.bridges.values()) b.flows.clear();
  ovs.dropChannels();
  await until(() => [0, 1].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'flows again');
  await dp.loop.idle();
  t.equal(dp.status().restartsDetected, 1, 'counted by the lost canaries');
  ovs.pid = 2;
  dp.loop.trigger('all');
  await dp.loop.idle();
  t.equal(dp.status().restartsDetected, 1, 'the new pid, read later, is the same restart');
});

t.test('a new vswitchd pid reconnects every channel at once, instead of at the end of its backoff', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  const kicks = ovs.calls.kicks.length;
  await dp.reconcile({});
  t.equal(ovs.calls.kicks.length, kicks, 'no kick while the pid stays');
  for (const b of ovs.bridges.values()) b.flows.clear();
  ovs.pid = 2;
  // br-0 reconnects by itself; br-1 and br-2 wait out a long backoff.
  ovs.dropChannels({ parked: new Set(['br-1', 'br-2']) });
  await until(() => [0, 1, 2].every((i) => ovs.ourFlows(`br-${i}`).length > 0), 'every bridge replayed');
  await dp.loop.idle();
  t.ok(['br-0', 'br-1', 'br-2'].every((b) => ovs.calls.kicks.includes(b)), `every channel kicked (${ovs.calls.kicks.join(' ')})`);
  t.equal(ovs.connected(), 3, 'all connected');
  t.equal(dp.status().restartsDetected, 1);
});

t.test('a monitor gap: the table is read again over the channel; what comes after is planned from it', async (t) => {
  const { ovs, dp, view } = await rig(t, 3);
  // A monitor that may have missed updates (paused, resumed): br-2's table is read again by flow stats.
  const stats = ovs.calls.stats.length;
  let from = ovs.calls.dumps.length;
  ovs.pauseAndResume('br-2');
  await until(() => ovs.calls.stats.length > stats, 'a flow stats read after the gap');
  await dp.loop.idle();
  t.same(ovs.calls.stats.slice(stats), ['br-2'], 'br-2 read over its channel');
  t.same(ovs.calls.dumps.slice(from), [], 'not dumped');
  from = ovs.calls.dumps.length;
  const p = peering(7, 1, 2);
  view.apply([{ op: 'peering.put', peering: p }]);
  dp.onCommit([{ op: 'peering.put', peering: p }], ++commitSeq);
  await dp.loop.idle();
  t.same(ovs.calls.dumps.slice(from), [], 'and the commit after it planned from the table');
  // vswitchd died: every channel dropped and connected again, its table read by its monitor.
  ovs.dropChannels();
  await until(() => ovs.connected() === 3, 'channels again');
  await dp.loop.idle();
  const stopped = { ...(view.getPeering(p.id) ?? p), status: 'deleted' as const };
  const after = ovs.calls.dumps.length;
  view.apply([{ op: 'peering.put', peering: stopped }]);
  dp.onCommit([{ op: 'peering.put', peering: stopped }], ++commitSeq);
  await dp.loop.idle();
  t.same(ovs.calls.dumps.slice(after), [], 'a commit after the channels came back reads their tables');
  t.equal(ovs.ourFlows('br-2').length, 8, 'the deleted peering’s flows gone');
});

t.test('reconcile.run on a bridge this host does not have: BRIDGE_NOT_FOUND, and no dump of it', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  const from = { topology: ovs.calls.topology, dumps: ovs.calls.dumps.length };
  await t.rejects(dp.reconcile({ bridge: 'nope' }), { name: 'DataplaneError', reason: 'BRIDGE_NOT_FOUND' });
  await t.rejects(dp.reconcile({ bridge: 'nope', dryRun: true }), { name: 'DataplaneError', reason: 'BRIDGE_NOT_FOUND' }, 'a dry run too');
  t.same(ovs.calls.dumps.slice(from.dumps), [], 'no dump started (a dump is an ovs-ofctl process)');
  t.equal(ovs.calls.topology, from.topology + 2, 'one topology read each (ovs-vsctl), to be sure it is absent');
  const one = await dp.reconcile({ bridge: 'br-1' });
  t.same([one.ovs, one.bridges], ['enabled', ['br-1']], 'a bridge that is here is reconciled');
});

t.test('dry run and verbose: the flows per bridge, as ovs-ofctl text; nothing to do once applied', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  // Lost behind the monitor's back (no event): only a pass that dumps sees it.
  const b2 = ovs.bridges.get('br-2');
  const lost = ovs.ourFlows('br-2').find(steering);
  if (!b2 || !lost) throw new Error('no steering flow on br-2');
  b2.flows.delete(flowKey(lost));
  const stale: Flow = { table: 0, priority: 100, cookie: 0x5ee0_0000_0000_0001n, match: 'ip,nw_dst=10.77.0.0/16', actions: 'drop' };
  b2.flows.set(flowKey(stale), stale);

  const plain = await dp.reconcile({ dryRun: false, verbose: false, bridge: 'br-1' });
  t.notOk('changes' in plain, 'no changes without dryRun or verbose');
  const dry = await dp.reconcile({ dryRun: true });
  t.same(dry.changes, [{ bridge: 'br-2', addFlows: [flowText(lost)], removeFlows: [strictFlowText(stale)], addPorts: [], removePorts: [] }]);
  t.match(dry, { ovs: 'enabled', added: 1, removed: 1 });
  t.notOk(ovs.ourFlows('br-2').some((f) => flowKey(f) === flowKey(lost)), 'a dry run changes nothing');

  const verbose = await dp.reconcile({ verbose: true });
  t.same(verbose.changes, dry.changes, 'verbose: what it did');
  t.ok(ovs.ourFlows('br-2').some((f) => flowKey(f) === flowKey(lost)), 'and it did');
  const after = await dp.reconcile({ dryRun: true });
  t.same([after.changes, after.added, after.removed], [[], 0, 0], 'nothing to do');
});

t.test('peering(): both bridges with patch ports, cookie and flows; peeringFlows dumps by the exact cookie', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  const p = peering(1, 0, 1);
  const got = dp.peering(p).bridges;
  t.same(got, [
    { bridge: 'br-0', patchPort: 'px000000000001r', peerPatchPort: 'px000000000001a', cookie: '0x5ee0000000000001', flows: 7 },
    { bridge: 'br-1', patchPort: 'px000000000001a', peerPatchPort: 'px000000000001r', cookie: '0x5ee0000000000001', flows: 7 },
  ]);
  const dumps = ovs.calls.dumps.length;
  const flows = await dp.peeringFlows(p);
  t.same(flows.bridges.map((b) => [b.bridge, b.flows.length]), [['br-0', 7], ['br-1', 7]], 'only this peering’s flows, not the other one’s on br-0');
  t.ok(flows.bridges.every((b) => b.flows.every((l) => l.startsWith('cookie=0x5ee0000000000001,'))));
  t.same(ovs.calls.dumps.slice(dumps), ['br-0', 'br-1'], 'one dump per bridge');
});

t.test('a bridge whose flows do not converge goes to error, is not repaired in a loop, and holds no other bridge back', async (t) => {
  const { ovs, dp, view } = await rig(t, 3, { unconvergingBridge: 'br-1' });
  // The hook's flow is beyond the codec: its bundles go through ovs-ofctl, whose changes the
  // channel reports (OVS's spelling, not ours) and each asks for the next pass, as on a real OVS.
  dp.loop.trigger('all');
  await until(() => dp.status().perBridge['br-1']?.reason === 'FLOWS_DO_NOT_CONVERGE', 'the guard trips');
  const tripped = { bundles: ovs.calls.bundles.filter((b) => b === 'br-1').length, cycles: dp.loop.health().cycles };
  t.ok(tripped.bundles <= REPAIRS_BEFORE_GUARD + 2, `bundles on br-1 before it tripped: ${tripped.bundles}`);
  t.equal(dp.status().perBridge['br-1']?.flowsDoNotConverge, 1, 'counted once');
  t.ok(dp.status().perBridge['br-1']?.retryAt, 'with a retry time');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(ovs.calls.bundles.filter((b) => b === 'br-1').length, tripped.bundles, 'no bundle while held');
  t.equal(dp.loop.health().cycles, tripped.cycles, 'and no cycle');
  t.equal(dp.loop.health().consecutiveFailures, 0, 'the loop is not backing off');
  t.match(dp.peering(peering(1, 0, 1)), { state: 'error', reason: 'FLOWS_DO_NOT_CONVERGE' }, 'its peering says so');
  t.equal(dp.peering(peering(2, 0, 2)).state, 'programmed', 'the other peering is programmed');

  // Another bridge's drift is repaired at once.
  const lost = ovs.foreignDelete('br-2', steering);
  const started = Date.now();
  await until(() => ovs.ourFlows('br-2').some((f) => flowKey(f) === flowKey(lost)), 'br-2 repaired');
  t.ok(Date.now() - started < 1000, `br-2 repaired in ${Date.now() - started} ms`);

  const run = await dp.reconcile({});
  t.match(run.errors, [{ bridge: 'br-1', reason: 'FLOWS_DO_NOT_CONVERGE', error: /do not converge/ }], 'reconcile.run replies with what happened on br-1');
  t.ok(run.bridges.includes('br-2'), 'and did the others');

  // A change of its desired state is applied at once.
  const before = ovs.calls.bundles.filter((b) => b === 'br-1').length;
  const p = peering(7, 1, 2);
  view.apply([{ op: 'peering.put', peering: p }]);
  dp.onCommit([{ op: 'peering.put', peering: p }], ++commitSeq);
  await until(() => ovs.calls.bundles.filter((b) => b === 'br-1').length > before, 'a bundle for the new desired state');
  t.ok(ovs.ourFlows('br-1').some((f) => f.cookie === (0x5ee0n << 48n | 7n)), 'the new peering is on br-1');
});

t.test('the same hand deletion again and again, each repair echoed back as written, is drift, not a storm', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  const cookie = 0x5ee0n << 48n | 1n;
  const full = ovs.ourFlows('br-1').filter((f) => f.cookie === cookie);
  t.ok(full.length > 0, `${full.length} flows of the peering on br-1`);
  for (let i = 1; i <= 3 * REPAIRS_BEFORE_GUARD; i++) {
    const bundles = ovs.calls.bundles.length;
    for (const f of full) ovs.foreignDelete('br-1', (g) => flowKey(g) === flowKey(f));
    const started = Date.now();
    await until(() => ovs.ourFlows('br-1').filter((f) => f.cookie === cookie).length === full.length, `deletion ${i} repaired`);
    t.ok(Date.now() - started < 500, `deletion ${i} repaired in ${Date.now() - started} ms, no backoff`);
    t.equal(ovs.calls.bundles.length, bundles + 1, 'by one bundle');
    // The bundle's monitor events, sent a moment later, reach the cache before the next deletion.
    await new Promise((r) => setImmediate(r));
  }
  t.match(dp.status().perBridge['br-1'], { ok: true, reason: null, flowsDoNotConverge: 0 }, 'not in error, no storm counted');
  t.equal(dp.peering(peering(1, 0, 1)).state, 'programmed');
});

t.test('OVS not answering: peerings say error OVS_UNAVAILABLE, no bridge stays ok, timestamps of success stand still', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  const p = peering(1, 0, 1);
  t.equal(dp.peering(p).state, 'programmed');
  const before = dp.status();
  const reconciled = dp.peering(p).lastReconciledAt;
  ovs.down = true;
  ovs.dropChannels();
  await new Promise((r) => setTimeout(r, 5));
  dp.loop.trigger('all');
  await until(() => dp.status().state === 'unavailable', 'unavailable');
  await until(() => dp.status().lastAttemptAt !== before.lastAttemptAt, 'an attempt after');
  const s = dp.status();
  t.equal(s.lastReconcileAt, before.lastReconcileAt, 'lastReconcileAt does not move on a failed pass');
  t.ok(Object.values(s.perBridge).every((b) => !b.ok && b.reason === 'OVS_UNAVAILABLE'), 'no stale ok: true');
  t.match(dp.peering(p), { state: 'error', reason: 'OVS_UNAVAILABLE', lastReconciledAt: reconciled }, 'the peering\'s success time stands still too');
  const run = await dp.reconcile({});
  t.match(run.errors, [{ bridge: '*', reason: 'OVS_UNAVAILABLE' }]);
  ovs.down = false;
  await until(() => dp.peering(p).state === 'programmed', 'programmed again');
  t.not(dp.status().lastReconcileAt, before.lastReconcileAt, 'and the success time moves');
});

t.test('a stopped peering is pending while its flows remain, inactive once they are gone', async (t) => {
  const { ovs, dp, view } = await rig(t, 2);
  const p = { ...peering(1, 0, 1), status: 'deleted' as const };
  ovs.topologyGate = new Promise(() => undefined);
  view.apply([{ op: 'peering.put', peering: p }]);
  t.match(dp.peering(p), { state: 'pending' }, 'flows still there');
  t.ok(dp.peering(p).flows > 0);
  ovs.topologyGate = null;
  dp.onCommit([{ op: 'peering.put', peering: p }], ++commitSeq);
  await dp.loop.idle();
  t.same(ovs.ourFlows('br-1'), [], 'its flows are gone');
  t.match(dp.peering(p), { state: 'inactive', flows: 0 });
});

t.test('reconcile.run replies by its deadline with what it has done', async (t) => {
  const { ovs, dp } = await rig(t, 2, { runDeadlineMs: 100 });
  let open = (): void => undefined;
  ovs.topologyGate = new Promise<void>((resolve) => (open = resolve));
  const started = Date.now();
  const run = await dp.reconcile({});
  t.ok(Date.now() - started < 1000, `replied in ${Date.now() - started} ms`);
  t.match(run.errors, [{ bridge: '*', reason: 'RECONCILE_DEADLINE_EXCEEDED' }]);
  ovs.topologyGate = null;
  open();
  await dp.loop.idle();
});

t.test('a bridge whose bundles OVS refuses is retried on its own, with backoff, and holds no other bridge back', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  ovs.refuse.add('br-1');
  ovs.foreignDelete('br-1', steering);
  await until(() => dp.status().perBridge['br-1']?.reason === 'OVS_COMMAND_FAILED', 'br-1 fails');
  t.ok(dp.status().perBridge['br-1']?.retryAt, 'with a retry time');
  t.equal(dp.loop.health().consecutiveFailures, 0, 'the loop does not back off for it');
  t.match(dp.peering(peering(1, 0, 1)), { state: 'error', reason: 'OVS_COMMAND_FAILED' });
  const lost = ovs.foreignDelete('br-2', steering);
  const started = Date.now();
  await until(() => ovs.ourFlows('br-2').some((f) => flowKey(f) === flowKey(lost)), 'br-2 repaired');
  t.ok(Date.now() - started < 1000, `another bridge's drift repaired in ${Date.now() - started} ms`);
  ovs.refuse.delete('br-1');
  await until(() => dp.status().perBridge['br-1']?.ok === true, 'br-1 retried by its own timer', 5000);
  t.equal(dp.peering(peering(1, 0, 1)).state, 'programmed', 'and its peering programmed');
});

t.test('close: the channels, then the Ovs (its OVSDB connection)', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  t.notOk(ovs.closed);
  await dp.close();
  t.ok([...ovs.channels].every((ch) => ch.closed), 'every channel closed');
  t.ok(ovs.closed, 'the Ovs closed');
});

/** A logger whose lines (parsed) the test reads. */
function capturingLogger(): { logger: ReturnType<typeof silentLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', sink: { write: (text: string) => void lines.push(JSON.parse(text) as Record<string, unknown>) } });
  return { logger, lines };
}

/** Cycles the loop ran after `from`, once it is idle and a moment more has shown no other. */
async function settledCycles(dp: OvsDataplane, from: number): Promise<number> {
  await dp.loop.idle();
  await new Promise((r) => setTimeout(r, 30));
  await dp.loop.idle();
  return dp.loop.health().cycles - from;
}

t.test('a patch port deleted by hand: a pass of its bridge starts at once (no timer), makes it again, and counts and logs a repair', async (t) => {
  const log = capturingLogger();
  const { ovs, dp } = await rig(t, 3, { logger: log.logger });
  t.equal(dp.status().portsRepaired, 0, 'the first creation of the ports is no repair');
  const port = ovs.patchPort('br-2');
  const cycles = dp.loop.health().cycles;
  const started = Date.now();
  ovs.foreignDeletePort('br-2', port.name);
  await until(() => ovs.bridges.get('br-2')?.ports.has(port.name) === true, 'the port back', 1000);
  t.ok(Date.now() - started < 500, `made again ${Date.now() - started} ms after (the interval is an hour)`);
  t.match(ovs.bridges.get('br-2')?.ports.get(port.name), { type: 'patch', peer: port.peer, ofport: port.ofport }, 'as it was');
  t.equal(await settledCycles(dp, cycles), 1, 'one pass, and none after it: its own transaction started nothing');
  t.equal(dp.status().portsRepaired, 1, 'one side repaired (its peer side was fine)');
  t.match(log.lines.filter((l) => l.msg === 'patch port repaired'), [{ level: 'info', bridge: 'br-2', port: port.name }]);
  t.equal(dp.peering(peering(2, 0, 2)).state, 'programmed');
});

t.test('a patch port whose peer is changed by hand is made again, counted', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  const port = ovs.patchPort('br-1');
  const cycles = dp.loop.health().cycles;
  if (port.peer === null) throw new Error('a patch port without a peer');
  ovs.putPort('br-1', port.name, 'bogus', port.ofport ?? undefined);
  await until(() => ovs.bridges.get('br-1')?.ports.get(port.name)?.peer === port.peer, 'the peer corrected', 1000);
  t.ok((await settledCycles(dp, cycles)) <= 2, 'a pass or two, then quiet');
  t.equal(dp.status().portsRepaired, 1);
});

t.test('a port of someone else coming and going starts no pass', async (t) => {
  const { ovs, dp } = await rig(t, 2);
  const cycles = dp.loop.health().cycles;
  ovs.bridges.get('br-1')?.ports.set('vm2', { name: 'vm2', ofport: 2, type: '', peer: null, error: null });
  ovs.topologyChanged();
  ovs.foreignDeletePort('br-1', 'vm2');
  t.equal(await settledCycles(dp, cycles), 0);
});

t.test('a bridge appearing: its peerings are programmed without waiting for the interval; then quiet', async (t) => {
  const { ovs, dp, view } = await rig(t, 2);
  const v = vpc(9);
  const p = peering(9, 0, 9);
  view.apply([{ op: 'vpc.put', vpc: v }, { op: 'peering.put', peering: p }]);
  dp.onCommit([{ op: 'vpc.put', vpc: v }, { op: 'peering.put', peering: p }], ++commitSeq);
  await dp.loop.idle();
  t.equal(dp.peering(p).state, 'not-local', 'br-9 is not here yet');
  const cycles = dp.loop.health().cycles;
  const started = Date.now();
  ovs.addBridge('br-9');
  await until(() => dp.peering(p).state === 'programmed', 'programmed', 1000);
  t.ok(Date.now() - started < 500, `programmed ${Date.now() - started} ms after the bridge appeared`);
  t.equal(ovs.ourFlows('br-9').length, 8, 'its flows');
  t.equal(ovs.ourFlows('br-0').length, 15, 'and the flows of the peer side');
  t.ok((await settledCycles(dp, cycles)) <= 2, 'a pass or two, then quiet: the pairs it made start nothing');
  t.equal(dp.status().portsRepaired, 0, 'new ports, not repairs');
});

t.test('a bridge going: the peer side loses its flows and port at once', async (t) => {
  const { ovs, dp } = await rig(t, 3);
  const gone = ovs.patchPort('br-2');
  ovs.bridges.delete('br-2');
  ovs.topologyChanged();
  await until(() => dp.peering(peering(2, 0, 2)).state === 'not-local', 'not-local', 1000);
  await dp.loop.idle();
  t.notOk(ovs.bridges.get('br-0')?.ports.has(gone.peer ?? ''), 'the peer port on br-0 deleted');
  t.equal(ovs.ourFlows('br-0').length, 8, 'and its flows');
});

t.test('our own pairs and deletions: each commit is one pass, with no pass after it', async (t) => {
  const { ovs, dp, view } = await rig(t, 4);
  for (let round = 0; round < 3; round++) {
    const p = peering(20 + round, 1, 2 + (round % 2));
    const cycles = dp.loop.health().cycles;
    view.apply([{ op: 'peering.put', peering: p }]);
    dp.onCommit([{ op: 'peering.put', peering: p }], ++commitSeq);
    t.equal(await settledCycles(dp, cycles), 1, `create ${round}: one pass`);
    t.equal(dp.peering(p).state, 'programmed');
    const stopped = { ...p, status: 'deleted' as const };
    const before = dp.loop.health().cycles;
    view.apply([{ op: 'peering.put', peering: stopped }]);
    dp.onCommit([{ op: 'peering.put', peering: stopped }], ++commitSeq);
    t.equal(await settledCycles(dp, before), 1, `delete ${round}: one pass`);
  }
  t.equal(dp.status().portsRepaired, 0);
  t.ok(ovs.watchers.size > 0);
  await dp.close();
  t.equal(ovs.watchers.size, 0, 'close() stops listening');
});
