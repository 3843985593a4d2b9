// The OVSDB transactions of the port changes (RFC 7047 §5.2), built from a snapshot of the
// monitored rows the way ovs-vsctl builds them from its own copy of the tables: pure, snapshot
// and request in, operations out. The snapshot may be stale by the time the server runs the
// transaction, so every fact an operation relies on is asserted by a `wait` with timeout 0 in the
// same transaction (ovs-vsctl's "verify"), and an insert that races another client's insert of
// the same name breaks the unique name index of Port or Interface: either way the transaction
// fails as a whole and the caller builds it again from the newer snapshot (retryable()).
//
// Each transaction that changes something ends with `next_cfg += 1` and a select of the result,
// the number ovs-vswitchd writes to `cur_cfg` once it has applied the change (what ovs-vsctl
// waits for). Refusals are ovs-vsctl's: a port of that name on another bridge, a bridge that is
// not there (OvsError 'no-such-bridge').
import { OvsError } from '../runner.js';
import type { RowOf, Rows } from './monitor-cache.js';
import { type Json, mapValue, namedUuid, setValue, uuidRef } from './values.js';

/** One side of a patch pair: port `port` on `bridge`, its patch peer `peer`, the ofport to request. */
export interface PatchSide {
  readonly bridge: string;
  readonly port: string;
  readonly peer: string;
  readonly ofport?: number;
}

export interface PortOnBridge {
  readonly bridge: string;
  readonly port: string;
}

export interface TxnPlan {
  readonly ops: readonly Json[];
  /** Interfaces the transaction inserts: once vswitchd applied it, each must have an ofport, not an error. */
  readonly inserted: readonly string[];
}

const DB_TABLE = 'Open_vSwitch';

/**
 * Creates or repairs patch ports (ovs-vsctl's `--may-exist add-port B X` then `set interface X
 * type=patch options:peer=P ofport_request=R`): a port that exists on its bridge gets its one
 * interface's type, `options:peer` (other options stay) and ofport_request set where they
 * differ; a missing one is inserted with its interface and added to the bridge. Null: nothing
 * to change. A port named twice is taken once, the last naming winning, as in one ovs-vsctl call.
 */
