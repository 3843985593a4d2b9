// The composition root: builds every part from the config and starts and stops them in order.
// ready(): socket check → store → auth (admin token) → data plane → gossip (built, not started) →
// first sweep → methods, which is all a test needs to call methods in-process; listen(): the
// socket → gossip's listener and dials → the metrics endpoint.
// close() undoes both in reverse and is idempotent. Only main.ts turns this into a process
// (signals, exit codes, sd_notify); the daemon gives it health() for systemd and reload() for SIGHUP.
import { createAuthenticator, writeAdminToken } from './auth/authenticator.js';
import { planReload, type ReloadPlan } from './config/reload.js';
import { type Config, isGossipOn } from './config/schema.js';
import type { PeeringPolicy } from './domain/types.js';
import type { Logger } from './log/logger.js';
import { loadGossipSecret } from './gossip/secret.js';
import { loadGossipTls } from './gossip/tls.js';
import { peeringHosts, reportEntry } from './gossip/host-reports.js';
import { contactPath, openContactMark } from './store/contact.js';
import { createGossipService, disabledGossipStatus, type GossipService } from './gossip/service.js';
import { createDaemonMetrics } from './metrics/daemon-metrics.js';
import { serveMetrics } from './metrics/http.js';
import { chooseDataplane } from './reconcile/choose-dataplane.js';
import type { Dataplane } from './reconcile/dataplane.js';
import type { ReconcileLoop } from './reconcile/loop.js';
import { createDispatcher, type Dispatcher } from './rpc/dispatcher.js';
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
  /**
   * Builds the parts: refuses a socket path a live daemon holds, opens the store, writes the admin
   * token, chooses and starts the data plane, registers the methods. Listens on nothing. Builds
   * once; later calls wait for that build. Rejects with the failing step's error; close() then
   * undoes what was built.
   */
  ready(): Promise<void>;
  /** The method table behind the socket, after ready(): what a test drives in-process. */
  dispatcher(): Dispatcher;
  /** ready(), then the socket (accepting when this resolves) and the metrics endpoint. Once. */
  listen(): Promise<void>;
  /**
   * ready(), then the end of the reconcile loop's first cycle, pass or fail (its outcome is the
   * loop's firstCycle); at once in no-op mode, which has no loop, and once the daemon closes.
   */
  firstReconcile(): Promise<void>;
  /** What systemd is told (src/systemd/service.ts). */
  health(): ServiceHealth;
  /** Takes the run-time keys of `next` (SIGHUP); refuses it whole, keeping the running config, if another key changed. */
  reload(next: Config): ReloadPlan;
  close(): Promise<void>;
}

