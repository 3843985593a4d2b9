// An in-process simulation of replication at scale (issue 10, "Benchmarks"): N hosts, each
// dialling 3–8 others at random, run the real protocol engine (src/gossip/engine.ts), the real
// digest and anti-entropy, the real merge and repair (MemoryReplica) and the real frame codec
// (every frame is sealed and opened with HMAC and sequence checks) over a simulated network:
// a fixed latency per hop with a little jitter, loss, and partitions. Time is simulated (a
// discrete-event queue); CPU time is reported beside it.
//
// Loss: gossip runs over TCP, where a lost segment is retransmitted, not skipped. So a "lost"
// frame is delivered one retransmission timeout late (200 ms, Linux's minimum RTO) and holds
// back the frames behind it on that link (head-of-line blocking), as on a real socket.
//
// Two scenarios per size: one change made on one host (forwarding does the work), and a
// partition healed (two halves that each wrote conflicting changes reconnect; anti-entropy on
// connect finds the differences, forwarding spreads them, the repair picks the same losers
// everywhere), and the same partition healed over only 3 of the links across the cut (the
// rest of each half learns by forwarding). Convergence is the first moment every host holds the same digest root; bytes
// count until the last frame in flight has landed. The periodic rounds are measured apart
// (idle cost): with TCP's retransmission nothing is lost for good, so within a scenario they
// only add their idle cost, which would hide what the change itself cost.
// Run alone: `node dist/bench/gossip-sim.js [sizes…]` after `npm run build`; GOSSIP_SIM_SEED
// picks another random mesh and loss pattern (the figures of one seed are reproducible).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { HlcClock } from '../src/domain/hlc.js';
import { acceptPeering, createPeering, rejectPeering } from '../src/domain/peering-ops.js';
import { isTombstone, liveState, recordLocalCommit, type ReplicaState, emptyReplica } from '../src/domain/replica.js';
import { StateIndex } from '../src/domain/state-index.js';
import type { Mutation, OpContext, PeeringPolicy } from '../src/domain/types.js';
import { createVpc } from '../src/domain/vpc-ops.js';
import { DigestIndex } from '../src/gossip/digest.js';
import { BEAT_RELAY_WINDOW_MS, type BeatRelay, GossipEngine, type LinkPort } from '../src/gossip/engine.js';
import { FrameOpener, FrameSealer } from '../src/gossip/frame.js';
import { HEARTBEAT_ROUNDS, HostReports } from '../src/gossip/host-reports.js';
import type { FrameBodies, FrameType } from '../src/gossip/messages.js';
import { MemoryReplica } from '../src/gossip/memory-replica.js';
import { barChartPng } from './png-chart.js';

/** Where the chart of the figures is written (var/ is not tracked). */
export const CHART_PATH = 'var/bench/gossip-sim.png';

export interface SimOptions {
  readonly nodes: number;
  readonly minDial: number;
  readonly maxDial: number;
  /** One-way latency of a hop (ms), and the uniform jitter added to it (ms). */
  readonly hopMs: number;
  readonly jitterMs: number;
  /** Probability that a frame is lost once (then retransmitted after rtoMs). */
  readonly loss: number;
  readonly rtoMs: number;
  /** gossip.antiEntropyIntervalMs: each link's initiator opens a round this often. */
  readonly antiEntropyIntervalMs: number;
  /** How long a relay batches the heartbeats it passes on (engine.ts BeatRelay); 0: each at once, in a frame of its own. */
  readonly beatRelayWindowMs: number;
  readonly seed: number;
}

export const DEFAULT_SIM: Omit<SimOptions, 'nodes'> = {
  minDial: 3,
  maxDial: 8,
  hopMs: 2,
  jitterMs: 0.2,
  loss: 0.01,
  rtoMs: 200,
  antiEntropyIntervalMs: 2000,
  beatRelayWindowMs: BEAT_RELAY_WINDOW_MS,
  seed: 42,
};

