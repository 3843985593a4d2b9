// The peering state machine of SPEC §2 and the rules of §3, as pure functions: state, context and
// params in; mutations, reply and possibly an error out. They know no caller: permissions are
// checked by the dispatcher before they run and tenant visibility by tenancy.ts at their first
// read of the state (so the params are checked before any read), and the rules
// (peeringRuleRefusal) hold the same for the post-merge repair, which has no caller. A refusal
// that changes nothing is thrown.
// A refusal that must itself be recorded is returned as OpResult.error beside its mutations, and
// the caller persists, then throws: an accept that finds a new conflict turns the peering
// `failed`, and any transition of an overdue pending request turns it `expired` (lazy expiry, so
// the outcome does not depend on when the sweep last ran).
import { RpcError, invalidParams } from '../errors.js';
import { cidrsOverlap } from './cidr.js';
import type { StateView } from './state-index.js';
import type { Mutation, OpContext, OpResult, Peering, PeeringPolicy, PeeringStatus, Vpc } from './types.js';
import { reasonText } from './records.js';
import { PEERING_ID_PATTERN, PeeringStatuses, TerminalStatuses } from './types.js';
import { compareText, optionalName, requireActor, requireId, requirePeeringId } from './validate.js';
import { existingVpc, livePeeringsOf } from './vpc-ops.js';

export interface CreatePeeringParams {
  readonly requesterVpcId: string;
  readonly accepterVpcId: string;
  readonly name?: string;
}

export interface PeeringRef {
  readonly id: string;
}

export interface ListPeeringsParams {
  readonly vpcId?: string;
  readonly status?: PeeringStatus;
}

type Action = 'accept' | 'reject' | 'delete';

/** Which statuses each action leaves from (every other pair is INVALID_STATE). */
const allowedFrom: Readonly<Record<Action, readonly PeeringStatus[]>> = {
  accept: ['pending-acceptance'],
  reject: ['pending-acceptance'],
  delete: ['pending-acceptance', 'active'],
};

/** The refusal for a peering that does not exist (or, tenancy.ts, that the caller may not see). */
export function peeringNotFound(id: string): RpcError {
  return new RpcError('PEERING_NOT_FOUND', `There is no peering ${id}; check the id with peering.list.`, { peeringId: id });
}

function existingPeering(view: StateView, id: string): Peering {
  const p = view.getPeering(id);
  if (!p) throw peeringNotFound(id);
  return p;
}

function isOverdue(p: Peering, now: Date): boolean {
  return p.status === 'pending-acceptance' && Date.parse(p.expiresAt) <= now.getTime();
}

function expired(p: Peering, now: Date): Peering {
  return {
    ...p,
    status: 'expired',
    statusReason: `The request was not accepted before it expired at ${p.expiresAt}; request a new peering if still needed.`,
    updatedAt: now.toISOString(),
  };
}

function invalidState(p: Peering, action: Action): RpcError {
  const from = allowedFrom[action].join(' or ');
  return new RpcError(
    'INVALID_STATE',
    `Peering ${p.id} is ${p.status}; only a ${from} peering can be ${action === 'delete' ? 'deleted' : `${action}ed`}.`,
    { peeringId: p.id, status: p.status, action },
  );
}

/**
 * Looks the peering up for a transition and settles what does not depend on the action itself:
 * an overdue request is expired (returned as a recorded refusal), a wrong status is thrown.
 */
function startTransition(view: StateView, ctx: OpContext, id: string, action: Action): Peering | OpResult<Peering> {
  requireActor(ctx.actor);
  requirePeeringId(id);
  const p = existingPeering(view, id);
  if (isOverdue(p, ctx.now)) {
    const e = expired(p, ctx.now);
    return { mutations: [{ op: 'peering.put', peering: e }], result: e, error: invalidState(e, action) };
  }
  if (!allowedFrom[action].includes(p.status)) throw invalidState(p, action);
  return p;
}

function isOpResult(x: Peering | OpResult<Peering>): x is OpResult<Peering> {
  return 'mutations' in x;
}

function put(peering: Peering): OpResult<Peering> {
  return { mutations: [{ op: 'peering.put', peering }], result: peering };
}

/** The VPC at the other end of `p` from `vpcId`. */
function otherEnd(p: Peering, vpcId: string): string {
  return p.requesterVpcId === vpcId ? p.accepterVpcId : p.requesterVpcId;
}

/**
 * Rules 1–5 of SPEC §3 for peering `requester` with `accepter`, ignoring the peering `self`
 * (the one being accepted). Returns the first refusal, or undefined when the pair may peer.
 */
