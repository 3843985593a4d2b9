// Shape checks for what crosses the disk boundary: every record loaded from the snapshot or the
// journal, and every mutation before it is written (so the store never persists a record that it
// would refuse to load at the next start). Structure and patterns only; the domain owns the rules.
import {
  BRIDGE_PATTERN,
  ID_PATTERN,
  MAX_CIDRS_PER_VPC,
  MAX_NAME_LENGTH,
  PEERING_ID_PATTERN,
  PeeringStatuses,
  type Mutation,
} from '../domain/types.js';

/** Timestamps, principals' `sub`, CIDR text and reasons are free strings, but bounded. */
const MAX_TEXT = 512;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: unknown, max = MAX_TEXT): boolean {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}

function optionalText(v: unknown, max = MAX_TEXT): boolean {
  return v === undefined || (typeof v === 'string' && v.length <= max);
}

function matches(v: unknown, pattern: RegExp): boolean {
  return typeof v === 'string' && pattern.test(v);
}

/** The first problem with a VPC record, or null when its shape is sound. */
export function vpcProblem(v: unknown): string | null {
  if (!isObject(v)) return 'vpc is not an object';
  if (!matches(v.id, ID_PATTERN)) return 'vpc.id is malformed';
  if (!matches(v.tenantId, ID_PATTERN)) return `vpc ${v.id as string}: tenantId is malformed`;
  if (!optionalText(v.name, MAX_NAME_LENGTH)) return `vpc ${v.id as string}: name is malformed`;
  const cidrs = v.cidrs;
  if (!Array.isArray(cidrs) || cidrs.length < 1 || cidrs.length > MAX_CIDRS_PER_VPC || !cidrs.every((c) => text(c, 64))) {
    return `vpc ${v.id as string}: cidrs is malformed`;
  }
  if (!matches(v.bridge, BRIDGE_PATTERN)) return `vpc ${v.id as string}: bridge is malformed`;
  if (!text(v.createdAt) || !text(v.updatedAt)) return `vpc ${v.id as string}: timestamps are malformed`;
  return null;
}

/** The first problem with a peering record, or null when its shape is sound. */
export function peeringProblem(p: unknown): string | null {
  if (!isObject(p)) return 'peering is not an object';
  if (!matches(p.id, PEERING_ID_PATTERN)) return 'peering.id is malformed';
  const id = p.id as string;
  if (!matches(p.tenantId, ID_PATTERN)) return `peering ${id}: tenantId is malformed`;
  if (!matches(p.requesterVpcId, ID_PATTERN) || !matches(p.accepterVpcId, ID_PATTERN)) {
    return `peering ${id}: a VPC id is malformed`;
  }
  if (!optionalText(p.name, MAX_NAME_LENGTH)) return `peering ${id}: name is malformed`;
  if (!(PeeringStatuses as readonly unknown[]).includes(p.status)) return `peering ${id}: status is unknown`;
  if (!optionalText(p.statusReason)) return `peering ${id}: statusReason is malformed`;
  if (!text(p.requestedBy) || !optionalText(p.acceptedBy)) return `peering ${id}: a principal is malformed`;
  if (!text(p.createdAt) || !text(p.updatedAt) || !text(p.expiresAt)) return `peering ${id}: timestamps are malformed`;
  return null;
}

/** The first problem with one mutation, or null. */
export function mutationProblem(m: unknown): string | null {
  if (!isObject(m)) return 'mutation is not an object';
  switch (m.op) {
    case 'vpc.put':
      return vpcProblem(m.vpc);
    case 'peering.put':
      return peeringProblem(m.peering);
    case 'vpc.del':
      return matches(m.id, ID_PATTERN) ? null : 'vpc.del: id is malformed';
    case 'peering.del':
      return matches(m.id, PEERING_ID_PATTERN) ? null : 'peering.del: id is malformed';
    default:
      return 'mutation has an unknown op';
  }
}

export function isMutationList(v: unknown): v is Mutation[] {
  return Array.isArray(v) && v.every((m) => mutationProblem(m) === null);
}

/** The first problem with a whole state (as held by a snapshot), or null. */
export function stateProblem(s: unknown): string | null {
  if (!isObject(s) || !isObject(s.vpcs) || !isObject(s.peerings)) return 'state lacks vpcs or peerings';
  for (const [key, vpc] of Object.entries(s.vpcs)) {
    const problem = vpcProblem(vpc);
    if (problem) return problem;
    if ((vpc as Obj).id !== key) return `vpc stored under key ${key} has id ${String((vpc as Obj).id)}`;
  }
  for (const [key, peering] of Object.entries(s.peerings)) {
    const problem = peeringProblem(peering);
    if (problem) return problem;
    if ((peering as Obj).id !== key) return `peering stored under key ${key} has id ${String((peering as Obj).id)}`;
  }
  return null;
}
