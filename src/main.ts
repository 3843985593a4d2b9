#!/usr/bin/env node
// vpc-peerd: argv, config, signals and exit codes. The only module that calls process.exit.
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import { createDaemon } from './daemon.js';
import { createLogger } from './log/logger.js';
import { VERSION } from './version.js';

const USAGE = 'usage: vpc-peerd [--config PATH]   (default /etc/vpc-peerd/config.json)';

async function main(): Promise<number> {
  let configPath: string;
  try {
    const { values } = parseArgs({
      options: { config: { type: 'string' }, version: { type: 'boolean' }, help: { type: 'boolean' } },
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
  const daemon = createDaemon(config, { logger });

  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('stopping', { signal });
      void daemon.close().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.on('SIGHUP', () => {
    void loadConfig(configPath).then(
      (fresh) => {
        logger.setLevel(fresh.log.level);
        logger.info('config reloaded', { logLevel: fresh.log.level });
      },
      (err: unknown) => logger.error('config reload refused; keeping the running config', { err }),
    );
  });

  try {
    await daemon.start();
  } catch (err) {
    logger.error('start failed', { err });
    await daemon.close();
    return 1;
  }
  return stopped;
}

process.on('uncaughtException', (err) => {
  console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'uncaught exception', err: { name: err.name, message: err.message, stack: err.stack } }));
  process.exit(70);
});

process.exit(await main());
