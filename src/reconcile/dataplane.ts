// What the control plane needs from the data plane: its health for `status`, the per-peering
// `dataplane` object of `peering.get`, and an on-demand reconcile. The no-op implementation
// below is the ADR's no-op mode: the state machine runs the same, nothing is programmed.
import type { Peering, PeeringDataplaneState } from '../domain/types.js';

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
  /**
   * Sides of our patch pairs made again after someone else deleted or changed them (a port a
   * pass had left in place; a new peering's first ports are not counted).
   */
  readonly portsRepaired: number;
  readonly lastError: string | null;
  /** Data-plane changes asked for by the store, and how many of them are on the wire. */
  readonly desiredGeneration: number;
  readonly appliedGeneration: number;
  /**
   * Restarts of ovs-vswitchd seen (its pid changed; without a readable pid, a bridge found
   * without our canary flow again since the last count): one restart counts once, however many
   * bridges it wiped and however many passes found them.
   */
  readonly restartsDetected: number;
  /**
   * Times the backstop's `ovs-ofctl dump-flows` of a bridge disagreed with the table kept from
   * its OpenFlow channel (a blind spot of the codec; the dump wins): 0 on a healthy host.
   */
  readonly channelDisagreements: number;
  /** Local bridges whose OpenFlow channel is up with its flow table read (the rest are read with ovs-ofctl). */
  readonly channelsSynced: number;
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
  /** Flows with this daemon's cookie on it (the canary included), as its last pass left them. */
  readonly flows: number;
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
  /** The peering's two bridges when both are on this host (SPEC §5); empty otherwise. */
  readonly bridges: readonly PeeringBridge[];
}

/** One side of a peering on this host: its bridge, its patch port there, and its flows there. */
export interface PeeringBridge {
  readonly bridge: string;
  readonly patchPort: string;
  readonly peerPatchPort: string;
  /** The peering's cookie in hex (`0x5ee0…`): `ovs-ofctl dump-flows BR cookie=C/-1` shows its flows. */
  readonly cookie: string;
  /** Flows of the peering on this bridge as the last pass that reached it left them. */
  readonly flows: number;
}

export interface ReconcileRequest {
  readonly bridge?: string;
  readonly dryRun?: boolean;
  /** On a real run, also report what was changed (`changes`); a dry run always does. */
  readonly verbose?: boolean;
}

/**
 * What a reconcile pass changes (or would change) on one bridge, as text an operator can paste:
 * `ovs-ofctl add-flow BRIDGE '<addFlows[i]>'`, `ovs-ofctl --strict del-flows BRIDGE
 * '<removeFlows[i]>'`. Ports are names, a new one as `name (peer=other)`.
 */
export interface BridgeChanges {
  readonly bridge: string;
  readonly addFlows: readonly string[];
  readonly removeFlows: readonly string[];
  readonly addPorts: readonly string[];
  readonly removePorts: readonly string[];
}

export interface ReconcileError {
  /** The bridge, or `*` for the pass as a whole (OVS did not answer, the deadline passed). */
  readonly bridge: string;
  readonly reason: DataplaneReason;
  readonly error: string;
}

export interface ReconcileResult {
  /** `disabled` in no-op mode: nothing was looked at, the counts are not work done. */
  readonly ovs: OvsState;
  readonly bridges: readonly string[];
  readonly added: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly durationMs: number;
  readonly errors: readonly ReconcileError[];
  /** With dryRun or verbose: the bridges with something to change, sorted; empty when there is nothing to do. */
  readonly changes?: readonly BridgeChanges[];
}

/** `peering.flows`: this host's flows of one peering, per bridge, as `ovs-ofctl dump-flows` prints them (no stats). */
export interface PeeringFlows {
  readonly id: string;
  readonly bridges: readonly { readonly bridge: string; readonly flows: readonly string[] }[];
}

/**
 * A data-plane call that cannot be served, with the reason the API sends (src/errors.ts):
 * `BRIDGE_NOT_FOUND` (404) for a bridge this host does not have, `OVS_DISABLED` (503) in no-op
 * mode, `OVS_UNAVAILABLE` (503) when OVS does not answer.
 */
export class DataplaneError extends Error {
  override readonly name = 'DataplaneError';
  constructor(
    readonly reason: 'BRIDGE_NOT_FOUND' | 'OVS_DISABLED' | 'OVS_UNAVAILABLE',
    message: string,
  ) {
    super(message);
  }
}

export interface Dataplane {
  status(): OvsStatus;
  peering(p: Peering): PeeringDataplane;
  /** Rejects with DataplaneError BRIDGE_NOT_FOUND for `req.bridge` not on this host (no dump is started for it). */
  reconcile(req: ReconcileRequest): Promise<ReconcileResult>;
  /** Dumps the peering's flows by its cookie (exact mask) on its bridges of this host; DataplaneError when OVS cannot. */
  peeringFlows(p: Peering): Promise<PeeringFlows>;
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
      portsRepaired: 0,
      lastError: null,
      desiredGeneration: 0,
      appliedGeneration: 0,
      restartsDetected: 0,
      channelDisagreements: 0,
      channelsSynced: 0,
      perBridge: {},
    }),
    peering: () => ({ state: 'disabled', flows: 0, lastReconciledAt: null, lastAttemptAt: null, bridges: [] }),
    reconcile: () =>
      Promise.resolve({ ovs: 'disabled', bridges: [], added: 0, removed: 0, unchanged: 0, durationMs: 0, errors: [] }),
    peeringFlows: () => Promise.reject(new DataplaneError('OVS_DISABLED', `OVS is disabled on this host (no-op mode): ${reason}.`)),
    close: () => Promise.resolve(),
  };
}
