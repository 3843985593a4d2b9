// The replication protocol of one host, independent of sockets (docs/GOSSIP.md "Forwarding and
// anti-entropy"): what to send when this host commits, what to do with each frame a peer sends,
// and how a round of anti-entropy goes. The transport (real WebSocket links) and the simulation
// (bench/gossip-sim.ts) drive this same code; the host's replica (the store in the daemon) is
// behind ReplicaPort.
//
// - A local commit is pushed at once to every linked peer.
// - A received slot that wins the merge here is forwarded to every other peer; slots that lose
//   or were already held stop here, so a flood over any mesh ends (no echo loops).
// - Slots the post-merge repair rewrote are new versions of this host: pushed to every peer.
// - Anti-entropy: the link's initiator sends its root hash (answerDigest/answerEntries in
//   digest.ts do the rest); what differs is pushed, what is missing is asked for (`ae.want`).
// - A host away longer than the tombstone retention does not offer the records it held before
//   then that a peer holds nothing of: it ends them (ReplicaPort.resync) instead.
// - Host reports (host-reports.ts), when the host keeps them: a new link is sent every report
//   and heartbeat held (a fresh beat of this host's own first); a report or beat newer than the
//   one held is forwarded to every other link, like a slot. No link is sent what its peer
//   originated: the peer knows its own data plane and that it is alive. With a BeatRelay, beats
//   passed on wait up to its window and go to each link together, in one frame, less those the
//   link's peer sent here meanwhile (it holds them).
import type { PeeringSlot, VpcSlot } from '../domain/replica.js';
import { answerDigest, answerEntries, type DigestIndex, entryOfSlot, keyOf, LEVEL_BITS, openingDigest, type TreeNode, under } from './digest.js';
import { DEFAULT_MAX_FRAME_BYTES, MAC_BYTES } from './frame.js';
import { type HostBeat, type HostReport, type HostReports, MAX_BEATS_PER_FRAME } from './host-reports.js';
import { type Frame, type FrameBodies, type FrameType, MAX_SLOTS_PER_PUSH, type PushBody } from './messages.js';

/** What merging remote slots did: the slots that won here (to forward) and those the repair rewrote (to push). */
export interface ApplyResult {
  readonly accepted: PushBody;
  readonly repaired: PushBody;
}

/** The host's replica as the protocol needs it. */
export interface ReplicaPort {
  /** The digest of everything held, kept current by the replica on every change (local or remote). */
  readonly digest: DigestIndex;
  /** Merges remote slots (durably, in the daemon) and repairs; resolves once they may be forwarded. */
  applyRemote(batch: PushBody, fromNode: string): ApplyResult | Promise<ApplyResult>;
  /** The slots held now for these refs (`vpc/<id>`, `peering/<id>`); refs not held are skipped. */
  slotsFor(refs: readonly string[]): PushBody;
  /**
   * Resync (docs/GOSSIP.md "Tombstone retention and long partitions"): `absent` are live records
   * held here that a peer holds nothing of. A host away longer than the tombstone retention ends
   * (with tombstones of its own, pushed as a local commit) those it held before it lost contact,
   * since the peer may have deleted them and forgotten the tombstone; returns the refs it ended.
   * A host that was not away ends nothing. Optional: the simulation's replica never is away.
   */
  resync?(absent: readonly string[], fromNode: string): Promise<ReadonlySet<string>>;
}

/** One authenticated link as the protocol sees it. `send` never blocks (the transport queues, bounded). */
export interface LinkPort {
  readonly peerNode: string;
  /** Whether this side opens the link's anti-entropy rounds (the dialer). */
  readonly initiator: boolean;
  send<K extends FrameType>(type: K, body: FrameBodies[K]): void;
  /** On the initiator's side: the round it opened last on this link ended (GossipEngine.roundOpen; round-pacer.ts waits on it). */
  roundEnded?(): void;
}

/**
 * Runs `run` once, `ms` from now (the daemon: an unref'd setTimeout; the simulation and the tests:
 * their own clock); the function returned cancels it.
 */
export type Scheduler = (ms: number, run: () => void) => () => void;

/**
 * How long a relay holds the heartbeats it passes on (ms), so that each link is sent the beats
 * of the window in one frame instead of one frame each (docs/GOSSIP.md "Heartbeats"). It delays
 * a beat by at most this per hop (~0.3 s over the 6 hops of a 10,000-host mesh) against a
 * staleness bound of 30 s, and does not shift `heardAt` (the beat's `age` counts the wait); it is
 * long enough for the same beat to come back from most neighbours (a hop or two) meanwhile, so
 * it is not sent to them too.
 */
