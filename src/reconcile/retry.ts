// Per-bridge retry timers: a bridge in error (OVS refused its dump or bundle, or its flows do not
// converge) is looked at again on a timer of its own, with exponential backoff, so that it never
// holds back the others (the loop's own backoff is only for OVS not answering at all). Timers only.
import { reconnectDelayMs } from '../ovs/link.js';

/**
 * The delay before attempt `attempt` (1 for the first retry) of something retried with
 * exponential backoff: `minMs`, doubled per attempt, at most `maxMs` (ms). The loop's backoff,
 * the per-bridge retries and the storm guard's follow the rule the OVS links reconnect by
 * (ovs/link.ts reconnectDelayMs), one definition for all.
 */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number): number {
  return reconnectDelayMs(attempt, { minMs, maxMs });
}

/** A bridge whose dump or bundle OVS refused is retried from this delay, doubling up to the max. */
export const BRIDGE_MIN_BACKOFF_MS = 250;
export const BRIDGE_MAX_BACKOFF_MS = 30_000;

export interface BridgeRetries {
  /** Asks for a pass of `bridge` in `delayMs` (one timer per bridge: a later ask replaces it). */
  after(bridge: string, delayMs: number): void;
  /** Another failure of `bridge` in a row: asks for a pass after its backoff; returns the delay (ms). */
  failed(bridge: string): number;
  /** `bridge` is fine (or gone): no retry, and its backoff starts over. */
  clear(bridge: string): void;
  /** Clears every timer. */
  close(): void;
}

/** `trigger` asks the loop for a pass of the bridges given (ReconcileLoop.trigger). */
export function createBridgeRetries(trigger: (bridges: string[]) => void): BridgeRetries {
  const entries = new Map<string, { timer: NodeJS.Timeout | null; failures: number }>();
  let closed = false;
  const after = (bridge: string, delayMs: number): void => {
    const entry = entries.get(bridge) ?? { timer: null, failures: 0 };
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (!closed) trigger([bridge]);
    }, Math.max(0, delayMs));
    entry.timer.unref();
    entries.set(bridge, entry);
  };
  const clear = (bridge: string): void => {
    const entry = entries.get(bridge);
    if (entry?.timer) clearTimeout(entry.timer);
    entries.delete(bridge);
  };
  return {
    after,
    failed(bridge) {
      const failures = (entries.get(bridge)?.failures ?? 0) + 1;
      const delay = backoffDelayMs(failures, BRIDGE_MIN_BACKOFF_MS, BRIDGE_MAX_BACKOFF_MS);
      after(bridge, delay);
      (entries.get(bridge) as { failures: number }).failures = failures;
      return delay;
    },
    clear,
    close() {
      closed = true;
      for (const bridge of [...entries.keys()]) clear(bridge);
    },
  };
}
