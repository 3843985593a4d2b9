import { randomBytes } from 'node:crypto';
import t from 'tap';
import { HlcClock } from '../../../src/domain/hlc.js';
import { acceptPeering, createPeering, rejectPeering } from '../../../src/domain/peering-ops.js';
import { isTombstone, liveState } from '../../../src/domain/replica.js';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Mutation, OpContext, PeeringPolicy } from '../../../src/domain/types.js';
import { createVpc } from '../../../src/domain/vpc-ops.js';
import { chunkPush, GossipEngine, type LinkPort } from '../../../src/gossip/engine.js';
import { FrameOpener, FrameSealer } from '../../../src/gossip/frame.js';
import { HostReports, type PeeringHost, peeringHosts } from '../../../src/gossip/host-reports.js';
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
