import { randomBytes } from 'node:crypto';
import t from 'tap';
import { HlcClock } from '../../../src/domain/hlc.js';
import { acceptPeering, createPeering, rejectPeering } from '../../../src/domain/peering-ops.js';
import { isTombstone, liveState } from '../../../src/domain/replica.js';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Mutation, OpContext, PeeringPolicy } from '../../../src/domain/types.js';
import { createVpc } from '../../../src/domain/vpc-ops.js';
import { type BeatRelay, chunkBeats, chunkPush, GossipEngine, type LinkPort } from '../../../src/gossip/engine.js';
import { FrameOpener, FrameSealer } from '../../../src/gossip/frame.js';
import { FORGET_AFTER_MS, type HostBeat, HostReports, type PeeringHost, peeringHosts } from '../../../src/gossip/host-reports.js';
import type { FrameBodies, FrameType } from '../../../src/gossip/messages.js';
import { MemoryReplica } from '../../../src/gossip/memory-replica.js';

const POLICY: PeeringPolicy = { pendingTtlSeconds: 3600, terminalRetentionSeconds: 3600, maxActivePerVpc: 10 };
let wall = Date.parse('2026-01-01T00:00:00.000Z');

interface Host {
  readonly name: string;
  readonly replica: MemoryReplica;
  readonly engine: GossipEngine;
  readonly reports: HostReports;
}

function host(name: string): Host {
  const replica = new MemoryReplica(new HlcClock(name, () => wall), POLICY);
  const reports = new HostReports(name, () => wall, () => 1000);
  return { name, replica, engine: new GossipEngine(replica, undefined, undefined, reports), reports };
}

/** Frames in flight between in-memory links, delivered one at a time in order (a loopback network). */
class Wire {
  private readonly queue: (() => Promise<void>)[] = [];
  frames = 0;

  /** Links a (the initiator) and b; returns both ends, to cut the link with engine.removeLink. */
  link(a: Host, b: Host): { ab: LinkPort; ba: LinkPort } {
    const make = (from: Host, to: Host, initiator: boolean, key: Buffer): LinkPort & { reverse?: LinkPort } => {
      const sealer = new FrameSealer(key);
      const opener = new FrameOpener(key);
      const port: LinkPort & { reverse?: LinkPort } = {
        peerNode: to.name,
        initiator,
        send: <K extends FrameType>(type: K, body: FrameBodies[K]) => {
          const bytes = sealer.seal(type, body);
          this.frames++;
          this.queue.push(async () => {
            const r = opener.open(bytes);
            if (!r.ok) throw new Error(r.refusal.code);
            await to.engine.onFrame(port.reverse!, r.value);
          });
        },
      };
      return port;
    };
    const ab = make(a, b, true, randomBytes(32));
    const ba = make(b, a, false, randomBytes(32));
    ab.reverse = ba;
    ba.reverse = ab;
    b.engine.addLink(ba);
    a.engine.addLink(ab);
    return { ab, ba };
  }

  async settle(): Promise<void> {
    for (let n = 0; this.queue.length > 0; n++) {
      if (n > 100_000) throw new Error('the exchange did not end');
      await this.queue.shift()!();
    }
  }
}

/** The actor the operations record (requestedBy, acceptedBy). */
const ACTOR = 'op';
let ids = 0;

function commit(h: Host, op: (view: StateIndex, ctx: OpContext) => readonly Mutation[]): void {
  wall += 10;
  const now = new Date(wall);
  const ctx: OpContext = { actor: ACTOR, now, policy: POLICY, newPeeringId: () => `pcx-${(++ids).toString(16).padStart(17, '0')}` };
  h.engine.onLocalCommit(h.replica.commitLocal(op(new StateIndex(liveState(h.replica.state)), ctx), now));
}

const vpc = (id: string, cidr: string) => (view: StateIndex, ctx: OpContext) => createVpc(view, ctx, { id, tenantId: 't1', cidrs: [cidr], bridge: `br-${id}` }).mutations;

