// The data model of SPEC §2 and the shapes every layer shares: records, the state they live in,
// the principal that acts, and the mutations a domain operation asks the store to persist.
import type { RpcError } from '../errors.js';

export const PeeringStatuses = [
  'pending-acceptance',
  'active',
  'rejected',
  'deleted',
  'expired',
  'failed',
] as const;
export type PeeringStatus = (typeof PeeringStatuses)[number];

/** Terminal records are kept for peering.terminalRetentionSeconds, then compacted away. */
export const TerminalStatuses: readonly PeeringStatus[] = ['rejected', 'deleted', 'expired', 'failed'];
/** A pair of VPCs may hold at most one peering in these states (SPEC §3 rule 2). */
export const LiveStatuses: readonly PeeringStatus[] = ['pending-acceptance', 'active'];

export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A daemon's nodeId (SPEC §11): the config's rule, and the writer named in every version (hlc.ts). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const BRIDGE_PATTERN = /^[A-Za-z0-9_-]{1,15}$/;
export const PEERING_ID_PATTERN = /^pcx-[0-9a-f]{17}$/;
export const MAX_NAME_LENGTH = 128;
export const MAX_CIDRS_PER_VPC = 5;

export interface Vpc {
  readonly id: string;
  readonly tenantId: string;
  readonly name?: string;
  /** Normalised CIDR blocks (network address, canonical text), 1 to 5, non-overlapping. */
  readonly cidrs: readonly string[];
  readonly bridge: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Peering {
  readonly id: string;
  readonly tenantId: string;
  readonly requesterVpcId: string;
  readonly accepterVpcId: string;
  readonly name?: string;
  readonly status: PeeringStatus;
  /** A human sentence, set for failed, rejected, expired and deleted. */
  readonly statusReason?: string;
  readonly requestedBy: string;
  readonly acceptedBy?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string;
}

/** The whole desired state. Records are immutable: a change replaces the record. */
export interface State {
  readonly vpcs: Readonly<Record<string, Vpc>>;
  readonly peerings: Readonly<Record<string, Peering>>;
}

export function emptyState(): State {
  return { vpcs: {}, peerings: {} };
}

/** One durable change. A domain operation returns a list; the store applies it atomically. */
export type Mutation =
  | { readonly op: 'vpc.put'; readonly vpc: Vpc }
  | { readonly op: 'vpc.del'; readonly id: string }
  | { readonly op: 'peering.put'; readonly peering: Peering }
  | { readonly op: 'peering.del'; readonly id: string };

/** Who calls. `tenant: '*'` is the operator, who sees every tenant. */
export interface Principal {
  readonly sub: string;
  readonly tenant: string;
  readonly permissions: readonly string[];
  /**
   * When the token that proved this principal stops being accepted, in ms since the epoch (its
   * `exp` plus the allowed clock skew): a connection's login is refused from then on. Absent: never.
   */
  readonly expiresAt?: number;
}

/** Limits and timers of SPEC §11 `peering.*`, as the domain needs them. */
export interface PeeringPolicy {
  readonly pendingTtlSeconds: number;
  readonly terminalRetentionSeconds: number;
  readonly maxActivePerVpc: number;
}

/**
 * What a domain operation needs from the world, passed in so the operation stays pure. No
 * principal: who may call is decided before (dispatcher, tenancy.ts), not by the operation.
 */
export interface OpContext {
  /** The `sub` of the caller, recorded as requestedBy/acceptedBy and named in status reasons. */
  readonly actor: string;
  readonly now: Date;
  readonly policy: PeeringPolicy;
  /** A fresh `pcx-` + 17 hex id; only peering creation calls it. */
  readonly newPeeringId: () => string;
}

/** What a write operation returns: the mutations to persist and the reply to send. */
export interface OpResult<T> {
  readonly mutations: readonly Mutation[];
  readonly result: T;
  /**
   * Set when the operation refuses but still changes state (an accept that finds a new
   * conflict turns the peering `failed`): the caller persists `mutations`, then sends the error.
   */
  readonly error?: RpcError;
}


/**
 * A peering's data plane on one host (SPEC §5 `dataplane.state`, gossiped as `hosts`):
 * `programmed` = verified on this host by the last pass that reached OVS; `inactive` = a
 * peering that is not active, none of whose flows remain here (`pending` while some do); `error`
 * carries `reason` (OVS_UNAVAILABLE with OVS unreachable).
 */
export const PeeringDataplaneStates = ['programmed', 'not-local', 'pending', 'inactive', 'error', 'disabled'] as const;
export type PeeringDataplaneState = (typeof PeeringDataplaneStates)[number];
