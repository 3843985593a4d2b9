// The storm guard of SPEC §7: a bridge whose flow diff comes back the same after repeated repairs,
// while its desired flows did not change, is not repaired again and again (a flow OVS prints
// otherwise than the daemon expects would be removed and re-added many times a second, forever).
// It goes to `error` with reason FLOWS_DO_NOT_CONVERGE and is retried with exponential backoff,
// one bundle per retry. Per bridge, so one such bridge never holds the others back. Only repairs
// not seen to converge count: one whose bundle OVS echoed back as written is `settled`, so the
// same drift again and again (flows deleted by hand) is no storm. Pure: the time is passed in;
// the caller logs, counts, tells it of echoes and arms the retry timer.
import { type Flow, bundleLine, sameFlows } from '../ovs/flow.js';
import type { FlowPlan } from './plan.js';
import { backoffDelayMs } from './retry.js';

/** The same diff found again after this many repairs in a row trips the guard. */
export const REPAIRS_BEFORE_GUARD = 2;
/** The first retry of a tripped bridge, then doubled per retry up to GUARD_MAX_BACKOFF_MS. */
export const GUARD_MIN_BACKOFF_MS = 1_000;
export const GUARD_MAX_BACKOFF_MS = 60_000;

/**
 * What to do with a bridge's plan:
 * - `apply`: apply it (a first repair, a new diff, or nothing to do); `recovered` when the bridge
 *   was tripped and now has nothing left to do, or its desired flows changed;
 * - `tripped`: the same diff came back after REPAIRS_BEFORE_GUARD repairs: do not apply; log the
 *   differing flows and count it (this verdict comes once per storm);
 * - `hold`: tripped, and not yet time to retry: do not apply;
 * - `retry`: tripped, and time to try once more: apply, the bridge stays in error.
 * `retryAt` (ms, on the clock passed in): when the bridge should be looked at again.
 */
export type GuardVerdict =
  | { readonly kind: 'apply'; readonly recovered: boolean }
  | { readonly kind: 'tripped' | 'hold' | 'retry'; readonly retryAt: number };

export interface ConvergenceGuard {
  /** Judges the plan made for `bridge` from its desired flows `want`, at `nowMs`. */
  observe(bridge: string, want: readonly Flow[], plan: FlowPlan, nowMs: number): GuardVerdict;
  /**
   * The last repair of `bridge` was seen to converge (OVS echoed its bundle as written): it no
   * longer counts towards a storm, so a later drift starts the count again. A tripped bridge
   * stays tripped until a pass finds nothing to do or new desired flows.
   */
  settled(bridge: string): void;
  /** When a tripped bridge is retried, or null when it is not tripped. */
  heldUntil(bridge: string): number | null;
  /** Forgets a bridge (gone from this host). */
  forget(bridge: string): void;
}

interface BridgeRecord {
  readonly want: readonly Flow[];
  /** The diff, as the sorted bundle lines that would apply it. */
  readonly signature: string;
  repairs: number;
  /** Set once tripped. */
  retryAt: number | null;
  /** Backoff attempts since it tripped (1 at the trip): the next delay is backoffDelayMs of it. */
  attempt: number;
}

export function createConvergenceGuard(): ConvergenceGuard {
  const records = new Map<string, BridgeRecord>();
  return {
    observe(bridge, want, plan, nowMs) {
      const last = records.get(bridge);
      if (plan.add.length + plan.modify.length + plan.remove.length === 0) {
        records.delete(bridge);
        return { kind: 'apply', recovered: last?.retryAt != null };
      }
      const signature = planSignature(plan);
      if (last === undefined || last.signature !== signature || !sameFlows(last.want, want)) {
        records.set(bridge, { want, signature, repairs: 1, retryAt: null, attempt: 0 });
        return { kind: 'apply', recovered: last?.retryAt != null };
      }
      if (last.retryAt === null) {
        if (last.repairs < REPAIRS_BEFORE_GUARD) {
          last.repairs += 1;
          return { kind: 'apply', recovered: false };
        }
        last.attempt = 1;
        last.retryAt = nowMs + backoffDelayMs(last.attempt, GUARD_MIN_BACKOFF_MS, GUARD_MAX_BACKOFF_MS);
        return { kind: 'tripped', retryAt: last.retryAt };
      }
      if (nowMs < last.retryAt) return { kind: 'hold', retryAt: last.retryAt };
      last.repairs += 1;
      last.attempt += 1;
      last.retryAt = nowMs + backoffDelayMs(last.attempt, GUARD_MIN_BACKOFF_MS, GUARD_MAX_BACKOFF_MS);
      return { kind: 'retry', retryAt: last.retryAt };
    },
    settled(bridge) {
      if (records.get(bridge)?.retryAt === null) records.delete(bridge);
    },
    heldUntil: (bridge) => records.get(bridge)?.retryAt ?? null,
    forget: (bridge) => void records.delete(bridge),
  };
}

/** A plan's diff as text: equal plans (whatever their order) give equal text. */
export function planSignature(plan: FlowPlan): string {
  return [...plan.remove.map((f) => bundleLine('delete_strict', f)), ...[...plan.add, ...plan.modify].map((f) => bundleLine('add', f))].sort().join('\n');
}