t.test('a commit spreads along a line of hosts by forwarding, and the flood ends', async (t) => {
  const [a, b, c] = [host('hv-a'), host('hv-b'), host('hv-c')];
  const wire = new Wire();
  wire.link(a, b);
  wire.link(b, c);
  await wire.settle();
  const before = wire.frames;
  commit(a, vpc('va', '10.0.0.0/16'));
  await wire.settle();
  t.ok(c.replica.state.vpcs.has('va'), 'reached the host two hops away');
  t.equal(c.replica.digest.rootHash, a.replica.digest.rootHash);
  t.equal(wire.frames - before, 2, 'a→b and b→c, nothing back to the sender (no echo)');
});

t.test('hosts that wrote apart converge when linked: anti-entropy on connect, one merge everywhere', async (t) => {
  const [x, y, z] = [host('hv-x'), host('hv-y'), host('hv-z')];
  const wire = new Wire();
  wire.link(x, y);
  commit(x, vpc('va', '10.0.0.0/16'));
  commit(x, vpc('vb', '10.1.0.0/16'));
  commit(x, (view, ctx) => createPeering(view, ctx, { requesterVpcId: 'va', accepterVpcId: 'vb' }).mutations);
  await wire.settle();
  const pcx = [...x.replica.state.peerings.keys()][0]!;
  // y and x are now cut apart (a new wire for what follows), then write conflicting transitions.
  commit(x, (view, ctx) => acceptPeering(view, ctx, { id: pcx }).mutations);
  commit(y, (view, ctx) => rejectPeering(view, ctx, { id: pcx }).mutations);
  commit(y, vpc('vc', '10.2.0.0/16'));
  t.not(x.replica.digest.rootHash, y.replica.digest.rootHash);
  const healed = new Wire();
  healed.link(y, x);
  healed.link(z, x); // z joins empty and catches up
  await healed.settle();
  for (const h of [x, y, z]) {
    const p = h.replica.state.peerings.get(pcx)!;
    t.equal(isTombstone(p) ? 'tombstone' : p.record.status, 'rejected', `${h.name}: accept vs reject ends rejected`);
    t.ok(h.replica.state.vpcs.has('vc'), `${h.name} holds the VPC created on y`);
  }
  t.equal(z.replica.digest.rootHash, x.replica.digest.rootHash);
  t.equal(y.replica.digest.rootHash, x.replica.digest.rootHash);
});

t.test('host reports spread over a line of hosts, a newer one replaces the older, and late joiners get them all', async (t) => {
  const [a, b, c, d] = [host('hv-a'), host('hv-b'), host('hv-c'), host('hv-d')];
  const wire = new Wire();
  wire.link(a, b);
  wire.link(b, c);
  await wire.settle();
  const pcx = 'pcx-00000000000000001';
  a.engine.publishReport(a.reports.publish([[pcx, 'pending', 2]])!);
  await wire.settle();
  t.same(c.reports.others().map((r) => [r.nodeId, [...r.peerings.values()]]), [['hv-a', [[pcx, 'pending', 2]]]], 'reached the host two hops away');
  t.equal(a.reports.publish([[pcx, 'pending', 2]]), null, 'an unchanged data plane is not published again');
  wall += 1;
  const before = wire.frames;
  a.engine.publishReport(a.reports.publish([[pcx, 'programmed', 8]])!);
  await wire.settle();
  t.equal(wire.frames - before, 2, 'a→b and b→c: a report stops where it is not newer (no echo)');
  t.same([...c.reports.others()[0]!.peerings.values()], [[pcx, 'programmed', 8]], 'the newer report replaced the older');
  const stale = { nodeId: 'hv-a', at: new Date(0).toISOString(), part: 0, parts: 1, peerings: [] };
  await b.engine.onFrame({ peerNode: 'hv-c', initiator: false, send: () => t.fail('an older report is not forwarded') }, { type: 'hosts', seq: 0, body: { reports: [stale] } });
  t.same([...b.reports.others()[0]!.peerings.values()], [[pcx, 'programmed', 8]], 'an older report does not replace a newer one');
  wire.link(d, c);
  await wire.settle();
  t.same(d.reports.others().map((r) => r.nodeId), ['hv-a'], 'a new link is sent the reports held');
});