export function createDaemon(config: Config, deps: DaemonDeps): Daemon {
  const log = deps.logger;
  const now = deps.now ?? (() => new Date());
  const policy = (): PeeringPolicy => config.peering;
  // Undo steps of what ready() and listen() did, run in reverse by close().
  const undo: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | null = null;
  // ready()'s build, listen()'s serve, and the dispatcher once built: each made once.
  let building: Promise<Dispatcher> | null = null;
  let listening: Promise<void> | null = null;
  let built: Dispatcher | null = null;
  // What health(), reload() and the metrics read; set as ready() builds them.
  let running: { store: Store; dataplane: Dataplane } | null = null;
  let reconcileLoop: ReconcileLoop | null = null;
  /** The OVS data plane's interval setter (the loop's pass and the backstop's rounds); null in no-op mode. */
  let setReconcileInterval: ((ms: number) => void) | null = null;
  let sweeper: Sweeper | null = null;
  let gossip: GossipService | null = null;
  // The gossip secret in use (read once at start: SPEC §8 key files are config), for reload() to
  // say when the file now holds another one.
  let gossipSecret: Buffer | null = null;
  const metrics = createDaemonMetrics({
    store: () => running?.store.stats() ?? null,
    ovs: () => running?.dataplane.status() ?? null,
    reconcile: () => reconcileLoop?.health() ?? null,
    gossip: () => gossip?.status() ?? null,
  });

  function ready(): Promise<void> {
    return parts().then(() => undefined);
  }

  function parts(): Promise<Dispatcher> {
    building ??= build().then((d) => (built = d));
    return building;
  }

  async function build(): Promise<Dispatcher> {
    if (closing) throw new Error('the daemon is closed');
    const startedAt = now();
    // Refuse before touching the journal or the token file of a daemon that is already live.
    await prepareSocketPath(config.socket.path);
    // Key files are config: a bad one is a ConfigError (exit 78) before the store is opened or the
    // token file written, so a host that cannot start leaves nothing half done.
    const auth = await createAuthenticator({
      jwtSecretFile: config.auth.jwtSecretFile,
      jwtPublicKeyFile: config.auth.jwtPublicKeyFile,
      nodeId: config.nodeId,
      maxTokenLifetimeSeconds: config.auth.maxTokenLifetimeSeconds,
      clockSkewSeconds: config.auth.clockSkewSeconds,
      logger: log.child({ part: 'auth' }),
    });
    const gossipKeys = isGossipOn(config.gossip)
      ? { secret: await loadGossipSecret(config.gossip.secretFile!), tls: await loadGossipTls(config.gossip.tls) }
      : null;
    gossipSecret = gossipKeys?.secret ?? null;
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

    await writeAdminToken(config.auth.adminTokenFile, await auth.mintAdminToken(config.auth.adminTokenTtlSeconds));
    log.info('operator token written', { path: config.auth.adminTokenFile });

    const dataplane = await createDataplane(store);
    undo.push(() => dataplane.close());
    running = { store, dataplane };

    if (gossipKeys !== null) {
      const contact = await openContactMark({
        path: contactPath(config.store.path),
        // Far below the retention (min 60 s): after a crash the file is at most this much behind.
        minIntervalMs: Math.min(60_000, config.gossip.tombstoneRetentionSeconds * 50),
        logger: log.child({ part: 'gossip' }),
      });
      undo.push(() => contact.close());
      gossip = createGossipService({
        nodeId: config.nodeId,
        gossip: config.gossip,
        antiEntropyIntervalMs: () => config.gossip.antiEntropyIntervalMs,
        tombstoneRetentionSeconds: () => config.gossip.tombstoneRetentionSeconds,
        contact,
        secret: gossipKeys.secret,
        tls: gossipKeys.tls,
        store,
        policy,
        logger: log.child({ part: 'gossip' }),
        onLag: (ms) => metrics.observeGossipLag(ms),
        dataplaneReport: () => [...store.view.peerings()].map((p) => reportEntry(p.id, dataplane.peering(p))),
      });
      undo.push(() => gossip?.close());
      // A commit changes which peerings there are (and their state here, even with no pass in no-op mode).
      const unsubscribe = store.onCommit(() => gossip?.dataplaneChanged());
      undo.push(unsubscribe);
    }

    sweeper = createSweeper({
      store, logger: log, now, policy, tombstoneRetentionSeconds: () => config.gossip.tombstoneRetentionSeconds, onPurged: () => gossip?.tombstonesPurged(),
    });
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
      gossip: () => gossip?.status() ?? disabledGossipStatus(config.nodeId),
      hosts: (p) => peeringHosts(p.id, { nodeId: config.nodeId, view: dataplane.peering(p), now: now() }, gossip?.hostReports() ?? []),
    });
    const table: MethodSpec[] = [...methods, rpcDiscoverMethod(() => table, { title: 'vpc-peerd', version: VERSION })];
    return createDispatcher({
      methods: table,
      authenticate: (token) => auth.verify(token),
      logger: log.child({ part: 'rpc' }),
      maxBatchSize: config.socket.maxBatchSize,
      onCall: (method, ms, ok) => metrics.onRpcCall(method, ms, ok),
    });
  }

  function listen(): Promise<void> {
    listening ??= parts().then(serve);
    return listening;
  }

  async function serve(dispatcher: Dispatcher): Promise<void> {
    if (closing) throw new Error('the daemon is closed');
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
    // After the socket: a peer's changes may arrive from now on, and this host answers for them.
    await gossip?.start();
    log.info('listening', { socket: config.socket.path, nodeId: config.nodeId, version: VERSION });

    if (config.metrics.listen) {
      const endpoint = await serveMetrics({ ...config.metrics.listen, render: () => metrics.text(), logger: log.child({ part: 'metrics' }) });
      undo.push(() => endpoint.close());
      log.info('metrics endpoint listening', { address: endpoint.address.host, port: endpoint.address.port });
    }
  }

  /** The data plane `ovs.enabled` asks for (src/reconcile/choose-dataplane.ts), wired to the store's commits and started. */
  async function createDataplane(store: Store): Promise<Dataplane> {
    const choice = await chooseDataplane({
      enabled: config.ovs.enabled,
      rundir: config.ovs.rundir,
      view: () => store.view,
      cookiePrefix: config.ovs.cookie,
      intervalMs: config.ovs.reconcileIntervalMs,
      logger: log.child({ part: 'ovs' }),
      now,
      onReconciled: (durationMs, viewChanged) => {
        metrics.observeReconcile(durationMs);
        if (viewChanged) gossip?.dataplaneChanged();
      },
      unconvergingBridge: deps.unconvergingBridge,
    });
    if (choice.mode === 'no-op') return choice.dataplane;
    const { dataplane } = choice;
    if (deps.unconvergingBridge !== undefined) {
      log.warn('TEST HOOK: the flows of this bridge are made never to converge', { bridge: deps.unconvergingBridge });
    }
    const unsubscribe = store.onCommit((mutations, { seq }) => dataplane.onCommit(mutations, seq));
    dataplane.start();
    reconcileLoop = dataplane.loop;
    setReconcileInterval = (ms) => dataplane.setIntervalMs(ms);
    return {
      ...dataplane,
      close: async () => {
        unsubscribe();
        await dataplane.close();
      },
    };
  }

  function dispatcher(): Dispatcher {
    if (built === null) throw new Error('dispatcher() before ready() resolved');
    return built;
  }

  async function firstReconcile(): Promise<void> {
    await ready();
    await reconcileLoop?.firstCycle;
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
    setReconcileInterval?.(config.ovs.reconcileIntervalMs);
    if (sweeper?.scheduled) sweeper.schedule(config.peering.sweepIntervalMs);
    if (gossip) gossip.setPeers(config.gossip.peers);
    if (gossipSecret !== null && config.gossip.secretFile !== null) warnIfSecretChanged(config.gossip.secretFile, gossipSecret);
    else if (isGossipOn(config.gossip)) log.warn('gossip was off at start: the new peers take effect after a restart', { gossipPeers: config.gossip.peers });
    // At warn, so an operator sees the outcome even when the new level is warn.
    log.warn('config reloaded', { changed: plan.changed, logLevel: config.log.level, gossipPeers: config.gossip.peers });
    return plan;
  }

  /** A new key in gossip.secretFile is not taken at run time (links proven under the old one would mix keys): say so. */
  function warnIfSecretChanged(path: string, inUse: Buffer): void {
    void loadGossipSecret(path).then(
      (now) => {
        if (!now.equals(inUse)) log.warn('gossip.secretFile holds another key than the one in use: it takes effect after a restart', { path });
      },
      (err: unknown) => log.warn('gossip.secretFile cannot be used now; the key read at start stays in use', { err }),
    );
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      // A build under way finishes (or fails) first, so its undo steps are all there to run.
      await building?.catch(() => undefined);
      await listening?.catch(() => undefined);
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

  return { ready, dispatcher, listen, firstReconcile, health, reload, close };
}
