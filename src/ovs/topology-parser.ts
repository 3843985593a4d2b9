// The topology (bridges with their ports) read from the Bridge, Port and Interface rows of the
// Open_vSwitch database, as the OVSDB client's monitor keeps them (ovsdb/monitor-cache.ts). Pure.
// A port of one interface takes that interface's ofport, type, peer and error; a port of several
// is a bond. A row that names a row the snapshot lacks is OvsError 'bad-output': the monitor
// sends each transaction whole, so that cannot happen on a link that works.
import type { RowOf, Rows } from './ovsdb/monitor-cache.js';
import { OvsError } from './runner.js';

export interface PortInfo {
  readonly name: string;
  /** The OpenFlow port number; null while vswitchd has not assigned one, or the interface is in error. */
  readonly ofport: number | null;
  /** Interface type: '' (a system device), 'internal', 'patch', ...; 'bond' for a multi-interface port. */
  readonly type: string;
  /** options:peer of a patch port. */
  readonly peer: string | null;
  /** Why vswitchd could not set the interface up. */
  readonly error: string | null;
}

export interface BridgeInfo {
  readonly name: string;
  readonly ports: ReadonlyMap<string, PortInfo>;
}

export interface Topology {
  readonly bridges: ReadonlyMap<string, BridgeInfo>;
}

/** ofport -1 is how OVS marks an interface it failed to set up. */
const OFPORT_ERROR = -1;
const OFPORT_MAX = 65535;

export function topologyFromRows(rows: Pick<Rows, 'Bridge' | 'Port' | 'Interface'>): Topology {
  const ports = new Map<string, PortInfo>();
  const portOf = (uuid: string, bridge: string): PortInfo => {
    const known = ports.get(uuid);
    if (known !== undefined) return known;
    const row = rows.Port.get(uuid);
    if (row === undefined) throw inconsistent(`bridge ${bridge} refers to a missing port ${uuid}`);
    const members = row.interfaces.map((u) => {
      const iface = rows.Interface.get(u);
      if (iface === undefined) throw inconsistent(`port ${row.name} refers to a missing interface ${u}`);
      return iface;
    });
    const only = members.length === 1 ? members[0] : undefined;
    const port = only !== undefined ? { ...interfaceInfo(only), name: row.name } : { name: row.name, ofport: null, type: 'bond', peer: null, error: null };
    ports.set(uuid, port);
    return port;
  };
  const bridges = new Map<string, BridgeInfo>();
  for (const row of rows.Bridge.values()) {
    const byName = new Map<string, PortInfo>();
    for (const u of row.ports) {
      const port = portOf(u, row.name);
      byName.set(port.name, port);
    }
    bridges.set(row.name, { name: row.name, ports: byName });
  }
  return { bridges };
}

function interfaceInfo(row: RowOf<'Interface'>): PortInfo {
  const { ofport } = row;
  if (ofport !== null && (ofport < OFPORT_ERROR || ofport > OFPORT_MAX)) throw inconsistent(`interface ${row.name} has ofport ${ofport}`);
  return { name: row.name, ofport: ofport === OFPORT_ERROR ? null : ofport, type: row.type, peer: row.options.get('peer') ?? null, error: row.error };
}

function inconsistent(why: string): OvsError {
  return new OvsError('bad-output', `the OVSDB snapshot is inconsistent: ${why}`);
}