t.test('no host is sent back what it originated: its own report at link-up, its own beat forwarded', async (t) => {
  const [a, b, c] = [host('hv-na'), host('hv-nb'), host('hv-nc')];
  const sent: { to: string; body: FrameBodies['hosts'] }[] = [];
  const tap = (to: string): LinkPort => ({ peerNode: to, initiator: false, send: (type, body) => { if (type === 'hosts') sent.push({ to, body: body as FrameBodies['hosts'] }); } });
  a.reports.publish([]);
  c.reports.publish([]);
  // b holds a's and c's reports and beats.
  await b.engine.onFrame(tap('hv-na'), { type: 'hosts', seq: 1, body: { reports: [...a.reports.all()], alive: [a.reports.beat()] } });
  await b.engine.onFrame(tap('hv-nc'), { type: 'hosts', seq: 1, body: { reports: [...c.reports.all()], alive: [c.reports.beat()] } });
  sent.length = 0;
  b.engine.addLink(tap('hv-na'));
  const origins = sent.flatMap((s) => [...s.body.reports.map((r) => r.nodeId), ...(s.body.alive ?? []).map((x) => x.nodeId)]);
  t.same([...new Set(origins)].sort(), ['hv-nb', 'hv-nc'], 'a new link to hv-na is sent b\'s beat and hv-nc\'s report and beat, none of hv-na\'s');
  t.same(sent[0]!.body.alive!.map((x) => x.nodeId), ['hv-nb', 'hv-nc'], 'beats first (b\'s own fresh one first), then reports');
  t.ok(sent.slice(1).every((s) => s.body.alive === undefined && s.body.reports.length === 1));
  b.engine.addLink(tap('hv-nc'));
  sent.length = 0;
  wall += 1;
  // A new beat of hv-na arriving from a third host goes on to hv-nc, not back to hv-na.
  await b.engine.onFrame(tap('hv-nx'), { type: 'hosts', seq: 2, body: { reports: [], alive: [a.reports.beat()] } });
  t.same(sent.map((s) => s.to), ['hv-nc'], 'forwarded to every other link but the origin\'s');
});

t.test('heartbeats cross a line of hosts; cut off, a host goes stale after 3 of its beats; linked again, it is fresh at once', async (t) => {
  const [a, b, c] = [host('hv-ha'), host('hv-hb'), host('hv-hc')];
  const pcx = 'pcx-00000000000000002';
  for (const h of [a, b, c]) h.reports.publish([[pcx, 'programmed', 8]]);
  const wire = new Wire();
  const { ab, ba } = wire.link(a, b);
  wire.link(b, c);
  await wire.settle();
  const seenOnC = () => peeringHostsOf(c, 'hv-ha');
  t.match(seenOnC(), { state: 'programmed', heardAt: new Date(wall).toISOString() }, 'c hears of a through b');
  // a goes on beating but the link a–b is cut: c's picture of a ages.
  a.engine.removeLink(ab);
  b.engine.removeLink(ba);
  for (let i = 0; i < 3; i++) {
    wall += 1000;
    for (const h of [a, b, c]) h.engine.heartbeat();
    await wire.settle();
  }
  t.match(seenOnC(), { state: 'programmed' }, '3 beats missed: not stale yet');
  wall += 1;
  t.match(seenOnC(), { state: 'unknown', stale: true, lastState: 'programmed', at: a.reports.all()[0]!.at }, 'one ms more: stale, with its last state and report time');
  t.match(peeringHostsOf(c, 'hv-hb'), { state: 'programmed', heardAt: new Date(wall - 1).toISOString() }, 'b, which beat on, is fresh');
  wire.link(a, b);
  await wire.settle();
  t.match(seenOnC(), { state: 'programmed', heardAt: new Date(wall).toISOString() }, 'healed: fresh again (a\'s beat at link-up crossed b)');
  t.notOk('stale' in seenOnC()!);
});

