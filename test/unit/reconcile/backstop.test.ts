import t from 'tap';
import { type BackstopSlot, createBackstop, planBackstop, resumeIndex } from '../../../src/reconcile/backstop.js';

const at = (plan: readonly BackstopSlot[]): [string, number][] => plan.map((s) => [s.bridge, s.atMs]);

t.test('planBackstop: bridge i of N at ⌊(i + 1)·interval / N⌋, sorted, duplicates once', async (t) => {
  t.same(at(planBackstop(['b', 'a', 'd', 'c'], 1000)), [['a', 250], ['b', 500], ['c', 750], ['d', 1000]]);
  t.same(at(planBackstop(['x'], 5000)), [['x', 5000]], 'one bridge: once per interval, at its end');
  t.same(at(planBackstop(['b', 'a', 'b'], 100)), [['a', 50], ['b', 100]], 'duplicates once');
  t.same(at(planBackstop(['a', 'b', 'c'], 100)), [['a', 33], ['b', 66], ['c', 100]], 'whole ms, the last at the interval');
  t.same(planBackstop([], 1000), [], 'no bridge: nothing to read');
  const big = planBackstop(Array.from({ length: 100 }, (_, i) => `br-${String(i).padStart(3, '0')}`), 5000);
  t.same([big[0]?.atMs, big[49]?.atMs, big[99]?.atMs], [50, 2500, 5000], '100 bridges over 5 s: 50 ms apart');
  t.ok(big.every((s, i) => i === 0 || s.atMs > (big[i - 1]?.atMs ?? 0)), 'strictly increasing');
  t.same(planBackstop(['c', 'a', 'b'], 300), planBackstop(['b', 'c', 'a'], 300), 'the order given does not matter');
  for (const bad of [0, -1, Number.NaN]) t.throws(() => planBackstop(['a'], bad), RangeError, `interval ${bad}`);
});

t.test('resumeIndex: the first slot after the time already elapsed', async (t) => {
  const plan = planBackstop(['a', 'b', 'c', 'd'], 1000);
  const cases: [number, number][] = [
    [0, 0],
    [249, 0],
    [250, 1],
    [600, 2],
    [999, 3],
    [1000, 4],
    [5000, 4],
  ];
  for (const [elapsed, index] of cases) t.equal(resumeIndex(plan, elapsed), index, `${elapsed} ms into the round`);
  t.equal(resumeIndex([], 10), 0, 'an empty plan');
});

/** A backstop on a hand-moved clock: its timers fire, in time order, as advance() moves the clock past them. */
function clocked() {
  let clock = 0;
  const due: string[] = [];
  let timers: { at: number; fn: () => void }[] = [];
  const after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: clock + ms, fn };
    timers.push(timer);
    return () => void (timers = timers.filter((x) => x !== timer));
  };
  const b = createBackstop({ intervalMs: 100, onDue: (bridge) => void due.push(bridge), now: () => clock, after });
  /** `blocked`: the event loop was busy until `to`, so the timers due by then all run late, at `to`. */
  const advance = (to: number, blocked = false): void => {
    if (blocked) clock = to;
    for (;;) {
      const next = timers.filter((x) => x.at <= to).sort((x, y) => x.at - y.at)[0];
      if (next === undefined) break;
      timers = timers.filter((x) => x !== next);
      clock = Math.max(clock, next.at);
      next.fn();
    }
    clock = to;
  };
  return { b, due, advance, pending: () => timers.length };
}

