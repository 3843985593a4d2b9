// The port transactions (src/ovs/ovsdb/transactions.ts) from the captured rows: what a new pair,
// a repair and a deletion send; that nothing is sent when nothing differs; ovs-vsctl's refusals;
// the reading of transact replies captured from ovsdb-server.
import t, { type Test } from 'tap';
import { MonitorCache, type Rows } from '../../../../src/ovs/ovsdb/monitor-cache.js';
import { deletePortsTxn, nextCfgOf, patchPortsTxn, retryable, txnOutcome } from '../../../../src/ovs/ovsdb/transactions.js';
import type { Json } from '../../../../src/ovs/ovsdb/values.js';
import { OvsError } from '../../../../src/ovs/runner.js';
import { initialRows, texts } from '../../../helpers/ovsdb-wire.js';

function rows(): Rows {
  const cache = new MonitorCache();
  cache.replace(initialRows());
  return cache.rows;
}
const uuidOf = (m: ReadonlyMap<string, { name: string }>, name: string): string => [...m].find(([, r]) => r.name === name)?.[0] ?? '';
const opsOf = (plan: { ops: readonly Json[] } | null): Record<string, unknown>[] => (plan?.ops ?? []) as Record<string, unknown>[];
const kinds = (plan: { ops: readonly Json[] } | null): string[] => opsOf(plan).map((o) => `${o.op as string} ${(o.table as string | undefined) ?? ''}`.trim());

function refuses(t: Test, fn: () => unknown, kind: OvsError['kind'], what: string, message?: RegExp): void {
  try {
    fn();
    t.fail(`${what}: built`);
  } catch (err) {
    t.ok(err instanceof OvsError && err.kind === kind && (message === undefined || message.test(err.message)), `${what}: ${kind}`);
  }
}

const BUMP = ['comment', 'mutate Open_vSwitch', 'select Open_vSwitch'];

t.test('a new pair: interface and port inserted, each bridge checked and mutated, next_cfg bumped', (t) => {
  const plan = patchPortsTxn(rows(), [
    { bridge: 'bra', port: 'pxa', peer: 'pxb', ofport: 5000 },
    { bridge: 'brb', port: 'pxb', peer: 'pxa' },
  ]);
  t.same(kinds(plan), ['insert Interface', 'insert Port', 'insert Interface', 'insert Port', 'wait Bridge', 'mutate Bridge', 'wait Bridge', 'mutate Bridge', ...BUMP]);
  t.same(plan?.inserted, ['pxa', 'pxb']);
  const [iface, port, , , wait, mutate] = opsOf(plan);
  t.same(iface, { op: 'insert', table: 'Interface', 'uuid-name': 'iface0', row: { name: 'pxa', type: 'patch', options: ['map', [['peer', 'pxb']]], ofport_request: 5000 } });
  t.same(port, { op: 'insert', table: 'Port', 'uuid-name': 'port0', row: { name: 'pxa', interfaces: ['named-uuid', 'iface0'] } });
  t.same(wait, { op: 'wait', table: 'Bridge', where: [['name', '==', 'bra']], columns: ['name'], until: '==', rows: [{ name: 'bra' }], timeout: 0 });
  t.same(mutate, { op: 'mutate', table: 'Bridge', where: [['name', '==', 'bra']], mutations: [['ports', 'insert', ['set', [['named-uuid', 'port0']]]]] });
  t.same(opsOf(plan).slice(-2), [
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
  ]);
  const two = patchPortsTxn(rows(), [
    { bridge: 'brc', port: 'p1', peer: 'p2' },
    { bridge: 'brc', port: 'p2', peer: 'p1' },
  ]);
  t.equal(kinds(two).filter((k) => k === 'mutate Bridge').length, 1, 'one mutate per bridge');
  t.end();
});

t.test('an existing pair: nothing when it is as wanted; the differing columns repaired, the facts relied on asserted', (t) => {
  const r = rows();
  t.equal(patchPortsTxn(r, [{ bridge: 'bra', port: 'pcx-a', peer: 'pcx-b', ofport: 4000 }]), null, 'as wanted: nothing to send');
  t.equal(patchPortsTxn(r, [{ bridge: 'bra', port: 'pcx-a', peer: 'pcx-b' }]), null, 'no ofport asked: any will do');
  const plan = patchPortsTxn(r, [{ bridge: 'bra', port: 'pcx-a', peer: 'elsewhere', ofport: 4002 }]);
  t.same(kinds(plan), ['wait Port', 'wait Bridge', 'update Interface', 'mutate Interface', ...BUMP]);
  t.same(plan?.inserted, [], 'nothing inserted');
  const [portWait, bridgeWait, update, mutate] = opsOf(plan);
  const port = uuidOf(r.Port, 'pcx-a');
  const iface = uuidOf(r.Interface, 'pcx-a');
  t.same(portWait, { op: 'wait', table: 'Port', where: [['_uuid', '==', ['uuid', port]]], columns: ['name', 'interfaces'], until: '==', rows: [{ name: 'pcx-a', interfaces: ['uuid', iface] }], timeout: 0 });
  t.same(bridgeWait, { op: 'wait', table: 'Bridge', where: [['name', '==', 'bra'], ['ports', 'includes', ['uuid', port]]], columns: ['name'], until: '==', rows: [{ name: 'bra' }], timeout: 0 });
  t.same(update, { op: 'update', table: 'Interface', where: [['_uuid', '==', ['uuid', iface]]], row: { type: 'patch', ofport_request: 4002 } });
  t.same(mutate, {
    op: 'mutate',
    table: 'Interface',
    where: [['_uuid', '==', ['uuid', iface]]],
    mutations: [['options', 'delete', ['set', ['peer']]], ['options', 'insert', ['map', [['peer', 'elsewhere']]]]],
  }, 'options:peer only: other options stay');
  t.same(kinds(patchPortsTxn(r, [{ bridge: 'bra', port: 'vvi-be654', peer: 'x' }])).slice(0, 4), ['wait Port', 'wait Bridge', 'update Interface', 'mutate Interface'], 'a system port made a patch port, as set interface does');
  t.end();
});

