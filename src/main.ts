#!/usr/bin/env node
// vpc-peerd: argv, config, signals, sd_notify and exit codes. The only module that calls process.exit.
import { parseArgs } from 'node:util';
import { ConfigError } from './config/config-error.js';
import { loadConfig } from './config/load.js';
import { createDaemon } from './daemon.js';
import { createLogger } from './log/logger.js';
import { createNotifier } from './systemd/notify.js';
import { createService, watchdogPingMs, type Limits } from './systemd/service.js';
import { StoreRefusedError } from './store/store.js';
import { VERSION } from './version.js';

const USAGE = `usage: vpc-peerd [--config PATH] [--recover-journal]
  --config PATH        the config file (default /etc/vpc-peerd/config.json)
  --recover-journal    start even if the journal is damaged in the middle: start on the last good
                       record and keep the cut records in a file beside the journal (docs/STORE.md)`;
/** Shutdown gets this long before the process gives up on it (the unit's TimeoutStopSec is 30 s). */
const STOP_DEADLINE_MS = 25_000;

async function main(): Promise<number> {
  let configPath: string;
  let recoverJournal: boolean;
  try {
    const { values } = parseArgs({
      options: { config: { type: 'string' }, 'recover-journal': { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.version) {
      console.log(VERSION);
      return 0;
    }
    configPath = values.config ?? '/etc/vpc-peerd/config.json';
    recoverJournal = values['recover-journal'] ?? false;
  } catch (err) {
    console.error(`vpc-peerd: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }

  let config;
  try {
    config = await loadConfig(configPath);
  } catch (err) {
    console.error(`vpc-peerd: bad config: ${(err as Error).message}`);
    return 78; // EX_CONFIG: systemd's Restart=on-failure will not help, the operator must.
  }

  const logger = createLogger({ level: config.log.level, fields: { nodeId: config.nodeId } });
  const daemon = createDaemon(config, { logger, recoverJournal, unconvergingBridge: testUnconvergingBridge() });
  const service = createService({
    notifier: await createNotifier({ socket: process.env.NOTIFY_SOCKET, logger: logger.child({ part: 'systemd' }) }),
    health: () => daemon.health(),
    logger: logger.child({ part: 'systemd' }),
    watchdogPingMs: watchdogPingMs(process.env, process.pid),
    limits: testLimits(),
  });

  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('stopping', { signal });
      const drainStart = performance.now();
      service.stopping();
      const deadline = setTimeout(() => {
        logger.error('shutdown did not finish in time; exiting anyway', { deadlineMs: STOP_DEADLINE_MS });
        resolve(1);
      }, STOP_DEADLINE_MS);
      void daemon.close().then(() => {
        clearTimeout(deadline);
        logger.info('stopped', { signal, drainMs: Math.round(performance.now() - drainStart) });
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.on('SIGHUP', () => {
    logger.info('reloading the config', { path: configPath });
    void loadConfig(configPath)
      .then(
        (fresh) => daemon.reload(fresh),
        (err: unknown) => logger.error('config reload refused; keeping the running config', { err }),
      )
      // A reload that throws part-way is a bug, but it must not take the daemon down with it.
      .catch((err: unknown) => logger.error('config reload failed part-way; restart the daemon to apply the config', { err }));
  });

  try {
    await daemon.ready();
    await daemon.listen();
    await daemon.firstReconcile();
  } catch (err) {
    logger.error('start failed', { err });
    await daemon.close();
    service.close();
    // EX_CONFIG for a bad key file (gossip.secretFile, auth.jwtSecretFile, tls), as for a bad config.
    if (err instanceof ConfigError) return 78;
    // EX_DATAERR: the store's files need an operator (--recover-journal, a backup); the unit does not restart it.
    return err instanceof StoreRefusedError ? 65 : 1;
  }
  // The socket accepts and the data plane has been looked at once: systemd may start dependants.
  service.ready();
  const code = await stopped;
  service.close();
  return code;
}

/**
 * Test hooks, honoured only with VPC_PEERD_TEST_HOOKS=1 (test/integration/service.test.ts):
 * VPC_PEERD_TEST_STUCK_CYCLE_MS shortens the time after which a running reconcile cycle counts
 * as stuck (30 s at least otherwise), so a test can wedge the loop and see the pings stop.
 */
function testLimits(): Partial<Limits> {
  if (process.env.VPC_PEERD_TEST_HOOKS !== '1') return {};
  const stuck = Number(process.env.VPC_PEERD_TEST_STUCK_CYCLE_MS);
  return Number.isSafeInteger(stuck) && stuck > 0 ? { stuckCycleMs: stuck } : {};
}

/**
 * Test hook, honoured only with VPC_PEERD_TEST_HOOKS=1 (test/integration/dataplane-truth.ovs.test.ts):
 * VPC_PEERD_TEST_UNCONVERGING_BRIDGE names a bridge given one desired flow that OVS prints
 * otherwise than written, so that its flows never converge (the storm guard's test).
 */
function testUnconvergingBridge(): string | undefined {
  if (process.env.VPC_PEERD_TEST_HOOKS !== '1') return undefined;
  return process.env.VPC_PEERD_TEST_UNCONVERGING_BRIDGE || undefined;
}

process.on('uncaughtException', (err) => {
  console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'uncaught exception', err: { name: err.name, message: err.message, stack: err.stack } }));
  process.exit(70);
});

process.exit(await main());
