// The daemon as systemd runs it, with a fake NOTIFY_SOCKET: READY=1 only once the socket accepts
// and the first reconcile has ended, STATUS= updates, WATCHDOG=1 pings that stop when the
// reconcile loop is wedged, STOPPING=1 and a clean exit on SIGTERM with no acknowledged write
// lost, SIGHUP reloads, and the metrics endpoint.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { listenNotify, type NotifySocket } from '../helpers/notify-socket.js';
import { parsePrometheusText } from '../helpers/prometheus-text.js';

const WATCHDOG_USEC = '200000'; // pings every 100 ms

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-service-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function exited(d: DaemonHandle): Promise<number | null> {
  const child = d.child;
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pings = (n: NotifySocket, since: number): number => n.messages.filter((m) => m.fields.WATCHDOG === '1' && m.at >= since).length;

/**
 * An OVS that is absent (no `<rundir>/db.sock`: every call fails at once), until wedge() makes
 * it an ovsdb-server that accepts connections and never answers: the reconcile cycle then waits
 * on its monitor request for the whole request timeout (5 s), long past the test's stuck-cycle
 * threshold. Closed, with every connection it took, when the test ends.
 */
function silentOvsdb(t: Test, dir: string): { rundir: string; wedge(): Promise<void> } {
  const rundir = join(dir, 'none');
  const held = new Set<Socket>();
  const server = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => undefined);
  });
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    server.close();
  });
  return {
    rundir,
    wedge: () =>
      new Promise((resolve, reject) => {
        mkdirSync(rundir, { recursive: true });
        server.once('error', reject);
        server.listen(join(rundir, 'db.sock'), () => resolve());
      }),
  };
}

t.test('no-op mode: STATUS while starting, READY=1 once the socket accepts, watchdog pings, STOPPING=1', async (t) => {
  const dir = tempDir(t);
  const notify = await listenNotify(t, dir);
  const atReady: { connected?: Promise<boolean> } = {};
  notify.onMessage((n) => {
    // At the very moment READY=1 arrives, a client must be able to connect.
    if (n.fields.READY === '1') atReady.connected = canConnect(join(dir, 'vpc-peerd.sock'));
  });
  const d = await startDaemon(t, { dir, env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC } });

  const ready = await notify.waitFor('READY', { value: '1' });
  t.equal(await atReady.connected, true, 'the socket accepts when READY=1 arrives');
  t.equal(notify.messages.filter((m) => m.fields.READY !== undefined).length, 1, 'one READY=1');
  t.match(notify.messages[0]?.fields.STATUS, /^starting/, 'STATUS= starting first');
  t.match(ready.fields.STATUS, /^serving; no-op mode/, 'READY=1 comes with the serving STATUS=');
  for (const m of notify.messages) t.notOk(m.raw.includes('\n\n'), 'no empty field');

  const since = Date.now();
  await sleep(1000);
  t.ok(pings(notify, since) >= 5, `WATCHDOG=1 about every 100 ms (${pings(notify, since)} in 1 s)`);

  const from = notify.messages.length;
  d.child.kill('SIGTERM');
  const stopping = await notify.waitFor('STOPPING', { value: '1', from });
  t.equal(stopping.fields.STATUS, 'stopping');
  t.equal(await exited(d), 0, 'exit 0');
});

