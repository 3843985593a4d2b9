// What a reconcile pass changes on each bridge, as an operator reads it (reconcile.run with
// dryRun or verbose, SPEC §5): flows as ovs-ofctl text that can be pasted back (`ovs-ofctl
// add-flow BR '…'` for an add, `ovs-ofctl --strict del-flows BR '…'` for a removal), patch ports
// by name. Pure: no I/O.
import { flowText, strictFlowText } from '../ovs/flow.js';
import type { PatchPair, PortRef } from '../ovs/ovs.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { BridgeChanges } from './dataplane.js';
import type { FlowPlan } from './plan.js';

/** What a pass reports: the counts only (the loop, a plain reconcile.run), or also the changes. */
export type Detail = 'counts' | 'changes';

/** Collects the changes of one pass, bridge by bridge, in the order they are made. */
export interface ChangeLog {
  /** A bridge's flow plan: its adds and modifications (re-added in place) and its removals. */
  flows(bridge: string, plan: FlowPlan): void;
  /**
   * Patch ports: each side of `pairs` that `topology` does not already hold as it should be
   * (both sides are written, `--may-exist` keeps a good one), and the `doomed` ports.
   */
  ports(pairs: readonly PatchPair[], doomed: readonly PortRef[], topology: Topology): void;
  /** The bridges with something to change, sorted by name. */
  list(): BridgeChanges[];
}

interface Entry {
  readonly addFlows: string[];
  readonly removeFlows: string[];
  readonly addPorts: string[];
  readonly removePorts: string[];
}

export function createChangeLog(): ChangeLog {
  const byBridge = new Map<string, Entry>();
  const entry = (bridge: string): Entry => {
    let e = byBridge.get(bridge);
    if (e === undefined) byBridge.set(bridge, (e = { addFlows: [], removeFlows: [], addPorts: [], removePorts: [] }));
    return e;
  };
  return {
    flows(bridge, plan) {
      if (plan.add.length + plan.modify.length + plan.remove.length === 0) return;
      const e = entry(bridge);
      for (const f of [...plan.add, ...plan.modify]) e.addFlows.push(flowText(f));
      for (const f of plan.remove) e.removeFlows.push(strictFlowText(f));
    },
    ports(pairs, doomed, topology) {
      const gone = new Set(doomed.map((d) => `${d.bridge}/${d.port}`));
      for (const d of doomed) entry(d.bridge).removePorts.push(d.port);
      for (const p of pairs) {
        for (const [bridge, port, peer] of [
          [p.bridge, p.port, p.peerPort],
          [p.peerBridge, p.peerPort, p.port],
        ] as const) {
          const now = topology.bridges.get(bridge)?.ports.get(port);
          const good = now !== undefined && now.type === 'patch' && now.peer === peer && !gone.has(`${bridge}/${port}`);
          if (!good) entry(bridge).addPorts.push(portText(port, peer));
        }
      }
    },
    list: () =>
      [...byBridge]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([bridge, e]) => ({ bridge, ...e })),
  };
}

/** A patch port to create, as `changes` shows it: `px…r (peer=px…a)`. */
export function portText(port: string, peer: string): string {
  return `${port} (peer=${peer})`;
}
