// The daemon's metrics: what each series means and where its numbers come from. Latencies are
// observed where they happen, through thin wrappers the composition root puts around the store
// (commit) and OVS (flow counts), and a dispatcher hook (RPC calls); everything else is read
// from the owners' own status at collection time, so no part keeps a second set of counters.
// The process's own figures (CPU, memory, heap, event-loop lag, handles, GC) come with them.
import type { GossipStatus } from '../gossip/service.js';
import type { OvsStatus } from '../reconcile/dataplane.js';
import type { LoopHealth } from '../reconcile/loop.js';
import { isEmptyChange, type Store, type StoreStats, writeThrough } from '../store/store.js';
import { createRegistry, type Family, type Labels } from './registry.js';

export interface MetricsSources {
  /** Each null until the daemon has started that part (and the loop in no-op mode). */
  readonly store: () => StoreStats | null;
  readonly ovs: () => OvsStatus | null;
  readonly reconcile: () => LoopHealth | null;
  /** Null with gossip off. */
  readonly gossip?: () => GossipStatus | null;
}

export interface DaemonMetrics {
  /** One received change's replication lag, in ms (StoreReplica onLag). */
  observeGossipLag(ms: number): void;
  /** Dispatcher hook: one call of a known method ended. */
  onRpcCall(method: string, ms: number, ok: boolean): void;
  /** The store, with each non-empty commit's time to durability observed. */
  instrumentStore(store: Store): Store;
  /** Observes one reconcile pass's duration (wired to the data plane's onReconciled). */
  observeReconcile(durationMs: number): void;
  /** Every family: the daemon's series, then the process figures (see createRegistry). */
  collect(): Promise<Family[]>;
  /** The same in the Prometheus text format (METRICS_CONTENT_TYPE), for the HTTP endpoint. */
  text(): Promise<string>;
}

const OUTCOME = (ok: boolean): Labels => ({ outcome: ok ? 'ok' : 'error' });
const OVS_STATES = ['enabled', 'disabled', 'unavailable'] as const;