t.test("ovs-vsctl's refusals: another bridge's port, an interface of that name elsewhere, a missing bridge", (t) => {
  const r = rows();
  refuses(t, () => patchPortsTxn(r, [{ bridge: 'brc', port: 'pcx-a', peer: 'x' }]), 'failed', 'a port on another bridge', /actually attached to bridge bra/);
  refuses(t, () => patchPortsTxn(r, [{ bridge: 'brb', port: 'bond0', peer: 'x' }]), 'failed', 'a bond', /actually attached to interfaces nodev1, nodev2|actually attached to interfaces nodev2, nodev1/);
  refuses(t, () => patchPortsTxn(r, [{ bridge: 'brb', port: 'nodev1', peer: 'x' }]), 'failed', "an interface of a bond's name", /interface named nodev1 already exists on bridge brb/);
  refuses(t, () => patchPortsTxn(r, [{ bridge: 'nosuch', port: 'px', peer: 'x' }]), 'no-such-bridge', 'a missing bridge');
  refuses(t, () => patchPortsTxn(r, [{ bridge: 'bra', port: 'px', peer: 'x' }, { bridge: 'brb', port: 'px', peer: 'y' }]), 'failed', 'one port on two bridges');
  const twice = patchPortsTxn(r, [{ bridge: 'bra', port: 'px', peer: 'x' }, { bridge: 'bra', port: 'px', peer: 'y' }]);
  t.same(opsOf(twice)[0], { op: 'insert', table: 'Interface', 'uuid-name': 'iface0', row: { name: 'px', type: 'patch', options: ['map', [['peer', 'y']]] } }, 'named twice on one bridge: once, the last');
  t.end();
});

t.test('deletion: one check and one mutate per bridge; absent ports and bridges\' own ports are nothing to do', (t) => {
  const r = rows();
  t.equal(deletePortsTxn(r, [{ bridge: 'bra', port: 'gone' }, { bridge: 'bra', port: 'bra' }]), null);
  t.equal(deletePortsTxn(r, [{ bridge: 'nosuch', port: 'gone' }]), null, 'an absent port on an absent bridge: --if-exists');
  const plan = deletePortsTxn(r, [{ bridge: 'bra', port: 'pcx-a' }, { bridge: 'brb', port: 'pcx-b' }, { bridge: 'brb', port: 'nodev' }]);
  t.same(kinds(plan), ['wait Bridge', 'mutate Bridge', 'wait Bridge', 'mutate Bridge', ...BUMP]);
  const refsB = ['set', [['uuid', uuidOf(r.Port, 'pcx-b')], ['uuid', uuidOf(r.Port, 'nodev')]]];
  t.same(opsOf(plan).slice(2, 4), [
    { op: 'wait', table: 'Bridge', where: [['name', '==', 'brb'], ['ports', 'includes', refsB]], columns: ['name'], until: '==', rows: [{ name: 'brb' }], timeout: 0 },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', 'brb']], mutations: [['ports', 'delete', refsB]] },
  ]);
  refuses(t, () => deletePortsTxn(r, [{ bridge: 'brc', port: 'pcx-a' }]), 'failed', 'a port on another bridge', /bridge brc does not have a port pcx-a/);
  refuses(t, () => deletePortsTxn(r, [{ bridge: 'nosuch', port: 'pcx-a' }]), 'no-such-bridge', 'a port that exists, on a bridge that does not');
  t.end();
});

t.test('transact replies as ovsdb-server sent them', (t) => {
  const reply = (name: Parameters<typeof texts>[0], id: number): unknown => texts(name).find((m) => m.id === id)?.result;
  const applied = txnOutcome(new Array(11).fill({}) as Json[], reply('transact-applied', 2));
  t.ok(applied.ok, 'applied');
  if (applied.ok) t.equal(nextCfgOf(applied.results), 11, 'next_cfg read back');
  const wait = txnOutcome([{}], reply('transact-wait-failed', 3));
  t.match(wait, { ok: false, error: 'timed out', details: '"where" clause test failed' });
  const unique = txnOutcome([{}, {}, {}], reply('transact-constraint', 4));
  t.match(unique, { ok: false, error: 'constraint violation', op: null }, 'a commit failure: one result more than operations');
  t.ok(retryable('timed out') && retryable('constraint violation'), 'a stale snapshot');
  t.notOk(retryable('referential integrity violation'), 'anything else is not');
  t.throws(() => txnOutcome([{}, {}], [{}]), { name: 'OvsError', kind: 'bad-output' }, 'fewer results than operations, none an error');
  t.match(txnOutcome([{}, {}], [{ error: 'timed out' }]), { ok: false, error: 'timed out' }, 'an error without the nulls after it');
  t.throws(() => txnOutcome([{}], { rows: [] }), { name: 'OvsError', kind: 'bad-output' }, 'not an array');
  t.throws(() => nextCfgOf([{ rows: [] }]), { name: 'OvsError', kind: 'bad-output' }, 'no Open_vSwitch row');
  t.end();
});
