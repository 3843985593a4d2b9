// Wire shapes of the API (SPEC §5): the params each method accepts and the records it returns.
// They validate at the boundary (-32602 with data.field) and document rpc.discover. Every record
// rule comes from src/domain/records.ts, the one definition the domain and the store check too,
// so that what passes here is never refused deeper down as an internal error.
import { z } from 'zod';
import { MAX_CIDR_TEXT } from '../../domain/cidr.js';
import { nameProblem } from '../../domain/records.js';
import {
  BRIDGE_PATTERN,
  ID_PATTERN,
  MAX_CIDRS_PER_VPC,
  MAX_NAME_LENGTH,
  PEERING_ID_PATTERN,
  PeeringStatuses,
} from '../../domain/types.js';

export const VpcId = z.string().regex(ID_PATTERN, 'must match ^[a-z0-9][a-z0-9-]{0,62}$');
export const TenantId = z.string().regex(ID_PATTERN, 'must match ^[a-z0-9][a-z0-9-]{0,62}$');
export const PeeringId = z.string().regex(PEERING_ID_PATTERN, 'must be pcx- followed by 17 lowercase hex digits');
export const Bridge = z.string().regex(BRIDGE_PATTERN, 'must match ^[A-Za-z0-9_-]{1,15}$');
/** A name param: `""` clears it (vpc.update), anything else is a name as records.ts defines it. */
export const Name = z
  .string()
  .superRefine((v, ctx) => {
    const problem = v === '' ? null : nameProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: `Free text, up to ${MAX_NAME_LENGTH} characters (code points), no control characters; "" for none.` });
// Length-capped so a huge string never reaches the parser; the domain parses and re-prints it.
export const Cidr = z.string().min(1).max(MAX_CIDR_TEXT);
export const Cidrs = z.array(Cidr).min(1).max(MAX_CIDRS_PER_VPC);
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
  state: z.enum(['programmed', 'not-local', 'pending', 'error', 'disabled']),
  flows: z.number().int(),
  lastReconciledAt: Timestamp.nullable(),
  error: z.string().optional(),
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

export const PeeringWithDataplane = PeeringRecord.extend({ dataplane: DataplaneInfo });

export const ById = z.strictObject({ id: VpcId });
export const ByPeeringId = z.strictObject({ id: PeeringId });