t.test('OVS mode: READY=1 waits for the first reconcile; the watchdog stops while a cycle is stuck', async (t) => {
  t.test('a first cycle that hangs: the socket accepts, READY=1 does not come, pings stop', async (t) => {
    const dir = tempDir(t);
    const ovsdb = silentOvsdb(t, dir);
    await ovsdb.wedge();
    const notify = await listenNotify(t, dir);
    const d = await startDaemon(t, {
      dir,
      config: { ovs: { enabled: true, rundir: ovsdb.rundir, reconcileIntervalMs: 100 } },
      env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC, VPC_PEERD_TEST_HOOKS: '1', VPC_PEERD_TEST_STUCK_CYCLE_MS: '500' },
    });
    const admin = await d.admin();
    t.match(await admin.call('status', {}), { ovs: { state: 'unavailable' } }, 'the API answers');
    await notify.waitFor('STATUS', { value: /^UNHEALTHY: reconcile cycle stuck/ });
    const since = Date.now();
    await sleep(800);
    t.equal(pings(notify, since), 0, 'no WATCHDOG=1 while the cycle is stuck');
    t.notOk(notify.messages.some((m) => m.fields.READY !== undefined), 'no READY=1 before the first cycle has ended');
    t.match(d.logs(), /watchdog ping withheld/);
  });

  t.test('a cycle stuck later: pings until then, none after', async (t) => {
    const dir = tempDir(t);
    const ovsdb = silentOvsdb(t, dir);
    const notify = await listenNotify(t, dir);
    const d = await startDaemon(t, {
      dir,
      config: { ovs: { enabled: true, rundir: ovsdb.rundir, reconcileIntervalMs: 100 } },
      env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC, VPC_PEERD_TEST_HOOKS: '1', VPC_PEERD_TEST_STUCK_CYCLE_MS: '500' },
    });
    // OVS "down": the first cycle fails at once, and the daemon serves, reporting it unavailable.
    const ready = await notify.waitFor('READY', { value: '1' });
    t.match(ready.fields.STATUS, /^serving; OVS unavailable: cannot reach ovsdb-server /);
    const since = Date.now();
    await sleep(600);
    t.ok(pings(notify, since) >= 3, 'WATCHDOG=1 while cycles keep failing (that is not wedged)');

    const from = notify.messages.length;
    await ovsdb.wedge(); // the next retry (backoff ≤ 1 s) hangs
    const unhealthy = await notify.waitFor('STATUS', { value: /^UNHEALTHY: reconcile cycle stuck for/, from });
    const quiet = Date.now();
    await sleep(1000);
    t.equal(pings(notify, quiet), 0, 'no WATCHDOG=1 once the cycle is stuck');
    t.ok(unhealthy.at > since);
    const admin = await d.admin();
    t.ok(await admin.call('status', {}), 'the API still answers: only the watchdog can tell');
  });
});

