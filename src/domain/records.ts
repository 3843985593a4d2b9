// The record rules of SPEC §2, written once. Every layer that lets a value into a record checks it
// here: the RPC schemas (at the boundary, -32602), the domain operations (the last guard before a
// record exists), the store (every mutation before it is written and every record loaded from the
// snapshot or journal) and, next, the gossip decoder. One definition means that what the API
// accepts the store accepts too, and that the store never writes what it would refuse to load.
//
// Each rule is a function from a value to `null` (sound) or a short phrase saying what is wrong,
// meant to follow the field's name: `name ${problem}`. Callers turn a phrase into their own error
// (a zod issue, an INVALID_PARAMS, a refusal to load) without restating the rule.
//
// Lengths count code points, never UTF-16 units (an emoji is one character, as a user counts it).
import { cidrsOverlap, parseCidrStrict } from './cidr.js';
import { decodeHlc, isHlc } from './hlc.js';
import {
  BRIDGE_PATTERN,
  ID_PATTERN,
  NODE_ID_PATTERN,
  MAX_CIDRS_PER_VPC,
  MAX_NAME_LENGTH,
  PEERING_ID_PATTERN,
  PeeringStatuses,
  type Mutation,
} from './types.js';

/** A principal's `sub` as recorded in requestedBy/acceptedBy: 1 to this many code points. */
export const MAX_PRINCIPAL_LENGTH = 256;
/** A statusReason is cut to this many code points (reasonText): it quotes ids, CIDRs and a `sub`. */
export const MAX_REASON_LENGTH = 1024;

/** The length of a string as a user counts it: code points. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** VPC and tenant ids (SPEC §2); they reach OVS command lines, so the pattern is strict. */
/** ID_PATTERN in words, for every message about an id (the RPC schema's too). */
export const ID_RULE = "1 to 63 lowercase letters, digits and '-', starting with a letter or digit";
/** BRIDGE_PATTERN in words. */
export const BRIDGE_RULE = "1 to 15 letters, digits, '_' and '-'";

export function idProblem(v: unknown): string | null {
  return typeof v === 'string' && ID_PATTERN.test(v)
    ? null
    : `is not a valid id: use ${ID_RULE}`;
}

/** OVS bridge names (SPEC §2): 15 is the kernel's interface name limit. */
export function bridgeProblem(v: unknown): string | null {
  return typeof v === 'string' && BRIDGE_PATTERN.test(v)
    ? null
    : `is not a valid bridge name: use ${BRIDGE_RULE}`;
}

export function peeringIdProblem(v: unknown): string | null {
  return typeof v === 'string' && PEERING_ID_PATTERN.test(v)
    ? null
    : 'is not a peering id: it is pcx- followed by 17 lowercase hex digits';
}

/**
 * A stored name: 1 to 128 code points, no control characters. A name is free text, but it is
 * printed in tables and log lines, where a newline or escape would forge output. (The API's
 * `name: ""` means "no name" and is never stored.)
 */
