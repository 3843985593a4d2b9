// The composition root: builds every part from the config and starts and stops them in order.
// start(): socket check → store → auth (admin token) → data plane → first sweep → socket; close() undoes it in
// reverse and is idempotent. Only main.ts turns this into a process (signals, exit codes).
import { createAuthenticator, writeAdminToken } from './auth/authenticator.js';
import type { Config } from './config/schema.js';
import { sweep } from './domain/peering-ops.js';
import type { PeeringPolicy } from './domain/types.js';
import type { Logger } from './log/logger.js';
import { createDisabledDataplane, type Dataplane } from './reconcile/dataplane.js';
import { createDispatcher } from './rpc/dispatcher.js';
import { rpcDiscoverMethod } from './rpc/discover.js';
import type { MethodSpec } from './rpc/method.js';
import { apiMethods } from './rpc/methods/index.js';
import { createRpcServer, type RpcServer } from './rpc/server.js';
import { prepareSocketPath } from './rpc/socket-file.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { VERSION } from './version.js';

export interface DaemonDeps {
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface Daemon {
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createDaemon(config: Config, deps: DaemonDeps): Daemon {
  const log = deps.logger;
  const now = deps.now ?? (() => new Date());
  const policy = (): PeeringPolicy => config.peering;
  // Undo steps of what start() did, run in reverse by close().
  const undo: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | null = null;

  async function start(): Promise<void> {
    const startedAt = now();
    // Refuse before touching the journal or the token file of a daemon that is already live.
    await prepareSocketPath(config.socket.path);
    const { store, recovery } = await openStore({
      path: config.store.path,
      compactAfterBytes: config.store.compactAfterBytes,
      logger: log.child({ part: 'store' }),
    });
    undo.push(() => store.close());
    log.info('store loaded', { path: config.store.path, records: store.stats().records, recovery });

    const auth = await createAuthenticator({
      jwtSecretFile: config.auth.jwtSecretFile,
      jwtPublicKeyFile: config.auth.jwtPublicKeyFile,
      nodeId: config.nodeId,
      logger: log.child({ part: 'auth' }),
    });
    await writeAdminToken(config.auth.adminTokenFile, await auth.mintAdminToken(config.auth.adminTokenTtlSeconds));
    log.info('operator token written', { path: config.auth.adminTokenFile });

    const dataplane: Dataplane = createDisabledDataplane(
      config.ovs.enabled === false ? 'ovs.enabled is false' : 'the data plane is not built into this version',
    );
    undo.push(() => dataplane.close());
    log.info('data plane', { ovs: dataplane.status().state, reason: dataplane.status().reason });

    await runSweep(store);
    const sweeper = setInterval(() => void runSweep(store), config.peering.sweepIntervalMs);
    sweeper.unref();
    undo.push(() => clearInterval(sweeper));

    const methods = apiMethods({
      store,
      dataplane: () => dataplane,
      policy,
      authenticate: (token) => auth.verify(token),
      nodeId: config.nodeId,
      version: VERSION,
      startedAt,
      now,
    });
    const table: MethodSpec[] = [...methods, rpcDiscoverMethod(() => table, { title: 'vpc-peerd', version: VERSION })];
    const dispatcher = createDispatcher({
      methods: table,
      authenticate: (token) => auth.verify(token),
      logger: log.child({ part: 'rpc' }),
      maxBatchSize: config.socket.maxBatchSize,
    });
    const server: RpcServer = createRpcServer({
      path: config.socket.path,
      mode: config.socket.mode,
      group: config.socket.group,
      maxLineBytes: config.socket.maxLineBytes,
      maxConnections: config.socket.maxConnections,
      dispatcher,
      logger: log.child({ part: 'socket' }),
    });
    await server.listen();
    undo.push(() => server.close());
    log.info('listening', { socket: config.socket.path, nodeId: config.nodeId, version: VERSION });
  }

  /** Expires overdue pending requests and compacts old terminal records. */
  async function runSweep(store: Store): Promise<void> {
    const mutations = sweep(store.view, now(), policy());
    if (mutations.length === 0) return;
    try {
      await store.commit(mutations);
      log.info('sweep', { changed: mutations.length });
    } catch (err) {
      log.error('sweep failed', { err });
    }
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

  return { start, close };
}
