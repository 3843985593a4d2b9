// The monitor cache (src/ovs/ovsdb/monitor-cache.ts): the captured monitor reply and updates
// applied in order give the rows ovsdb-server had; a law over generated databases (the updates
// of a run of transactions applied one by one equal the one update from its first state to its
// last); bad table-updates are OvsdbProtocolError and change nothing.
import fc from 'fast-check';
import t from 'tap';
import { OvsdbProtocolError } from '../../../../src/ovs/ovsdb/errors.js';
import { MonitorCache, monitorRequests, type Rows } from '../../../../src/ovs/ovsdb/monitor-cache.js';
import { holds } from '../../../helpers/property.js';
import { initialRows, updatesOf } from '../../../helpers/ovsdb-wire.js';

/** The rows as plain data, for t.same and equality. */
function plain(rows: Rows): unknown {
  const entries = (m: ReadonlyMap<string, object>): unknown =>
    [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, r]) => [k, Object.fromEntries(Object.entries(r).map(([c, v]) => [c, v instanceof Map ? [...v] : v]))]);
  return { Open_vSwitch: entries(rows.Open_vSwitch), Bridge: entries(rows.Bridge), Port: entries(rows.Port), Interface: entries(rows.Interface) };
}

const byName = <T extends { name: string }>(m: ReadonlyMap<string, T>, name: string): T | undefined => [...m.values()].find((r) => r.name === name);

t.test('the monitor request names every column the cache decodes', (t) => {
  t.same(monitorRequests(), {
    Open_vSwitch: { columns: ['cur_cfg', 'next_cfg'] },
    Bridge: { columns: ['name', 'ports'] },
    Port: { columns: ['name', 'interfaces'] },
    Interface: { columns: ['name', 'type', 'options', 'ofport', 'ofport_request', 'error'] },
  });
  t.end();
});

t.test('the captured reply and updates, in order', (t) => {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  t.same([...cache.rows.Bridge.values()].map((b) => b.name).sort(), ['bra', 'brb', 'brc']);
  t.match(byName(cache.rows.Interface, 'pcx-a'), { type: 'patch', ofport: 4000, ofport_request: 4000, error: null });
  t.same(byName(cache.rows.Interface, 'pcx-a')?.options, new Map([['peer', 'pcx-b']]));
  t.match(byName(cache.rows.Interface, 'nodev'), { ofport: -1, error: /No such device/ });
  t.equal(byName(cache.rows.Port, 'bond0')?.interfaces.length, 2, 'the bond has two interfaces');
  const cfg = (): { cur_cfg: number; next_cfg: number } => [...cache.rows.Open_vSwitch.values()][0] as { cur_cfg: number; next_cfg: number };
  const start = cfg();
  t.equal(start.cur_cfg, start.next_cfg, 'vswitchd had applied everything');

  const gen = cache.generation;
  const [ours, vswitchd] = updatesOf('update-add-pair');
  cache.apply(ours);
  t.ok(cache.generation > gen, 'a change of ports: a new generation');
  t.match(byName(cache.rows.Interface, 'pxa'), { type: 'patch', ofport: null, ofport_request: 5000 }, "ovs-vsctl's transaction: no ofport yet");
  t.equal(cfg().next_cfg, start.next_cfg + 1);
  cache.apply(vswitchd);
  t.match(byName(cache.rows.Interface, 'pxa'), { ofport: 5000 }, "vswitchd's: the ofport");
  t.equal(cfg().cur_cfg, cfg().next_cfg, 'and cur_cfg');

  for (const u of updatesOf('update-modify')) cache.apply(u);
  t.equal(byName(cache.rows.Interface, 'pxa')?.options.get('peer'), 'elsewhere', 'a modify');
  for (const u of updatesOf('update-delete')) cache.apply(u);
  t.equal(byName(cache.rows.Port, 'pxa'), undefined, 'a delete: the port');
  t.equal(byName(cache.rows.Interface, 'pxa'), undefined, 'and its interface, collected');
  for (const name of ['transact-applied', 'transact-wait-failed', 'update-vswitchd-down'] as const) for (const u of updatesOf(name)) cache.apply(u);
  t.match(byName(cache.rows.Interface, 'pending'), { type: 'internal', ofport: null }, 'added while vswitchd is down: no ofport');

  const only = new MonitorCache();
  only.replace(initialRows());
  cache.replace(initialRows());
  t.same(plain(cache.rows), plain(only.rows), 'a monitor reply replaces everything');
  t.end();
});

t.test('an update of Open_vSwitch alone keeps the generation; a new column value replaces, a missing one stays', (t) => {
  const cache = new MonitorCache();
  const u = '85a22847-8ccb-460f-acca-d5c55b2c5a89';
  const i = '9a4a052a-3dc1-418d-a830-0da688196abd';
  cache.replace({
    Open_vSwitch: { [u]: { new: { cur_cfg: 1, next_cfg: 1 } } },
    Interface: { [i]: { new: { name: 'x', type: '', options: ['map', []], ofport: 3, ofport_request: ['set', []], error: ['set', []] } } },
  });
  const gen = cache.generation;
  cache.apply({ Open_vSwitch: { [u]: { old: { next_cfg: 1 }, new: { cur_cfg: 1, next_cfg: 2 } } } });
  t.equal(cache.generation, gen, 'cur_cfg/next_cfg do not change the topology');
  cache.apply({ Interface: { [i]: { old: { ofport: 3 }, new: { ofport: 4 } } } });
  t.match(cache.rows.Interface.get(i), { name: 'x', ofport: 4 }, 'a partial new: the rest kept');
  t.not(cache.generation, gen);
  t.end();
});

