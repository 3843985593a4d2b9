import t from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import type { LoopHealth } from '../../../src/reconcile/loop.js';
import type { Notifier } from '../../../src/systemd/notify.js';
import { createService, judge, statusLine, stuckCycleMs, watchdogPingMs, type ServiceHealth } from '../../../src/systemd/service.js';

const idleLoop: LoopHealth = { running: false, cycleStartedAt: null, lastCycleEndedAt: 1, consecutiveFailures: 0, cycles: 3 };
const noop: ServiceHealth = { ovs: { state: 'disabled', bridges: 0, reason: 'ovs.enabled is false' }, store: 'ok', reconcile: null };
const ovs = (loop: Partial<LoopHealth>, ovsState: Partial<NonNullable<ServiceHealth['ovs']>> = {}): ServiceHealth => ({
  ovs: { state: 'enabled', bridges: 2, reason: null, ...ovsState },
  store: 'ok',
  reconcile: { loop: { ...idleLoop, ...loop }, intervalMs: 5000 },
});
const limits = { maxEventLoopLagMs: 5000 };

t.test('watchdogPingMs: half of WATCHDOG_USEC, only for this pid', (t) => {
  t.equal(watchdogPingMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
  t.equal(watchdogPingMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
  t.equal(watchdogPingMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), null, 'meant for another process');
  t.equal(watchdogPingMs({}, 42), null);
  for (const bad of ['0', '-5', 'abc', '1.5', '']) t.equal(watchdogPingMs({ WATCHDOG_USEC: bad }, 42), null, `WATCHDOG_USEC=${bad}`);
  t.end();
});

t.test('judge', (t) => {
  t.equal(stuckCycleMs(5000), 30_000);
  t.equal(stuckCycleMs(60_000), 180_000);
  t.same(judge(noop, 1e6, 0, limits), { healthy: true, problems: [] }, 'no-op mode: only the event loop counts');
  t.same(judge(noop, 1e6, 6000, limits), { healthy: false, problems: ['event loop stalled 6.0 s'] });
  t.same(judge(ovs({ running: true, cycleStartedAt: 1e6 - 29_000 }), 1e6, 0, limits).healthy, true, 'a long cycle below the bound');
  t.same(judge(ovs({ running: true, cycleStartedAt: 1e6 - 31_000 }), 1e6, 0, limits), { healthy: false, problems: ['reconcile cycle stuck for 31.0 s'] });
  t.equal(judge(ovs({ running: true, cycleStartedAt: 1e6 - 600 }), 1e6, 0, { ...limits, stuckCycleMs: 500 }).healthy, false, 'the bound can be set');
  t.equal(judge(ovs({ consecutiveFailures: 40 }, { state: 'unavailable' }), 1e6, 0, limits).healthy, true, 'OVS down is not a wedged daemon');
  t.end();
});

t.test('statusLine', (t) => {
  const ok = { healthy: true, problems: [] };
  t.equal(statusLine('starting', { ovs: null, store: null, reconcile: null }, ok), 'starting (first reconcile)');
  t.equal(statusLine('serving', noop, ok), 'serving; no-op mode (no OVS); store ok');
  t.equal(statusLine('serving', ovs({}), ok), 'serving; OVS 2 bridges; store ok');
  t.equal(statusLine('serving', ovs({ consecutiveFailures: 3 }, { bridges: 1 }), ok), 'serving; OVS 1 bridge, 3 failed cycles; store ok');
  t.equal(statusLine('serving', ovs({}, { state: 'unavailable', reason: 'no db.sock' }), ok), 'serving; OVS unavailable: no db.sock; store ok');
  t.equal(statusLine('serving', { ...noop, store: 'degraded' }, ok), 'serving; no-op mode (no OVS); store DEGRADED (writes refused, retrying)');
  t.equal(statusLine('serving', noop, { healthy: false, problems: ['a', 'b'] }), 'UNHEALTHY: a, b; serving; no-op mode (no OVS); store ok');
  t.equal(statusLine('stopping', noop, ok), 'stopping');
  t.end();
});

t.test('createService: READY once, pings only while healthy, STATUS on change', async (t) => {
  const sent: Record<string, string>[] = [];
  const notifier: Notifier = { enabled: true, send: (f) => sent.push({ ...f }), close: () => undefined };
  let health: ServiceHealth = ovs({});
  let lag = 0;
  const service = createService({
    notifier,
    health: () => health,
    logger: silentLogger(),
    watchdogPingMs: 10,
    limits: { stuckCycleMs: 50 },
    lag: { take: () => lag, close: () => undefined },
  });
  t.teardown(() => service.close());
  const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const count = (key: string, from = 0): number => sent.slice(from).filter((f) => f[key] !== undefined).length;

  t.match(sent[0], { STATUS: 'starting (first reconcile)' });
  await wait(60);
  t.ok(count('WATCHDOG') >= 2, 'pings before READY (start-up may take a while)');
  service.ready();
  service.ready();
  t.equal(count('READY'), 1, 'READY=1 once');
  t.match(sent.find((f) => f.READY), { STATUS: 'serving; OVS 2 bridges; store ok' });

  health = ovs({ running: true, cycleStartedAt: Date.now() });
  await wait(100);
  t.equal(service.verdict().healthy, false);
  let from = sent.length;
  await wait(60);
  t.equal(count('WATCHDOG', from), 0, 'no pings while a cycle is stuck');
  t.match(sent.find((f) => f.STATUS?.startsWith('UNHEALTHY')), { STATUS: /^UNHEALTHY: reconcile cycle stuck for/ }, 'STATUS says why at once');

  health = ovs({});
  await wait(60);
  t.ok(count('WATCHDOG', from) >= 2, 'pings resume');

  lag = 6000;
  await wait(30);
  from = sent.length;
  await wait(60);
  t.equal(count('WATCHDOG', from), 0, 'no pings while the event loop stalls');
  lag = 0;

  service.stopping();
  t.match(sent.at(-1), { STOPPING: '1', STATUS: 'stopping' });
});
