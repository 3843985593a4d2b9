// What the daemon tells systemd, and when: STATUS= (a one-line health summary, on change, at
// most every few seconds), READY=1 (main.ts calls ready() once the socket accepts and the first
// reconcile has ended), STOPPING=1, and WATCHDOG=1 every WATCHDOG_USEC/2 — only while the event
// loop is not stalled and no reconcile cycle is stuck, so that systemd restarts a wedged daemon.
// The judgement is pure (judge, statusLine); the timers and the lag probe are the shell.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import type { OvsState } from '../reconcile/dataplane.js';
import type { LoopHealth } from '../reconcile/loop.js';
import type { StoreStats } from '../store/store.js';
import type { Notifier } from './notify.js';

/** The daemon's state as the service manager sees it (Daemon.health()). */
export interface ServiceHealth {
  /** Null until start() has built the data plane. */
  readonly ovs: { readonly state: OvsState; readonly bridges: number; readonly reason: string | null } | null;
  /** Null until start() has opened the store. */
  readonly store: StoreStats['state'] | null;
  /** The reconcile loop and its period; null in no-op mode, where there is no loop. */
  readonly reconcile: { readonly loop: LoopHealth; readonly intervalMs: number } | null;
}

export type Phase = 'starting' | 'serving' | 'stopping';

export interface Verdict {
  readonly healthy: boolean;
  /** Why not, one short phrase each. */
  readonly problems: readonly string[];
}

export interface Limits {
  /** A cycle running longer than this is stuck; default stuckCycleMs(intervalMs). */
  readonly stuckCycleMs?: number;
  /** The longest event-loop stall tolerated between two watchdog decisions. */
  readonly maxEventLoopLagMs: number;
}

/**
 * A stall this long means the API cannot answer its callers (vpc-peerctl gives up after 10 s).
 * A single stall costs one ping; systemd acts only when WatchdogSec passes without any.
 */
export const MAX_EVENT_LOOP_LAG_MS = 5_000;
/** STATUS= is sent on change, but not more often than this. */
export const STATUS_MIN_INTERVAL_MS = 2_000;
const STATUS_CHECK_MS = 1_000;

/**
 * How long a reconcile cycle may run before the loop counts as wedged. Every OVS call is killed
 * after 5 s, so a live cycle ends; the bound leaves room for many bridges and slow calls.
 */
export function stuckCycleMs(intervalMs: number): number {
  return Math.max(30_000, 3 * intervalMs);
}

/**
 * The watchdog ping period from the environment systemd sets: half of WATCHDOG_USEC, or null
 * when there is no watchdog, or it is meant for another process (WATCHDOG_PID, sd_watchdog_enabled(3)).
 */
