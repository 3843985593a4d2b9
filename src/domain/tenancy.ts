// Tenant visibility of SPEC §3 rule 1 and §4, the one place it is decided: a principal of a
// tenant sees and changes only its own tenant's records, every other record does not exist for
// it (404, never 403: it learns nothing of other tenants), and it creates VPCs for its own tenant
// only (TENANT_MISMATCH); so it can peer only VPCs of its tenant. The operator (tenant `*`) sees
// every tenant. That two VPCs of different tenants never peer is a rule of the records, not of
// the caller (CROSS_TENANT, peering-ops.ts): it holds for the operator and the merge too.
//
// Each export is the domain operation of the same name (vpc-ops.ts, peering-ops.ts) as a
// principal calls it: the records the call names are looked up on the very view the operation
// then runs on (a write's staged view), so no write slips in between the check and the change.
// A record the caller names that does not exist at all is left to the operation, which says so
// after checking the params. Permissions are checked before, by the dispatcher (method.ts).
import { RpcError, isRpcError } from '../errors.js';
import * as peeringOps from './peering-ops.js';
import { canSee } from './rbac.js';
import type { StateView } from './state-index.js';
import type { OpContext, OpResult, Peering, Principal, Vpc } from './types.js';
import * as vpcOps from './vpc-ops.js';

/** Throws VPC_NOT_FOUND if VPC `id` exists but belongs to a tenant the principal may not see. */
function hideVpc(view: StateView, principal: Principal, id: string): void {
  const vpc = view.getVpc(id);
  if (vpc && !canSee(principal, vpc.tenantId)) throw vpcOps.vpcNotFound(id);
}

/** Throws PEERING_NOT_FOUND if peering `id` exists but belongs to a tenant the principal may not see. */
function hidePeering(view: StateView, principal: Principal, id: string): void {
  const p = view.getPeering(id);
  if (p && !canSee(principal, p.tenantId)) throw peeringOps.peeringNotFound(id);
}

/**
 * vpc.create for the principal's own tenant only (TENANT_MISMATCH, before any rule). A bridge held
 * by a VPC of another tenant is still BRIDGE_IN_USE (a bridge is a host-wide name), without naming
 * that VPC.
 */
export function createVpc(view: StateView, principal: Principal, ctx: OpContext, params: vpcOps.CreateVpcParams): OpResult<Vpc> {
  if (!canSee(principal, params.tenantId)) {
    throw new RpcError(
      'TENANT_MISMATCH',
      `Your token is for tenant ${principal.tenant}; you cannot create a VPC for tenant ${params.tenantId}.`,
      { tenantId: params.tenantId },
    );
  }
  try {
    return vpcOps.createVpc(view, ctx, params);
  } catch (err) {
    const holder = view.vpcByBridge(params.bridge);
    if (isRpcError(err) && err.reason === 'BRIDGE_IN_USE' && holder && !canSee(principal, holder.tenantId)) {
      throw new RpcError('BRIDGE_IN_USE', err.message, { bridge: params.bridge });
    }
    throw err;
  }
}

export function updateVpc(view: StateView, principal: Principal, ctx: OpContext, params: vpcOps.UpdateVpcParams): OpResult<Vpc> {
  hideVpc(view, principal, params.id);
  return vpcOps.updateVpc(view, ctx, params);
}

export function deleteVpc(
  view: StateView,
  principal: Principal,
  _ctx: OpContext,
  params: vpcOps.VpcRef,
): OpResult<{ readonly id: string; readonly deleted: true }> {
  hideVpc(view, principal, params.id);
  return vpcOps.deleteVpc(view, params);
}

export function getVpc(view: StateView, principal: Principal, params: vpcOps.VpcRef): Vpc {
  hideVpc(view, principal, params.id);
  return vpcOps.getVpc(view, params);
}

/** Only the VPCs the principal may see: a tenant it cannot see looks empty, not forbidden. */
export function listVpcs(view: StateView, principal: Principal, params: vpcOps.ListVpcsParams): { items: Vpc[] } {
  return { items: vpcOps.listVpcs(view, params).items.filter((v) => canSee(principal, v.tenantId)) };
}

/** Both VPCs must be visible (VPC_NOT_FOUND otherwise, never CROSS_TENANT: that would confirm the other tenant's VPC). */
export function createPeering(
  view: StateView,
  principal: Principal,
  ctx: OpContext,
  params: peeringOps.CreatePeeringParams,
): OpResult<Peering> {
  hideVpc(view, principal, params.requesterVpcId);
  hideVpc(view, principal, params.accepterVpcId);
  return peeringOps.createPeering(view, ctx, params);
}

/** A transition of SPEC §2 (accept, reject, delete) as a principal calls it. */
type Transition = (view: StateView, principal: Principal, ctx: OpContext, params: peeringOps.PeeringRef) => OpResult<Peering>;

function transition(op: (view: StateView, ctx: OpContext, params: peeringOps.PeeringRef) => OpResult<Peering>): Transition {
  return (view, principal, ctx, params) => {
    hidePeering(view, principal, params.id);
    return op(view, ctx, params);
  };
}

export const acceptPeering: Transition = transition(peeringOps.acceptPeering);
export const rejectPeering: Transition = transition(peeringOps.rejectPeering);
export const deletePeering: Transition = transition(peeringOps.deletePeering);

export function getPeering(view: StateView, principal: Principal, params: peeringOps.PeeringRef): Peering {
  hidePeering(view, principal, params.id);
  return peeringOps.getPeering(view, params);
}

/** Only the peerings the principal may see: a VPC it cannot see simply yields no items. */
export function listPeerings(view: StateView, principal: Principal, params: peeringOps.ListPeeringsParams): { items: Peering[] } {
  return { items: peeringOps.listPeerings(view, params).items.filter((p) => canSee(principal, p.tenantId)) };
}
