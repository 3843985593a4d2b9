// What differs between two topologies (bridges and their ports), by value: the one definition of
// "a port changed" that the desired engine (which peerings to redo), the data plane (which
// bridges to pass again after an OVSDB change) and its provisional pass (whether a read topology
// changes the outcome) share. Pure: no I/O. Cheap where the topologies share objects (a bridge
// whose ports map is the same object is not walked).
import type { PortInfo, Topology } from '../ovs/topology-parser.js';
import { isOurPort } from './desired.js';

/** Two ports are the same when everything the daemon reads of one is: ofport, type, peer, error. */
export function samePort(a: PortInfo, b: PortInfo): boolean {
  return a.ofport === b.ofport && a.type === b.type && a.peer === b.peer && a.error === b.error;
}

/**
 * Calls `bridge` for each bridge that appeared or went, `port` for each port (its name and its
 * bridge) that appeared, went or changed on a bridge in both.
 */
export function diffTopology(a: Topology, b: Topology, bridge: (name: string) => void, port: (name: string, bridge: string) => void): void {
  for (const name of a.bridges.keys()) if (!b.bridges.has(name)) bridge(name);
  for (const [name, bb] of b.bridges) {
    const ba = a.bridges.get(name);
    if (ba === undefined) bridge(name);
    else if (ba !== bb && ba.ports !== bb.ports) {
      let matched = 0;
      for (const [n, p] of bb.ports) {
        const q = ba.ports.get(n);
        if (q !== undefined) matched += 1;
        if (q !== p && (q === undefined || !samePort(q, p))) port(n, name);
      }
      if (matched < ba.ports.size) for (const n of ba.ports.keys()) if (!bb.ports.has(n)) port(n, name);
    }
  }
}

/** What a data plane acts on between two topologies (see topologyChange). */
export interface TopologyChange {
  /** Bridges that appeared or went, sorted. */
  readonly bridges: readonly string[];
  /** Bridges in both on which a port of ours (isOurPort) appeared, went or changed, sorted. */
  readonly ourPorts: readonly string[];
}

/**
 * The bridges whose existence or ports of ours differ from `a` to `b`. Ports of others (a VM's
 * interface coming and going) are left out: no desired flow or port plan reads them but the
 * free ofports a new pair asks for, which the next pass that makes one reads afresh.
 */
export function topologyChange(a: Topology, b: Topology): TopologyChange {
  const bridges = new Set<string>();
  const ourPorts = new Set<string>();
  diffTopology(
    a,
    b,
    (name) => bridges.add(name),
    (name, bridge) => {
      if (isOurPort(name)) ourPorts.add(bridge);
    },
  );
  return { bridges: [...bridges].sort(), ourPorts: [...ourPorts].sort() };
}