function checkPair(view: StateView, policy: PeeringPolicy, requester: Vpc, accepter: Vpc, self?: string): RpcError | undefined {
  if (requester.id === accepter.id) {
    return new RpcError('SELF_PEERING', `VPC ${requester.id} cannot peer with itself; choose two different VPCs.`, { vpcId: requester.id });
  }
  if (requester.tenantId !== accepter.tenantId) {
    return new RpcError(
      'CROSS_TENANT',
      `VPC ${requester.id} belongs to tenant ${requester.tenantId} and VPC ${accepter.id} to tenant ${accepter.tenantId}; only VPCs of one tenant can peer.`,
      { requesterVpcId: requester.id, accepterVpcId: accepter.id },
    );
  }
  const liveOf = (vpc: Vpc): Peering[] => livePeeringsOf(view, vpc.id).filter((p) => p.id !== self);

  const duplicate = liveOf(requester).find((p) => otherEnd(p, requester.id) === accepter.id);
  if (duplicate) {
    return new RpcError(
      'DUPLICATE_PEERING',
      `VPCs ${requester.id} and ${accepter.id} already have peering ${duplicate.id} (${duplicate.status}); use it or delete it first.`,
      { peeringId: duplicate.id, status: duplicate.status },
    );
  }

  const clash = cidrsOverlap(requester.cidrs, accepter.cidrs);
  if (clash) {
    return new RpcError(
      'CIDR_OVERLAP',
      `VPC ${requester.id} has CIDR ${clash[0]}, which overlaps ${clash[1]} of VPC ${accepter.id}; peer VPCs with non-overlapping blocks.`,
      { vpcId: requester.id, cidr: clash[0], peerVpcId: accepter.id, conflictsWith: clash[1] },
    );
  }

  // Rule 4, both ways: the accepter must not overlap a peer of the requester, nor the requester
  // a peer of the accepter, or the shared VPC would hold two routes for one destination.
  for (const [shared, incoming] of [[requester, accepter], [accepter, requester]] as const) {
    for (const p of liveOf(shared)) {
      const peer = view.getVpc(otherEnd(p, shared.id));
      if (!peer) continue; // a dangling reference carries no route
      const hit = cidrsOverlap(incoming.cidrs, peer.cidrs);
      if (hit) {
        return new RpcError(
          'PEER_CIDR_OVERLAP',
          `VPC ${incoming.id} has CIDR ${hit[0]}, which overlaps ${hit[1]} of VPC ${peer.id}, already peered with ${shared.id} (peering ${p.id}); ${shared.id} cannot route one destination to two peers.`,
          { vpcId: shared.id, peerVpcId: incoming.id, cidr: hit[0], conflictingVpcId: peer.id, conflictsWith: hit[1], peeringId: p.id },
        );
      }
    }
  }

  for (const vpc of [requester, accepter]) {
    const active = liveOf(vpc).filter((p) => p.status === 'active').length;
    if (active >= policy.maxActivePerVpc) {
      return new RpcError(
        'LIMIT_EXCEEDED',
        `VPC ${vpc.id} already has ${active} active peerings, the most allowed (peering.maxActivePerVpc = ${policy.maxActivePerVpc}); delete one first.`,
        { vpcId: vpc.id, limit: policy.maxActivePerVpc },
      );
    }
  }
  return undefined;
}

/**
 * Rules 1–5 of SPEC §3 for the peering `p` against the other live peerings of `view` (`p` itself,
 * if held there, is ignored): the first refusal, or undefined when its VPCs may peer. Checked at
 * accept, for a peering whose VPCs may have changed since its request, and by the post-merge
 * repair (merge.ts) for every live peering; it needs no caller and ignores `p.status`.
 */
export function peeringRuleRefusal(view: StateView, policy: PeeringPolicy, p: Peering): RpcError | undefined {
  const requester = view.getVpc(p.requesterVpcId);
  const accepter = view.getVpc(p.accepterVpcId);
  if (requester && accepter) return checkPair(view, policy, requester, accepter, p.id);
  // A VPC cannot be deleted under a pending peering, but a merge from another host could still
  // leave one missing; that is a conflict found at accept like any other.
  const missing = requester ? p.accepterVpcId : p.requesterVpcId;
  return new RpcError('VPC_NOT_FOUND', `VPC ${missing} of this peering no longer exists; request a new peering.`, { vpcId: missing });
}

