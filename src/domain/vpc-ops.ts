// VPC operations (SPEC §2, §3 rule 6): pure functions from the current state and the params to
// the mutations to persist and the reply. Refusals throw RpcError; nothing here persists. They
// know no caller: permissions are checked by the dispatcher before they run, and tenant
// visibility by tenancy.ts at their first read of the state. Order of checks in every operation:
// params, with no read of the state (tenancy.ts relies on it), then the records it names, then
// the rules.
import { RpcError } from '../errors.js';
import { sameCidrSet } from './cidr.js';
import type { StateView } from './state-index.js';
import type { OpContext, OpResult, Peering, Vpc } from './types.js';
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

/** The refusal for a VPC that does not exist (or, tenancy.ts, that the caller may not see). */
export function vpcNotFound(id: string): RpcError {
  return new RpcError('VPC_NOT_FOUND', `There is no VPC ${id}; check the id with vpc.list.`, { vpcId: id });
}

/** The VPC of that id; otherwise VPC_NOT_FOUND. */
export function existingVpc(view: StateView, id: string): Vpc {
  const vpc = view.getVpc(id);
  if (!vpc) throw vpcNotFound(id);
  return vpc;
}

/** The pending-acceptance and active peerings of a VPC: those that lock it (§3 rule 6). */
export function livePeeringsOf(view: StateView, vpcId: string): Peering[] {
  return view.peeringsOfVpc(vpcId).filter((p) => LiveStatuses.includes(p.status));
}

export function createVpc(view: StateView, ctx: OpContext, params: CreateVpcParams): OpResult<Vpc> {
  requireId('id', params.id);
  requireId('tenantId', params.tenantId);
  requireBridge('bridge', params.bridge);
  const name = optionalName('name', params.name);
  const cidrs = normaliseCidrs(params.cidrs);
  // Ids and bridges are unique across tenants (a bridge is a host-wide name), so these two
  // refusals necessarily tell that the id or bridge is taken; tenancy.ts leaves out the holder
  // of a bridge when the caller may not see it.
  if (view.getVpc(params.id)) {
    throw new RpcError('VPC_EXISTS', `A VPC with id ${params.id} already exists; choose another id.`, { vpcId: params.id });
  }
  const holder = view.vpcByBridge(params.bridge);
  if (holder) {
    throw new RpcError(
      'BRIDGE_IN_USE',
      `The bridge ${params.bridge} already carries another VPC; a bridge carries one VPC, so give this VPC its own bridge.`,
      { bridge: params.bridge, vpcId: holder.id },
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
  requireId('id', params.id);
  const name = params.name === undefined ? undefined : optionalName('name', params.name);
  const cidrs = params.cidrs === undefined ? undefined : normaliseCidrs(params.cidrs);
  const old = existingVpc(view, params.id);

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
export function deleteVpc(view: StateView, params: VpcRef): OpResult<{ readonly id: string; readonly deleted: true }> {
  requireId('id', params.id);
  const vpc = existingVpc(view, params.id);
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

export function getVpc(view: StateView, params: VpcRef): Vpc {
  requireId('id', params.id);
  return existingVpc(view, params.id);
}

/** The VPCs, sorted by id; `tenantId` narrows to one tenant. */
export function listVpcs(view: StateView, params: ListVpcsParams): { items: Vpc[] } {
  if (params.tenantId !== undefined) requireId('tenantId', params.tenantId);
  const items = [...view.vpcs()]
    .filter((v) => params.tenantId === undefined || v.tenantId === params.tenantId)
    .sort((a, b) => compareText(a.id, b.id));
  return { items };
}