export function watchdogPingMs(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

export function judge(health: ServiceHealth, now: number, eventLoopLagMs: number, limits: Limits): Verdict {
  const problems: string[] = [];
  if (eventLoopLagMs > limits.maxEventLoopLagMs) problems.push(`event loop stalled ${seconds(eventLoopLagMs)}`);
  const r = health.reconcile;
  if (r !== null && r.loop.cycleStartedAt !== null) {
    const running = now - r.loop.cycleStartedAt;
    if (running > (limits.stuckCycleMs ?? stuckCycleMs(r.intervalMs))) problems.push(`reconcile cycle stuck for ${seconds(running)}`);
  }
  return { healthy: problems.length === 0, problems };
}

/** The STATUS= text: what `systemctl status` shows on its Status: line. */
export function statusLine(phase: Phase, health: ServiceHealth, verdict: Verdict): string {
  if (phase === 'stopping') return 'stopping';
  const parts = [phase === 'starting' ? 'starting (first reconcile)' : 'serving'];
  if (!verdict.healthy) parts.unshift(`UNHEALTHY: ${verdict.problems.join(', ')}`);
  const { ovs } = health;
  if (ovs === null) return parts.join('; ');
  if (ovs.state === 'disabled') parts.push('no-op mode (no OVS)');
  else if (ovs.state === 'unavailable') parts.push(`OVS unavailable${ovs.reason ? `: ${ovs.reason}` : ''}`);
  else {
    const failures = health.reconcile?.loop.consecutiveFailures ?? 0;
    parts.push(`OVS ${ovs.bridges} bridge${ovs.bridges === 1 ? '' : 's'}${failures > 0 ? `, ${failures} failed cycles` : ''}`);
  }
  if (health.store !== null) parts.push(health.store === 'ok' || health.store === 'closed' ? `store ${health.store}` : `store ${health.store.toUpperCase()} (writes refused, retrying)`);
  return parts.join('; ');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The worst event-loop delay since the last take(), in ms. */
export interface LagProbe {
  take(): number;
  close(): void;
}

export function createLagProbe(): LagProbe {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return {
    take() {
      const ms = h.max / 1e6;
      h.reset();
      return ms;
    },
    close: () => h.disable(),
  };
}

export interface ServiceOptions {
  readonly notifier: Notifier;
  readonly health: () => ServiceHealth;
  readonly logger: Logger;
  /** From watchdogPingMs(); null: no WATCHDOG=1. */
  readonly watchdogPingMs: number | null;
  readonly limits?: Partial<Limits>;
  readonly lag?: LagProbe;
  readonly now?: () => number;
}

export interface Service {
  /** READY=1, with the current STATUS=. Once. */
  ready(): void;
  /** STOPPING=1: shutdown has begun. */
  stopping(): void;
  /** The last verdict (for tests and logs). */
  verdict(): Verdict;
  /** Stops the timers and closes the socket. Idempotent. */
  close(): void;
}

/** Starts reporting at once: STATUS=starting..., and watchdog pings while healthy (also before READY). */
export function createService(opts: ServiceOptions): Service {
  const { notifier, logger } = opts;
  const now = opts.now ?? Date.now;
  const limits: Limits = { maxEventLoopLagMs: MAX_EVENT_LOOP_LAG_MS, ...opts.limits };
  const lag = opts.lag ?? createLagProbe();
  let phase: Phase = 'starting';
  let lagMs = 0;
  let last: Verdict = { healthy: true, problems: [] };
  let sentStatus = '';
  let sentStatusAt = -Infinity;
  let closed = false;

  const assess = (): Verdict => {
    lagMs = Math.max(lagMs, lag.take());
    last = judge(opts.health(), now(), lagMs, limits);
    return last;
  };

  const status = (force: boolean): Record<string, string> => {
    const text = statusLine(phase, opts.health(), last);
    if (text === sentStatus || (!force && now() - sentStatusAt < STATUS_MIN_INTERVAL_MS)) return {};
    sentStatus = text;
    sentStatusAt = now();
    return { STATUS: text };
  };

  const sendStatus = (force: boolean): void => {
    const fields = status(force);
    if (fields.STATUS !== undefined) notifier.send(fields);
  };

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => void): void => {
    const timer = setInterval(fn, ms);
    timer.unref();
    timers.push(timer);
  };

  every(STATUS_CHECK_MS, () => {
    assess();
    if (opts.watchdogPingMs === null) lagMs = 0; // else the watchdog's window owns the lag
    sendStatus(false);
  });

  const ping = opts.watchdogPingMs;
  if (ping !== null) {
    let withheld = false;
    every(ping, () => {
      const verdict = assess();
      lagMs = 0;
      if (verdict.healthy) {
        if (withheld) logger.info('watchdog pings resumed');
        withheld = false;
        notifier.send({ WATCHDOG: '1' });
      } else if (!withheld) {
        withheld = true;
        logger.error('watchdog ping withheld: the daemon is wedged; systemd will restart it', { problems: verdict.problems });
        sendStatus(true);
      }
    });
  }

  sendStatus(true);

  return {
    ready() {
      if (phase !== 'starting') return;
      phase = 'serving';
      assess();
      notifier.send({ READY: '1', ...status(true) });
    },
    stopping() {
      phase = 'stopping';
      notifier.send({ STOPPING: '1', ...status(true) });
    },
    verdict: () => last,
    close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      lag.close();
      notifier.close();
    },
  };
}
