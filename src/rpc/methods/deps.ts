// What the API methods need from the rest of the daemon, injected by the composition root.
import { randomBytes } from 'node:crypto';
import type { StateView } from '../../domain/state-index.js';
import type { PeeringHost } from '../../gossip/host-reports.js';
import type { GossipStatus } from '../../gossip/service.js';
import type { OpContext, OpResult, Peering, PeeringPolicy, Principal } from '../../domain/types.js';
import type { Family } from '../../metrics/registry.js';
import { RpcError } from '../../errors.js';
import { type Dataplane, DataplaneError } from '../../reconcile/dataplane.js';
import type { Store } from '../../store/store.js';

export interface MethodDeps {
  readonly store: Store;
  readonly dataplane: () => Dataplane;
  readonly policy: () => PeeringPolicy;
  readonly authenticate: (token: string) => Promise<Principal>;
  /** status.gossip, from the gossip part (or its disabled form). */
  readonly gossip: () => GossipStatus;
  /** peering.get `hosts` (SPEC §5): every host's data plane for the peering, this host first. */
  readonly hosts: (p: Peering) => readonly PeeringHost[];
  readonly nodeId: string;
  readonly version: string;
  readonly startedAt: Date;
  readonly now: () => Date;
  /** The daemon's metrics, collected now (the `metrics` method). */
  readonly metrics: () => Promise<readonly Family[]>;
}

/** A fresh AWS-style peering id that is not in use. */
export function newPeeringId(view: StateView): string {
  for (;;) {
    const id = 'pcx-' + randomBytes(9).toString('hex').slice(0, 17);
    if (!view.getPeering(id)) return id;
  }
}

function opContext(deps: MethodDeps, principal: Principal): OpContext {
  return {
    actor: principal.sub,
    now: deps.now(),
    policy: deps.policy(),
    newPeeringId: () => newPeeringId(deps.store.stagedView),
  };
}

/**
 * Runs a domain write as `principal` calls it (an operation of domain/tenancy.ts) through the
 * store's one write path (Store.write): the operation computes its mutations against the staged
 * state, they are committed in the same tick, and its result (or its error, after the mutations
 * are durable) is the reply.
 */
export function runWrite<P, T>(
  deps: MethodDeps,
  principal: Principal,
  op: (view: StateView, principal: Principal, ctx: OpContext, params: P) => OpResult<T>,
  params: P,
): Promise<T> {
  return deps.store.write((view) => op(view, principal, opContext(deps, principal), params));
}

/** Awaits a data-plane call, sending a DataplaneError as the API error of its reason (404/503). */
export async function fromDataplane<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof DataplaneError) throw new RpcError(err.reason, err.message);
    throw err;
  }
}