export const BEAT_RELAY_WINDOW_MS = 50;

/** Batching of relayed heartbeats: the window (BEAT_RELAY_WINDOW_MS) and the timer it runs on. */
export interface BeatRelay {
  readonly schedule: Scheduler;
  readonly windowMs: number;
}

function isEmpty(b: PushBody): boolean {
  return b.vpcs.length === 0 && b.peerings.length === 0;
}

/**
 * Splits a batch into push bodies that each fit a frame of `maxFrameBytes` (half of it, leaving
 * room for the envelope and for JSON's escaping being measured on the slot alone) and
 * MAX_SLOTS_PER_PUSH. A single slot larger than that still goes alone (the peer refuses it).
 */
export function chunkPush(batch: PushBody, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): PushBody[] {
  const budget = Math.max(1, Math.floor((maxFrameBytes - MAC_BYTES) / 2));
  const out: PushBody[] = [];
  let vpcs: VpcSlot[] = [];
  let peerings: PeeringSlot[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (vpcs.length + peerings.length > 0) out.push({ vpcs, peerings });
    vpcs = [];
    peerings = [];
    bytes = 0;
  };
  const add = (size: number, put: () => void): void => {
    if (bytes + size > budget || vpcs.length + peerings.length >= MAX_SLOTS_PER_PUSH) flush();
    put();
    bytes += size;
  };
  for (const s of batch.vpcs) add(JSON.stringify(s).length, () => vpcs.push(s));
  for (const s of batch.peerings) add(JSON.stringify(s).length, () => peerings.push(s));
  flush();
  return out;
}

/**
 * Splits heartbeats into `alive` lists that each fit a frame of `maxFrameBytes` (half of it, as
 * for chunkPush) and MAX_BEATS_PER_FRAME.
 */
