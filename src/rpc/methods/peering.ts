// peering.* methods. Writes go through runWrite; peering.get adds this host's `dataplane` view
// and every host's (`hosts`, from gossip), peering.flows the peering's flows as OVS holds them here.
import { z } from 'zod';
import {
  acceptPeering,
  createPeering,
  deletePeering,
  getPeering,
  listPeerings,
  rejectPeering,
} from '../../domain/tenancy.js';
import type { Permission } from '../../domain/rbac.js';
import { defineMethod, type MethodSpec } from '../method.js';
import { fromDataplane, type MethodDeps, runWrite } from './deps.js';
import { Bridge, ByPeeringId, Name, PeeringId, PeeringRecord, PeeringWithDataplane, Status, VpcId } from './schemas.js';

export function peeringMethods(deps: MethodDeps): MethodSpec[] {
  const transition = (name: string, summary: string, permission: Permission, op: typeof acceptPeering): MethodSpec =>
    defineMethod({
      name,
      summary,
      auth: 'required',
      permission,
      params: ByPeeringId,
      result: PeeringRecord,
      handler: (params, { principal }) => runWrite(deps, principal, op, params),
    });
  return [
    defineMethod({
      name: 'peering.create',
      summary: 'Request a peering between two VPCs of one tenant; it waits for acceptance.',
      auth: 'required',
      permission: 'vpc_peering:create',
      params: z.strictObject({ requesterVpcId: VpcId, accepterVpcId: VpcId, name: Name.optional() }),
      result: PeeringRecord,
      handler: (params, { principal }) => runWrite(deps, principal, createPeering, params),
    }),
    transition('peering.accept', 'Accept a pending peering: it becomes active and is programmed.', 'vpc_peering:accept', acceptPeering),
    transition('peering.reject', 'Reject a pending peering.', 'vpc_peering:reject', rejectPeering),
    transition('peering.delete', 'Cancel a pending peering or tear down an active one.', 'vpc_peering:delete', deletePeering),
    defineMethod({
      name: 'peering.get',
      summary: 'Read one peering, with its data-plane state on this host and as every host last reported it.',
      auth: 'required',
      permission: 'vpc_peering:read',
      params: ByPeeringId,
      result: PeeringWithDataplane,
      handler: (params, { principal }) => {
        const p = getPeering(deps.store.view, principal, params);
        return { ...p, dataplane: deps.dataplane().peering(p), hosts: deps.hosts(p) };
      },
    }),
    defineMethod({
      name: 'peering.flows',
      summary: "This host's installed flows of one peering, per bridge, dumped by its cookie (ovs-ofctl text, no stats).",
      auth: 'required',
      permission: 'vpc_peering:read',
      params: ByPeeringId,
      result: z.object({
        id: PeeringId,
        bridges: z.array(z.object({ bridge: Bridge, flows: z.array(z.string()) })),
      }),
      handler: (params, { principal }) => {
        const p = getPeering(deps.store.view, principal, params);
        return fromDataplane(deps.dataplane().peeringFlows(p));
      },
    }),
    defineMethod({
      name: 'peering.list',
      summary: 'List the peerings the caller can see, optionally of one VPC or in one status.',
      auth: 'required',
      permission: 'vpc_peering:read',
      params: z.strictObject({ vpcId: VpcId.optional(), status: Status.optional() }),
      result: z.object({ items: z.array(PeeringRecord) }),
      handler: (params, { principal }) => listPeerings(deps.store.view, principal, params),
    }),
  ];
}
