// What the control plane needs from the data plane: its health for `status`, the per-peering
// `dataplane` object of `peering.get`, and an on-demand reconcile. The no-op implementation
// below is the ADR's no-op mode: the state machine runs the same, nothing is programmed.
import type { Peering } from '../domain/types.js';

export type OvsState = 'enabled' | 'disabled' | 'unavailable';

/** The UPPER_SNAKE `reason`s the data plane gives beside an `error` (docs/errors.md, "Data-plane reasons"). */
export const DataplaneReasons = [
  'OVS_UNAVAILABLE',
  'OVS_COMMAND_FAILED',
  'FLOWS_DO_NOT_CONVERGE',
  'RECONCILE_DEADLINE_EXCEEDED',
  'PEERING_ID_CLASH',
  'VPC_NOT_KNOWN',
  'SAME_BRIDGE',
  'STEERING_CLASH',
  'PATCH_PORT_FAILED',
] as const;
export type DataplaneReason = (typeof DataplaneReasons)[number];
/**
 * SPEC §5: `programmed` = verified on this host by the last pass that reached OVS; `inactive` = a
 * peering that is not active, none of whose flows remain here (`pending` while some do); `error`
 * carries `reason` (OVS_UNAVAILABLE with OVS unreachable).
 */
export type PeeringDataplaneState = 'programmed' | 'not-local' | 'pending' | 'inactive' | 'error' | 'disabled';

export interface OvsStatus {
  readonly state: OvsState;
  /** Why OVS is disabled or unavailable, for operators. */
  readonly reason: string | null;
  readonly bridges: readonly string[];
  /** When the last pass that reached OVS and completed ended (per-bridge failures are in perBridge). */
  readonly lastReconcileAt: string | null;
  /** When the last pass ended, whatever its outcome. */
  readonly lastAttemptAt: string | null;
  readonly lastReconcileDurationMs: number | null;
  readonly driftRepaired: number;
  readonly lastError: string | null;
  /** Data-plane changes asked for by the store, and how many of them are on the wire. */
  readonly desiredGeneration: number;
  readonly appliedGeneration: number;
  /**
   * Restarts of ovs-vswitchd seen (its pid changed; without a readable pid, passes that found
   * bridges without our canary flow): one restart counts once, however many bridges it wiped.
   */
  readonly restartsDetected: number;
  readonly perBridge: Readonly<Record<string, BridgeStatus>>;
}

/** The last pass that looked at one bridge. */
export interface BridgeStatus {
  readonly ok: boolean;
  /** When that pass looked at it (successful or not). */
  readonly at: string;
  readonly durationMs: number;
  readonly added: number;
  readonly removed: number;
  readonly error: string | null;
  /** With `error`: OVS_UNAVAILABLE, OVS_COMMAND_FAILED or FLOWS_DO_NOT_CONVERGE. */
  readonly reason: DataplaneReason | null;
  /** When a pass last reconciled it successfully. */
  readonly lastReconciledAt: string | null;
  /** When a bridge in error is looked at again (backoff), or null. */
  readonly retryAt: string | null;
  /** Times it was found without our canary flow (its flows were lost). */
  readonly flowsLost: number;
  /** Times its flows were found not to converge (FLOWS_DO_NOT_CONVERGE). */
  readonly flowsDoNotConverge: number;
}

export interface PeeringDataplane {
  readonly state: PeeringDataplaneState;
  readonly flows: number;
  /** Moves only on passes that reached OVS and succeeded on the peering's bridges. */
  readonly lastReconciledAt: string | null;
  /** The last pass, successful or not. */
  readonly lastAttemptAt: string | null;
  readonly error?: string;
  /** With `error`: OVS_UNAVAILABLE, FLOWS_DO_NOT_CONVERGE, ... */
  readonly reason?: DataplaneReason;
}

export interface ReconcileRequest {
  readonly bridge?: string;
  readonly dryRun?: boolean;
}

export interface ReconcileResult {
  readonly bridges: readonly string[];
  readonly added: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly durationMs: number;
  /** Bridge `*` for a failure of the whole pass. */
  readonly errors: readonly { readonly bridge: string; readonly reason: DataplaneReason; readonly error: string }[];
}

export interface Dataplane {
  status(): OvsStatus;
  peering(p: Peering): PeeringDataplane;
  reconcile(req: ReconcileRequest): Promise<ReconcileResult>;
  close(): Promise<void>;
}

export function createDisabledDataplane(reason: string): Dataplane {
  return {
    status: () => ({
      state: 'disabled',
      reason,
      bridges: [],
      lastReconcileAt: null,
      lastAttemptAt: null,
      lastReconcileDurationMs: null,
      driftRepaired: 0,
      lastError: null,
      desiredGeneration: 0,
      appliedGeneration: 0,
      restartsDetected: 0,
      perBridge: {},
    }),
    peering: () => ({ state: 'disabled', flows: 0, lastReconciledAt: null, lastAttemptAt: null }),
    reconcile: () =>
      Promise.resolve({ bridges: [], added: 0, removed: 0, unchanged: 0, durationMs: 0, errors: [] }),
    close: () => Promise.resolve(),
  };
}
