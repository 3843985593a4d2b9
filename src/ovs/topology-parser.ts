// Reads the output of TOPOLOGY_ARGS (one ovs-vsctl call, one OVSDB snapshot: three JSON
// documents, one per line, for the Bridge, Port and Interface tables) into bridges with their
// ports. Pure. OVSDB's JSON encoding is parsed strictly: a uuid is ["uuid", U]; a set is
// ["set", [...]] except that a set of exactly one element is that element; a map is
// ["map", [[k, v], ...]]; an optional value (ofport, error) is its value or the empty set.

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

/** Arguments of the ovs-vsctl call whose output parseTopology reads. */
export const TOPOLOGY_ARGS = [
  '--format=json',
  '--columns=name,ports',
  'list',
  'Bridge',
  '--',
  '--columns=_uuid,name,interfaces',
  'list',
  'Port',
  '--',
  '--columns=_uuid,name,ofport,type,options,error',
  'list',
  'Interface',
] as const;

const HEADINGS = [
  ['name', 'ports'],
  ['_uuid', 'name', 'interfaces'],
  ['_uuid', 'name', 'ofport', 'type', 'options', 'error'],
] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** ofport -1 is how OVS marks an interface it failed to set up. */
const OFPORT_ERROR = -1;
const OFPORT_MAX = 65535;

class Bad extends Error {}

export function parseTopology(stdout: string): Topology {
  try {
    return parse(stdout);
  } catch (err) {
    if (err instanceof Bad) throw new OvsError('bad-output', `cannot read ovs-vsctl topology: ${err.message}`);
    throw err;
  }
}

function parse(stdout: string): Topology {
  const docs = stdout.split('\n').filter((l) => l.trim() !== '');
  if (docs.length !== HEADINGS.length) throw new Bad(`expected ${HEADINGS.length} JSON documents, got ${docs.length}`);
  const [bridgeRows = [], portRows = [], ifaceRows = []] = HEADINGS.map((headings, i) => table(docs[i] ?? '', headings));

  const interfaces = new Map<string, PortInfo>();
  for (const row of ifaceRows) {
    const [uuid, name, ofport, type, options, error] = row;
    const peer = map(options, 'options').get('peer');
    interfaces.set(asUuid(uuid), {
      name: str(name, 'interface name'),
      ofport: asOfport(ofport),
      type: str(type, 'interface type'),
      peer: peer ?? null,
      error: optional(error, (v) => str(v, 'interface error')),
    });
  }

  const ports = new Map<string, PortInfo>();
  for (const row of portRows) {
    const [uuid, name, ifaceRefs] = row;
    const portName = str(name, 'port name');
    const members = set(ifaceRefs, asUuid).map((u) => {
      const iface = interfaces.get(u);
      if (iface === undefined) throw new Bad(`port ${portName} refers to a missing interface ${u}`);
      return iface;
    });
    const only = members.length === 1 ? members[0] : undefined;
    ports.set(
      asUuid(uuid),
      only !== undefined
        ? { ...only, name: portName }
        : { name: portName, ofport: null, type: 'bond', peer: null, error: null },
    );
  }

  const bridges = new Map<string, BridgeInfo>();
  for (const row of bridgeRows) {
    const [name, portRefs] = row;
    const bridgeName = str(name, 'bridge name');
    const byName = new Map<string, PortInfo>();
    for (const u of set(portRefs, asUuid)) {
      const port = ports.get(u);
      if (port === undefined) throw new Bad(`bridge ${bridgeName} refers to a missing port ${u}`);
      byName.set(port.name, port);
    }
    bridges.set(bridgeName, { name: bridgeName, ports: byName });
  }
  return { bridges };
}

/** One `{"data": [...], "headings": [...]}` document; its rows, each as long as the headings. */
function table(text: string, headings: readonly string[]): unknown[][] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Bad('a document is not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw new Bad('a document is not an object');
  const { data, headings: got } = doc as { data?: unknown; headings?: unknown };
  if (JSON.stringify(got) !== JSON.stringify(headings)) throw new Bad(`headings ${JSON.stringify(got)}, expected ${JSON.stringify(headings)}`);
  if (!Array.isArray(data)) throw new Bad('data is not an array');
  return data.map((row: unknown) => {
    if (!Array.isArray(row) || row.length !== headings.length) throw new Bad(`a row does not have ${headings.length} columns`);
    return row as unknown[];
  });
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Bad(`${what} is not a string`);
  return v;
}

function asUuid(v: unknown): string {
  if (Array.isArray(v) && v.length === 2 && v[0] === 'uuid' && typeof v[1] === 'string' && UUID.test(v[1])) return v[1];
  throw new Bad(`not a uuid: ${JSON.stringify(v)}`);
}

function isSet(v: unknown): v is ['set', unknown[]] {
  return Array.isArray(v) && v.length === 2 && v[0] === 'set' && Array.isArray(v[1]);
}

/** A set column: ["set", [...]] or, for exactly one element, the bare element. */
function set<T>(v: unknown, element: (e: unknown) => T): T[] {
  return isSet(v) ? v[1].map(element) : [element(v)];
}

/** An optional column (min 0, max 1): the empty set or the value. */
function optional<T>(v: unknown, value: (e: unknown) => T): T | null {
  if (isSet(v)) {
    if (v[1].length === 0) return null;
    throw new Bad(`an optional value holds a set: ${JSON.stringify(v)}`);
  }
  return value(v);
}

function asOfport(v: unknown): number | null {
  const n = optional(v, (e) => {
    if (typeof e !== 'number' || !Number.isInteger(e) || e < OFPORT_ERROR || e > OFPORT_MAX) throw new Bad(`bad ofport ${JSON.stringify(e)}`);
    return e;
  });
  return n === OFPORT_ERROR ? null : n;
}

function map(v: unknown, what: string): Map<string, string> {
  if (!Array.isArray(v) || v.length !== 2 || v[0] !== 'map' || !Array.isArray(v[1])) throw new Bad(`${what} is not a map`);
  const out = new Map<string, string>();
  for (const pair of v[1] as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new Bad(`${what} holds a bad pair: ${JSON.stringify(pair)}`);
    }
    out.set(pair[0], pair[1]);
  }
  return out;
}
