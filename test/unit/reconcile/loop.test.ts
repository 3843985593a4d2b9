import t from 'tap';
import { createReconcileLoop, type Scope } from '../../../src/reconcile/loop.js';
import { silentLogger } from '../../../src/log/logger.js';

/** A cycle that records its scopes and finishes when the test says so. */
function controlledCycle() {
  const scopes: Scope[] = [];
  let finish: ((ok: boolean) => void) | null = null;
  let started: (() => void) | null = null;
  return {
    scopes,
    cycle: (scope: Scope) => {
      scopes.push(scope);
      started?.();
      return new Promise<boolean>((resolve) => (finish = resolve));
    },
    /** Resolves when the next cycle starts. */
    nextStart: () => new Promise<void>((resolve) => (started = resolve)),
    finish: (ok = true) => finish?.(ok),
  };
}

const names = (s: Scope | undefined) => (s === undefined ? undefined : s.all ? 'all' : [...s.bridges].sort().join(','));

t.test('single flight: triggers during a cycle merge into one rerun', async (t) => {
  const c = controlledCycle();
  const loop = createReconcileLoop({ cycle: c.cycle, intervalMs: 60_000, logger: silentLogger() });
  let started = c.nextStart();
  loop.start();
  await started;
  t.equal(names(c.scopes[0]), 'all', 'the first cycle looks at everything');
  loop.trigger(['br-a']);
  loop.trigger(['br-b']);
  loop.trigger(['br-a']);
  t.equal(c.scopes.length, 1, 'no second cycle while one runs');
  started = c.nextStart();
  c.finish();
  await started;
  t.equal(names(c.scopes[1]), 'br-a,br-b', 'one rerun with the merged bridges');
  c.finish();
  await loop.idle();
  t.equal(c.scopes.length, 2);
  t.equal(loop.health().cycles, 2);
  await loop.stop();
});

t.test('a failed cycle keeps its scope and retries with backoff', async (t) => {
  let calls = 0;
  const times: number[] = [];
  const loop = createReconcileLoop({
    cycle: async () => {
      times.push(Date.now());
      return ++calls >= 4;
    },
    intervalMs: 60_000,
    logger: silentLogger(),
    minBackoffMs: 20,
    maxBackoffMs: 40,
  });
  loop.start();
  await loop.idle();
  t.equal(calls, 4, 'retried until it converged');
  const gaps = times.slice(1).map((x, i) => x - (times[i] ?? x));
  t.ok(gaps[0]! >= 15 && gaps[2]! >= 35, `backoff grows and is capped (gaps ${gaps.join(', ')} ms)`);
  t.equal(loop.health().consecutiveFailures, 0);
  await loop.stop();
});

t.test('a throwing cycle counts as failed, and the loop goes on', async (t) => {
  let calls = 0;
  const loop = createReconcileLoop({
    cycle: async () => {
      if (++calls === 1) throw new Error('boom');
      return true;
    },
    intervalMs: 60_000,
    logger: silentLogger(),
    minBackoffMs: 1,
  });
  loop.start();
  await loop.idle();
  t.equal(calls, 2);
  await loop.stop();
});

t.test('exclusive() runs alone: cycles wait for it', async (t) => {
  const c = controlledCycle();
  const loop = createReconcileLoop({ cycle: c.cycle, intervalMs: 60_000, logger: silentLogger() });
  let releaseExclusive!: () => void;
  const exclusive = loop.exclusive(() => new Promise<string>((resolve) => (releaseExclusive = () => resolve('done'))));
  await new Promise((r) => setImmediate(r));
  const started = c.nextStart();
  loop.start();
  await new Promise((r) => setTimeout(r, 20));
  t.equal(c.scopes.length, 0, 'no cycle runs while exclusive() holds the loop');
  releaseExclusive();
  t.equal(await exclusive, 'done');
  await started;
  c.finish();
  await loop.idle();
  await loop.stop();
});

t.test('the interval marks everything dirty', async (t) => {
  let calls = 0;
  const loop = createReconcileLoop({ cycle: async () => (calls++, true), intervalMs: 15, logger: silentLogger() });
  loop.start();
  const deadline = Date.now() + 2000;
  while (calls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.ok(calls >= 3, `periodic cycles ran (${calls})`);
  await loop.stop();
  const after = calls;
  await new Promise((r) => setTimeout(r, 40));
  t.equal(calls, after, 'no cycle after stop');
});

t.test('a pass longer than the interval is not followed by another at once: the interval runs from its end', async (t) => {
  const spans: { start: number; end: number }[] = [];
  const loop = createReconcileLoop({
    cycle: async () => {
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 60));
      spans.push({ start, end: Date.now() });
      return true;
    },
    intervalMs: 30,
    logger: silentLogger(),
  });
  loop.start();
  const deadline = Date.now() + 3000;
  while (spans.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await loop.stop();
  t.ok(spans.length >= 4, `periodic passes ran (${spans.length})`);
  for (let i = 1; i < spans.length; i++) {
    const gap = (spans[i]?.start ?? 0) - (spans[i - 1]?.end ?? 0);
    // Timers may fire a millisecond early.
    t.ok(gap >= 28, `pass ${i} started ${gap} ms after the one before ended`);
  }
});

t.test('firstCycle settles when the first cycle ends, with its outcome, and stays settled', async (t) => {
  const c = controlledCycle();
  const loop = createReconcileLoop({ cycle: c.cycle, intervalMs: 60_000, logger: silentLogger(), minBackoffMs: 1 });
  let settled: string | null = null;
  void loop.firstCycle.then((o) => (settled = o));
  let started = c.nextStart();
  loop.start();
  await started;
  await new Promise((r) => setImmediate(r));
  t.equal(settled, null, 'not while the first cycle runs');
  started = c.nextStart();
  c.finish(false);
  t.equal(await loop.firstCycle, 'failed', 'a cycle to be retried (OVS down) ends it as failed');
  await started;
  c.finish(true);
  await loop.idle();
  t.equal(await loop.firstCycle, 'failed', 'later cycles do not change it');
  await loop.stop();
});

t.test('firstCycle: converged, a throwing cycle counts as failed, and a stop before any cycle settles it', async (t) => {
  const ok = createReconcileLoop({ cycle: async () => true, intervalMs: 60_000, logger: silentLogger() });
  ok.start();
  t.equal(await ok.firstCycle, 'converged');
  await ok.stop();

  const throws = createReconcileLoop({
    cycle: async () => {
      throw new Error('boom');
    },
    intervalMs: 60_000,
    logger: silentLogger(),
    minBackoffMs: 1_000,
  });
  throws.start();
  t.equal(await throws.firstCycle, 'failed');
  await throws.stop();

  const never = createReconcileLoop({ cycle: async () => true, intervalMs: 60_000, logger: silentLogger() });
  await never.stop();
  t.equal(await never.firstCycle, 'stopped', 'never started: a waiter is not left hanging');
});