export function patchPortsTxn(rows: Rows, sides: readonly PatchSide[]): TxnPlan | null {
  const index = indexOf(rows);
  const wanted = new Map<string, PatchSide>();
  for (const side of sides) {
    const earlier = wanted.get(side.port);
    if (earlier !== undefined && earlier.bridge !== side.bridge) {
      throw new OvsError('failed', `"--may-exist add-port ${side.bridge} ${side.port}" but ${side.port} is also added to bridge ${earlier.bridge}`);
    }
    wanted.delete(side.port);
    wanted.set(side.port, side);
  }
  const ops: Json[] = [];
  const inserts = new Map<string, Json[]>();
  const inserted: string[] = [];
  for (const side of wanted.values()) {
    const { bridge, port, peer, ofport } = side;
    const existing = index.portByName.get(port);
    if (existing !== undefined) {
      const [portUuid, portRow] = existing;
      const on = index.bridgeOfPort.get(portUuid);
      if (on !== undefined && on.name !== bridge) {
        throw new OvsError('failed', `"--may-exist add-port ${bridge} ${port}" but ${port} is actually attached to bridge ${on.name}`);
      }
      // Port is not a root table: a port on no bridge is collected in the transaction that drops it.
      if (on === undefined) throw new OvsError('bad-output', `the OVSDB snapshot is inconsistent: port ${port} is on no bridge`);
      const ifaceUuid = portRow.interfaces.length === 1 ? portRow.interfaces[0] : undefined;
      const iface = ifaceUuid === undefined ? undefined : rows.Interface.get(ifaceUuid);
      if (ifaceUuid === undefined || iface === undefined || iface.name !== port) {
        const names = portRow.interfaces.map((u) => rows.Interface.get(u)?.name ?? u).join(', ');
        throw new OvsError('failed', `"--may-exist add-port ${bridge} ${port}" but ${port} is actually attached to interfaces ${names}`);
      }
      if (iface.type === 'patch' && iface.options.get('peer') === peer && (ofport === undefined || iface.ofport_request === ofport)) continue;
      const byUuid = (u: string): Json => [['_uuid', '==', uuidRef(u)]];
      ops.push(
        verify('Port', byUuid(portUuid), { name: port, interfaces: uuidRef(ifaceUuid) }),
        verify('Bridge', [['name', '==', bridge], ['ports', 'includes', uuidRef(portUuid)]], { name: bridge }),
        { op: 'update', table: 'Interface', where: byUuid(ifaceUuid), row: { type: 'patch', ...(ofport === undefined ? {} : { ofport_request: ofport }) } },
        {
          op: 'mutate',
          table: 'Interface',
          where: byUuid(ifaceUuid),
          mutations: [
            ['options', 'delete', setValue(['peer'])],
            ['options', 'insert', mapValue([['peer', peer]])],
          ],
        },
      );
      continue;
    }
    const clash = index.interfaceByName.get(port);
    if (clash !== undefined) {
      const where = index.bridgeOfInterface.get(clash)?.name;
      throw new OvsError('failed', `cannot create an interface named ${port} because an interface named ${port} already exists${where === undefined ? '' : ` on bridge ${where}`}`);
    }
    if (!index.bridgeByName.has(bridge)) throw noBridge(bridge);
    const n = inserted.length;
    inserted.push(port);
    ops.push(
      {
        op: 'insert',
        table: 'Interface',
        'uuid-name': `iface${n}`,
        row: { name: port, type: 'patch', options: mapValue([['peer', peer]]), ...(ofport === undefined ? {} : { ofport_request: ofport }) },
      },
      { op: 'insert', table: 'Port', 'uuid-name': `port${n}`, row: { name: port, interfaces: namedUuid(`iface${n}`) } },
    );
    const onBridge = inserts.get(bridge) ?? [];
    onBridge.push(namedUuid(`port${n}`));
    inserts.set(bridge, onBridge);
  }
  for (const [bridge, ports] of inserts) {
    ops.push(verify('Bridge', [['name', '==', bridge]], { name: bridge }), {
      op: 'mutate',
      table: 'Bridge',
      where: [['name', '==', bridge]],
      mutations: [['ports', 'insert', setValue(ports)]],
    });
  }
  if (ops.length === 0) return null;
  return { ops: [...ops, ...bumpCfg(`add patch ports ${[...wanted.keys()].join(' ')}`)], inserted };
}

/**
 * Deletes ports from their bridges (ovs-vsctl's `--if-exists del-port B X`): the Port and its
 * Interface rows are not roots of the schema, so ovsdb-server collects them once no bridge
 * refers to them. An absent port is fine; a port on another bridge is refused. Null: nothing to do.
 */
export function deletePortsTxn(rows: Rows, refs: readonly PortOnBridge[]): TxnPlan | null {
  const index = indexOf(rows);
  const doomed = new Map<string, Set<string>>();
  for (const { bridge, port } of refs) {
    // A bridge's own (local) port goes only with the bridge; --if-exists makes that a no-op.
    if (index.bridgeByName.has(port)) continue;
    const existing = index.portByName.get(port);
    if (existing === undefined) continue;
    if (!index.bridgeByName.has(bridge)) throw noBridge(bridge);
    const on = index.bridgeOfPort.get(existing[0]);
    if (on?.name !== bridge) throw new OvsError('failed', `bridge ${bridge} does not have a port ${port}`);
    const set = doomed.get(bridge) ?? new Set<string>();
    set.add(existing[0]);
    doomed.set(bridge, set);
  }
  if (doomed.size === 0) return null;
  const ops: Json[] = [];
  for (const [bridge, uuids] of doomed) {
    const refsOf = setValue([...uuids].map(uuidRef));
    ops.push(verify('Bridge', [['name', '==', bridge], ['ports', 'includes', refsOf]], { name: bridge }), {
      op: 'mutate',
      table: 'Bridge',
      where: [['name', '==', bridge]],
      mutations: [['ports', 'delete', refsOf]],
    });
  }
  const names = refs.map((r) => r.port).join(' ');
  return { ops: [...ops, ...bumpCfg(`delete ports ${names}`)], inserted: [] };
}

/**
 * What a `transact` reply says (§4.1.3): one result per operation (null for those after a failed
 * one), then one more when the commit itself failed; the first with an `error` names why.
 * Throws OvsError 'bad-output' on a reply of another shape.
 */
