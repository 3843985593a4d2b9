// The one error catalogue: every error the daemon sends on the wire has a stable reason here,
// with its JSON-RPC code. docs/errors.md lists the same table (test/unit/errors.test.ts holds
// the two together). Local misuse (a bug in the caller) throws plain Errors instead.

export const ErrorCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** reason → [code, what it means]. The reason is the stable, machine-readable name. */
export const Catalogue = {
  PARSE_ERROR: [ErrorCodes.PARSE_ERROR, 'The line is not valid JSON.'],
  INVALID_REQUEST: [ErrorCodes.INVALID_REQUEST, 'The JSON is not a valid JSON-RPC 2.0 request.'],
  LINE_TOO_LONG: [ErrorCodes.INVALID_REQUEST, 'The line exceeds socket.maxLineBytes; the connection is closed.'],
  BATCH_TOO_LARGE: [ErrorCodes.INVALID_REQUEST, 'The batch holds more requests than socket.maxBatchSize.'],
  EMPTY_BATCH: [ErrorCodes.INVALID_REQUEST, 'The batch is an empty array.'],
  NESTING_TOO_DEEP: [ErrorCodes.INVALID_REQUEST, 'The line nests arrays and objects deeper than 16 levels; it is refused unparsed.'],
  LINE_TIMEOUT: [ErrorCodes.INVALID_REQUEST, 'A line was not completed within socket.lineTimeoutMs; the connection is closed.'],
  METHOD_NOT_FOUND: [ErrorCodes.METHOD_NOT_FOUND, 'No such method; rpc.discover lists them.'],
  INVALID_PARAMS: [ErrorCodes.INVALID_PARAMS, 'A parameter is missing, of the wrong type or malformed; data.field names it.'],
  INTERNAL_ERROR: [ErrorCodes.INTERNAL_ERROR, 'An unexpected fault inside the daemon; details are in its log, never on the wire.'],
  UNAUTHENTICATED: [ErrorCodes.UNAUTHENTICATED, 'No token was given (auth.login or params.auth).'],
  TOKEN_INVALID: [ErrorCodes.UNAUTHENTICATED, 'The token is malformed, forged, of a refused algorithm or lacks a required claim.'],
  TOKEN_EXPIRED: [ErrorCodes.UNAUTHENTICATED, 'The token has expired.'],
  FORBIDDEN: [ErrorCodes.FORBIDDEN, 'The principal lacks the permission the method needs; data.permission names it.'],
  OPERATOR_ONLY: [ErrorCodes.FORBIDDEN, 'status, reconcile.run and metrics show or act on the whole host: only an operator (tenant *) may call them.'],
  TENANT_MISMATCH: [ErrorCodes.FORBIDDEN, 'The principal cannot create resources for another tenant.'],
  VPC_NOT_FOUND: [ErrorCodes.NOT_FOUND, 'No such VPC visible to this principal.'],
  PEERING_NOT_FOUND: [ErrorCodes.NOT_FOUND, 'No such peering visible to this principal.'],
  BRIDGE_NOT_FOUND: [ErrorCodes.NOT_FOUND, 'The bridge is not on this host (reconcile.run with a bridge).'],
  VPC_EXISTS: [ErrorCodes.CONFLICT, 'A VPC with this id already exists.'],
  BRIDGE_IN_USE: [ErrorCodes.CONFLICT, 'Another VPC already uses this bridge.'],
  CIDR_OVERLAP: [ErrorCodes.CONFLICT, 'CIDR blocks overlap: of the requester and the accepter, or within one VPC.'],
  PEER_CIDR_OVERLAP: [ErrorCodes.CONFLICT, 'A CIDR of the new peer overlaps a CIDR of a VPC already peered with the same VPC.'],
  VPC_IN_USE: [ErrorCodes.CONFLICT, 'The VPC has pending or active peerings (data.peerings lists them).'],
  CIDR_LOCKED: [ErrorCodes.CONFLICT, 'The CIDRs of a VPC with pending or active peerings cannot change.'],
  INVALID_STATE: [ErrorCodes.CONFLICT, 'The peering is not in a state that allows this transition.'],
  DUPLICATE_PEERING: [ErrorCodes.CONFLICT, 'A pending or active peering already exists for this pair of VPCs.'],
  SELF_PEERING: [ErrorCodes.CONFLICT, 'A VPC cannot peer with itself.'],
  CROSS_TENANT: [ErrorCodes.CONFLICT, 'The two VPCs belong to different tenants (cross-tenant peering is v2).'],
  LIMIT_EXCEEDED: [ErrorCodes.CONFLICT, 'The VPC already has peering.maxActivePerVpc active peerings.'],
  UNAVAILABLE: [ErrorCodes.UNAVAILABLE, 'The daemon cannot serve this now (shutting down, or the disk refused the journal write: status.store says so, and the store retries by itself).'],
  OVS_DISABLED: [ErrorCodes.UNAVAILABLE, 'OVS is disabled on this host (no-op mode): there are no flows to show.'],
  OVS_UNAVAILABLE: [ErrorCodes.UNAVAILABLE, 'Open vSwitch does not answer on this host now; retry once status says ovs enabled.'],
  IDLE_TIMEOUT: [ErrorCodes.UNAVAILABLE, 'The connection sent nothing and had no call running for socket.idleTimeoutMs; it is closed.'],
} as const satisfies Record<string, readonly [ErrorCode, string]>;

export type Reason = keyof typeof Catalogue;

/** An error meant for the wire: its code comes from the catalogue, its message is for a human. */
export class RpcError extends Error {
  readonly code: ErrorCode;
  readonly reason: Reason;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(reason: Reason, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'RpcError';
    this.reason = reason;
    this.code = Catalogue[reason][0];
    this.data = data;
  }

  /** The JSON-RPC `error` member. */
  toJSON(): { code: number; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: { ...this.data, reason: this.reason } };
  }
}

/** Shorthand for the common -32602 with `data.field`. */
export function invalidParams(field: string, message: string): RpcError {
  return new RpcError('INVALID_PARAMS', message, { field });
}

export function isRpcError(e: unknown): e is RpcError {
  return e instanceof RpcError;
}