export function chunkBeats(beats: readonly HostBeat[], maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): HostBeat[][] {
  const budget = Math.max(1, Math.floor((maxFrameBytes - MAC_BYTES) / 2));
  const out: HostBeat[][] = [];
  let chunk: HostBeat[] = [];
  let bytes = 0;
  for (const b of beats) {
    const size = JSON.stringify(b).length + 1;
    if (chunk.length > 0 && (bytes + size > budget || chunk.length >= MAX_BEATS_PER_FRAME)) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(b);
    bytes += size;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

/**
 * What the engine tells about anti-entropy per peer (status.gossip): `inSync` when a whole round
 * found both digests equal, and `behind`, the records this host asked the peer for (`ae.want`).
 */
export interface RoundObserver {
  (peerNode: string, round: { readonly inSync: boolean; readonly behind: number }): void;
}

/** Whether a digest body is a round's opening (the root alone). */
function isOpening(body: FrameBodies['ae.digest']): boolean {
  return body.groups.length === 1 && body.groups[0]!.bits === 0;
}

/**
 * A round the initiator opened and that has not ended: the depths of the digests it sent whose
 * answer has not come (the peer answers a digest at depth d with its digest one level deeper
 * and/or its entries at d); the nodes whose entries it sent and that the peer has not answered
 * yet (with a push or a want of a ref under the node); the refs it asked for (`ae.want`) not yet
 * pushed to it.
 */
interface OpenRound {
  readonly digests: Set<number>;
  buckets: TreeNode[];
  readonly wanted: Set<string>;
}

/** The round's nodes whose entries the peer answered (it pushed or wanted `refs` under them) are done. */
function answered(round: OpenRound, refs: readonly string[]): void {
  if (round.buckets.length === 0) return;
  const keys = refs.map(keyOf);
  round.buckets = round.buckets.filter((node) => !keys.some((k) => under(k, node)));
}

/** The depth one level above `bits` (LEVEL_BITS), or undefined at the root. */
function parentBits(bits: number): number | undefined {
  const i = (LEVEL_BITS as readonly number[]).indexOf(bits);
  return i > 0 ? LEVEL_BITS[i - 1] : undefined;
}

/** The protocol engine of one host over any number of links. */
export class GossipEngine {
  private readonly links = new Set<LinkPort>();
  /** Beats to pass on, by link: the node ids (their newest beat held is sent at the flush). */
  private readonly relayed = new Map<LinkPort, Set<string>>();
  private cancelFlush: (() => void) | null = null;
  /** The round open on each link this host initiates, until it ended. */
  private readonly rounds = new Map<LinkPort, OpenRound>();

  /**
   * `relay`: batch the beats this host passes on (the daemon); without it (null) each is passed on
   * at once in a frame of its own.
   */
  constructor(
    private readonly replica: ReplicaPort,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly onRound: RoundObserver = () => undefined,
    private readonly hosts: HostReports | null = null,
    private readonly relay: BeatRelay | null = null,
  ) {}

  /**
   * A link whose handshake finished: it takes part from now on, is sent the heartbeats and then
   * the host reports held (beats first, so a report never shows before its host's liveness), and
   * its initiator opens a round at once.
   */
  addLink(link: LinkPort): void {
    this.links.add(link);
    if (this.hosts) {
      this.sendBeats([link], [this.hosts.beat(), ...this.hosts.beats()]);
      this.sendReports([link], this.hosts.all());
    }
    if (link.initiator) this.startRound(link);
  }

  /** This host's data plane changed: its new report's parts (HostReports.publish) go to every link. */
  publishReport(parts: readonly HostReport[]): void {
    this.sendReports([...this.links], parts);
  }

  /** This host's heartbeat (every HEARTBEAT_ROUNDS anti-entropy intervals): a fresh beat to every link. */
  heartbeat(): void {
    if (this.hosts) this.sendBeats([...this.links], [this.hosts.beat()]);
  }

  removeLink(link: LinkPort): void {
    this.links.delete(link);
    this.relayed.delete(link);
    this.rounds.delete(link);
  }

  /** The links taking part now. */
  get linkCount(): number {
    return this.links.size;
  }

  /**
   * Opens one anti-entropy round on `link` (on connect, then on the initiator's side an interval
   * after the last one ended: round-pacer.ts). It is open (roundOpen) until every digest and
   * entries this side sent in it was answered and every ref it asked for arrived, or the peer said
   * both are in sync; then `link.roundEnded` is called. An answer that never comes keeps it open:
   * the pacer's ceiling ends the wait. Opening a round while one is open forgets the old one.
   */
  startRound(link: LinkPort): void {
    this.rounds.set(link, { digests: new Set([0]), buckets: [], wanted: new Set() });
    link.send('ae.digest', openingDigest(this.replica.digest));
  }

  /** Whether the round this host opened last on `link` has not ended yet. */
  roundOpen(link: LinkPort): boolean {
    return this.rounds.has(link);
  }

  /** A commit of this host (its changed slots): pushed at once to every link. */
  onLocalCommit(batch: PushBody): void {
    this.pushTo([...this.links], batch);
  }

  /** One frame the transport opened on `link`. Resolves when its effects are sent. */
  async onFrame(link: LinkPort, frame: Frame): Promise<void> {
    await this.handle(link, frame);
    const round = this.rounds.get(link);
    if (round && round.digests.size === 0 && round.buckets.length === 0 && round.wanted.size === 0) {
      this.rounds.delete(link);
      link.roundEnded?.();
    }
  }

  private async handle(link: LinkPort, frame: Frame): Promise<void> {
    const round = this.rounds.get(link);
    switch (frame.type) {
      case 'push': {
        const { accepted, repaired } = await this.replica.applyRemote(frame.body, link.peerNode);
        if (round) {
          const refs = [...frame.body.vpcs.map((s) => entryOfSlot('vpc', s).ref), ...frame.body.peerings.map((s) => entryOfSlot('peering', s).ref)];
          for (const r of refs) round.wanted.delete(r);
          answered(round, refs);
        }
        this.pushTo([...this.links].filter((l) => l !== link), accepted);
        this.pushTo([...this.links], repaired);
        return;
      }
      case 'ae.digest': {
        if (frame.body.groups.length === 0) {
          // The peer found our opening equal to its own root: the round ended in sync.
          round?.digests.clear();
          this.onRound(link.peerNode, { inSync: true, behind: 0 });
          return;
        }
        const parent = parentBits(frame.body.groups[0]!.bits);
        if (round && parent !== undefined) round.digests.delete(parent);
        const answer = answerDigest(this.replica.digest, frame.body);
        if (answer.digest.groups.length > 0) {
          round?.digests.add(answer.digest.groups[0]!.bits);
          link.send('ae.digest', answer.digest);
        }
        if (answer.entries.buckets.length > 0) {
          round?.buckets.push(...answer.entries.buckets.map((b) => ({ bits: b.bits, value: b.value })));
          link.send('ae.entries', answer.entries);
        }
        if (isOpening(frame.body) && answer.digest.groups.length === 0 && answer.entries.buckets.length === 0) {
          // Say so (an empty digest, answered by nothing), so that both ends know the round ended in sync.
          link.send('ae.digest', { groups: [] });
          this.onRound(link.peerNode, { inSync: true, behind: 0 });
        }
        return;
      }
      case 'ae.entries': {
        const bits = frame.body.buckets[0]?.bits;
        if (round && bits !== undefined) round.digests.delete(bits);
        const { offer, want, absent, missing } = answerEntries(this.replica.digest, frame.body);
        await this.offer(link, offer, absent);
        if (round) for (const r of want) round.wanted.add(r);
        if (want.length > 0) link.send('ae.want', missing.length > 0 ? { refs: want, missing } : { refs: want });
        this.onRound(link.peerNode, { inSync: offer.length === 0 && want.length === 0, behind: want.length });
        return;
      }
      case 'ae.want':
        if (round) answered(round, frame.body.refs);
        await this.offer(link, frame.body.refs, frame.body.missing ?? []);
        return;
      case 'hosts': {
        if (!this.hosts) return;
        const others = [...this.links].filter((l) => l !== link);
        const alive = frame.body.alive ?? [];
        const fresh = this.hosts.hear(alive);
        this.peerHolds(link, alive);
        this.relayBeats(others, fresh);
        this.sendReports(others, this.hosts.offer(frame.body.reports));
        return;
      }
    }
  }

  /** Pushes our slots of `refs` to the link's peer, but not those of `absent` (held here, nothing of them there) that a resync ends. */
  private async offer(link: LinkPort, refs: readonly string[], absent: readonly string[]): Promise<void> {
    const ended = absent.length > 0 && this.replica.resync ? await this.replica.resync(absent, link.peerNode) : new Set<string>();
    this.pushTo([link], this.replica.slotsFor(ended.size > 0 ? refs.filter((r) => !ended.has(r)) : refs));
  }

  /**
   * One report part per frame (host-reports.ts REPORT_PART_ENTRIES keeps it far below the frame
   * limit); none to the node that made it. Beats waiting for a link go first, so a report never
   * arrives before its host's beat.
   */
  private sendReports(links: readonly LinkPort[], reports: readonly HostReport[]): void {
    if (reports.length === 0) return;
    for (const l of links) this.flushLink(l);
    for (const r of reports) for (const l of links) if (l.peerNode !== r.nodeId) l.send('hosts', { reports: [r] });
  }

  /** Heartbeats in frames that fit (chunkBeats); none to the node that made it. */
  private sendBeats(links: readonly LinkPort[], beats: readonly HostBeat[]): void {
    for (const l of links) {
      for (const alive of chunkBeats(beats.filter((b) => b.nodeId !== l.peerNode), this.maxFrameBytes)) l.send('hosts', { reports: [], alive });
    }
  }

  /** Beats to pass on: at once without a relay window, else kept per link until the window's flush. */
  private relayBeats(links: readonly LinkPort[], beats: readonly HostBeat[]): void {
    if (beats.length === 0) return;
    if (this.relay === null) return this.sendBeats(links, beats);
    for (const l of links) {
      const ids = beats.filter((b) => b.nodeId !== l.peerNode).map((b) => b.nodeId);
      if (ids.length === 0) continue;
      const held = this.relayed.get(l) ?? new Set<string>();
      for (const id of ids) held.add(id);
      this.relayed.set(l, held);
    }
    if (this.relayed.size > 0) {
      this.cancelFlush ??= this.relay.schedule(this.relay.windowMs, () => {
        this.cancelFlush = null;
        for (const l of [...this.relayed.keys()]) this.flushLink(l);
      });
    }
  }

  /** The link's peer sent these beats: it holds them, so those of them still waiting for its link are not sent to it. */
  private peerHolds(link: LinkPort, beats: readonly HostBeat[]): void {
    const waiting = this.relayed.get(link);
    if (!waiting || !this.hosts) return;
    for (const b of beats) {
      const newest = this.hosts.beatOf(b.nodeId);
      if (newest !== undefined && Date.parse(newest.beat) <= Date.parse(b.beat)) waiting.delete(b.nodeId);
    }
    if (waiting.size === 0) this.relayed.delete(link);
  }

  /** Sends a link the beats waiting for it, each the newest held, aged to now. */
  private flushLink(link: LinkPort): void {
    const ids = this.relayed.get(link);
    if (!ids || !this.hosts) return;
    this.relayed.delete(link);
    if (this.relayed.size === 0 && this.cancelFlush) {
      this.cancelFlush();
      this.cancelFlush = null;
    }
    const hosts = this.hosts;
    this.sendBeats([link], [...ids].flatMap((id) => hosts.beatOf(id) ?? []));
  }

  private pushTo(links: readonly LinkPort[], batch: PushBody): void {
    if (isEmpty(batch) || links.length === 0) return;
    const bodies = chunkPush(batch, this.maxFrameBytes);
    for (const l of links) for (const b of bodies) l.send('push', b);
  }
}
