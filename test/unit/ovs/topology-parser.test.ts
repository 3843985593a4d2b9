// The topology from the monitored rows (src/ovs/topology-parser.ts), read from the monitor reply
// and updates captured from OVS 3.1 (test/fixtures/ovsdb/), then from rows that do not hold together.
import t from 'tap';
import { MonitorCache } from '../../../src/ovs/ovsdb/monitor-cache.js';
import { type Topology, topologyFromRows } from '../../../src/ovs/topology-parser.js';
import { initialRows, updatesOf } from '../../helpers/ovsdb-wire.js';

/** Bridges → port name → port, as plain objects for t.same. */
function plain(topo: Topology): Record<string, Record<string, unknown>> {
  return Object.fromEntries([...topo.bridges].map(([name, b]) => [name, Object.fromEntries(b.ports)]));
}

const internal = (name: string): unknown => ({ name, ofport: 65534, type: 'internal', peer: null, error: null });

t.test('bridges, internal ports, a veth, a patch pair, a port in error, a bond', (t) => {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  const topo = topologyFromRows(cache.rows);
  t.same(plain(topo), {
    bra: {
      bra: internal('bra'),
      'vvi-be654': { name: 'vvi-be654', ofport: 1, type: '', peer: null, error: null },
      'pcx-a': { name: 'pcx-a', ofport: 4000, type: 'patch', peer: 'pcx-b', error: null },
    },
    brb: {
      brb: internal('brb'),
      'pcx-b': { name: 'pcx-b', ofport: 4001, type: 'patch', peer: 'pcx-a', error: null },
      // ofport -1: vswitchd could not set it up; the error column says why.
      nodev: { name: 'nodev', ofport: null, type: '', peer: null, error: 'could not open network device nodev (No such device)' },
      bond0: { name: 'bond0', ofport: null, type: 'bond', peer: null, error: null },
    },
    // A bridge with one port: OVSDB writes a one-element set as the bare uuid.
    brc: { brc: internal('brc') },
  });
  t.equal(topo.bridges.get('bra')?.name, 'bra');
  t.end();
});

t.test('after the captured changes: the pair made by transact, a port added while vswitchd is down', (t) => {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  for (const name of ['update-add-pair', 'update-modify', 'update-delete', 'transact-applied', 'transact-wait-failed', 'update-vswitchd-down'] as const) {
    for (const u of updatesOf(name)) cache.apply(u);
  }
  const topo = topologyFromRows(cache.rows);
  t.same(topo.bridges.get('bra')?.ports.get('pxc'), { name: 'pxc', ofport: 6000, type: 'patch', peer: 'pxd', error: null });
  t.same(topo.bridges.get('brc')?.ports.get('pxd'), { name: 'pxd', ofport: 6001, type: 'patch', peer: 'pxc', error: null });
  t.match(topo.bridges.get('brb')?.ports.get('pxb'), { type: 'patch', peer: 'pxa', error: /No usable peer/ }, 'its peer deleted');
  t.same(topo.bridges.get('brc')?.ports.get('pending'), { name: 'pending', ofport: null, type: 'internal', peer: null, error: null });
  t.end();
});

t.test('no bridges', (t) => {
  t.equal(topologyFromRows(new MonitorCache().rows).bridges.size, 0);
  t.end();
});

t.test('rows that refer to rows the snapshot lacks, or an ofport out of range: bad-output', (t) => {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  const [portUuid] = [...cache.rows.Port].find(([, p]) => p.name === 'pcx-a') ?? [];
  const [ifaceUuid] = [...cache.rows.Interface].find(([, i]) => i.name === 'pcx-a') ?? [];
  const without = (m: ReadonlyMap<string, unknown>, key: string | undefined): Map<string, never> => new Map([...m].filter(([k]) => k !== key)) as Map<string, never>;
  const cases: [Parameters<typeof topologyFromRows>[0], string][] = [
    [{ ...cache.rows, Port: without(cache.rows.Port, portUuid) }, 'a missing port'],
    [{ ...cache.rows, Interface: without(cache.rows.Interface, ifaceUuid) }, 'a missing interface'],
    [{ ...cache.rows, Interface: new Map([...cache.rows.Interface].map(([k, i]) => [k, k === ifaceUuid ? { ...i, ofport: 70000 } : i])) }, 'ofport 70000'],
  ];
  for (const [rows, what] of cases) t.throws(() => topologyFromRows(rows), { name: 'OvsError', kind: 'bad-output' }, what);
  t.end();
});
