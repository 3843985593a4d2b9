// When the backstop reads each bridge with `ovs-ofctl dump-flows` (issue 12: "every
// ovs.reconcileIntervalMs the daemon reads each bridge ... Spread those reads over the interval
// instead of all bridges at once"). Each round lasts one interval and reads every local bridge
// once, at offsets spread evenly over it (planBackstop, pure); the shell below only keeps the
// round's clock and fires a timer per read. What a read does (a dump, diffed against the desired
// set and repaired, compared with the channel's table) is the caller's: onDue is told the bridge.
// Timers only, no I/O.

/** One read of a round: `bridge` is due `atMs` after the round started. */
export interface BackstopSlot {
  readonly bridge: string;
  readonly atMs: number;
}

/**
 * The reads of one round of `intervalMs` (ms, > 0) over `bridges`: sorted by name (a stable order,
 * duplicates dropped), bridge i of N at ⌊(i + 1)·interval / N⌋. The last read ends the round, and
 * none falls at its start: a round that starts with the daemon reads its first bridge an N-th of
 * an interval later, and its last one interval later, where the pass over every bridge used to.
 */
export function planBackstop(bridges: Iterable<string>, intervalMs: number): BackstopSlot[] {
  if (!(intervalMs > 0)) throw new RangeError(`the backstop interval must be > 0 ms, got ${intervalMs}`);
  const sorted = [...new Set(bridges)].sort();
  const n = sorted.length;
  return sorted.map((bridge, i) => ({ bridge, atMs: Math.floor(((i + 1) * intervalMs) / n) }));
}

/**
 * Where a round `elapsedMs` old goes on with a new plan (the bridges or the interval changed): the
 * index of its first slot after `elapsedMs` (plan.length when none is). Slots at or before it are
 * left to the next round, so a re-plan never makes a burst of reads; with the bridges the round
 * has read skipped (the shell's `done`), a bridge is read at most once per round and at most two
 * intervals apart across any re-plan.
 */
export function resumeIndex(plan: readonly BackstopSlot[], elapsedMs: number): number {
  const at = plan.findIndex((s) => s.atMs > elapsedMs);
  return at < 0 ? plan.length : at;
}

export interface BackstopOptions {
  /** `ovs.reconcileIntervalMs`: how long a round lasts. */
  readonly intervalMs: number;
  /** A bridge's read is due (called from a timer; must not throw). */
  readonly onDue: (bridge: string) => void;
  /** Milliseconds of a monotonic clock; default performance.now. */
  readonly now?: () => number;
  /** Calls `fn` once, `ms` from now on `now`'s clock; returns its cancel. Default: an unref'd setTimeout. */
  readonly after?: (ms: number, fn: () => void) => () => void;
}

function unrefTimeout(ms: number, fn: () => void): () => void {
  const timer = setTimeout(fn, ms);
  // The backstop never keeps the process alive on its own.
  timer.unref();
  return () => clearTimeout(timer);
}

export interface Backstop {
  /** The local bridges to read; the first call starts the first round, a different set re-plans it (its clock kept). */
  setBridges(bridges: Iterable<string>): void;
  /** SIGHUP: the round is re-planned over the new interval, or a new one starts if the old one is already longer. */
  setIntervalMs(ms: number): void;
  /** Stops the timer for good. Idempotent. */
  close(): void;
}

export function createBackstop(opts: BackstopOptions): Backstop {
  const now = opts.now ?? (() => performance.now());
  const after = opts.after ?? unrefTimeout;
  let intervalMs = opts.intervalMs;
  let names: string[] = [];
  let plan: BackstopSlot[] = [];
  let startedAt = 0;
  let next = 0;
  /** The bridges this round has read: skipped if a re-plan puts them after the clock again. */
  const done = new Set<string>();
  let cancel: (() => void) | null = null;
  let closed = false;

  const newRound = (at: number): void => {
    startedAt = at;
    next = 0;
    done.clear();
  };

  const arm = (): void => {
    cancel?.();
    cancel = null;
    if (closed || plan.length === 0) return;
    const slot = plan[next];
    const at = startedAt + (slot === undefined ? intervalMs : slot.atMs);
    cancel = after(Math.max(0, at - now()), fire);
  };

  const fire = (): void => {
    cancel = null;
    const slot = plan[next];
    if (slot === undefined) {
      // A round that fell more than an interval behind (a blocked event loop) starts afresh rather than catching up in a burst.
      const following = startedAt + intervalMs;
      newRound(now() - following >= intervalMs ? now() : following);
    } else {
      next += 1;
      if (!done.has(slot.bridge)) {
        done.add(slot.bridge);
        opts.onDue(slot.bridge);
      }
    }
    arm();
  };

  const replan = (): void => {
    const first = plan.length === 0;
    plan = planBackstop(names, intervalMs);
    const elapsed = now() - startedAt;
    if (first || elapsed >= intervalMs) newRound(now());
    else next = resumeIndex(plan, elapsed);
    arm();
  };

  return {
    setBridges(bridges) {
      if (closed) return;
      const sorted = [...new Set(bridges)].sort();
      if (sorted.length === names.length && sorted.every((b, i) => b === names[i])) return;
      names = sorted;
      replan();
    },
    setIntervalMs(ms) {
      if (closed || ms === intervalMs) return;
      planBackstop([], ms);
      intervalMs = ms;
      if (plan.length > 0) replan();
    },
    close() {
      closed = true;
      cancel?.();
      cancel = null;
    },
  };
}