/** What one scenario measured. */
export interface ScenarioFigures {
  readonly converged: boolean;
  /** Simulated ms from the change (or the heal) to every host holding the same digest root. */
  readonly convergenceMs: number;
  /** The longest chain of frames (hops) that brought a host its final state. */
  readonly rounds: number;
  /** Frame bytes (MAC + JSON) sent per host from the change until the network went quiet. */
  readonly bytesPerNode: number;
  readonly frames: number;
  /** Real CPU ms the simulation of the scenario took. */
  readonly cpuMs: number;
  /** Checks of the final state (partition scenario): the outcome of the conflicts. */
  readonly checks?: string;
}

export interface SimFigures {
  readonly nodes: number;
  readonly links: number;
  readonly oneChange: ScenarioFigures;
  readonly partitionHeal: ScenarioFigures;
  /** The same partition healed over only HEAL_LINKS of the links across the cut. */
  readonly narrowHeal: ScenarioFigures;
  /** Bytes per host per second of anti-entropy when nothing differs (root hashes only). */
  readonly idleBytesPerNodePerSec: number;
  /** Bytes and frames per host per second of heartbeats at steady state (every host beating once per heartbeat interval); undefined when not measured (size above HEARTBEAT_MAX_NODES). */
  readonly heartbeat?: { readonly bytesPerNodePerSec: number; readonly framesPerNodePerSec: number };
}

/** Links across the cut that come back in the narrow-heal scenario. */
const HEAL_LINKS = 3;
/**
 * Heartbeats simulated per size: a slice of one heartbeat interval holding this many beats (the
 * density of a whole interval, so batching sees what it would see), scaled to a rate. Each beat
 * crosses every link: more would cost minutes of CPU at 1,000 hosts.
 */
const HEARTBEAT_SAMPLE = 50;
/** Above this many hosts the heartbeat cost is not simulated (a sample's flood is ~10⁶ frames at 10,000). */
export const HEARTBEAT_MAX_NODES = 1000;
const POLICY: PeeringPolicy = { pendingTtlSeconds: 604_800, terminalRetentionSeconds: 86_400, maxActivePerVpc: 125 };
const T0 = Date.parse('2026-06-01T00:00:00.000Z');
/** The actor the operations record (requestedBy, acceptedBy). */
const ACTOR = 'sim';