t.test('bad table-updates: OvsdbProtocolError, and nothing applied', (t) => {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  const before = JSON.stringify(plain(cache.rows));
  const gen = cache.generation;
  const bridge = [...cache.rows.Bridge.keys()][0] as string;
  const unknown = '00000000-0000-4000-8000-000000000000';
  const newBridge = { new: { name: 'brz', ports: ['set', []] } };
  const cases: [unknown, string][] = [
    [[], 'an array'],
    [{ Flow_Table: {} }, 'a table not monitored'],
    [{ Bridge: [] }, 'rows that are an array'],
    [{ Bridge: { 'not-a-uuid': newBridge } }, 'a key that is no uuid'],
    [{ Bridge: { [unknown]: {} } }, 'neither old nor new'],
    [{ Bridge: { [unknown]: { old: { name: 'x' } } } }, 'a delete of a row not held'],
    [{ Bridge: { [unknown]: { old: { name: 'x' }, new: { name: 'y' } } } }, 'a modify of a row not held'],
    [{ Bridge: { [unknown]: { new: { name: 'brz' } } } }, 'an insert that lacks a column'],
    [{ Bridge: { [unknown]: newBridge, [bridge]: { new: { name: 7 } } } }, 'a bad value after a good row'],
    [{ Bridge: { [unknown]: { new: 'x' } } }, 'a new that is no object'],
  ];
  for (const [updates, what] of cases) {
    try {
      cache.apply(updates);
      t.fail(`${what}: applied`);
    } catch (err) {
      t.ok(err instanceof OvsdbProtocolError && (err.code === 'bad-update' || err.code === 'bad-value'), what);
    }
  }
  t.equal(JSON.stringify(plain(cache.rows)), before, 'the rows are as they were');
  t.equal(cache.generation, gen);
  t.end();
});

// Generated databases: a few rows per table, drawn from small pools so that runs insert, modify
// and delete the same rows. Rows are wire rows (what ovsdb-server would send).
type WireDb = Record<string, Record<string, Record<string, unknown>>>;
const uuidOf = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const refs = fc.array(fc.nat(5), { maxLength: 3 }).map((ns) => {
  const set = [...new Set(ns)].map((n) => ['uuid', uuidOf(n)]);
  return set.length === 1 ? set[0] : ['set', set];
});
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof(a, fc.constant(['set', []]));
const rowArb: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  Open_vSwitch: fc.record({ cur_cfg: fc.nat(9), next_cfg: fc.nat(9) }),
  Bridge: fc.record({ name: fc.constantFrom('a', 'b'), ports: refs }),
  Port: fc.record({ name: fc.constantFrom('p', 'q'), interfaces: refs }),
  Interface: fc.record({
    name: fc.constantFrom('p', 'q'),
    type: fc.constantFrom('', 'patch'),
    options: fc.constantFrom(['map', []], ['map', [['peer', 'q']]]),
    ofport: opt(fc.integer({ min: -1, max: 9 })),
    ofport_request: opt(fc.integer({ min: 1, max: 9 })),
    error: opt(fc.constant('boom')),
  }),
};
const dbArb: fc.Arbitrary<WireDb> = fc.record(
  Object.fromEntries(Object.entries(rowArb).map(([table, row]) => [table, fc.dictionary(fc.nat(5).map(uuidOf), row, { maxKeys: 4 })])),
);

/** The v1 table-updates that take `a` to `b`: new alone, old alone, or the changed columns' old values with every new one. */
function diff(a: WireDb, b: WireDb): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const table of Object.keys(rowArb)) {
    const rowsA = a[table] ?? {};
    const rowsB = b[table] ?? {};
    const updates: Record<string, unknown> = {};
    for (const uuid of new Set([...Object.keys(rowsA), ...Object.keys(rowsB)])) {
      const [ra, rb] = [rowsA[uuid], rowsB[uuid]];
      if (ra === undefined && rb !== undefined) updates[uuid] = { new: rb };
      else if (ra !== undefined && rb === undefined) updates[uuid] = { old: ra };
      else if (ra !== undefined && rb !== undefined) {
        const changed = Object.keys(ra).filter((c) => JSON.stringify(ra[c]) !== JSON.stringify(rb[c]));
        if (changed.length > 0) updates[uuid] = { old: Object.fromEntries(changed.map((c) => [c, ra[c]])), new: rb };
      }
    }
    if (Object.keys(updates).length > 0) out[table] = updates;
  }
  return out;
}

const initial = (db: WireDb): unknown => Object.fromEntries(Object.entries(db).map(([table, rows]) => [table, Object.fromEntries(Object.entries(rows).map(([u, r]) => [u, { new: r }]))]));

t.test('law: the updates of a run of transactions, one by one, equal the one update of the whole run, equal a fresh reply', (t) => {
  holds(
    t,
    'one by one = one batch = the last state',
    fc.property(fc.array(dbArb, { minLength: 2, maxLength: 6 }), (states) => {
      const first = states[0] as WireDb;
      const last = states[states.length - 1] as WireDb;
      const stepwise = new MonitorCache();
      stepwise.replace(initial(first));
      for (let i = 1; i < states.length; i++) stepwise.apply(diff(states[i - 1] as WireDb, states[i] as WireDb));
      const batch = new MonitorCache();
      batch.replace(initial(first));
      batch.apply(diff(first, last));
      const fresh = new MonitorCache();
      fresh.replace(initial(last));
      const want = JSON.stringify(plain(fresh.rows));
      return JSON.stringify(plain(stepwise.rows)) === want && JSON.stringify(plain(batch.rows)) === want;
    }),
    300,
  );
  t.end();
});
