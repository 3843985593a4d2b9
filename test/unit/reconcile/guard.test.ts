// The storm guard (SPEC §7), as a pure state machine: the same diff after REPAIRS_BEFORE_GUARD
// repairs with unchanged desired flows trips it; then it holds until the backoff ends, retries
// once per backoff (doubling up to the cap), and lets go on convergence or on a new desired set.
// A repair seen to converge (settled) does not count towards a storm.
import t from 'tap';
import type { Flow } from '../../../src/ovs/flow.js';
import { createConvergenceGuard, GUARD_MAX_BACKOFF_MS, GUARD_MIN_BACKOFF_MS, planSignature, REPAIRS_BEFORE_GUARD } from '../../../src/reconcile/guard.js';
import type { FlowPlan } from '../../../src/reconcile/plan.js';

const flow = (match: string): Flow => ({ table: 0, priority: 100, cookie: 0x5ee0_0000_0000_0001n, match, actions: 'drop' });
const want = [flow('ip,nw_src=10.0.0.0/16')];
/** What the storm of issue 8 looked like: the desired spelling added, OVS's own spelling removed. */
const storm: FlowPlan = { add: [flow('ip,nw_src=10.0.0.0/16')], modify: [], remove: [flow('ip')], unchanged: 0 };
const nothing: FlowPlan = { add: [], modify: [], remove: [], unchanged: 1 };

t.test('the same diff after the allowed repairs trips the guard, once', async (t) => {
  const g = createConvergenceGuard();
  let now = 1000;
  for (let i = 0; i < REPAIRS_BEFORE_GUARD; i++) t.same(g.observe('br', want, storm, now++), { kind: 'apply', recovered: false }, `repair ${i + 1} is applied`);
  const tripped = g.observe('br', want, storm, now);
  t.same(tripped, { kind: 'tripped', retryAt: now + GUARD_MIN_BACKOFF_MS }, 'then it trips');
  t.equal(g.heldUntil('br'), now + GUARD_MIN_BACKOFF_MS);
  t.equal(g.observe('br', want, storm, now + 10).kind, 'hold', 'held until the backoff ends');
  t.equal(g.observe('br', want, storm, now + GUARD_MIN_BACKOFF_MS).kind, 'retry', 'then one retry');
  t.equal(g.observe('br', want, storm, now + GUARD_MIN_BACKOFF_MS + 1).kind, 'hold', 'held again');
  t.equal(g.heldUntil('br'), now + 3 * GUARD_MIN_BACKOFF_MS, 'for twice as long');
  t.equal(g.heldUntil('other'), null, 'another bridge is not held');
});

t.test('backoff doubles up to its cap', async (t) => {
  const g = createConvergenceGuard();
  let now = 0;
  for (let i = 0; i <= REPAIRS_BEFORE_GUARD; i++) g.observe('br', want, storm, now);
  const waits: number[] = [];
  for (let i = 0; i < 12; i++) {
    const at = g.heldUntil('br') ?? 0;
    waits.push(at - now);
    now = at;
    t.equal(g.observe('br', want, storm, now).kind, 'retry');
  }
  t.equal(waits[0], GUARD_MIN_BACKOFF_MS);
  t.equal(waits[1], 2 * GUARD_MIN_BACKOFF_MS);
  t.equal(Math.max(...waits), GUARD_MAX_BACKOFF_MS, 'capped');
  t.ok(waits.every((w, i) => i === 0 || w >= (waits[i - 1] as number)), 'never shorter');
});

t.test('convergence or a change of desired state lets go', async (t) => {
  const g = createConvergenceGuard();
  for (let i = 0; i <= REPAIRS_BEFORE_GUARD; i++) g.observe('br', want, storm, 0);
  t.same(g.observe('br', want, nothing, 5), { kind: 'apply', recovered: true }, 'nothing to do: recovered');
  t.equal(g.heldUntil('br'), null);
  for (let i = 0; i <= REPAIRS_BEFORE_GUARD; i++) g.observe('br', want, storm, 10);
  const changed = [flow('ip,nw_src=10.0.0.0/16'), flow('ip,nw_src=10.9.0.0/16')];
  t.same(g.observe('br', changed, storm, 11), { kind: 'apply', recovered: true }, 'new desired flows: applied at once');
  t.equal(g.heldUntil('br'), null);
});

t.test('different diffs in a row are repairs, not a storm; a converged pass in between resets the count', async (t) => {
  const g = createConvergenceGuard();
  const other: FlowPlan = { ...storm, remove: [flow('ip,nw_src=10.0.0.0/8')] };
  for (let i = 0; i < 10; i++) t.equal(g.observe('br', want, i % 2 === 0 ? storm : other, i).kind, 'apply');
  for (let i = 0; i < 10; i++) {
    t.equal(g.observe('br', want, storm, 100 + i).kind, 'apply');
    g.observe('br', want, nothing, 100 + i);
  }
});

t.test('a repair seen to converge does not count: the same drift again and again is no storm', async (t) => {
  const g = createConvergenceGuard();
  const drift: FlowPlan = { add: want, modify: [], remove: [], unchanged: 0 };
  for (let i = 0; i < 10; i++) {
    t.same(g.observe('br', want, drift, i), { kind: 'apply', recovered: false }, `drift ${i + 1} is repaired`);
    g.settled('br');
  }
  t.equal(g.heldUntil('br'), null, 'never held');
});

t.test('a tripped bridge stays tripped when told a repair settled: a pass must find nothing to do', async (t) => {
  const g = createConvergenceGuard();
  for (let i = 0; i <= REPAIRS_BEFORE_GUARD; i++) g.observe('br', want, storm, 0);
  g.settled('br');
  t.equal(g.heldUntil('br'), GUARD_MIN_BACKOFF_MS, 'still held');
  t.equal(g.observe('br', want, storm, 1).kind, 'hold');
  t.same(g.observe('br', want, nothing, 2), { kind: 'apply', recovered: true });
});

t.test('a plan signature does not depend on order', async (t) => {
  const a = flow('ip,nw_src=10.1.0.0/16');
  const b = flow('ip,nw_src=10.2.0.0/16');
  t.equal(planSignature({ add: [a, b], modify: [], remove: [], unchanged: 0 }), planSignature({ add: [b], modify: [a], remove: [], unchanged: 0 }));
  t.not(planSignature({ add: [a], modify: [], remove: [b], unchanged: 0 }), planSignature({ add: [b], modify: [], remove: [a], unchanged: 0 }));
});