t.test('SIGTERM during a stream of writes: every acknowledged write survives, exit 0', async (t) => {
  const dir = tempDir(t);
  const notify = await listenNotify(t, dir);
  const d = await startDaemon(t, { dir, env: { NOTIFY_SOCKET: notify.path } });
  await notify.waitFor('READY');
  const acked: string[] = [];
  let next = 0;
  const writer = async (c: RpcClient): Promise<void> => {
    for (;;) {
      const n = next++;
      const id = `vpc-w${n}`;
      try {
        await c.call('vpc.create', { id, tenantId: 'acme', cidrs: [`10.${n >> 8}.${n & 255}.0/24`], bridge: `br-w${n}` });
      } catch {
        return; // refused or cut off by the shutdown: not acknowledged
      }
      acked.push(id);
    }
  };
  const clients = await Promise.all([1, 2, 3, 4].map(() => d.admin()));
  const writers = clients.map(writer);
  await until('some writes', () => acked.length >= 50);
  d.child.kill('SIGTERM');
  t.equal(await exited(d), 0, 'exit 0');
  await Promise.all(writers);
  await notify.waitFor('STOPPING');
  t.match(d.logs(), /"msg":"stopping".*"signal":"SIGTERM"/);
  const stoppedLine = d.logs().split('\n').find((l) => l.includes('"msg":"stopped"')) ?? '{}';
  t.match(JSON.parse(stoppedLine), { level: 'info', signal: 'SIGTERM', drainMs: Number }, 'a final stopped line with the drain time');

  await d.restart();
  const admin = await d.admin();
  const listed = (await admin.call('vpc.list', {})) as { items: { id: string }[] };
  const stored = new Set(listed.items.map((v) => v.id));
  const lost = acked.filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acked.length} acknowledged writes are there after the restart`);
});

t.test('SIGHUP: the log level and the peers change without a restart; bad files are refused', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'gossip.secret'), 'x'.repeat(32));
  const base = { log: { level: 'info' }, gossip: { secretFile: './gossip.secret', peers: [] } };
  const d = await startDaemon(t, { dir, config: base });
  const config = JSON.parse(readFileSync(d.configPath, 'utf8')) as Record<string, unknown>;
  const write = (patch: Record<string, unknown>): void => writeFileSync(d.configPath, JSON.stringify({ ...config, ...patch }));
  const admin = await d.admin();
  const hup = async (msg: RegExp): Promise<void> => {
    const from = d.logs().length;
    d.child.kill('SIGHUP');
    await until(`log ${msg}`, () => msg.test(d.logs().slice(from)));
  };
  const debugLines = (): number => d.logs().split('\n').filter((l) => l.includes('"level":"debug"')).length;

  (await d.client()).close();
  await sleep(100);
  t.equal(debugLines(), 0, 'no debug lines at level info');

  const peers = ['ws://127.0.0.1:7946', 'ws://hv-02.example:7946'];
  write({ log: { level: 'debug' }, gossip: { secretFile: './gossip.secret', peers } });
  await hup(/"msg":"config reloaded"/);
  const reloaded = d.logs().split('\n').find((l) => l.includes('"msg":"config reloaded"')) ?? '';
  t.match(JSON.parse(reloaded), { level: 'warn', changed: ['gossip.peers', 'log.level'], logLevel: 'debug', gossipPeers: peers });
  (await d.client()).close();
  await until('a debug line', () => debugLines() > 0);
  t.pass('debug lines appear after the reload');

  writeFileSync(d.configPath, '{ "log": ');
  await hup(/"msg":"config reload refused; keeping the running config"/);
  t.ok(await admin.call('status', {}), 'still serving after a bad file');

  write({ log: { level: 'info' }, socket: { path: './elsewhere.sock' }, gossip: { secretFile: './gossip.secret', peers } });
  await hup(/"msg":"config reload refused: these keys change only with a restart/);
  t.match(d.logs(), /"keys":\["socket.path"\]/);
  const before = debugLines();
  (await d.client()).close();
  await until('still debug', () => debugLines() > before);
  t.pass('nothing of the refused file was applied (still at debug)');
  t.ok(await admin.call('status', {}), 'still serving on the old socket');

  // One peer listed twice, spelled two ways: the file is refused with the key and why.
  const from = d.logs().length;
  write({ log: { level: 'info' }, gossip: { secretFile: './gossip.secret', peers: [...peers, 'WS://127.0.0.1:7946/'] } });
  await hup(/"msg":"config reload refused; keeping the running config"/);
  t.match(d.logs().slice(from), /gossip\.peers\[2\]: is the same peer as gossip\.peers\[0\]/, 'the log names the duplicate and the entry it repeats');
  t.equal(d.child.exitCode, null, 'never exited');
});

t.test('metrics: the endpoint is Prometheus text, and the metrics method answers', async (t) => {
  const d = await startDaemon(t, { config: { metrics: { listen: '127.0.0.1:0' } } });
  const admin = await d.admin();
  await admin.call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: 'br-a' });
  await admin.call('vpc.get', { id: 'vpc-none' }).catch(() => undefined);
  const line = d.logs().split('\n').find((l) => l.includes('"msg":"metrics endpoint listening"')) ?? '';
  const { port } = JSON.parse(line) as { port: number };
  const url = `http://127.0.0.1:${port}`;

  const res = await fetch(`${url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusText(await res.text());
  const sample = (name: string, labels: Record<string, string> = {}): number | undefined =>
    [...families.values()]
      .flatMap((f) => f.samples)
      .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  t.equal(families.get('vpc_peerd_rpc_duration_seconds')?.type, 'histogram');
  t.equal(sample('vpc_peerd_rpc_duration_seconds_count', { method: 'vpc.create', outcome: 'ok' }), 1);
  t.equal(sample('vpc_peerd_rpc_duration_seconds_count', { method: 'vpc.get', outcome: 'error' }), 1);
  t.ok((sample('vpc_peerd_commit_duration_seconds_count', { outcome: 'ok' }) ?? 0) >= 1, 'a durable commit observed');
  t.ok((sample('vpc_peerd_journal_bytes') ?? 0) > 0, 'journal size');
  t.equal(sample('vpc_peerd_ovs_state', { state: 'disabled' }), 1);
  t.equal(sample('vpc_peerd_gossip_lag_seconds_count'), 0, 'gossip lag: declared, nothing received with gossip off');
  for (const name of ['vpc_peerd_reconcile_duration_seconds', 'vpc_peerd_drift_repaired_flows_total', 'vpc_peerd_bridge_flows']) {
    t.ok(families.has(name), `${name} is declared`);
  }

  t.equal((await fetch(`${url}/other`)).status, 404);
  t.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);

  const viaRpc = (await admin.call('metrics', {})) as { families: { name: string; type: string }[] };
  t.same(
    viaRpc.families.map((f) => f.name),
    [...families.keys()],
    'the metrics method has the same families',
  );
  const token = await d.token({ tenant: 'acme', perms: ['vpc:read'] });
  await t.rejects(admin.call('metrics', { auth: token }), { code: 403 }, 'needs daemon:status');
});
