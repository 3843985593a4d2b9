// The reconcile loop's control: level-triggered and single-flight. Triggers only mark bridges
// dirty; one cycle runs at a time; a trigger during a cycle queues one rerun; a failed cycle
// (OVS down) retries with exponential backoff; a timer marks everything dirty (the periodic pass
// over everything; the backstop's per-bridge dumps are backstop.ts's) `intervalMs` after the last
// pass over everything ended, so a pass that takes longer than the interval is not followed by
// another at once, forever. It knows nothing of OVS: the cycle is injected. Timers only, no I/O.
import type { Logger } from '../log/logger.js';
import { backoffDelayMs } from './retry.js';

/** What a cycle is asked to look at: every bridge, or only these. */
export type Scope = { readonly all: true } | { readonly all: false; readonly bridges: ReadonlySet<string> };

export interface LoopOptions {
  /** One reconcile pass; resolves true when it converged, false when it must be retried. */
  readonly cycle: (scope: Scope) => Promise<boolean>;
  /** How long after a pass over everything ends the timer asks for the next one. */
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface LoopHealth {
  readonly running: boolean;
  /** When the current cycle started (null when idle): a cycle that never ends means a wedged loop. */
  readonly cycleStartedAt: number | null;
  readonly lastCycleEndedAt: number | null;
  readonly consecutiveFailures: number;
  readonly cycles: number;
}

/**
 * How the first cycle ended: `converged`, `failed` (it must be retried: OVS down, or it threw),
 * or `stopped` (the loop was stopped before any cycle ended).
 */
export type CycleOutcome = 'converged' | 'failed' | 'stopped';

export interface ReconcileLoop {
  start(): void;
  /** Marks bridges (or everything) dirty; a cycle follows at once, or after the running one. */
  trigger(bridges: 'all' | Iterable<string>): void;
  /** Runs `fn` while no cycle runs, and holds cycles off until it is done (reconcile.run). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Resolves once no cycle is running or pending and no exclusive() call holds or waits for its turn. */
  idle(): Promise<void>;
  health(): LoopHealth;
  /** Settles once, when the first cycle ends (or the loop stops before one does); never rejects. */
  readonly firstCycle: Promise<CycleOutcome>;
  setIntervalMs(ms: number): void;
  /** Stops timers and waits for the running cycle. Idempotent. */
  stop(): Promise<void>;
}

export function createReconcileLoop(opts: LoopOptions): ReconcileLoop {
  const minBackoff = opts.minBackoffMs ?? 50;
  const maxBackoff = opts.maxBackoffMs ?? 1000;
  let intervalMs = opts.intervalMs;
  let dirtyAll = false;
  const dirty = new Set<string>();
  let running: Promise<void> | null = null;
  let scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  let periodic: NodeJS.Timeout | null = null;
  let stopped = false;
  let started = false;
  let failures = 0;
  let cycles = 0;
  let cycleStartedAt: number | null = null;
  let lastCycleEndedAt: number | null = null;
  let lock: Promise<unknown> = Promise.resolve();
  /** exclusive() calls not yet ended: idle() waits for them too (what they trigger is work). */
  let exclusives = 0;
  let idleWaiters: (() => void)[] = [];
  let endFirstCycle!: (outcome: CycleOutcome) => void;
  const firstCycle = new Promise<CycleOutcome>((resolve) => (endFirstCycle = resolve));

  const hasWork = (): boolean => dirtyAll || dirty.size > 0;

  function schedule(delayMs: number): void {
    if (stopped || !started || running || scheduled) return;
    scheduled = delayMs <= 0 ? setImmediate(runCycle) : setTimeout(runCycle, delayMs);
  }

  function runCycle(): void {
    scheduled = null;
    if (stopped || running || !hasWork()) {
      wakeIdle();
      return;
    }
    const scope: Scope = dirtyAll ? { all: true } : { all: false, bridges: new Set(dirty) };
    dirtyAll = false;
    dirty.clear();
    // This pass is the periodic one: the timer starts again when it ends.
    if (scope.all && periodic) {
      clearTimeout(periodic);
      periodic = null;
    }
    running = (async () => {
      let ok = false;
      const release = await acquire();
      cycleStartedAt = Date.now();
      try {
        ok = await opts.cycle(scope);
      } catch (err) {
        opts.logger.error('reconcile cycle failed', { err });
      } finally {
        release();
        cycles += 1;
        cycleStartedAt = null;
        lastCycleEndedAt = Date.now();
        if (scope.all) armPeriodic();
      }
      endFirstCycle(ok ? 'converged' : 'failed');
      if (ok) {
        failures = 0;
      } else {
        // Put the scope back: what failed must still be done when OVS answers again.
        if (scope.all) dirtyAll = true;
        else for (const b of scope.bridges) dirty.add(b);
        failures += 1;
      }
    })();
    void running.then(() => {
      running = null;
      if (!hasWork()) return wakeIdle();
      schedule(failures === 0 ? 0 : backoffDelayMs(failures, minBackoff, maxBackoff));
    });
  }

  /** A promise chain used as a mutex between cycles and exclusive() callers. */
  function acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ready = lock.then(() => release);
    lock = lock.then(() => held);
    return ready;
  }

  function wakeIdle(): void {
    if (running || scheduled || exclusives > 0 || hasWork()) return;
    for (const w of idleWaiters) w();
    idleWaiters = [];
  }

  function armPeriodic(): void {
    if (periodic) clearTimeout(periodic);
    periodic = null;
    if (stopped || !started) return;
    periodic = setTimeout(() => {
      periodic = null;
      loop.trigger('all');
    }, intervalMs);
    periodic.unref();
  }

  const loop: ReconcileLoop = {
    start() {
      if (started) return;
      started = true;
      armPeriodic();
      dirtyAll = true;
      schedule(0);
    },
    trigger(bridges) {
      if (bridges === 'all') dirtyAll = true;
      else for (const b of bridges) dirty.add(b);
      // While backing off, a new trigger waits for the retry: OVS is still down.
      if (failures === 0) schedule(0);
    },
    async exclusive(fn) {
      exclusives += 1;
      try {
        const release = await acquire();
        try {
          return await fn();
        } finally {
          release();
        }
      } finally {
        exclusives -= 1;
        wakeIdle();
      }
    },
    idle() {
      if (!running && !scheduled && exclusives === 0 && !hasWork()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    health: () => ({
      running: running !== null,
      cycleStartedAt,
      lastCycleEndedAt,
      consecutiveFailures: failures,
      cycles,
    }),
    firstCycle,
    setIntervalMs(ms) {
      intervalMs = ms;
      if (started && !stopped) armPeriodic();
    },
    async stop() {
      stopped = true;
      if (periodic) clearTimeout(periodic);
      periodic = null;
      if (scheduled) {
        clearTimeout(scheduled as NodeJS.Timeout);
        clearImmediate(scheduled as NodeJS.Immediate);
        scheduled = null;
      }
      await running;
      endFirstCycle('stopped');
      for (const w of idleWaiters) w();
      idleWaiters = [];
    },
  };
  return loop;
}
