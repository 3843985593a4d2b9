// Captures the OVSDB fixtures of test/fixtures/ovsdb/ from a real ovsdb-server (OVS 3.1): how
// they were made, and how to make them again (as root, OVS installed):
//
//   npx tap scripts/capture-ovsdb.ts
//
// Each `.stream` file is the bytes ovsdb-server sent on one connection to `<rundir>/db.sock`
// during one step, exactly as they came (JSON texts back to back): the reply to our `monitor`
// of the MONITORED columns on a host of three bridges (a veth, a patch pair with requested
// ofports, a port whose device does not exist, a bond, a bridge with only its internal port),
// then the `update` notifications that ovs-vsctl's changes cause (with vswitchd's own that
// follow), replies to transactions (applied, a `wait` that fails, a unique-index violation, an
// unknown database) and to an echo. The steps and the files are listed in
// test/fixtures/ovsdb/README.md. Run under tap only for its teardown of the sandbox.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { JsonTextSplitter } from '../src/ovs/ovsdb/framing.js';
import { MonitorCache, monitorRequests } from '../src/ovs/ovsdb/monitor-cache.js';
import { patchPortsTxn } from '../src/ovs/ovsdb/transactions.js';
import { startOvs } from '../test/helpers/ovs.js';

const OUT = join(import.meta.dirname, '..', 'test', 'fixtures', 'ovsdb');
const STEP_TIMEOUT_MS = 10_000;

void t.test('capture from ovsdb-server', async (t) => {
  mkdirSync(OUT, { recursive: true });
  const sb = await startOvs(t, { name: 'dbcap' });
  const [bra, brb, brc] = [await sb.addBridge('bra', { exact: true }), await sb.addBridge('brb', { exact: true }), await sb.addBridge('brc', { exact: true })];
  await sb.addInstance(bra, 'vi');
  await sb.vsctl(
    'add-port', bra, 'pcx-a', '--', 'set', 'interface', 'pcx-a', 'type=patch', 'options:peer=pcx-b', 'ofport_request=4000', '--',
    'add-port', brb, 'pcx-b', '--', 'set', 'interface', 'pcx-b', 'type=patch', 'options:peer=pcx-a', 'ofport_request=4001',
  );
  // A system port whose device does not exist (ofport -1, an error), and a bond of two such.
  await sb.runner.run('ovs-vsctl', ['add-port', brb, 'nodev']).catch(() => undefined);
  await sb.runner.run('ovs-vsctl', ['add-bond', brb, 'bond0', 'nodev1', 'nodev2']).catch(() => undefined);

  const sock = connect(join(sb.rundir, 'db.sock'));
  t.teardown(() => sock.destroy());
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const splitter = new JsonTextSplitter();
  const cache = new MonitorCache();
  let bytes: Buffer[] = [];
  let texts: Record<string, unknown>[] = [];
  let onText: (() => void) | null = null;
  sock.on('data', (chunk: Buffer) => {
    bytes.push(chunk);
    for (const text of splitter.push(chunk)) {
      const m = text as Record<string, unknown>;
      if (m.method === 'update') cache.apply((m.params as unknown[])[1]);
      texts.push(m);
    }
    onText?.();
  });
  const applied = (): boolean => [...cache.rows.Open_vSwitch.values()].every((r) => r.cur_cfg >= r.next_cfg);
  /** Runs `act`, collects until `done(texts)` holds, saves what came as `name.stream`. */
  const step = async (name: string, act: () => unknown, done: (got: Record<string, unknown>[]) => boolean): Promise<void> => {
    bytes = [];
    texts = [];
    await act();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: got ${JSON.stringify(texts)}`)), STEP_TIMEOUT_MS);
      onText = () => {
        if (!done(texts)) return;
        clearTimeout(timer);
        onText = null;
        resolve();
      };
      onText();
    });
    writeFileSync(join(OUT, `${name}.stream`), Buffer.concat(bytes));
    t.pass(`${name}: ${texts.length} texts, ${Buffer.concat(bytes).length} bytes`);
  };
  const send = (msg: unknown): void => void sock.write(JSON.stringify(msg));
  const replied = (id: number) => (got: Record<string, unknown>[]): boolean => got.some((m) => m.id === id);
  const updatesApplied = (got: Record<string, unknown>[]): boolean => got.some((m) => m.method === 'update') && applied();

  await step('monitor-initial', () => send({ id: 1, method: 'monitor', params: ['Open_vSwitch', 'vpc-peerd', monitorRequests()] }), (got) => {
    const reply = got.find((m) => m.id === 1);
    if (reply) cache.replace(reply.result);
    return reply !== undefined;
  });
  await step('update-add-pair', () => sb.vsctl(
    '--may-exist', 'add-port', bra, 'pxa', '--', 'set', 'interface', 'pxa', 'type=patch', 'options:peer=pxb', 'ofport_request=5000', '--',
    '--may-exist', 'add-port', brb, 'pxb', '--', 'set', 'interface', 'pxb', 'type=patch', 'options:peer=pxa',
  ), updatesApplied);
  await step('update-modify', () => sb.vsctl('set', 'interface', 'pxa', 'options:peer=elsewhere'), updatesApplied);
  await step('update-delete', () => sb.vsctl('del-port', bra, 'pxa'), updatesApplied);

  const plan = patchPortsTxn(cache.rows, [
    { bridge: bra, port: 'pxc', peer: 'pxd', ofport: 6000 },
    { bridge: brc, port: 'pxd', peer: 'pxc', ofport: 6001 },
  ]);
  if (plan === null) throw new Error('nothing to add');
  await step('transact-applied', () => send({ id: 2, method: 'transact', params: ['Open_vSwitch', ...plan.ops] }), (got) => replied(2)(got) && applied());
  const waitFails = { op: 'wait', table: 'Bridge', where: [['name', '==', 'nosuch']], columns: ['name'], until: '==', rows: [{ name: 'nosuch' }], timeout: 0 };
  await step('transact-wait-failed', () => send({ id: 3, method: 'transact', params: ['Open_vSwitch', waitFails] }), replied(3));
  const duplicate = [
    { op: 'insert', table: 'Interface', 'uuid-name': 'iface0', row: { name: 'pcx-a', type: 'patch' } },
    { op: 'insert', table: 'Port', 'uuid-name': 'port0', row: { name: 'pcx-a', interfaces: ['named-uuid', 'iface0'] } },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', brc]], mutations: [['ports', 'insert', ['set', [['named-uuid', 'port0']]]]] },
  ];
  await step('transact-constraint', () => send({ id: 4, method: 'transact', params: ['Open_vSwitch', ...duplicate] }), replied(4));
  await step('rpc-error', () => send({ id: 5, method: 'transact', params: ['Nope', { op: 'comment', comment: 'x' }] }), replied(5));
  await step('echo-reply', () => send({ id: 6, method: 'echo', params: ['sync'] }), replied(6));

  await sb.killVswitchd();
  await step('update-vswitchd-down', () => sb.vsctl('--no-wait', 'add-port', brc, 'pending', '--', 'set', 'interface', 'pending', 'type=internal'), (got) => got.some((m) => m.method === 'update'));
});
