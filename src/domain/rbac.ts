// Permissions and tenant visibility of SPEC §4, as plain predicates over a Principal. The
// dispatcher calls requirePermission (and requireOperator) with what the method spec declares;
// tenancy.ts decides visibility through canSee. The domain operations use neither.
import { RpcError } from '../errors.js';
import type { Principal } from './types.js';

export const Permissions = [
  'vpc:create',
  'vpc:read',
  'vpc:update',
  'vpc:delete',
  'vpc_peering:create',
  'vpc_peering:accept',
  'vpc_peering:reject',
  'vpc_peering:delete',
  'vpc_peering:read',
  'daemon:status',
  'daemon:reconcile',
] as const;
export type Permission = (typeof Permissions)[number];

/** The tenant of operators: sees and acts on every tenant. */
export const OPERATOR_TENANT = '*';

/**
 * Whether one granted permission covers `perm`. A `*` is a wildcard only as the whole grant or
 * as the whole last segment (`vpc:*`): so `vpc:*` does not cover `vpc_peering:create`, and a
 * grant such as `vpc*` matches nothing but itself.
 */
function covers(grant: string, perm: Permission): boolean {
  if (grant === '*') return true;
  if (grant.endsWith(':*')) return perm.startsWith(grant.slice(0, -1));
  return grant === perm;
}

export function hasPermission(principal: Principal, perm: Permission): boolean {
  return principal.permissions.some((grant) => covers(grant, perm));
}

/** Whether the principal may see resources of `tenantId` (otherwise they do not exist for it: 404). */
export function canSee(principal: Principal, tenantId: string): boolean {
  return principal.tenant === OPERATOR_TENANT || principal.tenant === tenantId;
}

/** Throws FORBIDDEN (403, data.permission) unless the principal holds `perm`. */
export function requirePermission(principal: Principal, perm: Permission): void {
  if (!hasPermission(principal, perm)) {
    throw new RpcError('FORBIDDEN', `This call needs the permission ${perm}, which your token does not grant; ask your platform administrator for it.`, {
      permission: perm,
    });
  }
}

/**
 * Throws OPERATOR_ONLY (403) unless the principal is an operator (tenant `*`). For the methods
 * whose answer is about the whole host (`status`, `reconcile.run`): scoping them to a tenant would
 * still show the host's bridges and store, so a tenant uses vpc.list and peering.list instead.
 */
export function requireOperator(principal: Principal): void {
  if (principal.tenant !== OPERATOR_TENANT) {
    throw new RpcError('OPERATOR_ONLY', 'This call shows or acts on the whole host, so only an operator token (tenant *) may make it.');
  }
}