/** Requests a peering; it starts `pending-acceptance` and expires after policy.pendingTtlSeconds. */
export function createPeering(view: StateView, ctx: OpContext, params: CreatePeeringParams): OpResult<Peering> {
  const requestedBy = requireActor(ctx.actor);
  requireId('requesterVpcId', params.requesterVpcId);
  requireId('accepterVpcId', params.accepterVpcId);
  const name = optionalName('name', params.name);
  const requester = existingVpc(view, params.requesterVpcId);
  const accepter = existingVpc(view, params.accepterVpcId);
  const refusal = checkPair(view, ctx.policy, requester, accepter);
  if (refusal) throw refusal;

  const id = ctx.newPeeringId();
  // A bad or reused id is a bug of the id source, not of the request: a plain Error (-32603).
  if (!PEERING_ID_PATTERN.test(id) || view.getPeering(id)) {
    throw new Error(`newPeeringId returned ${JSON.stringify(id)}, which is malformed or already in use`);
  }
  const now = ctx.now.toISOString();
  return put({
    id,
    tenantId: requester.tenantId,
    requesterVpcId: requester.id,
    accepterVpcId: accepter.id,
    ...(name === undefined ? {} : { name }),
    status: 'pending-acceptance',
    requestedBy,
    createdAt: now,
    updatedAt: now,
    expiresAt: new Date(ctx.now.getTime() + ctx.policy.pendingTtlSeconds * 1000).toISOString(),
  });
}

/**
 * Accepts a pending peering after checking every rule again against today's state. A rule that
 * now fails turns the peering `failed` (returned with the error, to persist then throw).
 */
export function acceptPeering(view: StateView, ctx: OpContext, params: PeeringRef): OpResult<Peering> {
  const started = startTransition(view, ctx, params.id, 'accept');
  if (isOpResult(started)) return started;
  const p = started;
  const refusal = peeringRuleRefusal(view, ctx.policy, p);
  const now = ctx.now.toISOString();
  if (refusal) {
    const failed: Peering = {
      ...p,
      status: 'failed',
      statusReason: reasonText(`Acceptance by ${ctx.actor} failed: ${refusal.message}`),
      updatedAt: now,
    };
    return { ...put(failed), error: refusal };
  }
  return put({ ...p, status: 'active', acceptedBy: ctx.actor, updatedAt: now });
}

export function rejectPeering(view: StateView, ctx: OpContext, params: PeeringRef): OpResult<Peering> {
  const started = startTransition(view, ctx, params.id, 'reject');
  if (isOpResult(started)) return started;
  return put({
    ...started,
    status: 'rejected',
    statusReason: reasonText(`Rejected by ${ctx.actor}.`),
    updatedAt: ctx.now.toISOString(),
  });
}

/**
 * Cancels a pending request or tears down an active peering; the record turns `deleted`. The
 * reason says only what this call did and the status it found: after a partition the delete of
 * a pending request can merge against a concurrent accept made elsewhere, and the delete wins
 * (terminal over active, docs/GOSSIP.md), so "before it was accepted" could be untrue of the one
 * record every host then holds.
 */
export function deletePeering(view: StateView, ctx: OpContext, params: PeeringRef): OpResult<Peering> {
  const started = startTransition(view, ctx, params.id, 'delete');
  if (isOpResult(started)) return started;
  const statusReason = reasonText(
    started.status === 'active'
      ? `Deleted by ${ctx.actor}.`
      : `Deleted by ${ctx.actor} while pending acceptance.`,
  );
  return put({ ...started, status: 'deleted', statusReason, updatedAt: ctx.now.toISOString() });
}

/** One peering as stored: an overdue request reads `pending-acceptance` until a transition or the sweep expires it. */
export function getPeering(view: StateView, params: PeeringRef): Peering {
  requirePeeringId(params.id);
  return existingPeering(view, params.id);
}

/**
 * The peerings, oldest first, optionally of one VPC (terminal records of a deleted VPC included)
 * and/or in one status.
 */
export function listPeerings(view: StateView, params: ListPeeringsParams): { items: Peering[] } {
  if (params.vpcId !== undefined) requireId('vpcId', params.vpcId);
  if (params.status !== undefined && !PeeringStatuses.includes(params.status)) {
    throw invalidParams('status', `status "${String(params.status)}" is not one of ${PeeringStatuses.join(', ')}.`);
  }
  const source = params.vpcId === undefined ? [...view.peerings()] : view.peeringsOfVpc(params.vpcId);
  const items = source
    .filter((p) => params.status === undefined || p.status === params.status)
    .sort((a, b) => compareText(a.createdAt, b.createdAt) || compareText(a.id, b.id));
  return { items };
}

/**
 * The periodic housekeeping: overdue pending requests turn `expired`, and terminal records whose
 * last change is at least policy.terminalRetentionSeconds old are compacted away. A record
 * expired by this sweep is kept for a full retention period from now.
 */
export function sweep(view: StateView, now: Date, policy: PeeringPolicy): Mutation[] {
  const retentionMs = policy.terminalRetentionSeconds * 1000;
  const mutations: Mutation[] = [];
  for (const p of view.peerings()) {
    if (isOverdue(p, now)) {
      mutations.push({ op: 'peering.put', peering: expired(p, now) });
    } else if (TerminalStatuses.includes(p.status) && Date.parse(p.updatedAt) + retentionMs <= now.getTime()) {
      mutations.push({ op: 'peering.del', id: p.id });
    }
  }
  return mutations;
}
