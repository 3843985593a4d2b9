// The composition root: builds every part from the config and starts and stops them in order.
// start(): socket check → store → auth (admin token) → data plane → first sweep → socket → metrics endpoint;
// close() undoes it in reverse and is idempotent. Only main.ts turns this into a process (signals,
// exit codes, sd_notify); the daemon gives it health() for systemd and reload() for SIGHUP.
import { setTimeout as delay } from 'node:timers/promises';
import { createAuthenticator, writeAdminToken } from './auth/authenticator.js';
import { planReload, type ReloadPlan } from './config/reload.js';
import { type Config, isGossipOn } from './config/schema.js';
import type { PeeringPolicy } from './domain/types.js';
import type { Logger } from './log/logger.js';
import { createDaemonMetrics } from './metrics/daemon-metrics.js';
import { serveMetrics } from './metrics/http.js';
import { createOvs } from './ovs/ovs.js';
import { createDisabledDataplane, type Dataplane } from './reconcile/dataplane.js';
import type { ReconcileLoop } from './reconcile/loop.js';
import { createOvsDataplane } from './reconcile/ovs-dataplane.js';
import { createDispatcher } from './rpc/dispatcher.js';
import { rpcDiscoverMethod } from './rpc/discover.js';
import type { MethodSpec } from './rpc/method.js';
import { apiMethods } from './rpc/methods/index.js';
import { createRpcServer, type RpcServer } from './rpc/server.js';
import { prepareSocketPath } from './rpc/socket-file.js';
import { openStore } from './store/open-store.js';
import { createSweeper, type Sweeper } from './store/sweeper.js';
import type { Store } from './store/store.js';
import type { ServiceHealth } from './systemd/service.js';
import { VERSION } from './version.js';

export interface DaemonDeps {
  readonly logger: Logger;
  readonly now?: () => Date;
  /** TEST ONLY: a bridge whose flows are made never to converge (OvsDataplaneOptions.unconvergingBridge). */
  readonly unconvergingBridge?: string;
  /** vpc-peerd --recover-journal: start on a journal damaged in the middle, cutting it (SPEC §10). */
  readonly recoverJournal?: boolean;
}

export interface Daemon {
  start(): Promise<void>;
  /** After start(): resolves once the first reconcile cycle has ended, pass or fail (at once in no-op mode). */
  firstReconcile(): Promise<void>;
  /** What systemd is told (src/systemd/service.ts). */
  health(): ServiceHealth;
  /** Takes the run-time keys of `next` (SIGHUP); refuses it whole, keeping the running config, if another key changed. */
  reload(next: Config): ReloadPlan;
  close(): Promise<void>;
}

/** How often firstReconcile() looks at the loop's cycle counter. */
const FIRST_CYCLE_POLL_MS = 25;

