// Wire shapes of the API (SPEC §5): the params each method accepts and the records it returns.
// They validate at the boundary (-32602 with data.field) and document rpc.discover. Every record
// rule comes from src/domain/records.ts, the one definition the domain and the store check too,
// so that what passes here is never refused deeper down as an internal error.
import { z } from 'zod';
import { MAX_CIDR_TEXT } from '../../domain/cidr.js';
import { BRIDGE_RULE, ID_RULE, nameProblem } from '../../domain/records.js';
import {
  BRIDGE_PATTERN,
  ID_PATTERN,
  MAX_CIDRS_PER_VPC,
  MAX_NAME_LENGTH,
  PEERING_ID_PATTERN,
  PeeringStatuses,
} from '../../domain/types.js';
import { DataplaneReasons } from '../../reconcile/dataplane.js';
import { PeeringDataplaneStates } from '../../domain/types.js';

export const VpcId = z.string().regex(ID_PATTERN, `must be ${ID_RULE}`);
export const TenantId = z.string().regex(ID_PATTERN, `must be ${ID_RULE}`);
export const PeeringId = z.string().regex(PEERING_ID_PATTERN, 'must be pcx- followed by 17 lowercase hex digits');
export const Bridge = z.string().regex(BRIDGE_PATTERN, `must be ${BRIDGE_RULE}`);
/** A name param: `""` clears it (vpc.update), anything else is a name as records.ts defines it. */
export const Name = z
  .string()
  .superRefine((v, ctx) => {
    const problem = v === '' ? null : nameProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: `Free text, up to ${MAX_NAME_LENGTH} characters (code points), no control characters; "" for none.` });
// Length-capped so a huge string never reaches the parser; the domain parses and re-prints it.
export const Cidr = z.string().min(1, 'must be a CIDR such as 10.0.0.0/16').max(MAX_CIDR_TEXT, 'is too long for a CIDR');
export const Cidrs = z.array(Cidr).min(1, 'must list at least one CIDR').max(MAX_CIDRS_PER_VPC, `must list at most ${MAX_CIDRS_PER_VPC} CIDRs`);
export const Status = z.enum(PeeringStatuses);
const Timestamp = z.string().describe('ISO-8601 UTC');

export const VpcRecord = z.object({
  id: VpcId,
  tenantId: TenantId,
  name: Name.optional(),
  cidrs: z.array(z.string()),
  bridge: Bridge,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const DataplaneInfo = z.object({
  state: z.enum(PeeringDataplaneStates),
  flows: z.number().int(),
  lastReconciledAt: Timestamp.nullable().describe('The last pass that reached OVS and succeeded on the peering\'s bridges.'),
  lastAttemptAt: Timestamp.nullable().describe('The last pass, successful or not.'),
  error: z.string().optional(),
  bridges: z
    .array(
      z.object({
        bridge: Bridge,
        patchPort: z.string(),
        peerPatchPort: z.string(),
        cookie: z.string().describe('hex, e.g. 0x5ee0…; ovs-ofctl dump-flows BRIDGE cookie=COOKIE/-1 shows the flows'),
        flows: z.number().int(),
      }),
    )
    .describe('Both bridges of the peering when both are on this host; empty otherwise.'),
  reason: z.enum(DataplaneReasons).optional(),
});

export const PeeringRecord = z.object({
  id: PeeringId,
  tenantId: TenantId,
  requesterVpcId: VpcId,
  accepterVpcId: VpcId,
  name: Name.optional(),
  status: Status,
  statusReason: z.string().optional(),
  requestedBy: z.string(),
  acceptedBy: z.string().optional(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  expiresAt: Timestamp,
});

export const PeeringHostInfo = z
  .object({
    nodeId: z.string(),
    state: z.enum([...PeeringDataplaneStates, 'unknown']),
    flows: z.number().int().nonnegative(),
    at: Timestamp.describe('When the host last changed its report (its data plane), not when it was last heard from.'),
    heardAt: Timestamp.nullable().describe("When this host last knew that host to be alive (this host's clock), null if never; this host's own entry: now."),
    stale: z.literal(true).optional().describe('Not heard from for 3 of its heartbeats: `state` is `unknown`, `lastState` what it last reported.'),
    lastState: z.enum(PeeringDataplaneStates).optional(),
    error: z.string().optional(),
  })
  .describe("One host's data plane for the peering as it last reported it through gossip; `unknown`: its last report does not list the peering yet, or (with `stale`) it has not been heard from lately.");

export const PeeringWithDataplane = PeeringRecord.extend({
  dataplane: DataplaneInfo,
  hosts: z.array(PeeringHostInfo).describe('Every host known through gossip, this host first (only this host with gossip off).'),
});

export const ById = z.strictObject({ id: VpcId });
export const ByPeeringId = z.strictObject({ id: PeeringId });
