// vpc.* methods: validate params, run the pure domain operation as the caller may (tenancy.ts),
// persist its mutations, reply.
import { z } from 'zod';
import { createVpc, deleteVpc, getVpc, listVpcs, updateVpc } from '../../domain/tenancy.js';
import { defineMethod, type MethodSpec } from '../method.js';
import { type MethodDeps, runWrite } from './deps.js';
import { Bridge, ById, Cidrs, Name, TenantId, VpcId, VpcRecord } from './schemas.js';

export function vpcMethods(deps: MethodDeps): MethodSpec[] {
  return [
    defineMethod({
      name: 'vpc.create',
      summary: 'Create a VPC (its bridge is created by the platform, not by this daemon).',
      auth: 'required',
      permission: 'vpc:create',
      params: z.strictObject({ id: VpcId, tenantId: TenantId, cidrs: Cidrs, bridge: Bridge, name: Name.optional() }),
      result: VpcRecord,
      handler: (params, { principal }) => runWrite(deps, principal, createVpc, params),
    }),
    defineMethod({
      name: 'vpc.update',
      summary: 'Rename a VPC or change its CIDRs (refused while it has pending or active peerings).',
      auth: 'required',
      permission: 'vpc:update',
      params: z.strictObject({ id: VpcId, name: Name.optional(), cidrs: Cidrs.optional() }),
      result: VpcRecord,
      handler: (params, { principal }) => runWrite(deps, principal, updateVpc, params),
    }),
    defineMethod({
      name: 'vpc.get',
      summary: 'Read one VPC.',
      auth: 'required',
      permission: 'vpc:read',
      params: ById,
      result: VpcRecord,
      handler: (params, { principal }) => getVpc(deps.store.view, principal, params),
    }),
    defineMethod({
      name: 'vpc.delete',
      summary: 'Delete a VPC (refused while it has pending or active peerings).',
      auth: 'required',
      permission: 'vpc:delete',
      params: ById,
      result: z.object({ id: VpcId, deleted: z.literal(true) }),
      handler: (params, { principal }) => runWrite(deps, principal, deleteVpc, params),
    }),
    defineMethod({
      name: 'vpc.list',
      summary: "List the VPCs the caller can see, optionally of one tenant.",
      auth: 'required',
      permission: 'vpc:read',
      params: z.strictObject({ tenantId: TenantId.optional() }),
      result: z.object({ items: z.array(VpcRecord) }),
      handler: (params, { principal }) => listVpcs(deps.store.view, principal, params),
    }),
  ];
}
