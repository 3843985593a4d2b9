import fc from 'fast-check';
import t from 'tap';
import { holds } from '../../helpers/property.js';
import {
  compareHlc,
  decodeHlc,
  encodeHlc,
  type Hlc,
  HlcClock,
  isHlc,
  MAX_LOGICAL,
  MAX_WALL_MS,
  maxHlc,
  receiveHlc,
  successorHlc,
  tickHlc,
} from '../../../src/domain/hlc.js';

const h = (wallMs: number, logical: number, node = 'hv-01'): Hlc => ({ wallMs, logical, node });

const arbNode = fc.constantFrom('hv-01', 'hv-02', 'hv-1', 'a', 'z9', 'hv-01-b');
const arbHlc: fc.Arbitrary<Hlc> = fc.record({
  // Small ranges make ties (same ms, same logical) common, which is where the rules differ.
  wallMs: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: MAX_WALL_MS })),
  logical: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: MAX_LOGICAL })),
  node: arbNode,
});

t.test('tick: physical time ahead resets the counter; otherwise the counter advances', (t) => {
  t.same(tickHlc(h(5, 7), 9), h(9, 0));
  t.same(tickHlc(h(5, 7), 5), h(5, 8));
  t.same(tickHlc(h(5, 7), 2), h(5, 8), 'a physical clock that went back does not take the HLC back');
  t.same(tickHlc(h(5, MAX_LOGICAL), 5), h(6, 0), 'counter overflow borrows the next ms');
  t.end();
});

t.test('receive follows the four cases of the HLC paper and keeps our node id', (t) => {
  const r = (last: Hlc, remote: Hlc, pt: number): unknown => receiveHlc(last, remote, pt);
  t.same(r(h(5, 2), h(5, 9, 'hv-02'), 3), { ok: true, clock: h(5, 10) }, 'same ms: max counter + 1');
  t.same(r(h(8, 2), h(5, 9, 'hv-02'), 3), { ok: true, clock: h(8, 3) }, 'ours ahead');
  t.same(r(h(5, 2), h(8, 9, 'hv-02'), 3), { ok: true, clock: h(8, 10) }, 'remote ahead');
  t.same(r(h(5, 2), h(8, 9, 'hv-02'), 20), { ok: true, clock: h(20, 0) }, 'physical ahead of both');
  t.end();
});

t.test('receive refuses a remote clock too far ahead and names how far', (t) => {
  t.same(receiveHlc(h(5, 0), h(1_000 + 60_001, 0, 'hv-02'), 1_000), { ok: false, code: 'CLOCK_AHEAD', aheadMs: 60_001 });
  t.same(receiveHlc(h(5, 0), h(1_000 + 60_000, 0, 'hv-02'), 1_000), { ok: true, clock: h(61_000, 1) }, 'exactly at the bound is accepted');
  t.same(receiveHlc(h(5, 0), h(1_100, 0, 'hv-02'), 1_000, 50), { ok: false, code: 'CLOCK_AHEAD', aheadMs: 100 });
  const clock = new HlcClock('hv-01', () => 1_000, 50);
  const before = clock.now();
  t.same(clock.receive(h(2_000, 0, 'hv-02')), { ok: false, code: 'CLOCK_AHEAD', aheadMs: 1_000 });
  t.same(clock.last, before, 'a refused version leaves the clock as it was');
  t.end();
});

t.test('misuse throws at once', (t) => {
  t.throws(() => tickHlc(h(1, 0), -1));
  t.throws(() => tickHlc(h(1, 0), 1.5));
  t.throws(() => tickHlc(h(1, 0), MAX_WALL_MS + 1));
  t.throws(() => tickHlc(h(1, 0, 'Bad Node'), 1));
  t.throws(() => receiveHlc(h(1, 0), h(1, MAX_LOGICAL + 1), 1));
  t.throws(() => receiveHlc(h(1, 0), h(1, 0), 1, -1));
  t.throws(() => new HlcClock('bad/node', () => 0));
  t.throws(() => new HlcClock('hv-01', () => 0, 10, h(-1, 0)));
  t.throws(() => successorHlc(h(MAX_WALL_MS, MAX_LOGICAL)), 'an exhausted clock is a bug, not a wrap');
  t.end();
});

t.test('isHlc accepts only well-formed versions', (t) => {
  t.ok(isHlc(h(0, 0)));
  t.ok(isHlc(h(0, 0, 'HV_01.east')), 'any nodeId the config accepts (SPEC §11)');
  for (const bad of [null, 1, 'x', {}, h(-1, 0), h(1.5, 0), h(0, -1), h(0, MAX_LOGICAL + 1), h(MAX_WALL_MS + 1, 0), h(0, 0, ''), h(0, 0, 'a/b'), h(0, 0, 'x'.repeat(65))]) {
    t.notOk(isHlc(bad), JSON.stringify(bad));
  }
  t.end();
});

