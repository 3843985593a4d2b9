// The composition root driven in-process: ready() builds every part and listens on nothing, so
// methods are called through the dispatcher; listen() then opens the socket; close() undoes both,
// also when it comes while ready() is still building. The daemon as a process (signals, sd_notify,
// exit codes) is test/integration/service.test.ts's part.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/load.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { connectClient } from '../../src/rpc/client.js';
import type { ConnectionState } from '../../src/rpc/method.js';

/** A config in a fresh temp folder (removed at teardown), with `extra` sections over the defaults. */
function setup(t: Test, extra: Record<string, unknown> = {}): { dir: string; make: () => Daemon } {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-inproc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'jwt.secret'), randomBytes(48), { mode: 0o600 });
  const config = parseConfig(
    {
      nodeId: 'inproc-node',
      socket: { path: './vpc-peerd.sock' },
      store: { path: './state.json' },
      ovs: { enabled: false },
      auth: { jwtSecretFile: './jwt.secret', adminTokenFile: './admin.token' },
      ...extra,
    },
    dir,
  );
  return {
    dir,
    make: () => {
      const daemon = createDaemon(config, { logger: silentLogger() });
      t.teardown(() => daemon.close());
      return daemon;
    },
  };
}

/** Calls one method through the dispatcher, as a socket connection would, and returns the reply. */
async function call(daemon: Daemon, conn: ConnectionState, method: string, params: unknown): Promise<{ result?: unknown; error?: { code: number } }> {
  const reply = await daemon.dispatcher().handleLine(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), conn);
  return JSON.parse(reply ?? 'null') as { result?: unknown; error?: { code: number } };
}

t.test('ready() builds the parts without listening; methods answer through the dispatcher; listen() then serves the same state', async (t) => {
  const { dir, make } = setup(t);
  const daemon = make();
  t.throws(() => daemon.dispatcher(), /before ready/, 'no dispatcher before ready()');
  await daemon.ready();
  t.notOk(existsSync(join(dir, 'vpc-peerd.sock')), 'ready() opens no socket');
  t.equal(await daemon.firstReconcile(), null, 'no-op mode has no reconcile loop to wait on');
  t.match(daemon.health(), { ovs: { state: 'disabled', reason: 'ovs.enabled is false' }, store: 'ok', reconcile: null });

  const conn: ConnectionState = { principal: null, id: 1 };
  const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  t.match(await call(daemon, conn, 'auth.login', { token }), { result: {} }, 'the admin token ready() wrote logs in');
  const created = await call(daemon, conn, 'vpc.create', { id: 'vpc-a', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br-a' });
  t.match(created, { result: { id: 'vpc-a', bridge: 'br-a' } });
  t.match(await call(daemon, { principal: null, id: 2 }, 'vpc.get', { id: 'vpc-a' }), { error: { code: 401 } }, 'a fresh connection has no login');

  await daemon.listen();
  t.equal(daemon.listen(), daemon.listen(), 'listen() is once');
  const client = await connectClient(join(dir, 'vpc-peerd.sock'), { timeoutMs: 5000 });
  t.teardown(() => client.close());
  await client.call('auth.login', { token });
  t.match(await client.call('vpc.get', { id: 'vpc-a' }), { id: 'vpc-a' }, 'the socket serves what the in-process call wrote');

  await daemon.close();
  t.notOk(existsSync(join(dir, 'vpc-peerd.sock')), 'close() removed the socket');
  await t.rejects(client.call('status', {}), undefined, 'and closed its connections');
  t.equal(await daemon.close(), undefined, 'close() again is a no-op');
});

t.test('close() during ready() waits for the build and undoes all of it; listen() after close() is refused', async (t) => {
  const { dir, make } = setup(t);
  const daemon = make();
  const building = daemon.ready();
  const closed = daemon.close();
  await building.catch(() => undefined);
  await closed;
  await t.rejects(daemon.listen(), /closed/, 'a closed daemon does not start listening');
  t.notOk(existsSync(join(dir, 'vpc-peerd.sock')));
  const again = make();
  await again.ready();
  t.match(again.health(), { store: 'ok' }, 'the store was released: a new daemon opens it');
  await again.close();
});

t.test('ovs.enabled true with no Open vSwitch: ready() resolves, the first cycle ends failed, status says unavailable', async (t) => {
  const { make } = setup(t, { ovs: { enabled: true, rundir: './no-ovs-here', reconcileIntervalMs: 60_000 } });
  const daemon = make();
  await daemon.ready();
  t.equal(await daemon.firstReconcile(), 'failed', 'the first pass could not reach OVS');
  t.match(daemon.health(), { ovs: { state: 'unavailable' }, reconcile: { loop: { cycles: Number } } });
  await daemon.close();
  t.equal(await daemon.firstReconcile(), 'failed', 'the outcome stays');
});