t.test('the shell reads each bridge once per round, in order, at its offsets; rounds follow each other', async (t) => {
  const { b, due, advance } = clocked();
  b.setBridges(['c', 'a', 'b']);
  advance(32);
  t.same(due, [], 'nothing before the first offset (33 ms)');
  advance(33);
  t.same(due, ['a']);
  advance(99);
  t.same(due, ['a', 'b'], 'b at 66');
  advance(100);
  t.same(due, ['a', 'b', 'c'], 'one round: every bridge once');
  advance(400);
  t.same(due.slice(3), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'], 'three rounds more');
  b.setBridges(['b', 'a', 'c']);
  advance(500);
  t.equal(due.length, 15, 'the same set given again does not re-plan');
  b.close();
});

t.test('a re-plan keeps the round’s clock: no burst, no bridge twice in a round, a late-comer in the next round', async (t) => {
  const { b, due, advance } = clocked();
  b.setBridges(['a', 'c']);
  advance(60);
  t.same(due, ['a'], 'a at 50 of a, c');
  // 60 ms in, the plan becomes a 33, c 66, d 100.
  b.setBridges(['a', 'c', 'd']);
  advance(100);
  t.same(due, ['a', 'c', 'd'], 'c and d in their new slots, a not again');
  advance(170);
  t.same(due.slice(3), ['a', 'c'], 'the next round, from 100: a at 133, c at 166');
  // 70 ms into that round, the plan becomes a 25, b 50, c 75, d 100: b's slot is already past.
  b.setBridges(['a', 'b', 'c', 'd']);
  advance(200);
  t.same(due.slice(5), ['d'], 'c not twice, b not in a burst: only d is left of this round');
  advance(300);
  t.same(due.slice(6), ['a', 'b', 'c', 'd'], 'then every bridge in every round');
  b.setBridges([]);
  const n = due.length;
  advance(500);
  t.equal(due.length, n, 'no bridge: no read');
  b.setBridges(['z']);
  advance(599);
  t.equal(due.length, n, 'a new first round, from the call: z at its end');
  advance(600);
  t.same(due.slice(n), ['z']);
  b.close();
});

t.test('setIntervalMs re-plans the round; a round already longer than the new interval ends at once', async (t) => {
  const { b, due, advance } = clocked();
  b.setBridges(['a', 'b']);
  advance(55);
  t.same(due, ['a'], 'a at 50 of 100');
  b.setIntervalMs(1000);
  advance(999);
  t.same(due, ['a'], 'a already read this round (its new slot is 500); b now at 1000');
  advance(1000);
  t.same(due, ['a', 'b']);
  advance(1200);
  b.setIntervalMs(50);
  // 200 ms into the round (from 1000): longer than 50, so a new one starts at 1200.
  advance(1224);
  t.same(due, ['a', 'b'], 'a at 1225');
  advance(1250);
  t.same(due, ['a', 'b', 'a', 'b']);
  t.throws(() => b.setIntervalMs(0), RangeError, 'a zero interval is refused');
  b.close();
});

t.test('a round that fell more than an interval behind starts afresh instead of catching up', async (t) => {
  const { b, due, advance } = clocked();
  b.setBridges(['a', 'b']);
  advance(100);
  t.same(due, ['a', 'b']);
  // The event loop was blocked from 100 to 350: the round from 100 is read late, once, and the next starts at 350.
  const all = due.length;
  advance(350, true);
  t.same(due.slice(all), ['a', 'b'], 'the late round read once, not two and a half rounds in a burst');
  advance(399);
  t.same(due.slice(all), ['a', 'b'], 'nothing before the fresh round’s first slot');
  advance(400);
  t.same(due.slice(all), ['a', 'b', 'a'], 'a at 400');
  b.close();
});

t.test('close stops the timer for good', async (t) => {
  const { b, due, advance, pending } = clocked();
  b.setBridges(['a']);
  b.close();
  b.close();
  b.setBridges(['b']);
  b.setIntervalMs(10);
  advance(500);
  t.same(due, []);
  t.equal(pending(), 0, 'no timer left');
});

t.test('real clock: reads come spread over the interval', async (t) => {
  const times: number[] = [];
  const b = createBackstop({ intervalMs: 200, onDue: () => void times.push(performance.now()) });
  t.teardown(() => b.close());
  const start = performance.now();
  b.setBridges(['a', 'b', 'c', 'd']);
  const deadline = Date.now() + 3000;
  while (times.length < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(times.length, 8, 'two rounds of four');
  const offsets = times.map((x) => x - start);
  // Timers fire late, never early; each read is within a slot of its own time.
  const wanted = [50, 100, 150, 200, 250, 300, 350, 400];
  t.ok(
    offsets.every((o, i) => o >= (wanted[i] ?? 0) - 2 && o < (wanted[i] ?? 0) + 50),
    `at ${offsets.map((o) => Math.round(o)).join(', ')} ms`,
  );
});