t.test('text form: fixed width, round trip, refuses anything else', (t) => {
  t.equal(encodeHlc(h(0x18c2f3a4b10, 3, 'hv-01')), '018c2f3a4b10.0003.hv-01');
  t.same(decodeHlc('018c2f3a4b10.0003.hv-01'), h(0x18c2f3a4b10, 3, 'hv-01'));
  for (const bad of ['', '018c2f3a4b10.0003.', '18c2f3a4b10.0003.hv-01', '018C2F3A4B10.0003.hv-01', '018c2f3a4b10.00003.hv-01', '018c2f3a4b10.0003.hv/01', '018c2f3a4b10.0003.hv 01']) {
    t.equal(decodeHlc(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});

t.test('properties', (t) => {
  holds(
    t,
    'compare is a total order: antisymmetric, transitive, 0 only for equal versions',
    fc.property(arbHlc, arbHlc, arbHlc, (a, b, c) => {
        const ab = Math.sign(compareHlc(a, b));
        if (ab !== -Math.sign(compareHlc(b, a))) return false;
        if ((ab === 0) !== (a.wallMs === b.wallMs && a.logical === b.logical && a.node === b.node)) return false;
        if (compareHlc(a, b) <= 0 && compareHlc(b, c) <= 0 && compareHlc(a, c) > 0) return false;
        return maxHlc(a, b) === (ab >= 0 ? a : b);
      }),
    5_000,
  );

  holds(
    t,
    'text order equals version order, and decode(encode(h)) = h',
    fc.property(arbHlc, arbHlc, (a, b) => {
        const ea = encodeHlc(a);
        const eb = encodeHlc(b);
        const textOrder = ea < eb ? -1 : ea > eb ? 1 : 0;
        const rt = decodeHlc(ea);
        return textOrder === Math.sign(compareHlc(a, b)) && rt !== undefined && compareHlc(rt, a) === 0;
      }),
    5_000,
  );

  holds(
    t,
    'decode never throws on arbitrary text and gives only valid versions',
    fc.property(fc.oneof(fc.string(), fc.string().map((s) => `000000000001.0001.${s}`)), (s) => {
        const d = decodeHlc(s);
        return d === undefined || (isHlc(d) && encodeHlc(d) === s);
      }),
    3_000,
  );

  // A run of events on several nodes: each step is a local tick or a receive of a version some
  // node issued earlier, at a physical time that jitters (skewed clocks, clocks that go back).
  type Step = { node: number; physical: number; from: number | null };
  const arbSteps = fc.array(
    fc.record({ node: fc.integer({ min: 0, max: 2 }), physical: fc.integer({ min: 0, max: 40 }), from: fc.option(fc.nat(), { nil: null }) }),
    { minLength: 1, maxLength: 60 },
  );

  holds(
    t,
    'a clock is strictly monotonic; receive is greater than both inputs; every issued version is unique',
    fc.property(arbSteps, (steps: Step[]) => {
        const nodes = ['hv-01', 'hv-02', 'hv-03'];
        const clocks = nodes.map((n) => ({ last: h(0, 0, n) }));
        const issued: Hlc[] = [];
        for (const s of steps) {
          const c = clocks[s.node]!;
          const before = c.last;
          if (s.from === null || issued.length === 0) {
            c.last = tickHlc(before, s.physical);
            issued.push(c.last);
          } else {
            const remote = issued[s.from % issued.length]!;
            const r = receiveHlc(before, remote, s.physical, 1_000);
            if (!r.ok) return false;
            if (compareHlc(r.clock, remote) <= 0) return false;
            c.last = r.clock;
          }
          if (compareHlc(c.last, before) <= 0 || c.last.node !== nodes[s.node]) return false;
          if (c.last.wallMs < s.physical) return false; // never behind the physical clock it saw
        }
        const texts = new Set(issued.map(encodeHlc));
        return texts.size === issued.length;
      }),
    3_000,
  );

  holds(
    t,
    'the HlcClock wrapper issues what the pure rules give',
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }), (times) => {
        let i = 0;
        const clock = new HlcClock('hv-01', () => times[i]!);
        let last = h(0, 0);
        for (; i < times.length; i++) {
          last = tickHlc(last, times[i]!);
          if (compareHlc(clock.now(), last) !== 0) return false;
        }
        return true;
      }),
    1_000,
  );
  t.end();
});