/** mulberry32: a small seeded PRNG, so every run of the simulation sees the same network. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A binary min-heap of timed events (ties in insertion order). */
class EventQueue {
  private heap: { at: number; n: number; run: () => void | Promise<void> }[] = [];
  private count = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void | Promise<void>): void {
    const h = this.heap;
    h.push({ at, n: this.count++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** The time of the next event, if any. */
  peek(): number | undefined {
    return this.heap[0]?.at;
  }

  pop(): { at: number; run: () => void | Promise<void> } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  private less(a: { at: number; n: number }, b: { at: number; n: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.n < b.n);
  }
}

interface SimNode {
  readonly index: number;
  readonly replica: MemoryReplica;
  readonly engine: GossipEngine;
  /** Hops of the frame that last changed this host's state. */
  hop: number;
  root: string;
}

/** One direction of a link: the sender's LinkPort, sealing frames and scheduling their delivery. */
interface Direction extends LinkPort {
  /** The receiver's LinkPort for the reverse direction (what its engine answers on). */
  reverse: Direction;
}

class Network {
  readonly queue = new EventQueue();
  now = 0;
  bytes = 0;
  frames = 0;
  /** Deliveries scheduled but not yet run, other than anti-entropy timers. */
  inFlight = 0;
  private readonly roots = new Map<string, number>();
  readonly nodes: SimNode[];
  readonly random: () => number;
  private readonly live = new Set<string>();
  private linkCount = 0;
  private peeringCount = 0;
  /** The links each host dialled (it opens their anti-entropy rounds). */
  private readonly dialled: Direction[][];

  /** `withHosts`: every host keeps host reports and heartbeats (HostReports), as the daemon does. */
  constructor(
    readonly opts: SimOptions,
    base: ReplicaState,
    withHosts = false,
  ) {
    this.random = prng(opts.seed);
    const baseDigest = DigestIndex.ofReplica(base);
    const clock = (): number => T0 + Math.floor(this.now);
    const heartbeatMs = (): number => HEARTBEAT_ROUNDS * opts.antiEntropyIntervalMs;
    // The relay's timer runs on the simulated clock.
    const relay: BeatRelay | null = opts.beatRelayWindowMs > 0 ? {
      windowMs: opts.beatRelayWindowMs,
      schedule: (ms, run) => {
        let live = true;
        this.queue.push(this.now + ms, () => {
          if (live) run();
        });
        return () => {
          live = false;
        };
      },
    } : null;
    this.nodes = Array.from({ length: opts.nodes }, (_, index) => {
      const replica = new MemoryReplica(new HlcClock(`hv-${index}`, clock), POLICY, base, baseDigest.clone());
      const reports = withHosts ? new HostReports(`hv-${index}`, clock, heartbeatMs) : null;
      return { index, replica, engine: new GossipEngine(replica, undefined, undefined, reports, relay), hop: 0, root: baseDigest.rootHash };
    });
    this.roots.set(baseDigest.rootHash, opts.nodes);
    this.dialled = this.nodes.map(() => []);
  }

  /** The undirected links: each host dials minDial..maxDial distinct others; a pair dialled twice is one link. */
  buildMesh(): [number, number][] {
    const seen = new Set<string>();
    const links: [number, number][] = [];
    const n = this.opts.nodes;
    for (let i = 0; i < n; i++) {
      const k = Math.min(n - 1, this.opts.minDial + Math.floor(this.random() * (this.opts.maxDial - this.opts.minDial + 1)));
      const picked = new Set<number>();
      while (picked.size < k) {
        const j = Math.floor(this.random() * n);
        if (j !== i) picked.add(j);
      }
      for (const j of picked) {
        const key = i < j ? `${i}-${j}` : `${j}-${i}`;
        if (seen.has(key)) continue;
        seen.add(key);
        links.push([i, j]);
      }
    }
    return links;
  }

  /** Whether every host holds the same state (one digest root). */
  get converged(): boolean {
    return this.roots.size === 1;
  }

  /**
   * Connects dialer `a` to `b`: a fresh link (new keys, sequence numbers from 1) that opens a round
   * at once. `quiet`: what the link-up itself sends (the opening round, every beat and report held)
   * is dropped, as if long done: the heartbeat scenario's mesh, whose every link-up beat would
   * flood the whole mesh (10⁷ frames at 1,000 hosts) before the measure starts.
   */
  connect(a: number, b: number, quiet = false): void {
    const id = `${a}-${b}-${++this.linkCount}`;
    if (!quiet) this.live.add(id);
    const keyAB = randomBytes(32);
    const keyBA = randomBytes(32);
    const ab = this.direction(id, this.nodes[a]!, this.nodes[b]!, true, keyAB);
    const ba = this.direction(id, this.nodes[b]!, this.nodes[a]!, false, keyBA);
    ab.reverse = ba;
    ba.reverse = ab;
    this.dialled[a]!.push(ab);
    this.nodes[a]!.engine.addLink(ab);
    this.nodes[b]!.engine.addLink(ba);
    this.live.add(id);
  }

  private direction(id: string, from: SimNode, to: SimNode, initiator: boolean, key: Buffer): Direction {
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    let lastDelivery = 0;
    const dir: Direction = {
      peerNode: `hv-${to.index}`,
      initiator,
      reverse: undefined as unknown as Direction,
      send: <K extends FrameType>(type: K, body: FrameBodies[K]) => {
        if (!this.live.has(id)) return;
        const bytes = sealer.seal(type, body);
        this.bytes += bytes.length;
        this.frames += 1;
        const hop = from.hop + 1;
        let at = this.now + this.opts.hopMs + this.random() * this.opts.jitterMs;
        if (this.random() < this.opts.loss) at += this.opts.rtoMs;
        at = Math.max(at, lastDelivery); // TCP: in order on a link
        lastDelivery = at;
        this.inFlight++;
        this.queue.push(at, async () => {
          this.inFlight--;
          if (!this.live.has(id)) return;
          const opened = opener.open(bytes);
          if (!opened.ok) throw new Error(`simulated link refused a frame: ${opened.refusal.code} ${opened.refusal.message}`);
          // Frames this one causes (forwards, answers) are one hop further along.
          const before = to.hop;
          to.hop = hop;
          await to.engine.onFrame(dir.reverse, opened.value);
          if (!this.noteState(to)) to.hop = before;
        });
      },
    };
    return dir;
  }

  /** Updates the convergence count after a host's state may have changed; whether it did. */
  noteState(node: SimNode): boolean {
    if (node.root === 'unreachable') return false;
    const root = node.replica.digest.rootHash;
    if (root === node.root) return false;
    this.roots.set(node.root, this.roots.get(node.root)! - 1);
    if (this.roots.get(node.root) === 0) this.roots.delete(node.root);
    this.roots.set(root, (this.roots.get(root) ?? 0) + 1);
    node.root = root;
    return true;
  }

  /** A local write on host `i`: the domain operation's mutations, committed and pushed. */
  commit(i: number, op: (view: StateIndex, ctx: OpContext) => readonly Mutation[]): void {
    const node = this.nodes[i]!;
    const now = new Date(T0 + Math.floor(this.now));
    const ctx: OpContext = { actor: ACTOR, now, policy: POLICY, newPeeringId: () => `pcx-${(++this.peeringCount).toString(16).padStart(17, '1')}` };
    const mutations = op(new StateIndex(liveState(node.replica.state)), ctx);
    const changed = node.replica.commitLocal(mutations, now);
    node.hop = 0;
    this.noteState(node);
    node.engine.onLocalCommit(changed);
  }

  /** Starts every host's periodic anti-entropy (a random phase each), until `until` ms. */
  scheduleAntiEntropy(until: number): void {
    for (const node of this.nodes) {
      const tick = (): void => {
        for (const l of this.dialled[node.index]!) node.engine.startRound(l);
        if (this.now + this.opts.antiEntropyIntervalMs < until) this.queue.push(this.now + this.opts.antiEntropyIntervalMs, tick);
      };
      this.queue.push(this.now + this.random() * this.opts.antiEntropyIntervalMs, tick);
    }
  }

  /**
   * Leaves out of the convergence count the hosts that `links` do not connect to host 0 (SPEC §8
   * asks every *reachable* daemon to converge); returns how many were left out.
   */
  excludeUnreachable(links: readonly (readonly [number, number])[]): number {
    const adjacent = this.nodes.map((): number[] => []);
    for (const [a, b] of links) {
      adjacent[a]!.push(b);
      adjacent[b]!.push(a);
    }
    const seen = new Set([0]);
    const todo = [0];
    while (todo.length > 0) {
      for (const j of adjacent[todo.pop()!]!) {
        if (seen.has(j)) continue;
        seen.add(j);
        todo.push(j);
      }
    }
    let left = 0;
    for (const n of this.nodes) {
      if (seen.has(n.index)) continue;
      this.roots.set(n.root, this.roots.get(n.root)! - 1);
      if (this.roots.get(n.root) === 0) this.roots.delete(n.root);
      n.root = 'unreachable';
      left++;
    }
    return left;
  }

  /** Prints how the hosts' states differ (GOSSIP_SIM_DEBUG). */
  explain(): void {
    const byRoot = new Map<string, SimNode[]>();
    for (const n of this.nodes) byRoot.set(n.root, [...(byRoot.get(n.root) ?? []), n]);
    console.log(`queue ${this.queue.size}, in flight ${this.inFlight}, ${byRoot.size} distinct states`);
    for (const [, ns] of byRoot) {
      const st = ns[0]!.replica.state;
      const ps = [...st.peerings.values()].map((x) => (isTombstone(x) ? `${x.id}:dead` : `${x.record.id}:${x.record.status}@${x.version.wallMs}.${x.version.logical}.${x.version.node}`));
      console.log(`${ns.length} hosts (e.g. ${ns.slice(0, 3).map((n) => n.index).join(',')}; sides ${[...new Set(ns.map((n) => n.index % 2))].join(',')}): ${ps.sort().join(' ')}`);
    }
  }

  /** Starts measuring a scenario; the returned function gives its figures once `run` has returned `at`. */
  measure(): (at: number | undefined) => ScenarioFigures {
    for (const n of this.nodes) n.hop = 0;
    const cpu = performance.now();
    const bytes0 = this.bytes;
    const frames0 = this.frames;
    const start = this.now;
    return (at) => ({
      converged: at !== undefined,
      convergenceMs: at === undefined ? NaN : at - start,
      rounds: Math.max(...this.nodes.map((n) => n.hop)),
      bytesPerNode: (this.bytes - bytes0) / this.opts.nodes,
      frames: this.frames - frames0,
      cpuMs: performance.now() - cpu,
    });
  }

  /** Runs every event up to `until` ms, timers included. */
  async drain(until: number): Promise<void> {
    while ((this.queue.peek() ?? Infinity) <= until) {
      const e = this.queue.pop()!;
      this.now = e.at;
      await e.run();
    }
    this.now = until;
  }

  /**
   * Runs events until every host agrees and nothing but timers is left, or `limitMs` passes.
   * Returns the simulated time at which agreement was first reached (undefined if never).
   */
  async run(limitMs: number): Promise<number | undefined> {
    let convergedAt: number | undefined = this.converged ? this.now : undefined;
    for (;;) {
      if (convergedAt !== undefined && this.inFlight === 0) return convergedAt;
      if ((this.queue.peek() ?? Infinity) > limitMs) return convergedAt;
      const e = this.queue.pop()!;
      this.now = e.at;
      await e.run();
      if (this.converged) convergedAt ??= this.now;
      else convergedAt = undefined;
    }
  }
}

/** The state every host starts with: eight VPCs and a pending request between the first two. */
function baseState(): ReplicaState {
  const clock = new HlcClock('hv-0', () => T0 - 60_000);
  const now = new Date(T0 - 60_000);
  const ctx: OpContext = { actor: ACTOR, now, policy: POLICY, newPeeringId: () => 'pcx-0000000000000000a' };
  let state = emptyReplica();
  for (let i = 0; i < 8; i++) {
    const m = createVpc(new StateIndex(liveState(state)), ctx, { id: `v${i}`, tenantId: 't1', cidrs: [`10.${i}.0.0/16`], bridge: `br-v${i}` }).mutations;
    state = recordLocalCommit(state, m, clock.now(), now);
  }
  const p = createPeering(new StateIndex(liveState(state)), ctx, { requesterVpcId: 'v0', accepterVpcId: 'v1' }).mutations;
  return recordLocalCommit(state, p, clock.now(), now);
}

async function oneChange(opts: SimOptions): Promise<{ figures: ScenarioFigures; links: number; idle: number }> {
  const net = new Network(opts, baseState());
  const mesh = net.buildMesh();
  for (const [a, b] of mesh) net.connect(a, b);
  // The opening rounds of the new links find nothing to do; let them pass before the change.
  await net.run(100);
  // Idle anti-entropy cost: one interval of rounds over the whole mesh, nothing differing.
  const idleStart = net.bytes;
  net.scheduleAntiEntropy(net.now + opts.antiEntropyIntervalMs);
  await net.drain(net.now + opts.antiEntropyIntervalMs + 100);
  const idle = ((net.bytes - idleStart) / opts.nodes) * (1000 / opts.antiEntropyIntervalMs);
  const figures = net.measure();
  net.commit(Math.floor(opts.nodes / 2), (view, ctx) => acceptPeering(view, ctx, { id: 'pcx-0000000000000000a' }).mutations);
  return { links: mesh.length, idle, figures: figures(await net.run(net.now + 10_000)) };
}

/**
 * Heartbeat cost at steady state: every host beats once per heartbeat interval at a random phase.
 * A slice of one interval holding HEARTBEAT_SAMPLE beats is simulated (its beats flood the whole
 * mesh) and its bytes are scaled to a rate per host. No anti-entropy runs meanwhile (measured apart).
 */
export async function heartbeatCost(opts: SimOptions): Promise<{ bytesPerNodePerSec: number; framesPerNodePerSec: number }> {
  const net = new Network(opts, baseState(), true);
  for (const [a, b] of net.buildMesh()) net.connect(a, b, true);
  const every = HEARTBEAT_ROUNDS * opts.antiEntropyIntervalMs;
  const slice = every * Math.min(1, HEARTBEAT_SAMPLE / opts.nodes);
  const start = net.now;
  const bytes0 = net.bytes;
  const frames0 = net.frames;
  for (const node of net.nodes) {
    const phase = net.random() * every;
    if (phase < slice) net.queue.push(start + phase, () => node.engine.heartbeat());
  }
  await net.drain(start + slice + 1000);
  const perSec = (n: number): number => n / opts.nodes / (slice / 1000);
  return { bytesPerNodePerSec: perSec(net.bytes - bytes0), framesPerNodePerSec: perSec(net.frames - frames0) };
}

/** `healLinks`: how many of the links across the cut come back (all when undefined). */
async function partitionHeal(opts: SimOptions, healLinks?: number): Promise<ScenarioFigures> {
  const net = new Network(opts, baseState());
  const mesh = net.buildMesh();
  const side = (i: number): number => i % 2;
  const crossing: [number, number][] = [];
  for (const [a, b] of mesh) {
    if (side(a) === side(b)) net.connect(a, b);
    else crossing.push([a, b]);
  }
  await net.run(100);
  // Conflicting writes on the two sides: accept vs reject of one request, and two requests for
  // one pair of VPCs; plus an unrelated request on each side.
  net.commit(0, (view, ctx) => acceptPeering(view, ctx, { id: 'pcx-0000000000000000a' }).mutations);
  net.commit(1, (view, ctx) => rejectPeering(view, ctx, { id: 'pcx-0000000000000000a' }).mutations);
  net.commit(2, (view, ctx) => createPeering(view, ctx, { requesterVpcId: 'v2', accepterVpcId: 'v3' }).mutations);
  net.commit(3, (view, ctx) => createPeering(view, ctx, { requesterVpcId: 'v3', accepterVpcId: 'v2' }).mutations);
  net.commit(4, (view, ctx) => createPeering(view, ctx, { requesterVpcId: 'v4', accepterVpcId: 'v5' }).mutations);
  net.commit(5, (view, ctx) => createPeering(view, ctx, { requesterVpcId: 'v6', accepterVpcId: 'v7' }).mutations);
  await net.run(net.now + 5_000);
  const figures = net.measure();
  const restored = crossing.slice(0, healLinks);
  for (const [a, b] of restored) net.connect(a, b);
  const unreachable = net.excludeUnreachable([...mesh.filter(([a, b]) => side(a) === side(b)), ...restored]);
  const healed = figures(await net.run(net.now + 20_000));
  if (process.env.GOSSIP_SIM_DEBUG && !healed.converged) net.explain();
  const final = net.nodes[0]!.replica.state;
  const statuses = [...final.peerings.values()].map((s) => (isTombstone(s) ? 'tombstone' : s.record.status)).sort();
  const first = final.peerings.get('pcx-0000000000000000a');
  return { ...healed, checks: `${unreachable} hosts unreachable (all their links cross the cut); accept vs reject: ${first && !isTombstone(first) ? first.record.status : '?'}; all peerings: ${statuses.join(',')}` };
}

/** Both scenarios at one size. */
export async function runGossipSim(nodes: number, overrides: Partial<SimOptions> = {}): Promise<SimFigures> {
  const opts = { ...DEFAULT_SIM, ...overrides, nodes };
  const one = await oneChange(opts);
  const heal = await partitionHeal(opts);
  const narrow = await partitionHeal(opts, HEAL_LINKS);
  const heartbeat = nodes <= HEARTBEAT_MAX_NODES ? await heartbeatCost(opts) : undefined;
  return { nodes, links: one.links, oneChange: one.figures, partitionHeal: heal, narrowHeal: narrow, idleBytesPerNodePerSec: one.idle, ...(heartbeat ? { heartbeat } : {}) };
}

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** The figures as a table, one row per size and scenario. */
export function printGossipFigures(all: readonly SimFigures[], opts: Omit<SimOptions, 'nodes'> = DEFAULT_SIM): void {
  console.log(
    `\ngossip simulation: each host dials ${opts.minDial}-${opts.maxDial} others; ${opts.hopMs} ms/hop (+${opts.jitterMs} ms jitter), ` +
      `${opts.loss * 100}% loss (retransmitted after ${opts.rtoMs} ms), anti-entropy every ${opts.antiEntropyIntervalMs} ms, ` +
      `heartbeats every ${HEARTBEAT_ROUNDS * opts.antiEntropyIntervalMs} ms relayed in ${opts.beatRelayWindowMs} ms batches, seed ${opts.seed}`,
  );
  console.log('| hosts | links | scenario | converged in (simulated ms) | rounds (hops) | bytes/host | frames | CPU ms |');
  console.log('|---:|---:|---|---:|---:|---:|---:|---:|');
  for (const f of all) {
    for (const [name, s] of [['one change', f.oneChange], ['partition heal', f.partitionHeal], [`heal over ${HEAL_LINKS} links`, f.narrowHeal]] as const) {
      console.log(`| ${f.nodes} | ${f.links} | ${name} | ${s.converged ? fmt(s.convergenceMs, 1) : 'NOT CONVERGED'} | ${s.rounds} | ${fmt(s.bytesPerNode)} | ${s.frames} | ${fmt(s.cpuMs)} |`);
    }
  }
  const png = barChartPng({
    title: `GOSSIP SIMULATION: CONVERGENCE (SIMULATED MS), ${opts.hopMs} MS/HOP, ${opts.loss * 100}% LOSS`,
    series: ['one change', 'partition heal', `heal over ${HEAL_LINKS} links`],
    groups: all.map((f) => ({ label: `${f.nodes} hosts`, values: [f.oneChange.convergenceMs, f.partitionHeal.convergenceMs, f.narrowHeal.convergenceMs] })),
    unit: 'ms (target at 1000 hosts: under 500)',
  });
  mkdirSync(dirname(CHART_PATH), { recursive: true });
  writeFileSync(CHART_PATH, png);
  console.log(`chart: ${CHART_PATH}`);
  for (const f of all) {
    const beats = f.heartbeat ? `${fmt(f.heartbeat.bytesPerNodePerSec)} B/host/s (${fmt(f.heartbeat.framesPerNodePerSec, 1)} frames/host/s)` : `not simulated above ${HEARTBEAT_MAX_NODES} hosts`;
    console.log(`${f.nodes} hosts: idle anti-entropy ${fmt(f.idleBytesPerNodePerSec)} B/host/s; heartbeats ${beats}; heal outcome: ${f.partitionHeal.checks ?? ''}; narrow: ${f.narrowHeal.checks ?? ''}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 1);
  const figures: SimFigures[] = [];
  const seed = Number(process.env.GOSSIP_SIM_SEED ?? DEFAULT_SIM.seed);
  for (const n of sizes.length > 0 ? sizes : [100, 1000, 10_000]) figures.push(await runGossipSim(n, { seed }));
  printGossipFigures(figures, { ...DEFAULT_SIM, seed });
}
