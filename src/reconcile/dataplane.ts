// What the control plane needs from the data plane: its health for `status`, the per-peering
// `dataplane` object of `peering.get`, and an on-demand reconcile. The no-op implementation
// below is the ADR's no-op mode: the state machine runs the same, nothing is programmed.
import type { Peering } from '../domain/types.js';

export type OvsState = 'enabled' | 'disabled' | 'unavailable';
export type PeeringDataplaneState = 'programmed' | 'not-local' | 'pending' | 'error' | 'disabled';

export interface OvsStatus {
  readonly state: OvsState;
  /** Why OVS is disabled or unavailable, for operators. */
  readonly reason: string | null;
  readonly bridges: readonly string[];
  readonly lastReconcileAt: string | null;
  readonly lastReconcileDurationMs: number | null;
  readonly driftRepaired: number;
  readonly lastError: string | null;
  /** Data-plane changes asked for by the store, and how many of them are on the wire. */
  readonly desiredGeneration: number;
  readonly appliedGeneration: number;
  /** Times a bridge was found without our canary flow: its flows were lost (vswitchd restart). */
  readonly restartsDetected: number;
  readonly perBridge: Readonly<Record<string, BridgeStatus>>;
}

export interface BridgeStatus {
  readonly ok: boolean;
  readonly at: string;
  readonly durationMs: number;
  readonly added: number;
  readonly removed: number;
  readonly error: string | null;
}

export interface PeeringDataplane {
  readonly state: PeeringDataplaneState;
  readonly flows: number;
  readonly lastReconciledAt: string | null;
  readonly error?: string;
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
  readonly errors: readonly { readonly bridge: string; readonly error: string }[];
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
      lastReconcileDurationMs: null,
      driftRepaired: 0,
      lastError: null,
      desiredGeneration: 0,
      appliedGeneration: 0,
      restartsDetected: 0,
      perBridge: {},
    }),
    peering: () => ({ state: 'disabled', flows: 0, lastReconciledAt: null }),
    reconcile: () =>
      Promise.resolve({ bridges: [], added: 0, removed: 0, unchanged: 0, durationMs: 0, errors: [] }),
    close: () => Promise.resolve(),
  };
}
