// The OVS part of the human `status` (trial finding 9): a whole-pass error that every bridge
// carries is printed once, the duration of a failed pass is not pinned to the last successful
// one, and a bridge in error makes the headline "degraded".
import t from 'tap';
import { PLAIN, renderStatus } from '../../../src/cli/render.js';

const NOW = new Date('2026-01-01T01:02:05.000Z');
const DOWN = 'ovs-vsctl: unix:/run/openvswitch/db.sock: database connection failed (No such file or directory) listing bridge br-7';

function status(ovs: Record<string, unknown>): Record<string, unknown> {
  return {
    version: '0.1.0', nodeId: 'hv-01', startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 3725,
    store: { path: '/var/lib/vpc-peerd/state.json', state: 'ok', lastError: null, degradedSince: null, recoveries: 0, records: 3 },
    ovs: { state: 'enabled', reason: null, bridges: [], driftRepaired: 0, desiredGeneration: 1, appliedGeneration: 1, restartsDetected: 0, ...ovs },
    gossip: { enabled: false, peers: [] },
    counts: { vpcs: 3, peerings: { active: 1 } },
  };
}

const bridge = (error: string | null, reason: string | null = null): Record<string, unknown> => ({ ok: error === null, at: '2026-01-01T01:02:04.000Z', durationMs: 3, added: 0, removed: 0, error, reason });

t.test('a whole-pass error shared by every bridge is printed once', async (t) => {
  const names = Array.from({ length: 9 }, (_, i) => `br-${i}`);
  const out = renderStatus(
    status({ state: 'unavailable', bridges: names, lastError: DOWN, perBridge: Object.fromEntries(names.map((n) => [n, bridge(DOWN, 'OVS_UNAVAILABLE')])) }),
    { style: PLAIN, now: NOW },
  );
  t.equal(out.split(DOWN).length - 1, 1, `the error once:\n${out}`);
  t.match(out, `all 9 bridges: ${DOWN}`);
});

t.test('the failed pass and the last success are told apart', async (t) => {
  const out = renderStatus(
    status({ lastReconcileAt: '2026-01-01T01:00:00.000Z', lastAttemptAt: '2026-01-01T01:02:04.000Z', lastReconcileDurationMs: 15173, bridges: ['br-a'], perBridge: { 'br-a': bridge(DOWN) } }),
    { style: PLAIN, now: NOW },
  );
  t.match(out, 'last pass 2026-01-01T01:02:04.000Z (1s ago) in 15173 ms; last complete reconcile 2026-01-01T01:00:00.000Z (2m 5s ago)');
  t.notMatch(out, /last reconcile 2026-01-01T01:00:00\.000Z[^\n]* in 15173 ms/);
  const same = renderStatus(status({ lastReconcileAt: '2026-01-01T01:02:04.000Z', lastAttemptAt: '2026-01-01T01:02:04.000Z', lastReconcileDurationMs: 12 }), { style: PLAIN, now: NOW });
  t.match(same, 'last reconcile 2026-01-01T01:02:04.000Z (1s ago) in 12 ms; drift repaired 0 times');
});

t.test('a bridge in FLOWS_DO_NOT_CONVERGE: the headline says degraded and how many bridges are in error', async (t) => {
  const out = renderStatus(
    status({ bridges: ['br-a', 'br-b'], perBridge: { 'br-a': bridge(null), 'br-b': bridge('flows do not converge', 'FLOWS_DO_NOT_CONVERGE') } }),
    { style: PLAIN, now: NOW },
  );
  const first = out.split('\n')[0] ?? '';
  t.match(first, /^● degraded · OVS 2 bridges, 1 in error · /);
  t.match(out, 'br-b: flows do not converge');
  const fine = renderStatus(status({ bridges: ['br-a'], perBridge: { 'br-a': bridge(null) } }), { style: PLAIN, now: NOW });
  t.match(fine.split('\n')[0], /^● serving · OVS 1 bridge · /);
});
