// The record rules (records.ts) as the domain enforces them on a request: each refusal is an
// INVALID_PARAMS naming the field. The domain repeats what the RPC schemas checked because it is
// the last guard before a record exists, and ids and bridges end up on OVS command lines (§3 rule 8).
import { RpcError, invalidParams } from '../errors.js';
import { bridgeProblem, checkCidrList, idProblem, nameProblem, peeringIdProblem, principalProblem } from './records.js';

/** Throws INVALID_PARAMS unless `value` matches the VPC/tenant id pattern. */
export function requireId(field: string, value: string): void {
  const problem = idProblem(value);
  if (problem) throw invalidParams(field, `${field} "${value}" ${problem}.`);
}

/** Throws INVALID_PARAMS unless `value` is a valid OVS bridge name. */
export function requireBridge(field: string, value: string): void {
  const problem = bridgeProblem(value);
  if (problem) throw invalidParams(field, `${field} "${value}" ${problem}.`);
}

/** Throws INVALID_PARAMS (field `id`) unless `value` is a peering id. */
export function requirePeeringId(value: string): void {
  const problem = peeringIdProblem(value);
  if (problem) throw invalidParams('id', `id "${value}" ${problem}.`);
}

/**
 * Checks an optional name and returns what to store: `undefined` for no name. An empty string
 * means "no name", so that an update can clear it; anything else must be a name records.ts allows.
 */
export function optionalName(field: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const problem = nameProblem(value);
  if (problem) throw invalidParams(field, `${field} ${problem}.`);
  return value;
}

/**
 * Validates and normalises the CIDR list of one VPC (SPEC §2): 1 to 5 blocks, none overlapping
 * another. Keeps the caller's order. Throws INVALID_PARAMS (data.field `cidrs` or `cidrs[i]`) or
 * CIDR_OVERLAP.
 */
export function normaliseCidrs(list: readonly string[]): string[] {
  const check = checkCidrList(list);
  if (check.ok) return check.cidrs;
  switch (check.kind) {
    case 'count':
      throw invalidParams('cidrs', `${check.why}.`);
    case 'syntax':
      throw invalidParams(`cidrs[${check.index}]`, `The CIDR block "${String(list[check.index])}" ${check.why}.`);
    case 'overlap':
      throw new RpcError(
        'CIDR_OVERLAP',
        `The CIDR blocks ${check.cidr} and ${check.conflictsWith} overlap; the blocks of one VPC must be disjoint.`,
        { cidr: check.cidr, conflictsWith: check.conflictsWith },
      );
  }
}

/**
 * `actor` (OpContext: the caller's `sub`) as a record will name it in requestedBy/acceptedBy;
 * TOKEN_INVALID if the record rule refuses it. The authenticator already bounds the claim; this
 * holds the record rule even for a principal made some other way.
 */
export function requireActor(actor: string): string {
  const problem = principalProblem(actor);
  if (problem) throw new RpcError('TOKEN_INVALID', `The token's "sub" claim ${problem}; it cannot be recorded.`);
  return actor;
}

/** Code-point order, so that listings sort the same on every host whatever its locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
