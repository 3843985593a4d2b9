// VPC operations (SPEC §2, §3 rule 6, §4): pure functions from the current state, the caller and
// the params to the mutations to persist and the reply. Refusals throw RpcError; nothing here
// persists. Order of checks in every operation: permission, params, visibility, rules — so a
// principal of another tenant learns nothing beyond 404.
import { RpcError } from '../errors.js';
import { sameCidrSet } from './cidr.js';
import { canSee, requirePermission } from './rbac.js';
import type { StateView } from './state-index.js';
import type { OpContext, OpResult, Peering, Principal, Vpc } from './types.js';
import { LiveStatuses } from './types.js';
import { compareText, normaliseCidrs, optionalName, requireBridge, requireId } from './validate.js';

export interface CreateVpcParams {
  readonly id: string;
  readonly tenantId: string;
  readonly cidrs: readonly string[];
  readonly bridge: string;
  readonly name?: string;
}

/** `name: ''` clears the name; an absent member leaves that field as it is. */
export interface UpdateVpcParams {
  readonly id: string;
  readonly name?: string;
  readonly cidrs?: readonly string[];
}

export interface VpcRef {
  readonly id: string;
}

export interface ListVpcsParams {
  readonly tenantId?: string;
}

/** The VPC if it exists and the principal may see it; otherwise VPC_NOT_FOUND (never 403). */
export function visibleVpc(view: StateView, principal: Principal, id: string): Vpc {
  const vpc = view.getVpc(id);
  if (!vpc || !canSee(principal, vpc.tenantId)) {
    throw new RpcError('VPC_NOT_FOUND', `There is no VPC ${id}; check the id with vpc.list.`, { vpcId: id });
  }
  return vpc;
}

/** The pending-acceptance and active peerings of a VPC: those that lock it (§3 rule 6). */
export function livePeeringsOf(view: StateView, vpcId: string): Peering[] {
  return view.peeringsOfVpc(vpcId).filter((p) => LiveStatuses.includes(p.status));
}

export function createVpc(view: StateView, ctx: OpContext, params: CreateVpcParams): OpResult<Vpc> {
  requirePermission(ctx.principal, 'vpc:create');
  requireId('id', params.id);
  requireId('tenantId', params.tenantId);
  requireBridge('bridge', params.bridge);
  const name = optionalName('name', params.name);
  const cidrs = normaliseCidrs(params.cidrs);
  if (!canSee(ctx.principal, params.tenantId)) {
    throw new RpcError(
      'TENANT_MISMATCH',
      `Your token is for tenant ${ctx.principal.tenant}; you cannot create a VPC for tenant ${params.tenantId}.`,
      { tenantId: params.tenantId },
    );
  }
  // Ids and bridges are unique across tenants (a bridge is a host-wide name), so these two
  // refusals necessarily tell that the id or bridge is taken; they say no more than that.
  if (view.getVpc(params.id)) {
    throw new RpcError('VPC_EXISTS', `A VPC with id ${params.id} already exists; choose another id.`, { vpcId: params.id });
  }
  const holder = view.vpcByBridge(params.bridge);
  if (holder) {
    throw new RpcError(
      'BRIDGE_IN_USE',
      `The bridge ${params.bridge} already carries another VPC; a bridge carries one VPC, so give this VPC its own bridge.`,
      canSee(ctx.principal, holder.tenantId) ? { bridge: params.bridge, vpcId: holder.id } : { bridge: params.bridge },
    );
  }
  const now = ctx.now.toISOString();
  const vpc: Vpc = {
    id: params.id,
    tenantId: params.tenantId,
    ...(name === undefined ? {} : { name }),
    cidrs,
    bridge: params.bridge,
    createdAt: now,
    updatedAt: now,
  };
  return { mutations: [{ op: 'vpc.put', vpc }], result: vpc };
}

/** Changes name and/or cidrs. A call that changes nothing returns the VPC and no mutation. */
export function updateVpc(view: StateView, ctx: OpContext, params: UpdateVpcParams): OpResult<Vpc> {
  requirePermission(ctx.principal, 'vpc:update');
  requireId('id', params.id);
  const name = params.name === undefined ? undefined : optionalName('name', params.name);
  const cidrs = params.cidrs === undefined ? undefined : normaliseCidrs(params.cidrs);
  const old = visibleVpc(view, ctx.principal, params.id);

  const nameChanges = params.name !== undefined && name !== old.name;
  // The same blocks in another order or spelling are not a change, so they never hit CIDR_LOCKED.
  const cidrsChange = cidrs !== undefined && !sameCidrSet(cidrs, old.cidrs);
  if (cidrsChange) {
    const live = livePeeringsOf(view, old.id);
    if (live.length > 0) {
      throw new RpcError(
        'CIDR_LOCKED',
        `The CIDRs of VPC ${old.id} cannot change while it has pending or active peerings (${live.map((p) => p.id).join(', ')}); delete them first.`,
        { vpcId: old.id, peerings: live.map((p) => p.id) },
      );
    }
  }
  if (!nameChanges && !cidrsChange) return { mutations: [], result: old };

  // Rebuilt without `name` first, so that clearing the name removes the member.
  const { name: _oldName, ...rest } = old;
  const newName = nameChanges ? name : old.name;
  const vpc: Vpc = {
    ...rest,
    ...(newName === undefined ? {} : { name: newName }),
    cidrs: cidrsChange ? cidrs : old.cidrs,
    updatedAt: ctx.now.toISOString(),
  };
  return { mutations: [{ op: 'vpc.put', vpc }], result: vpc };
}

/**
 * Deletes a VPC without pending or active peerings. Its terminal peerings stay until compacted
 * (they are history, visible through their own tenantId).
 */
export function deleteVpc(
  view: StateView,
  ctx: OpContext,
  params: VpcRef,
): OpResult<{ readonly id: string; readonly deleted: true }> {
  requirePermission(ctx.principal, 'vpc:delete');
  requireId('id', params.id);
  const vpc = visibleVpc(view, ctx.principal, params.id);
  const live = livePeeringsOf(view, vpc.id);
  if (live.length > 0) {
    throw new RpcError(
      'VPC_IN_USE',
      `VPC ${vpc.id} has pending or active peerings (${live.map((p) => p.id).join(', ')}); delete or reject them first.`,
      { vpcId: vpc.id, peerings: live.map((p) => p.id) },
    );
  }
  return { mutations: [{ op: 'vpc.del', id: vpc.id }], result: { id: vpc.id, deleted: true } };
}

export function getVpc(view: StateView, ctx: OpContext, params: VpcRef): Vpc {
  requirePermission(ctx.principal, 'vpc:read');
  requireId('id', params.id);
  return visibleVpc(view, ctx.principal, params.id);
}

/**
 * The VPCs the principal may see, sorted by id; `tenantId` narrows to one tenant. Asking for a
 * tenant one cannot see gives an empty list, as if it had no VPCs (never 403).
 */
export function listVpcs(view: StateView, ctx: OpContext, params: ListVpcsParams): { items: Vpc[] } {
  requirePermission(ctx.principal, 'vpc:read');
  if (params.tenantId !== undefined) requireId('tenantId', params.tenantId);
  const items = [...view.vpcs()]
    .filter((v) => canSee(ctx.principal, v.tenantId))
    .filter((v) => params.tenantId === undefined || v.tenantId === params.tenantId)
    .sort((a, b) => compareText(a.id, b.id));
  return { items };
}
