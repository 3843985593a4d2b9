// Tenant visibility of SPEC §3 rule 1 and §4, the one place it is decided: a principal of a
// tenant sees and changes only its own tenant's records, every other record does not exist for
// it (404, never 403: it learns nothing of other tenants), and it creates VPCs for its own tenant
// only (TENANT_MISMATCH); so it can peer only VPCs of its tenant. The operator (tenant `*`) sees
// every tenant. That two VPCs of different tenants never peer is a rule of the records, not of
// the caller (CROSS_TENANT, peering-ops.ts): it holds for the operator and the merge too.
//
// Each export is the domain operation of the same name (vpc-ops.ts, peering-ops.ts) as a
// principal calls it. The operation runs on the real view (ids and bridges are unique across
// tenants, and the rules are the same for every caller), and the tenant check runs when the
// operation first reads that view: every operation checks its params before it reads the state,
// so the order of SPEC §4 holds as it did when the operations checked the caller themselves —
// params (INVALID_PARAMS), then visibility (404) or TENANT_MISMATCH, then the rules (409). Were
// the check made before the params, a hidden record would answer 404 where a missing one answers
// INVALID_PARAMS, and tell a tenant that another tenant's id exists. The check reads the very
// view the operation then runs on (a write's staged view), so no write slips in between.
// Permissions are checked before all of this, by the dispatcher (rpc/dispatcher.ts).
import { RpcError, isRpcError } from '../errors.js';
import * as peeringOps from './peering-ops.js';
import { canSee } from './rbac.js';
import type { StateView } from './state-index.js';
import type { OpContext, OpResult, Peering, Principal, Vpc } from './types.js';
import * as vpcOps from './vpc-ops.js';

/** `view` as an operation sees it, with `check` run once, just before the operation's first read. */
function checkedOnFirstRead(view: StateView, check: () => void): StateView {
  let checked = false;
  const read = (): StateView => {
    if (!checked) {
      check();
      checked = true;
    }
    return view;
  };
  return {
    getVpc: (id) => read().getVpc(id),
    getPeering: (id) => read().getPeering(id),
    vpcByBridge: (bridge) => read().vpcByBridge(bridge),
    peeringsOfVpc: (vpcId) => read().peeringsOfVpc(vpcId),
    vpcs: () => read().vpcs(),
    peerings: () => read().peerings(),
    get vpcCount() {
      return read().vpcCount;
    },
    get peeringCount() {
      return read().peeringCount;
    },
    peeringCountsByStatus: () => read().peeringCountsByStatus(),
    get version() {
      return read().version;
    },
    changesSince: (version) => read().changesSince(version),
  };
}

/**
 * `view` in which VPCs `ids` (in that order) must exist for the principal: the first that is
 * missing or of a tenant it may not see is VPC_NOT_FOUND, the same refusal either way.
 */
function namingVpcs(view: StateView, principal: Principal, ...ids: string[]): StateView {
  return checkedOnFirstRead(view, () => {
    for (const id of ids) {
      const vpc = view.getVpc(id);
      if (!vpc || !canSee(principal, vpc.tenantId)) throw vpcOps.vpcNotFound(id);
    }
  });
}

/** `view` in which peering `id` must exist for the principal, else PEERING_NOT_FOUND. */
function namingPeering(view: StateView, principal: Principal, id: string): StateView {
  return checkedOnFirstRead(view, () => {
    const p = view.getPeering(id);
    if (!p || !canSee(principal, p.tenantId)) throw peeringOps.peeringNotFound(id);
  });
}

/**
 * vpc.create for the principal's own tenant only (TENANT_MISMATCH, after the params, before any
 * rule). A bridge held by a VPC of another tenant is still BRIDGE_IN_USE (a bridge is a host-wide
 * name), without naming that VPC.
 */
export function createVpc(view: StateView, principal: Principal, ctx: OpContext, params: vpcOps.CreateVpcParams): OpResult<Vpc> {
  const ownTenant = checkedOnFirstRead(view, () => {
    if (!canSee(principal, params.tenantId)) {
      throw new RpcError(
        'TENANT_MISMATCH',
        `Your token is for tenant ${principal.tenant}; you cannot create a VPC for tenant ${params.tenantId}.`,
        { tenantId: params.tenantId },
      );
    }
  });
  try {
    return vpcOps.createVpc(ownTenant, ctx, params);
  } catch (err) {
    const holder = view.vpcByBridge(params.bridge);
    if (isRpcError(err) && err.reason === 'BRIDGE_IN_USE' && holder && !canSee(principal, holder.tenantId)) {
      throw new RpcError('BRIDGE_IN_USE', err.message, { bridge: params.bridge });
    }
    throw err;
  }
}

export function updateVpc(view: StateView, principal: Principal, ctx: OpContext, params: vpcOps.UpdateVpcParams): OpResult<Vpc> {
  return vpcOps.updateVpc(namingVpcs(view, principal, params.id), ctx, params);
}

export function deleteVpc(
  view: StateView,
  principal: Principal,
  _ctx: OpContext,
  params: vpcOps.VpcRef,
): OpResult<{ readonly id: string; readonly deleted: true }> {
  return vpcOps.deleteVpc(namingVpcs(view, principal, params.id), params);
}

export function getVpc(view: StateView, principal: Principal, params: vpcOps.VpcRef): Vpc {
  return vpcOps.getVpc(namingVpcs(view, principal, params.id), params);
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
  return peeringOps.createPeering(namingVpcs(view, principal, params.requesterVpcId, params.accepterVpcId), ctx, params);
}

/** A transition of SPEC §2 (accept, reject, delete) as a principal calls it. */
type Transition = (view: StateView, principal: Principal, ctx: OpContext, params: peeringOps.PeeringRef) => OpResult<Peering>;

function transition(op: (view: StateView, ctx: OpContext, params: peeringOps.PeeringRef) => OpResult<Peering>): Transition {
  return (view, principal, ctx, params) => op(namingPeering(view, principal, params.id), ctx, params);
}

export const acceptPeering: Transition = transition(peeringOps.acceptPeering);
export const rejectPeering: Transition = transition(peeringOps.rejectPeering);
export const deletePeering: Transition = transition(peeringOps.deletePeering);

export function getPeering(view: StateView, principal: Principal, params: peeringOps.PeeringRef): Peering {
  return peeringOps.getPeering(namingPeering(view, principal, params.id), params);
}

/** Only the peerings the principal may see: a VPC it cannot see simply yields no items. */
export function listPeerings(view: StateView, principal: Principal, params: peeringOps.ListPeeringsParams): { items: Peering[] } {
  return { items: peeringOps.listPeerings(view, params).items.filter((p) => canSee(principal, p.tenantId)) };
}
