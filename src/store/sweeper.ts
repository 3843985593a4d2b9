// The periodic housekeeping writer (SPEC §2, §8): overdue pending requests turn `expired`, old
// terminal peerings are compacted away (leaving tombstones), and tombstones older than
// gossip.tombstoneRetentionSeconds are purged. It writes through Store.write like every writer.
import { sweep } from '../domain/peering-ops.js';
import type { PeeringPolicy } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import type { Store } from './store.js';

export interface SweeperOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Read at every sweep, so a reloaded config applies to the next one. */
  readonly policy: () => PeeringPolicy;
  /** gossip.tombstoneRetentionSeconds, read at every sweep. */
  readonly tombstoneRetentionSeconds: () => number;
  /** Told after tombstones were purged (not a commit, so no commit listener hears of it): gossip's digest forgets them. */
  readonly onPurged?: () => void;
}

export interface Sweeper {
  /** One sweep now; resolves once its commit is durable. Never rejects (a failure is logged). */
  runOnce(): Promise<void>;
  /** (Re)starts the timer at `intervalMs` (ms); the timer does not keep the process alive. */
  schedule(intervalMs: number): void;
  /** Whether schedule() was called and stop() not since. */
  readonly scheduled: boolean;
  stop(): void;
}

export function createSweeper(opts: SweeperOptions): Sweeper {
  let timer: NodeJS.Timeout | null = null;

  async function runOnce(): Promise<void> {
    try {
      const changed = await opts.store.write((view) => {
        const mutations = sweep(view, opts.now(), opts.policy());
        return { mutations, result: mutations.length };
      });
      const now = opts.now();
      const purged = opts.store.purgeTombstones(new Date(now.getTime() - opts.tombstoneRetentionSeconds() * 1000));
      if (purged > 0) opts.onPurged?.();
      if (changed > 0 || purged > 0) opts.logger.info('sweep', { changed, purgedTombstones: purged });
    } catch (err) {
      opts.logger.error('sweep failed', { err });
    }
  }

  function stop(): void {
    if (timer) clearInterval(timer);
    timer = null;
  }

  return {
    runOnce,
    schedule(intervalMs) {
      stop();
      timer = setInterval(() => void runOnce(), intervalMs);
      timer.unref();
    },
    get scheduled() {
      return timer !== null;
    },
    stop,
  };
}