export function txnOutcome(ops: readonly Json[], result: unknown): { ok: true; results: readonly unknown[] } | { ok: false; error: string; details: string | null; op: Json | null } {
  if (!Array.isArray(result)) throw new OvsError('bad-output', 'a transact reply that is not an array');
  for (let i = 0; i < result.length; i++) {
    const r: unknown = result[i];
    if (typeof r === 'object' && r !== null && 'error' in r) {
      const { error, details } = r as { error: unknown; details?: unknown };
      return { ok: false, error: String(error), details: typeof details === 'string' ? details : null, op: ops[i] ?? null };
    }
  }
  if (result.length < ops.length) throw new OvsError('bad-output', `a transact reply of ${result.length} results for ${ops.length} operations, none an error`);
  return { ok: true, results: result };
}

/**
 * Whether a failed transaction failed because the snapshot it was built from was stale: one of
 * its `wait`s did not hold ("timed out"), or an insert met a row of the same name ("constraint
 * violation" of a unique index).
 */
export function retryable(error: string): boolean {
  return error === 'timed out' || error === 'constraint violation';
}

/** The `next_cfg` the transaction set: the select at its end (see bumpCfg). */
export function nextCfgOf(results: readonly unknown[]): number {
  const rows = (results[results.length - 1] as { rows?: unknown } | null)?.rows;
  const cfg = Array.isArray(rows) && rows.length === 1 ? (rows[0] as { next_cfg?: unknown }).next_cfg : undefined;
  if (typeof cfg !== 'number' || !Number.isSafeInteger(cfg)) throw new OvsError('bad-output', 'the transaction did not read back next_cfg (no single Open_vSwitch row?)');
  return cfg;
}

/** A `wait` (timeout 0: checked at once) that the rows `where` selects are exactly `row`: a fact of the snapshot, asserted. */
function verify(table: string, where: Json, row: Record<string, Json>): Json {
  return { op: 'wait', table, where, columns: Object.keys(row), until: '==', rows: [row], timeout: 0 };
}

/** A comment for ovsdb-server's log (`ovsdb-tool show-log`), `next_cfg += 1` and its new value read back. */
function bumpCfg(what: string): Json[] {
  return [
    { op: 'comment', comment: `vpc-peerd: ${what}` },
    { op: 'mutate', table: DB_TABLE, where: [], mutations: [['next_cfg', '+=', 1]] },
    { op: 'select', table: DB_TABLE, where: [], columns: ['next_cfg'] },
  ];
}

function noBridge(bridge: string): OvsError {
  return new OvsError('no-such-bridge', `no bridge named ${bridge}`);
}

interface Index {
  readonly bridgeByName: ReadonlyMap<string, RowOf<'Bridge'>>;
  readonly portByName: ReadonlyMap<string, readonly [string, RowOf<'Port'>]>;
  readonly interfaceByName: ReadonlyMap<string, string>;
  readonly bridgeOfPort: ReadonlyMap<string, RowOf<'Bridge'>>;
  readonly bridgeOfInterface: ReadonlyMap<string, RowOf<'Bridge'>>;
}

function indexOf(rows: Rows): Index {
  const bridgeByName = new Map<string, RowOf<'Bridge'>>();
  const bridgeOfPort = new Map<string, RowOf<'Bridge'>>();
  for (const bridge of rows.Bridge.values()) {
    bridgeByName.set(bridge.name, bridge);
    for (const p of bridge.ports) bridgeOfPort.set(p, bridge);
  }
  const portByName = new Map<string, readonly [string, RowOf<'Port'>]>();
  const bridgeOfInterface = new Map<string, RowOf<'Bridge'>>();
  for (const [uuid, port] of rows.Port) {
    portByName.set(port.name, [uuid, port]);
    const bridge = bridgeOfPort.get(uuid);
    if (bridge !== undefined) for (const i of port.interfaces) bridgeOfInterface.set(i, bridge);
  }
  const interfaceByName = new Map<string, string>();
  for (const [uuid, iface] of rows.Interface) interfaceByName.set(iface.name, uuid);
  return { bridgeByName, portByName, interfaceByName, bridgeOfPort, bridgeOfInterface };
}
