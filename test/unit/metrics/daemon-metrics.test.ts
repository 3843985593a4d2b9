// The daemon's own families collect with every source populated: prom-client refuses a label a
// family did not declare, which would turn every scrape and the metrics method into an error.
import t from 'tap';
import { createDaemonMetrics } from '../../../src/metrics/daemon-metrics.js';
import type { BridgeStatus, OvsStatus } from '../../../src/reconcile/dataplane.js';
import type { StoreStats } from '../../../src/store/store.js';
import { parsePrometheusText } from '../../helpers/prometheus-text.js';

const AT = '2026-12-02T12:00:00.000Z';

function bridge(flowsDoNotConverge: number): BridgeStatus {
  return {
    ok: flowsDoNotConverge === 0, at: AT, durationMs: 1, added: 0, removed: 0,
    error: flowsDoNotConverge === 0 ? null : 'do not converge', reason: flowsDoNotConverge === 0 ? null : 'FLOWS_DO_NOT_CONVERGE',
    lastReconciledAt: AT, retryAt: null, flowsLost: 1, flowsDoNotConverge, flows: 10 + flowsDoNotConverge,
  };
}

const ovs: OvsStatus = {
  state: 'enabled', reason: null, bridges: ['br-a', 'br-b'], lastReconcileAt: AT, lastAttemptAt: AT,
  lastReconcileDurationMs: 3, driftRepaired: 5, portsRepaired: 4, lastError: null, desiredGeneration: 2, appliedGeneration: 2,
  restartsDetected: 1, channelDisagreements: 3, channelsSynced: 2, perBridge: { 'br-a': bridge(0), 'br-b': bridge(2) },
};

const store = {
  path: '/tmp/state.json', state: 'ok', lastError: null, degradedSince: null, recoveries: 0,
  records: 7, lastWriteAt: AT, journalBytes: 1234, seq: 9, commits: 9, syncs: 4, compactions: 0,
} as unknown as StoreStats;

t.test('every family of the daemon collects, with per-bridge labels, as JSON and as text', async (t) => {
  const metrics = createDaemonMetrics({
    store: () => store,
    ovs: () => ovs,
    reconcile: () => ({ running: false, cycleStartedAt: null, lastCycleEndedAt: 1, consecutiveFailures: 0, cycles: 4 }),
  });
  metrics.onRpcCall('status', 2, true);
  metrics.observeReconcile(3);
  const families = await metrics.collect();
  const storms = families.find((f) => f.name === 'vpc_peerd_flows_do_not_converge_total');
  t.same(
    storms?.samples.map((s): [string | undefined, number | undefined] => [s.labels.bridge, 'value' in s ? s.value : undefined]),
    [['br-a', 0], ['br-b', 2]],
    'the storm counter per bridge',
  );
  const gauge = families.find((f) => f.name === 'vpc_peerd_bridge_flows');
  t.same(
    gauge?.samples.map((s): [string | undefined, number | undefined] => [s.labels.bridge, 'value' in s ? s.value : undefined]),
    [['br-a', 10], ['br-b', 12]],
    'the flows per bridge, from the data plane status',
  );
  const disagreements = families.find((f) => f.name === 'vpc_peerd_openflow_disagreements_total')?.samples[0];
  t.equal(disagreements && 'value' in disagreements ? disagreements.value : undefined, 3, 'the channel/dump disagreements');
  const ports = families.find((f) => f.name === 'vpc_peerd_patch_ports_repaired_total')?.samples[0];
  t.equal(ports && 'value' in ports ? ports.value : undefined, 4, 'the patch ports repaired');
  const parsed = parsePrometheusText(await metrics.text());
  for (const name of ['vpc_peerd_flows_do_not_converge_total', 'vpc_peerd_ovs_state', 'vpc_peerd_store_records', 'vpc_peerd_rpc_duration_seconds']) {
    t.ok(parsed.has(name), `${name} in the text`);
  }
});