export function createDaemon(config: Config, deps: DaemonDeps): Daemon {
  const log = deps.logger;
  const now = deps.now ?? (() => new Date());
  const policy = (): PeeringPolicy => config.peering;
  // Undo steps of what start() did, run in reverse by close().
  const undo: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | null = null;
  // What health(), reload() and the metrics read; set as start() builds them.
  let running: { store: Store; dataplane: Dataplane } | null = null;
  let reconcileLoop: ReconcileLoop | null = null;
  let sweeper: Sweeper | null = null;
  const metrics = createDaemonMetrics({
    store: () => running?.store.stats() ?? null,
    ovs: () => running?.dataplane.status() ?? null,
    reconcile: () => reconcileLoop?.health() ?? null,
  });

  async function start(): Promise<void> {
    const startedAt = now();
    // Refuse before touching the journal or the token file of a daemon that is already live.
    await prepareSocketPath(config.socket.path);
    const { store: journal, recovery } = await openStore({
      path: config.store.path,
      nodeId: config.nodeId,
      compactAfterBytes: config.store.compactAfterBytes,
      logger: log.child({ part: 'store' }),
      recoverJournal: deps.recoverJournal ?? false,
    });
    const store = metrics.instrumentStore(journal);
    undo.push(() => store.close());
    log.info('store loaded', { path: config.store.path, records: store.stats().records, recovery });

    const auth = await createAuthenticator({
      jwtSecretFile: config.auth.jwtSecretFile,
      jwtPublicKeyFile: config.auth.jwtPublicKeyFile,
      nodeId: config.nodeId,
      maxTokenLifetimeSeconds: config.auth.maxTokenLifetimeSeconds,
      clockSkewSeconds: config.auth.clockSkewSeconds,
      logger: log.child({ part: 'auth' }),
    });
    await writeAdminToken(config.auth.adminTokenFile, await auth.mintAdminToken(config.auth.adminTokenTtlSeconds));
    log.info('operator token written', { path: config.auth.adminTokenFile });

    const dataplane = await createDataplane(store);
    undo.push(() => dataplane.close());
    running = { store, dataplane };

    sweeper = createSweeper({ store, logger: log, now, policy, tombstoneRetentionSeconds: () => config.gossip.tombstoneRetentionSeconds });
    await sweeper.runOnce();
    sweeper.schedule(config.peering.sweepIntervalMs);
    undo.push(() => sweeper?.stop());

    const methods = apiMethods({
      store,
      dataplane: () => dataplane,
      policy,
      authenticate: (token) => auth.verify(token),
      nodeId: config.nodeId,
      version: VERSION,
      startedAt,
      now,
      metrics: () => metrics.collect(),
    });
    const table: MethodSpec[] = [...methods, rpcDiscoverMethod(() => table, { title: 'vpc-peerd', version: VERSION })];
    const dispatcher = createDispatcher({
      methods: table,
      authenticate: (token) => auth.verify(token),
      logger: log.child({ part: 'rpc' }),
      maxBatchSize: config.socket.maxBatchSize,
      onCall: (method, ms, ok) => metrics.onRpcCall(method, ms, ok),
    });
    const server: RpcServer = createRpcServer({
      path: config.socket.path,
      mode: config.socket.mode,
      group: config.socket.group,
      maxLineBytes: config.socket.maxLineBytes,
      maxConnections: config.socket.maxConnections,
      reservedConnections: config.socket.reservedConnections,
      idleTimeoutMs: config.socket.idleTimeoutMs,
      lineTimeoutMs: config.socket.lineTimeoutMs,
      maxBufferedBytes: config.socket.maxBufferedBytes,
      dispatcher,
      logger: log.child({ part: 'socket' }),
    });
    await server.listen();
    undo.push(() => server.close());
    if (isGossipOn(config.gossip)) {
      // Replication is not built yet (docs/GOSSIP.md): say so instead of ignoring the section.
      log.warn('gossip is not implemented in this version: the gossip section is ignored, this host replicates nothing', {
        listen: config.gossip.listen === null ? null : `${config.gossip.listen.host}:${config.gossip.listen.port}`,
        peers: config.gossip.peers,
      });
    }
    log.info('listening', { socket: config.socket.path, nodeId: config.nodeId, version: VERSION });

    if (config.metrics.listen) {
      const endpoint = await serveMetrics({ ...config.metrics.listen, render: () => metrics.text(), logger: log.child({ part: 'metrics' }) });
      undo.push(() => endpoint.close());
      log.info('metrics endpoint listening', { address: endpoint.address.host, port: endpoint.address.port });
    }
  }

  /**
   * OVS per `ovs.enabled`: false → no-op mode; "auto" → OVS if one answers at start, no-op mode
   * otherwise; true → OVS, reported `unavailable` (and retried) while it does not answer.
   */
  async function createDataplane(store: Store): Promise<Dataplane> {
    const ovsLog = log.child({ part: 'ovs' });
    if (config.ovs.enabled === false) return disabled('ovs.enabled is false');
    const ovs = createOvs({ rundir: config.ovs.rundir, logger: ovsLog });
    if (config.ovs.enabled === 'auto' && (await ovs.probe()) === 'down') {
      return disabled(`ovs.enabled is "auto" and no Open vSwitch answers at ${config.ovs.rundir}`);
    }
    const dataplane = createOvsDataplane({
      ovs: metrics.instrumentOvs(ovs),
      view: () => store.view,
      cookiePrefix: config.ovs.cookie,
      intervalMs: config.ovs.reconcileIntervalMs,
      logger: ovsLog,
      now,
      onReconciled: (durationMs) => metrics.observeReconcile(durationMs),
      unconvergingBridge: deps.unconvergingBridge,
    });
    if (deps.unconvergingBridge !== undefined) {
      log.warn('TEST HOOK: the flows of this bridge are made never to converge', { bridge: deps.unconvergingBridge });
    }
    const unsubscribe = store.onCommit((mutations, { seq }) => dataplane.onCommit(mutations, seq));
    dataplane.start();
    reconcileLoop = dataplane.loop;
    log.info('data plane: Open vSwitch', { rundir: config.ovs.rundir, cookie: `0x${config.ovs.cookie.toString(16)}` });
    return {
      ...dataplane,
      close: async () => {
        unsubscribe();
        await dataplane.close();
      },
    };
  }

  function disabled(reason: string): Dataplane {
    log.info('data plane: no-op mode (the state machine runs, nothing is programmed)', { reason });
    return createDisabledDataplane(reason);
  }

  async function firstReconcile(): Promise<void> {
    // The loop exposes no event for it; its cycle counter is cheap to read.
    while (reconcileLoop !== null && reconcileLoop.health().cycles === 0 && closing === null) await delay(FIRST_CYCLE_POLL_MS);
  }

  function health(): ServiceHealth {
    const ovs = running?.dataplane.status();
    return {
      ovs: ovs ? { state: ovs.state, bridges: ovs.bridges.length, reason: ovs.reason } : null,
      store: running?.store.stats().state ?? null,
      reconcile: reconcileLoop ? { loop: reconcileLoop.health(), intervalMs: config.ovs.reconcileIntervalMs } : null,
    };
  }

  function reload(next: Config): ReloadPlan {
    const plan = planReload(config, next);
    if (plan.refused.length > 0) {
      log.error('config reload refused: these keys change only with a restart; keeping the running config', { keys: plan.refused });
      return plan;
    }
    // Everything else reads `config` when it needs it (policy(), health(), the next sweep).
    config = next;
    log.setLevel(config.log.level);
    reconcileLoop?.setIntervalMs(config.ovs.reconcileIntervalMs);
    if (sweeper?.scheduled) sweeper.schedule(config.peering.sweepIntervalMs);
    // No gossip yet: the new peer list is kept in `config` for it, and logged. At warn, so an
    // operator sees the outcome even when the new level is warn.
    log.warn('config reloaded', { changed: plan.changed, logLevel: config.log.level, gossipPeers: config.gossip.peers });
    return plan;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (err) {
          log.error('shutdown step failed', { err });
        }
      }
    })();
    return closing;
  }

  return { start, firstReconcile, health, reload, close };
}
