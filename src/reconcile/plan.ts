// The difference between what OVS has and what it should have, for one bridge's flows and for
// the host's patch ports, and the bundle text that applies a flow plan atomically. Pure: no I/O.
import { type DesiredPort, type TopologyView, isOurCookie, isOurPort } from './desired.js';
import { type Flow, bundleLine, flowKey } from './flow.js';

export interface FlowPlan {
  /** Desired, not installed. */
  readonly add: Flow[];
  /** Installed under the same key with another cookie or other actions: re-added as desired. */
  readonly modify: Flow[];
  /** Installed (with our cookie), not desired. */
  readonly remove: Flow[];
  readonly unchanged: number;
}

/**
 * Diffs one bridge's desired flows against its installed flows, keyed by flowKey (table,
 * priority, match: OpenFlow's strict identity). `installed` should hold only flows dumped with
 * our cookie mask; still, a flow whose cookie lacks `cookiePrefix` is never planned for removal.
 * Duplicate keys in `installed` (OVS cannot hold two) count once: the first is compared.
 * Throws on duplicate keys in `desired`: computeDesired never produces them.
 */
export function planFlows(desired: readonly Flow[], installed: readonly Flow[], cookiePrefix: number): FlowPlan {
  const want = new Map<string, Flow>();
  for (const f of desired) {
    const key = flowKey(f);
    if (want.has(key)) throw new Error(`two desired flows share the key ${key}`);
    want.set(key, f);
  }
  const have = new Map<string, Flow>();
  for (const f of installed) {
    const key = flowKey(f);
    if (!have.has(key)) have.set(key, f);
  }

  const add: Flow[] = [];
  const modify: Flow[] = [];
  const remove: Flow[] = [];
  let unchanged = 0;
  for (const [key, f] of want) {
    const old = have.get(key);
    if (!old) add.push(f);
    else if (old.cookie !== f.cookie || old.actions !== f.actions) modify.push(f);
    else unchanged++;
  }
  for (const [key, f] of have) {
    if (!want.has(key) && isOurCookie(cookiePrefix, f.cookie)) remove.push(f);
  }
  return { add, modify, remove, unchanged };
}

/**
 * The lines of one `ovs-ofctl --bundle add-flows` file: deletions first, then additions. A
 * modification is an `add`: adding a flow whose table, priority and match exist replaces that
 * flow's cookie and actions in place, with no window in which the packet would miss it (and
 * the bundle makes the whole file one atomic change anyway).
 */
export function bundleFor(plan: FlowPlan): string[] {
  return [
    ...plan.remove.map((f) => bundleLine('delete_strict', f)),
    ...plan.add.map((f) => bundleLine('add', f)),
    ...plan.modify.map((f) => bundleLine('add', f)),
  ];
}

export interface PortRef {
  readonly bridge: string;
  readonly port: string;
}

export interface PortPlan {
  /** Patch pairs to create, both sides in one transaction (`--may-exist` keeps a good side). */
  readonly add: DesiredPort[];
  /**
   * Ports of ours in the way of `add`: a wanted name on the wrong bridge, or not the patch it
   * should be. Delete each in the transaction that adds its pair, before the add (`--if-exists
   * del-port NAME`): a port name is unique on the host, so it cannot be created elsewhere first.
   */
  readonly replace: PortRef[];
  /** Ports of ours that no peering wants: delete them once their flows are gone. */
  readonly remove: PortRef[];
}

/** Diffs the desired patch pairs against the topology. Only ports named like ours (isOurPort) are touched. */
export function planPorts(desired: { readonly ports: readonly DesiredPort[] }, topology: TopologyView): PortPlan {
  /** Port name → where it must be and what it must point at. */
  const wanted = new Map<string, { bridge: string; peer: string }>();
  for (const d of desired.ports) {
    wanted.set(d.port, { bridge: d.bridge, peer: d.peerPort });
    wanted.set(d.peerPort, { bridge: d.peerBridge, peer: d.port });
  }

  const good = new Set<string>();
  const replace: PortRef[] = [];
  const remove: PortRef[] = [];
  for (const [bridge, b] of topology.bridges) {
    for (const [name, port] of b.ports) {
      if (!isOurPort(name)) continue;
      const w = wanted.get(name);
      if (!w) remove.push({ bridge, port: name });
      else if (w.bridge === bridge && port.type === 'patch' && port.peer === w.peer) good.add(name);
      else replace.push({ bridge, port: name });
    }
  }
  const add = desired.ports.filter((d) => !good.has(d.port) || !good.has(d.peerPort));
  return { add, replace, remove };
}
