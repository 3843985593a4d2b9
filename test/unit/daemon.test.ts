// The composition root driven in-process: ready() builds every part and listens on nothing, so
// methods are called through the dispatcher; listen() then opens the socket; close() undoes both,
// also when it comes while ready() is still building. The daemon as a process (signals, sd_notify,
// exit codes) is test/integration/service.test.ts's part.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createDaemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { connectClient } from '../../src/rpc/client.js';
import { inProcessConfig, inProcessDaemon } from '../helpers/daemon.js';

t.test('ready() builds the parts without listening; methods answer through the dispatcher; listen() then serves the same state', async (t) => {
  const d = await inProcessDaemon(t);
  t.notOk(existsSync(d.socketPath), 'ready() opens no socket');
  await d.daemon.firstReconcile();
  t.pass('firstReconcile() resolves: no-op mode has no reconcile loop to wait on');
  t.match(d.daemon.health(), { ovs: { state: 'disabled', reason: 'ovs.enabled is false' }, store: 'ok', reconcile: null });

  const created = await d.call('vpc.create', { id: 'vpc-a', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br-a' });
  t.match(created, { result: { id: 'vpc-a', bridge: 'br-a' } }, 'logged in with the admin token ready() wrote');
  t.match(await d.call('vpc.get', { id: 'vpc-a' }, d.connection()), { error: { code: 401 } }, 'a fresh connection has no login');

  const listening = d.daemon.listen();
  t.equal(d.daemon.listen(), listening, 'listen() is once');
  await listening;
  const client = await connectClient(d.socketPath, { timeoutMs: 5000 });
  t.teardown(() => client.close());
  await client.call('auth.login', { token: d.adminToken() });
  t.match(await client.call('vpc.get', { id: 'vpc-a' }), { id: 'vpc-a' }, 'the socket serves what the in-process call wrote');

  await d.daemon.close();
  t.notOk(existsSync(d.socketPath), 'close() removed the socket');
  await t.rejects(client.call('status', {}), { name: 'RpcTransportError', kind: 'closed' }, 'and closed its connections');
  t.equal(await d.daemon.close(), undefined, 'close() again is a no-op');
});

t.test('dispatcher() before ready() is a plain error, not a half-built daemon', async (t) => {
  const { config } = inProcessConfig(t);
  const daemon = createDaemon(config, { logger: silentLogger() });
  t.throws(() => daemon.dispatcher(), /before ready/);
  await daemon.close();
});

t.test('close() during ready() waits for the build and undoes all of it; listen() after close() is refused', async (t) => {
  const { dir, config } = inProcessConfig(t);
  const daemon = createDaemon(config, { logger: silentLogger() });
  const building = daemon.ready();
  const closed = daemon.close();
  await building.catch(() => undefined);
  await closed;
  await t.rejects(daemon.listen(), /closed/, 'a closed daemon does not start listening');
  t.notOk(existsSync(join(dir, 'vpc-peerd.sock')));
  const again = createDaemon(config, { logger: silentLogger() });
  await again.ready();
  t.match(again.health(), { store: 'ok' }, 'the store was released: a new daemon opens it');
  await again.close();
});

t.test('ovs.enabled true with no Open vSwitch: ready() resolves, the first cycle ends failed, status says unavailable', async (t) => {
  const d = await inProcessDaemon(t, { config: { ovs: { enabled: true, rundir: './no-ovs-here', reconcileIntervalMs: 60_000 } } });
  await d.daemon.firstReconcile();
  const health = d.daemon.health();
  t.match(health, { ovs: { state: 'unavailable' } }, 'the first pass could not reach OVS');
  t.ok((health.reconcile?.loop.cycles ?? 0) >= 1 && (health.reconcile?.loop.consecutiveFailures ?? 0) >= 1, 'it ended, failed');
  t.match(await d.call('status'), { result: { ovs: { state: 'unavailable' } } }, 'and status says so through the dispatcher');
  await d.daemon.close();
  await d.daemon.firstReconcile();
  t.pass('firstReconcile() after close() does not hang');
});