/** What host h shows for node's data plane of the first peering h's report lists (peering.get hosts). */
function peeringHostsOf(h: Host, node: string): PeeringHost | undefined {
  const id = h.reports.all()[0]!.peerings[0]![0];
  return peeringHosts(id, { nodeId: h.name, view: { state: 'programmed', flows: 8, lastAttemptAt: null }, now: new Date(wall) }, h.reports.others()).find((x) => x.nodeId === node);
}

t.test('chunkPush keeps every frame under the size limit', (t) => {
  const h = host('hv-c1');
  for (let i = 0; i < 300; i++) commit(h, vpc(`v${i}`, `10.${i % 256}.${Math.floor(i / 256)}.0/24`));
  const vpcs = [...h.replica.state.vpcs.values()];
  const chunks = chunkPush({ vpcs, peerings: [] }, 8192);
  t.ok(chunks.length > 1);
  t.equal(chunks.reduce((n, c) => n + c.vpcs.length, 0), 300, 'nothing lost');
  const sealer = new FrameSealer(randomBytes(32));
  t.ok(chunks.every((c) => sealer.seal('push', c).length <= 8192), 'each sealed frame fits');
  t.end();
});

/** A relay whose timers run when the test says (`fire`), on the test's clock `wall`. */
function manualRelay(windowMs = 50): BeatRelay & { fire(): void; readonly armed: number } {
  let timers: { at: number; run: () => void; live: boolean }[] = [];
  return {
    windowMs,
    schedule: (ms, run) => {
      const timer = { at: wall + ms, run, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    fire() {
      const due = timers.filter((x) => x.live && x.at <= wall);
      timers = timers.filter((x) => x.live && x.at > wall);
      for (const x of due) x.run();
    },
    get armed() {
      return timers.filter((x) => x.live).length;
    },
  };
}

/** A host with a relay window, and links to `peers` that record the `hosts` frames sent on them. */
function relayHost(name: string, peers: readonly string[]) {
  const relay = manualRelay();
  const reports = new HostReports(name, () => wall, () => 1000);
  const engine = new GossipEngine(new MemoryReplica(new HlcClock(name, () => wall), POLICY), undefined, undefined, reports, relay);
  const sent: { to: string; body: FrameBodies['hosts'] }[] = [];
  const links = new Map(peers.map((p): [string, LinkPort] => [p, { peerNode: p, initiator: false, send: (type, body) => { if (type === 'hosts') sent.push({ to: p, body: body as FrameBodies['hosts'] }); } }]));
  for (const l of links.values()) engine.addLink(l);
  sent.length = 0;
  const hear = (from: string, ...alive: HostBeat[]) => engine.onFrame(links.get(from)!, { type: 'hosts', seq: 0, body: { reports: [], alive } });
  return { relay, reports, engine, sent, links, hear };
}

const beatOf = (nodeId: string, at: number, age = 0): HostBeat => ({ nodeId, beat: new Date(at).toISOString(), every: 1000, age });

t.test('beats passed on wait for the window and go to each link in one frame, aged by the wait', async (t) => {
  const b = relayHost('hv-rb', ['hv-ra', 'hv-rc', 'hv-rd']);
  await b.hear('hv-ra', beatOf('hv-ra', wall));
  wall += 10;
  await b.hear('hv-rc', beatOf('hv-rc', wall, 5));
  t.same(b.sent, [], 'nothing sent within the window');
  t.equal(b.relay.armed, 1, 'one timer for the window, whatever the beats and links');
  wall += 40;
  b.relay.fire();
  const to = (p: string) => b.sent.filter((x) => x.to === p).map((x) => x.body.alive!.map((y) => [y.nodeId, y.age]));
  t.same(to('hv-rd'), [[['hv-ra', 50], ['hv-rc', 45]]], 'the third link: both beats in one frame, their age counting the wait');
  t.same(to('hv-ra'), [[['hv-rc', 45]]], 'no link is sent its own beat');
  t.same(to('hv-rc'), [[['hv-ra', 50]]]);
  t.ok(b.sent.every((x) => x.body.reports.length === 0));
  b.sent.length = 0;
  b.relay.fire();
  t.same(b.sent, [], 'a flush sends once');
});

t.test('a beat the link\'s peer sent within the window is not sent back to it; a newer one replaces the one waiting', async (t) => {
  const b = relayHost('hv-sb', ['hv-sa', 'hv-sc', 'hv-sd']);
  const x0 = beatOf('hv-sx', wall);
  await b.hear('hv-sa', x0);
  // c forwarded the same beat (it heard it elsewhere): c holds it.
  await b.hear('hv-sc', x0);
  wall += 1;
  const x1 = beatOf('hv-sx', wall);
  await b.hear('hv-sa', x1);
  // d sent the older beat: it does not hold the newer one, which still goes to it.
  await b.hear('hv-sd', x0);
  wall += 49;
  b.relay.fire();
  t.same(b.sent.map((s) => [s.to, s.body.alive!.map((y) => y.beat)]).sort(), [['hv-sc', [x1.beat]], ['hv-sd', [x1.beat]]],
    'c and d get the newest beat only, a nothing (it sent it)');
});

t.test('a report sent on a link first flushes the beats waiting for it; a link gone takes its waiting beats', async (t) => {
  const b = relayHost('hv-tb', ['hv-ta', 'hv-tc']);
  await b.hear('hv-ta', beatOf('hv-tx', wall));
  const report = { nodeId: 'hv-tx', at: new Date(wall).toISOString(), part: 0, parts: 1, peerings: [] };
  await b.engine.onFrame(b.links.get('hv-ta')!, { type: 'hosts', seq: 0, body: { reports: [report] } });
  t.same(b.sent.map((s) => [s.to, s.body.alive?.map((y) => y.nodeId) ?? 'report']), [['hv-tc', ['hv-tx']], ['hv-tc', 'report']], 'the beat before the report');
  t.equal(b.relay.armed, 0, 'nothing left waiting: the timer is cancelled');
  b.sent.length = 0;
  wall += 1;
  await b.hear('hv-ta', beatOf('hv-tx', wall));
  b.engine.removeLink(b.links.get('hv-tc')!);
  wall += 50;
  b.relay.fire();
  t.same(b.sent, [], 'nothing sent on a link removed');
});

t.test('a beat forgotten while waiting is not passed on', async (t) => {
  const b = relayHost('hv-fb', ['hv-fa', 'hv-fc']);
  await b.hear('hv-fa', beatOf('hv-fx', wall - FORGET_AFTER_MS + 10, FORGET_AFTER_MS - 10));
  t.ok(b.reports.beatOf('hv-fx'), 'held while heard within the hour');
  wall += 50;
  b.relay.fire();
  t.same(b.sent, [], 'forgotten by the flush: not passed on');
  t.equal(b.reports.beatOf('hv-fx'), undefined);
});

t.test('chunkBeats keeps every frame under the size limit and MAX_BEATS_PER_FRAME', (t) => {
  const beats = Array.from({ length: 500 }, (_, i) => beatOf(`hv-${'x'.repeat(60)}-${i}`, wall, i));
  const chunks = chunkBeats(beats, 8192);
  t.ok(chunks.length > 1);
  t.same(chunks.flat(), beats, 'nothing lost, in order');
  const sealer = new FrameSealer(randomBytes(32));
  t.ok(chunks.every((c) => sealer.seal('hosts', { reports: [], alive: c }).length <= 8192), 'each sealed frame fits');
  t.same(chunkBeats([]), [], 'no beats, no frame');
  t.end();
});