export function createDaemonMetrics(sources: MetricsSources): DaemonMetrics {
  const registry = createRegistry({ processMetrics: true });
  const one = (value: number | undefined): { labels: Labels; value: number }[] => (value === undefined ? [] : [{ labels: {}, value }]);

  const reconcileDuration = registry.histogram(
    'vpc_peerd_reconcile_duration_seconds',
    'Duration of reconcile passes (dump, diff, repair of the local bridges; loop cycles and reconcile.run without dryRun).',
  );
  registry.collected('vpc_peerd_reconcile_cycles_total', 'Reconcile cycles run since start (reconcile.run calls excluded).', 'counter', () =>
    one(sources.reconcile()?.cycles),
  );
  registry.collected('vpc_peerd_reconcile_consecutive_failures', 'Reconcile cycles failed in a row (OVS not answering; a failing bridge is retried on its own, see status.ovs.perBridge); 0 once one reaches OVS.', 'gauge', () =>
    one(sources.reconcile()?.consecutiveFailures),
  );
  registry.collected('vpc_peerd_drift_repaired_flows_total', 'Flows added or removed to repair drift: changes made to our flows by someone else, or lost by OVS.', 'counter', () =>
    one(sources.ovs()?.driftRepaired),
  );
  registry.collected('vpc_peerd_patch_ports_repaired_total', 'Sides of our patch pairs made again after someone else deleted or changed them (a new peering\'s first ports not counted).', 'counter', () =>
    one(sources.ovs()?.portsRepaired),
  );
  registry.collected('vpc_peerd_ovs_restarts_detected_total', 'Restarts of ovs-vswitchd seen (each counted once, however many bridges lost their flows).', 'counter', () =>
    one(sources.ovs()?.restartsDetected),
  );
  registry.collected('vpc_peerd_openflow_disagreements_total', 'Times the periodic ovs-ofctl dump-flows of a bridge disagreed with the flow table kept from its OpenFlow channel (a codec blind spot; repaired, logged once per bridge).', 'counter', () =>
    one(sources.ovs()?.channelDisagreements),
  );
  registry.collected('vpc_peerd_flows_do_not_converge_total', 'Times a bridge\'s flows were found not to converge (the same diff after repeated repairs: FLOWS_DO_NOT_CONVERGE).', 'counter', () =>
    Object.entries(sources.ovs()?.perBridge ?? {}).map(([bridge, b]) => ({ labels: { bridge }, value: b.flowsDoNotConverge })),
  ['bridge']);
  registry.collected('vpc_peerd_ovs_state', 'The data plane state: 1 for the current one of enabled, disabled (no-op mode), unavailable.', 'gauge', () => {
    const state = sources.ovs()?.state;
    return state === undefined ? [] : OVS_STATES.map((s) => ({ labels: { state: s }, value: s === state ? 1 : 0 }));
  }, ['state']);

  registry.collected('vpc_peerd_bridge_flows', 'Flows with this daemon\'s cookie on each local bridge (the canary included), as of its last reconcile.', 'gauge', () =>
    Object.entries(sources.ovs()?.perBridge ?? {}).map(([bridge, b]) => ({ labels: { bridge }, value: b.flows })),
  ['bridge']);

  const rpcDuration = registry.histogram(
    'vpc_peerd_rpc_duration_seconds',
    'Time spent in each API method (authentication, params validation, handler, including its durable write), by method and outcome (error: any error reply).',
    { labelNames: ['method', 'outcome'] },
  );

  const gossipLag = registry.histogram(
    'vpc_peerd_gossip_lag_seconds',
    'Replication lag of each change received from another daemon: from its commit there (its version\'s wall time) to durable here.',
    { buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] },
  );
  const gossip = (): GossipStatus | null => sources.gossip?.() ?? null;
  const byDirection = (inValue: number, outValue: number) => [{ labels: { direction: 'in' }, value: inValue }, { labels: { direction: 'out' }, value: outValue }];
  registry.collected('vpc_peerd_gossip_frames_total', 'Gossip frames received (in) and sent (out), handshakes excluded.', 'counter', () => {
    const g = gossip();
    return g ? byDirection(g.totals.framesIn, g.totals.framesOut) : [];
  }, ['direction']);
  registry.collected('vpc_peerd_gossip_bytes_total', 'Bytes of gossip frames received (in) and sent (out).', 'counter', () => {
    const g = gossip();
    return g ? byDirection(g.totals.bytesIn, g.totals.bytesOut) : [];
  }, ['direction']);
  registry.collected('vpc_peerd_gossip_merges_total', 'Merge commits: received changes that won the merge here and were stored.', 'counter', () => one(gossip()?.totals.merges));
  registry.collected('vpc_peerd_gossip_conflicts_resolved_total', 'Peerings turned failed by the post-merge repair (a conflict made on two hosts that could not see each other).', 'counter', () =>
    one(gossip()?.totals.conflictsResolved),
  );
  registry.collected('vpc_peerd_gossip_refusals_total', 'Gossip links or frames refused, by reason (BAD_PROOF: wrong key, BAD_MAC, BAD_SEQUENCE: replayed, FRAME_TOO_LARGE, DEAD_PEER, CLOCK_AHEAD, REFUSED_BY_PEER: the peer refused this side...; docs/GOSSIP.md "Refusals").', 'counter', () =>
    Object.entries(gossip()?.totals.refusals ?? {}).map(([reason, value]) => ({ labels: { reason }, value: value ?? 0 })),
  ['reason']);
  registry.collected('vpc_peerd_gossip_peers_connected', 'Peers with an authenticated gossip link now.', 'gauge', () => one(gossip()?.totals.connected));

  registry.collected('vpc_peerd_journal_bytes', 'Size of the journal file (changes since the last snapshot).', 'gauge', () => one(sources.store()?.journalBytes));
  registry.collected('vpc_peerd_store_records', 'VPCs plus peerings in the store.', 'gauge', () => one(sources.store()?.records));
  registry.collected('vpc_peerd_store_commits_total', 'Commits made durable since start.', 'counter', () => one(sources.store()?.commits));
  registry.collected('vpc_peerd_store_syncs_total', 'fdatasync calls on the journal since start (fewer than commits when grouped).', 'counter', () =>
    one(sources.store()?.syncs),
  );
  const commitDuration = registry.histogram(
    'vpc_peerd_commit_duration_seconds',
    'Time from a commit to its acknowledgement (durable on disk, group commit included), by outcome.',
    { labelNames: ['outcome'] },
  );


  return {
    observeGossipLag(ms) {
      gossipLag.observe({}, ms / 1000);
    },
    onRpcCall(method, ms, ok) {
      rpcDuration.observe({ method, ...OUTCOME(ok) }, ms / 1000);
    },
    instrumentStore(store) {
      const instrumented: Store = {
        get view() {
          return store.view;
        },
        get stagedView() {
          return store.stagedView;
        },
        get replica() {
          return store.replica;
        },
        get stagedReplica() {
          return store.stagedReplica;
        },
        async commit(change, opts) {
          // An empty commit is a barrier (it only waits for earlier ones), not a write.
          if (isEmptyChange(change)) return store.commit(change, opts);
          const started = performance.now();
          let ok = false;
          try {
            await store.commit(change, opts);
            ok = true;
          } finally {
            commitDuration.observe(OUTCOME(ok), (performance.now() - started) / 1000);
          }
        },
        write: (compute, opts) => writeThrough(instrumented, compute, opts),
        onCommit: (listener) => store.onCommit(listener),
        purgeTombstones: (before) => store.purgeTombstones(before),
        stats: () => store.stats(),
        close: () => store.close(),
      };
      return instrumented;
    },
    observeReconcile(durationMs) {
      reconcileDuration.observe({}, durationMs / 1000);
    },
    collect: () => registry.collect(),
    text: () => registry.text(),
  };
}
