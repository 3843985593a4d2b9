// The difference between what OVS has and what it should have, for one bridge's flows and for
// the host's patch ports, and the bundle text that applies a flow plan atomically. Pure: no I/O.
import type { PatchPair, PortRef } from '../ovs/ovs.js';
import type { PortInfo, Topology } from '../ovs/topology-parser.js';
import { type DesiredPort, isOurCookie, isOurPort } from './desired.js';
import { type Flow, bundleLine, flowKey } from '../ovs/flow.js';

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
export function planPorts(desired: { readonly ports: readonly DesiredPort[] }, topology: Topology): PortPlan {
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
      else if (w.bridge === bridge && isPatchTo(port, w.peer)) good.add(name);
      else replace.push({ bridge, port: name });
    }
  }
  const add = desired.ports.filter((d) => !good.has(d.port) || !good.has(d.peerPort));
  return { add, replace, remove };
}

/**
 * Whether a port is the patch side it should be: a patch to `peer`. What OVS reports beside that
 * (its ofport, an error while the peer is missing) does not make it wrong.
 */
export function isPatchTo(port: PortInfo | undefined, peer: string): boolean {
  return port !== undefined && port.type === 'patch' && port.peer === peer;
}

/** Where requested patch ports are numbered from: far above what a platform assigns to instances. */
const FIRST_REQUESTED_OFPORT = 32768;
const LAST_OFPORT = 0xfeff;

/** The pairs to create, each side with a free OpenFlow port number of its bridge to ask for. */
export function withRequestedOfports(add: readonly DesiredPort[], topology: Topology, doomed: readonly PortRef[]): PatchPair[] {
  const gone = new Set(doomed.map((p) => `${p.bridge}/${p.port}`));
  /** Per bridge a pair is added to (only those: an accept touches two of a host's bridges), the ofports in use. */
  const used = new Map<string, Set<number>>();
  const usedOn = (bridge: string): Set<number> => {
    let taken = used.get(bridge);
    if (taken === undefined) {
      const ports = topology.bridges.get(bridge)?.ports.values() ?? [];
      taken = new Set([...ports].filter((p) => !gone.has(`${bridge}/${p.name}`)).flatMap((p) => (p.ofport === null ? [] : [p.ofport])));
      used.set(bridge, taken);
    }
    return taken;
  };
  const take = (bridge: string, port: string): number | undefined => {
    const existing = topology.bridges.get(bridge)?.ports.get(port);
    if (existing?.ofport && !gone.has(`${bridge}/${port}`)) return existing.ofport;
    const taken = usedOn(bridge);
    for (let n = FIRST_REQUESTED_OFPORT; n <= LAST_OFPORT; n++) {
      if (!taken.has(n)) {
        taken.add(n);
        return n;
      }
    }
    return undefined; // no number free: let vswitchd choose (flows follow next cycle)
  };
  return add.map((d) => ({
    bridge: d.bridge,
    port: d.port,
    peerBridge: d.peerBridge,
    peerPort: d.peerPort,
    ofport: take(d.bridge, d.port),
    peerOfport: take(d.peerBridge, d.peerPort),
  }));
}

/**
 * The topology as it will be once the doomed ports are gone and the pairs exist. A bridge they
 * do not touch is the same object as in `topology` (the desired engine then skips it).
 */
export function plannedTopology(topology: Topology, pairs: readonly PatchPair[], doomed: readonly PortRef[]): Topology {
  if (pairs.length === 0 && doomed.length === 0) return topology;
  const bridges = new Map(topology.bridges);
  const copied = new Map<string, Map<string, PortInfo>>();
  /** The ports of a touched bridge, copied on its first change. */
  const ports = (bridge: string): Map<string, PortInfo> | undefined => {
    const b = topology.bridges.get(bridge);
    if (b === undefined) return undefined;
    let mine = copied.get(bridge);
    if (mine === undefined) {
      copied.set(bridge, (mine = new Map(b.ports)));
      bridges.set(bridge, { name: bridge, ports: mine });
    }
    return mine;
  };
  for (const d of doomed) ports(d.bridge)?.delete(d.port);
  const put = (bridge: string, port: string, peer: string, ofport: number | undefined): void => {
    const info: PortInfo = { name: port, ofport: ofport ?? null, type: 'patch', peer, error: null };
    ports(bridge)?.set(port, info);
  };
  for (const p of pairs) {
    put(p.bridge, p.port, p.peerPort, p.ofport);
    put(p.peerBridge, p.peerPort, p.port, p.peerOfport);
  }
  return { bridges };
}

/** Whether every side of `pairs` got the ofport it asked for in `topology`. */
export function sameOfports(pairs: readonly PatchPair[], topology: Topology): boolean {
  return pairs.every(
    (p) =>
      topology.bridges.get(p.bridge)?.ports.get(p.port)?.ofport === p.ofport &&
      topology.bridges.get(p.peerBridge)?.ports.get(p.peerPort)?.ofport === p.peerOfport,
  );
}