export function nameProblem(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (codePoints(v) > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters; shorten it`;
  if (/\p{Cc}/u.test(v)) return 'contains a control character (such as a newline or tab); remove it';
  return null;
}

/** A recorded principal (`sub` of the token that acted). */
export function principalProblem(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (codePoints(v) > MAX_PRINCIPAL_LENGTH) return `is longer than ${MAX_PRINCIPAL_LENGTH} characters`;
  return null;
}

export function reasonProblem(v: unknown): string | null {
  if (typeof v !== 'string') return 'must be a string';
  return codePoints(v) > MAX_REASON_LENGTH ? `is longer than ${MAX_REASON_LENGTH} characters` : null;
}

/** A statusReason built from parts of any length, cut (with an ellipsis) to what reasonProblem allows. */
export function reasonText(sentence: string): string {
  if (codePoints(sentence) <= MAX_REASON_LENGTH) return sentence;
  return `${[...sentence].slice(0, MAX_REASON_LENGTH - 1).join('')}…`;
}

/** ISO-8601 UTC exactly as `Date.prototype.toISOString` prints it, and a real instant. */
export function timestampProblem(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 32) return 'is not an ISO-8601 UTC timestamp';
  const ms = Date.parse(v);
  return Number.isFinite(ms) && new Date(ms).toISOString() === v ? null : 'is not an ISO-8601 UTC timestamp';
}

/** Where a CIDR list breaks the rules: `index` names the block, `conflictsWith` an overlap. */
export type CidrListCheck =
  | { readonly ok: true; readonly cidrs: string[] }
  | { readonly ok: false; readonly kind: 'count'; readonly why: string }
  | { readonly ok: false; readonly kind: 'syntax'; readonly index: number; readonly why: string }
  | { readonly ok: false; readonly kind: 'overlap'; readonly cidr: string; readonly conflictsWith: string };

/**
 * The CIDR rules of one VPC (SPEC §2): 1 to 5 blocks, each parsed strictly, none overlapping
 * another (a duplicate, even spelt differently, overlaps). On success, the blocks normalised, in
 * the caller's order.
 */
export function checkCidrList(list: readonly unknown[]): CidrListCheck {
  if (list.length < 1 || list.length > MAX_CIDRS_PER_VPC) {
    return { ok: false, kind: 'count', why: `A VPC has 1 to ${MAX_CIDRS_PER_VPC} CIDR blocks; ${list.length} were given` };
  }
  const cidrs: string[] = [];
  for (const [index, text] of list.entries()) {
    if (typeof text !== 'string') return { ok: false, kind: 'syntax', index, why: 'is not a string' };
    const parsed = parseCidrStrict(text);
    if (!parsed.ok) return { ok: false, kind: 'syntax', index, why: parsed.why };
    cidrs.push(parsed.cidr);
  }
  for (let i = 0; i < cidrs.length; i++) {
    const clash = cidrsOverlap([cidrs[i]!], cidrs.slice(i + 1));
    if (clash) return { ok: false, kind: 'overlap', cidr: clash[0], conflictsWith: clash[1] };
  }
  return { ok: true, cidrs };
}

/** Stored CIDRs: what checkCidrList accepts, already in normalised form. */
export function storedCidrsProblem(v: unknown): string | null {
  if (!Array.isArray(v)) return 'is not a list';
  const check = checkCidrList(v);
  if (!check.ok) {
    if (check.kind === 'count') return `holds ${v.length} blocks`;
    if (check.kind === 'syntax') return `[${check.index}] ${check.why}`;
    return `holds overlapping blocks ${check.cidr} and ${check.conflictsWith}`;
  }
  const i = check.cidrs.findIndex((c, n) => c !== v[n]);
  return i === -1 ? null : `[${i}] is not normalised (${check.cidrs[i]})`;
}

type Obj = Record<string, unknown>;
type Rule = (v: unknown) => string | null;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const optional = (rule: Rule): Rule => (v) => (v === undefined ? null : rule(v));

type Rules = readonly (readonly [string, Rule])[];

/** The first field of `record` that breaks its rule, as `field problem`, or null. */
function firstProblem(record: Obj, rules: Rules): string | null {
  for (const [field, rule] of rules) {
    const problem = rule(record[field]);
    if (problem) return `${field} ${problem}`;
  }
  return null;
}

const vpcRules: Rules = Object.entries({
  id: idProblem,
  tenantId: idProblem,
  name: optional(nameProblem),
  cidrs: storedCidrsProblem,
  bridge: bridgeProblem,
  createdAt: timestampProblem,
  updatedAt: timestampProblem,
});

const statusProblem: Rule = (v) => ((PeeringStatuses as readonly unknown[]).includes(v) ? null : 'is not a peering status');

const peeringRules: Rules = Object.entries({
  id: peeringIdProblem,
  tenantId: idProblem,
  requesterVpcId: idProblem,
  accepterVpcId: idProblem,
  name: optional(nameProblem),
  status: statusProblem,
  statusReason: optional(reasonProblem),
  requestedBy: principalProblem,
  acceptedBy: optional(principalProblem),
  createdAt: timestampProblem,
  updatedAt: timestampProblem,
  expiresAt: timestampProblem,
});

/** The first problem with a VPC record (SPEC §2), or null when it is sound. */
export function vpcProblem(v: unknown): string | null {
  if (!isObject(v)) return 'vpc is not an object';
  const problem = firstProblem(v, vpcRules);
  return problem && `vpc ${typeof v.id === 'string' ? v.id.slice(0, 63) : '?'}: ${problem}`;
}

/** The first problem with a peering record (SPEC §2), or null when it is sound. */
export function peeringProblem(p: unknown): string | null {
  if (!isObject(p)) return 'peering is not an object';
  const problem = firstProblem(p, peeringRules);
  return problem && `peering ${typeof p.id === 'string' ? p.id.slice(0, 21) : '?'}: ${problem}`;
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
      return idProblem(m.id) && `vpc.del: id ${idProblem(m.id)}`;
    case 'peering.del':
      return peeringIdProblem(m.id) && `peering.del: id ${peeringIdProblem(m.id)}`;
    default:
      return 'mutation has an unknown op';
  }
}

export function isMutationList(v: unknown): v is Mutation[] {
  return Array.isArray(v) && v.every((m) => mutationProblem(m) === null);
}

/** The first problem with a whole state (as a snapshot holds it), or null. */
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

/** A version in the HLC text form (hlc.ts, `WWWWWWWWWWWW.LLLL.node`), as the journal stores it. */
export function versionTextProblem(v: unknown): string | null {
  return typeof v === 'string' && decodeHlc(v) !== undefined ? null : 'is not a version (WWWWWWWWWWWW.LLLL.node, lowercase hex)';
}

/** A commit's origin (Store CommitOrigin): 'local' or a node id. */
export function originProblem(v: unknown): string | null {
  return typeof v === 'string' && NODE_ID_PATTERN.test(v) ? null : 'is not an origin (local or a node id)';
}

/** The first of `[field, rule, value]` whose value breaks its rule, as `field problem`, or null. */
export function firstFieldProblem(checks: readonly (readonly [string, Rule, unknown])[]): string | null {
  for (const [field, rule, value] of checks) {
    const problem = rule(value);
    if (problem) return `${field} ${problem}`;
  }
  return null;
}

/** A tombstone as stored: `{kind, id, version (text), deletedAt}` (replica.ts Tombstone). */
export function tombstoneProblem(v: unknown): string | null {
  if (!isObject(v)) return 'tombstone is not an object';
  if (v.kind !== 'vpc' && v.kind !== 'peering') return 'tombstone kind is not vpc or peering';
  const problem = firstFieldProblem([
    ['id', v.kind === 'vpc' ? idProblem : peeringIdProblem, v.id],
    ['version', versionTextProblem, v.version],
    ['deletedAt', timestampProblem, v.deletedAt],
  ]);
  return problem && `tombstone: ${problem}`;
}

/** A peering's basis: the CIDRs of each VPC as its write saw them (none for a VPC not held). */
const basisCidrsProblem: Rule = (v) => (Array.isArray(v) && v.length === 0 ? null : storedCidrsProblem(v));

function metaEntryProblem(kind: 'vpc' | 'peering', id: string, m: unknown): string | null {
  if (!isObject(m)) return `${kind} ${id} has no version`;
  const checks: [string, Rule, unknown][] = [['version', versionTextProblem, m.version], ['incarnation', versionTextProblem, m.incarnation]];
  if (kind === 'peering') {
    const b = isObject(m.basis) ? m.basis : {};
    checks.push(['basis.requesterCidrs', basisCidrsProblem, b.requesterCidrs], ['basis.accepterCidrs', basisCidrsProblem, b.accepterCidrs]);
  }
  const problem = firstFieldProblem(checks);
  return problem && `${kind} ${id}: ${problem}`;
}

/**
 * The versions of a snapshot's records (`meta`): one sound entry for every record of `state`
 * (which stateProblem has passed), none for a record it does not hold.
 */
export function replicaMetaProblem(state: unknown, meta: unknown): string | null {
  if (!isObject(state) || !isObject(meta) || !isObject(meta.vpcs) || !isObject(meta.peerings)) return 'meta lacks vpcs or peerings';
  for (const [kind, records, entries] of [['vpc', state.vpcs, meta.vpcs], ['peering', state.peerings, meta.peerings]] as const) {
    const ids = Object.keys(records as Obj);
    if (Object.keys(entries).length !== ids.length) return `meta holds ${Object.keys(entries).length} ${kind} versions for ${ids.length} records`;
    for (const id of ids) {
      const problem = metaEntryProblem(kind, id, entries[id]);
      if (problem) return problem;
    }
  }
  return null;
}

const hlcProblem: Rule = (v) => (isHlc(v) ? null : 'is not a version ({wallMs, logical, node})');

/**
 * A slot as gossip carries it and as a merge commit line stores it (replica.ts Slot, versions as
 * Hlc objects): a tombstone by its fields, or a live record by the record rules of SPEC §2 with its
 * version, incarnation and (peerings) basis. The one check of a received slot, for the gossip
 * decoder and the journal loader alike; null when sound.
 */
export function slotProblem(kind: 'vpc' | 'peering', v: unknown): string | null {
  if (!isObject(v)) return `${kind} slot is not an object`;
  if (!('record' in v)) {
    if (v.kind !== kind) return `${kind} slot is neither a record nor a ${kind} tombstone`;
    const problem = firstFieldProblem([
      ['id', kind === 'vpc' ? idProblem : peeringIdProblem, v.id],
      ['version', hlcProblem, v.version],
      ['deletedAt', timestampProblem, v.deletedAt],
    ]);
    return problem && `tombstone: ${problem}`;
  }
  const recordProblem = kind === 'vpc' ? vpcProblem(v.record) : peeringProblem(v.record);
  if (recordProblem) return recordProblem;
  const checks: [string, Rule, unknown][] = [['version', hlcProblem, v.version], ['incarnation', hlcProblem, v.incarnation]];
  if (kind === 'peering') {
    const b = isObject(v.basis) ? v.basis : {};
    checks.push(['basis.requesterCidrs', basisCidrsProblem, b.requesterCidrs], ['basis.accepterCidrs', basisCidrsProblem, b.accepterCidrs]);
  } else if ('basis' in v) {
    return 'vpc slot has a basis';
  }
  const problem = firstFieldProblem(checks);
  return problem && `${kind} ${String((v.record as Obj).id).slice(0, 63)}: ${problem}`;
}
