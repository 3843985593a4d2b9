// The rows of the Open_vSwitch database that the client monitors (RFC 7047 §4.1.5), kept from
// the monitor's initial reply and its `update` notifications (§4.1.6). Pure: table-updates in,
// typed rows out. A table-update is checked whole before anything is applied, so a bad one
// (OvsdbProtocolError) leaves the cache as it was.
//
// A row-update of the `monitor` method (v1): `new` alone is an insert (or the initial rows),
// `old` alone a delete, both a modify; ovsdb-server puts every monitored column in `new`, the
// changed ones in `old`. A `new` that lacks a column keeps the value the cache holds.
import { excerpt, OvsdbProtocolError } from './errors.js';
import { type Decoder, integerValue, mapOf, optionalOf, setOf, stringValue, uuidValue } from './values.js';

/** The monitored tables, their columns and each column's type (vswitch.ovsschema). */
export const MONITORED = {
  Open_vSwitch: { cur_cfg: integerValue, next_cfg: integerValue },
  Bridge: { name: stringValue, ports: setOf(uuidValue) },
  Port: { name: stringValue, interfaces: setOf(uuidValue) },
  Interface: {
    name: stringValue,
    type: stringValue,
    options: mapOf(stringValue, stringValue),
    ofport: optionalOf(integerValue),
    // Not part of the topology: addPatchPairs reads it to repair only what differs.
    ofport_request: optionalOf(integerValue),
    error: optionalOf(stringValue),
  },
} as const satisfies Record<string, Record<string, Decoder<unknown>>>;

export type TableName = keyof typeof MONITORED;
/** A row of a monitored table: its monitored columns, decoded. */
export type RowOf<T extends TableName> = { readonly [C in keyof (typeof MONITORED)[T]]: (typeof MONITORED)[T][C] extends Decoder<infer V> ? V : never };
export type Rows = { readonly [T in TableName]: ReadonlyMap<string, RowOf<T>> };

const TABLES = Object.keys(MONITORED) as TableName[];

/** The `monitor` request's <monitor-requests>: every monitored column of each table, every kind of change. */
export function monitorRequests(): Record<TableName, { columns: string[] }> {
  return Object.fromEntries(TABLES.map((t) => [t, { columns: Object.keys(MONITORED[t]) }])) as Record<TableName, { columns: string[] }>;
}

type Change = { readonly table: TableName; readonly uuid: string; readonly row: RowOf<TableName> | null };

export class MonitorCache {
  private tables: { [T in TableName]: Map<string, RowOf<T>> } = emptyTables();
  private gen = 0;

  /** The rows as they are now (live maps: read, never keep across an update). */
  get rows(): Rows {
    return this.tables;
  }

  /** Raised by every change of a Bridge, Port or Interface row (not of Open_vSwitch): the topology's version. */
  get generation(): number {
    return this.gen;
  }

  /** The monitor's initial reply: replaces everything (after a reconnect nothing of the old link is kept). */
  replace(tableUpdates: unknown): void {
    const fresh = new MonitorCache();
    fresh.apply(tableUpdates);
    this.tables = fresh.tables;
    this.gen += 1;
  }

  /** One `update` notification's table-updates. */
  apply(tableUpdates: unknown): void {
    const changes = this.check(tableUpdates);
    let topology = false;
    for (const { table, uuid, row } of changes) {
      const rows = this.tables[table] as Map<string, RowOf<TableName>>;
      if (row === null) rows.delete(uuid);
      else rows.set(uuid, row);
      if (table !== 'Open_vSwitch') topology = true;
    }
    if (topology) this.gen += 1;
  }

  private check(tableUpdates: unknown): Change[] {
    if (!isObject(tableUpdates)) throw bad('table-updates are not an object', tableUpdates);
    const changes: Change[] = [];
    for (const [table, rowUpdates] of Object.entries(tableUpdates)) {
      if (!(table in MONITORED)) throw bad(`an update of a table not monitored (${table})`, table);
      if (!isObject(rowUpdates)) throw bad(`the ${table} updates are not an object`, rowUpdates);
      const name = table as TableName;
      for (const [uuid, update] of Object.entries(rowUpdates)) {
        uuidValue(['uuid', uuid], `${table} row`);
        if (!isObject(update)) throw bad(`the update of ${table} ${uuid} is not an object`, update);
        const { old, new: next } = update as { old?: unknown; new?: unknown };
        if (next === undefined) {
          if (old === undefined) throw bad(`the update of ${table} ${uuid} has neither old nor new`, update);
          if (!this.tables[name].has(uuid)) throw bad(`a delete of ${table} ${uuid}, which the cache does not hold`, update);
          changes.push({ table: name, uuid, row: null });
          continue;
        }
        if (!isObject(next)) throw bad(`the new ${table} ${uuid} is not an object`, next);
        const previous = this.tables[name].get(uuid) as RowOf<TableName> | undefined;
        if (old !== undefined && previous === undefined) throw bad(`a modify of ${table} ${uuid}, which the cache does not hold`, update);
        changes.push({ table: name, uuid, row: decodeRow(name, next, previous, uuid) });
      }
    }
    return changes;
  }
}

function decodeRow(table: TableName, raw: Record<string, unknown>, previous: RowOf<TableName> | undefined, uuid: string): RowOf<TableName> {
  const columns = MONITORED[table] as Record<string, Decoder<unknown>>;
  const row: Record<string, unknown> = {};
  for (const [column, decode] of Object.entries(columns)) {
    if (column in raw) row[column] = decode(raw[column], `${table} ${uuid} ${column}`);
    else if (previous !== undefined) row[column] = (previous as Record<string, unknown>)[column];
    else throw bad(`the new ${table} ${uuid} lacks ${column}`, raw);
  }
  return row;
}

function emptyTables(): { [T in TableName]: Map<string, RowOf<T>> } {
  return { Open_vSwitch: new Map(), Bridge: new Map(), Port: new Map(), Interface: new Map() };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(why: string, v: unknown): OvsdbProtocolError {
  return new OvsdbProtocolError('bad-update', `${why}: ${excerpt(v)}`);
}
