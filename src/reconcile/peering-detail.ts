// Where a peering lives on this host, for operators: its bridges, patch ports, cookie and flow
// counts (peering.get `dataplane.bridges`, SPEC §5), and the bridges whose flows peering.flows
// dumps. Pure: computed from the state, the last topology and what the last passes left, with
// no process of its own.
import type { StateView } from '../domain/state-index.js';
import { PEERING_ID_PATTERN, type Peering } from '../domain/types.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { PeeringBridge } from './dataplane.js';
import { patchPortNames, peeringCookie } from './desired.js';
import type { BridgeResult } from './report.js';

/** What peeringBridges reads. */
export interface DetailInput {
  readonly view: StateView;
  /** The topology of the last pass that ended, or null before the first. */
  readonly topology: Topology | null;
  readonly bridges: ReadonlyMap<string, BridgeResult>;
  readonly cookiePrefix: number;
}

/**
 * The two sides of the peering when both of its bridges are on this host (its patch pair can
 * only exist then), requester side first; otherwise none. `flows` counts the flows with the
 * peering's cookie installed on the bridge as of its last result (report.ts BridgeResult.installed).
 */
export function peeringBridges(p: Peering, input: DetailInput): PeeringBridge[] {
  const sides = peeringSides(p, input.view);
  const { topology } = input;
  if (sides.length < 2 || topology === null || !sides.every((s) => topology.bridges.has(s.bridge))) return [];
  const cookie = peeringCookie(input.cookiePrefix, p.id);
  return sides.map((s) => {
    const flows = input.bridges.get(s.bridge)?.installed.get(cookie) ?? 0;
    return { ...s, cookie: `0x${cookie.toString(16)}`, flows };
  });
}

/** The peering's bridges that `topology` lists: where its flows can be, even those of a side left behind. */
export function localBridges(p: Peering, view: StateView, topology: Topology): string[] {
  return [...new Set(peeringSides(p, view).map((s) => s.bridge))].filter((b) => topology.bridges.has(b)).sort();
}

/** The sides of the peering whose VPC is known, with their patch port names; none for a malformed id. */
function peeringSides(p: Peering, view: StateView): Omit<PeeringBridge, 'cookie' | 'flows'>[] {
  if (!PEERING_ID_PATTERN.test(p.id)) return [];
  const names = patchPortNames(p.id);
  const requester = view.getVpc(p.requesterVpcId)?.bridge;
  const accepter = view.getVpc(p.accepterVpcId)?.bridge;
  // A peering of two VPCs on one bridge has no patch pair (computeDesired refuses it).
  if (requester !== undefined && requester === accepter) return [];
  return [
    ...(requester === undefined ? [] : [{ bridge: requester, patchPort: names.requester, peerPatchPort: names.accepter }]),
    ...(accepter === undefined ? [] : [{ bridge: accepter, patchPort: names.accepter, peerPatchPort: names.requester }]),
  ];
}
