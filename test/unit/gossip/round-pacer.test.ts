import { randomBytes } from 'node:crypto';
import t from 'tap';
import { HlcClock } from '../../../src/domain/hlc.js';
import { liveState } from '../../../src/domain/replica.js';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { PeeringPolicy } from '../../../src/domain/types.js';
import { createVpc } from '../../../src/domain/vpc-ops.js';
import { GossipEngine, type LinkPort, type Scheduler } from '../../../src/gossip/engine.js';
import { FrameOpener, FrameSealer } from '../../../src/gossip/frame.js';
import type { FrameBodies, FrameType } from '../../../src/gossip/messages.js';
import { MemoryReplica } from '../../../src/gossip/memory-replica.js';
import { ROUND_CEILING_INTERVALS, RoundPacer } from '../../../src/gossip/round-pacer.js';

const POLICY: PeeringPolicy = { pendingTtlSeconds: 3600, terminalRetentionSeconds: 3600, maxActivePerVpc: 10 };
const INTERVAL = 2000;

/** A clock and timers the test moves by hand. */
function manualTime() {
  let now = Date.parse('2026-01-01T00:00:00.000Z');
  let timers: { at: number; run: () => void; live: boolean }[] = [];
  const schedule: Scheduler = (ms, run) => {
    const timer = { at: now + ms, run, live: true };
    timers.push(timer);
    return () => {
      timer.live = false;
    };
  };
  /** Moves the clock by `ms`, running the timers due on the way, in order. */
  const advance = (ms: number): void => {
    const until = now + ms;
    for (;;) {
      const due = timers.filter((x) => x.live && x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers = timers.filter((x) => x !== due);
      now = due.at;
      due.run();
    }
    now = until;
  };
  return { now: () => now, schedule, advance };
}

/** An in-memory link between an initiator and a responder whose frames wait until delivered (a slow or silent network). */
function link(a: GossipEngine, b: GossipEngine) {
  const queue: { toB: boolean; run: () => Promise<void> }[] = [];
  const openings: number[] = [];
  /** `toA`: what b sends is lost (a peer that drops what it is sent answers nothing). */
  const muted = { toA: false };
  const make = (to: GossipEngine, peer: string, initiator: boolean, toB: boolean): LinkPort & { reverse?: LinkPort } => {
    const key = randomBytes(32);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    const port: LinkPort & { reverse?: LinkPort } = {
      peerNode: peer,
      initiator,
      send: <K extends FrameType>(type: K, body: FrameBodies[K]) => {
        if (!toB && muted.toA) return;
        if (type === 'ae.digest' && (body as FrameBodies['ae.digest']).groups[0]?.bits === 0 && toB) openings.push(queue.length);
        const bytes = sealer.seal(type, body);
        queue.push({ toB, run: async () => {
          const r = opener.open(bytes);
          if (!r.ok) throw new Error(r.refusal.code);
          await to.onFrame(port.reverse!, r.value);
        } });
      },
    };
    return port;
  };
  const ab = make(b, 'hv-b', true, true);
  const ba = make(a, 'hv-a', false, false);
  ab.reverse = ba;
  ba.reverse = ab;
  /** Delivers every frame in flight and those they cause. */
  const deliver = async (): Promise<void> => {
    while (queue.length > 0) await queue.shift()!.run();
  };
  /** Delivers the next frame in flight; whether there was one. */
  const step = async (): Promise<boolean> => {
    const f = queue.shift();
    if (f) await f.run();
    return f !== undefined;
  };
  return { ab, ba, openings, muted, deliver, step };
}

function engines(time: ReturnType<typeof manualTime>, records: number) {
  const ra = new MemoryReplica(new HlcClock('hv-a', time.now), POLICY);
  const rb = new MemoryReplica(new HlcClock('hv-b', time.now), POLICY);
  // b holds records a lacks: a's first round has work (entries, wants, pushes).
  for (let i = 0; i < records; i++) {
    const now = new Date(time.now());
    const ctx = { actor: 'op', now, policy: POLICY, newPeeringId: () => 'pcx-00000000000000000' };
    rb.commitLocal(createVpc(new StateIndex(liveState(rb.state)), ctx, { id: `v${i}`, tenantId: 't1', cidrs: [`10.${i}.0.0/16`], bridge: `br-v${i}` }).mutations, now);
  }
  return { a: new GossipEngine(ra), b: new GossipEngine(rb), ra, rb };
}

/** Links a (initiator) to b, with a pacer on a's side as the transport runs it. */
function paced(time: ReturnType<typeof manualTime>, records: number) {
  const e = engines(time, records);
  const l = link(e.a, e.b);
  const pacer = new RoundPacer(e.a, l.ab, { intervalMs: () => INTERVAL, schedule: time.schedule });
  l.ab.roundEnded = () => pacer.ended();
  e.b.addLink(l.ba);
  e.a.addLink(l.ab);
  pacer.start();
  return { ...e, ...l, pacer };
}

t.test('a slow round is not overlapped: the next opens one interval after it ended', async (t) => {
  const time = manualTime();
  const p = paced(time, 40);
  t.equal(p.openings.length, 1, 'the round at link-up');
  t.ok(p.a.roundOpen(p.ab));
  // The peer is slow: nothing answers for 5 intervals.
  time.advance(5 * INTERVAL);
  t.equal(p.openings.length, 1, 'no second round while the first is open');
  await p.deliver();
  t.notOk(p.a.roundOpen(p.ab), 'ended once every ref asked for arrived');
  t.equal(p.ra.digest.rootHash, p.rb.digest.rootHash, 'in sync');
  time.advance(INTERVAL - 1);
  t.equal(p.openings.length, 1, 'not before an interval from the end');
  time.advance(1);
  t.equal(p.openings.length, 2, 'the next round, an interval after the end');
  await p.deliver();
  t.notOk(p.a.roundOpen(p.ab), 'an in-sync round ends with the empty digest');
  time.advance(INTERVAL);
  t.equal(p.openings.length, 3, 'and so on, every interval while in sync');
  p.pacer.stop();
  time.advance(10 * INTERVAL);
  t.equal(p.openings.length, 3, 'stopped: no more rounds');
});

t.test('a round whose answer never comes is given up after the ceiling, then rounds resume', async (t) => {
  const time = manualTime();
  const p = paced(time, 40);
  // The answers are lost on the way back.
  p.muted.toA = true;
  await p.deliver();
  p.muted.toA = false;
  t.ok(p.a.roundOpen(p.ab), 'still open: its answer never came');
  time.advance(ROUND_CEILING_INTERVALS * INTERVAL - 1);
  t.equal(p.openings.length, 1, 'waited for up to the ceiling');
  time.advance(1 + INTERVAL);
  t.equal(p.openings.length, 2, 'the ceiling and one interval later, a new round');
  await p.deliver();
  t.equal(p.ra.digest.rootHash, p.rb.digest.rootHash, 'which heals');
  t.notOk(p.a.roundOpen(p.ab));
});

t.test('a round ends only once the refs asked for arrived, not at the first answer', async (t) => {
  const time = manualTime();
  const p = paced(time, 40);
  let frames = 0;
  while (p.a.roundOpen(p.ab)) {
    t.ok(p.ra.state.vpcs.size < 40, 'open while a still lacks records');
    t.ok(await p.step(), 'frames still in flight while open');
    frames++;
  }
  t.ok(frames > 3, `a whole exchange (${frames} frames: digests, entries, pushes)`);
  t.equal(p.ra.state.vpcs.size, 40, 'ended once a holds every record it asked for');
  t.equal(p.ra.digest.rootHash, p.rb.digest.rootHash);
});
