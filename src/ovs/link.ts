// What the persistent OVS connections (the bridges' OpenFlow channels, the OVSDB client) share:
// the reconnect backoff, the idle keep-alive, and how a dropped socket is let go.
import type { Socket } from 'node:net';

export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * The wait before the next attempt after `failures` (≥ 1) in a row, in ms: from minMs, doubled
 * per failure, at most maxMs. The daemon's one backoff rule (reconcile/retry.ts's backoffDelayMs
 * calls it: src/ovs/ may not import from src/reconcile/).
 */
export function reconnectDelayMs(failures: number, backoff: Backoff): number {
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** (Math.max(1, failures) - 1));
}

export interface KeepAlive {
  /** Something came from the peer (or the link just came up): the idle time starts again. */
  heard(): void;
  stop(): void;
}

/**
 * Idle for `intervalMs` (nothing heard): `ping()`, which sends the protocol's echo; nothing at all
 * heard within another interval: `dead()`. Any byte counts as an answer, so a busy link sends no
 * echo. The timers never keep the process alive.
 */
export function createKeepAlive(intervalMs: number, ping: () => void, dead: () => void): KeepAlive {
  let timer: NodeJS.Timeout | null = null;
  const stop = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return {
    heard() {
      stop();
      timer = setTimeout(() => {
        ping();
        timer = setTimeout(dead, intervalMs);
        timer.unref();
      }, intervalMs);
      timer.unref();
    },
    stop,
  };
}

/** Lets a socket go: no more events reach us, a late error is swallowed, the fd is closed. */
export function discardSocket(s: Socket): void {
  s.removeAllListeners();
  s.on('error', () => undefined);
  s.destroy();
}
