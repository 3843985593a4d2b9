// vpc.* methods: validate params, run the pure domain operation, persist its mutations, reply.
import { z } from 'zod';
import { createVpc, deleteVpc, getVpc, listVpcs, updateVpc } from '../../domain/vpc-ops.js';
import { defineMethod, type MethodSpec } from '../method.js';
import { type MethodDeps, opContext, runWrite } from './deps.js';
import { Bridge, ById, Cidrs, Name, TenantId, VpcId, VpcRecord } from './schemas.js';

export function vpcMethods(deps: MethodDeps): MethodSpec[] {
  return [
    defineMethod({
      name: 'vpc.create',
      summary: 'Create a VPC (its bridge is created by the platform, not by this daemon).',
      auth: 'required',
      params: z.strictObject({ id: VpcId, tenantId: TenantId, cidrs: Cidrs, bridge: Bridge, name: Name.optional() }),
      result: VpcRecord,
      handler: (params, { principal }) => runWrite(deps, principal, createVpc, params),
    }),
    defineMethod({
      name: 'vpc.update',
      summary: 'Rename a VPC or change its CIDRs (refused while it has pending or active peerings).',
      auth: 'required',
      params: z.strictObject({ id: VpcId, name: Name.optional(), cidrs: Cidrs.optional() }),
      result: VpcRecord,
      handler: (params, { principal }) => runWrite(deps, principal, updateVpc, params),
    }),
    defineMethod({
      name: 'vpc.get',
      summary: 'Read one VPC.',
      auth: 'required',
      params: ById,
      result: VpcRecord,
      handler: (params, { principal }) => getVpc(deps.store.view, opContext(deps, principal), params),
    }),
    defineMethod({
      name: 'vpc.delete',
      summary: 'Delete a VPC (refused while it has pending or active peerings).',
      auth: 'required',
      params: ById,
      result: z.object({ id: VpcId, deleted: z.literal(true) }),
      handler: (params, { principal }) => runWrite(deps, principal, deleteVpc, params),
    }),
    defineMethod({
      name: 'vpc.list',
      summary: "List the VPCs the caller can see, optionally of one tenant.",
      auth: 'required',
      params: z.strictObject({ tenantId: TenantId.optional() }),
      result: z.object({ items: z.array(VpcRecord) }),
      handler: (params, { principal }) => listVpcs(deps.store.view, opContext(deps, principal), params),
    }),
  ];
}
