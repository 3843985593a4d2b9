// The OVSDB connection (src/ovs/ovsdb/client.ts) against a scripted ovsdb-server: a Unix socket
// speaking JSON texts back to back, whose answers each test writes. Monitor and cache, the
// server's echo, our keep-alive, a request timeout, a dropped link failing what waits on it
// ('unavailable'), a garbage frame ('bad-output'), reconnect with the cache replaced, and a
// transaction built again after a stale-cache refusal. That it works against a real ovsdb-server
// is test/integration/ovsdb.ovs.test.ts's part.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../../src/log/logger.js';
import { createOvsdbClient, type OvsdbClient, type OvsdbClientOptions } from '../../../../src/ovs/ovsdb/client.js';
import { JsonTextSplitter } from '../../../../src/ovs/ovsdb/framing.js';
import type { TxnPlan } from '../../../../src/ovs/ovsdb/transactions.js';
import { OvsError } from '../../../../src/ovs/runner.js';

type Msg = { id?: unknown; method?: string; params?: unknown[]; result?: unknown; error?: unknown };

const OVS = '85a22847-8ccb-460f-acca-d5c55b2c5a89';
const BR = '5b81fbf1-0695-4b4b-8f27-0c7def8a331e';

/** Initial rows: one Open_vSwitch row at cfg `cfg`, one bridge named `bridge` with no ports. */
function initial(cfg: number, bridge = 'br0'): unknown {
  return {
    Open_vSwitch: { [OVS]: { new: { cur_cfg: cfg, next_cfg: cfg } } },
    Bridge: { [BR]: { new: { name: bridge, ports: ['set', []] } } },
  };
}

interface Conn {
  readonly socket: Socket;
  /** Requests received on this connection, in order. */
  readonly got: Msg[];
  send(msg: unknown): void;
}

interface Scripted {
  readonly path: string;
  readonly conns: Conn[];
  /** Called for every request; default: monitor → initial(1), echo → its params back, else nothing. */
  onRequest: (msg: Msg, conn: Conn) => void;
  /** Resolves once a request matching `pred` has arrived (on any connection). */
  next(pred: (m: Msg) => boolean, what: string): Promise<{ msg: Msg; conn: Conn }>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function scriptedServer(t: Test): Promise<Scripted> {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-ovsdb-'));
  const path = join(dir, 'db.sock');
  const conns: Conn[] = [];
  const watchers = new Set<{ pred: (m: Msg) => boolean; resolve: (v: { msg: Msg; conn: Conn }) => void }>();
  let server: Server | null = null;
  const self: Scripted = {
    path,
    conns,
    onRequest: (msg, conn) => defaultAnswer(msg, conn),
    next(pred, what) {
      for (const conn of conns) {
        const msg = conn.got.find(pred);
        if (msg) return Promise.resolve({ msg, conn });
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: no such request in 3 s`)), 3000);
        watchers.add({ pred, resolve: (v) => (clearTimeout(timer), resolve(v)) });
      });
    },
    start: () =>
      new Promise((resolve) => {
        server = createServer((socket) => {
          const splitter = new JsonTextSplitter();
          const conn: Conn = { socket, got: [], send: (msg) => void socket.write(JSON.stringify(msg)) };
          conns.push(conn);
          socket.on('error', () => undefined);
          socket.on('data', (chunk: Buffer) => {
            for (const text of splitter.push(chunk)) {
              const msg = text as Msg;
              conn.got.push(msg);
              if (msg.method !== undefined) self.onRequest(msg, conn);
              for (const w of [...watchers]) {
                if (w.pred(msg)) {
                  watchers.delete(w);
                  w.resolve({ msg, conn });
                }
              }
            }
          });
        });
        server.listen(path, () => resolve());
      }),
    stop: () =>
      new Promise((resolve) => {
        for (const c of conns) c.socket.destroy();
        if (server) server.close(() => resolve());
        else resolve();
        server = null;
      }),
  };
  await self.start();
  t.teardown(async () => {
    await self.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return self;
}

function defaultAnswer(msg: Msg, conn: Conn): void {
  if (msg.method === 'monitor') conn.send({ id: msg.id, result: initial(1), error: null });
  else if (msg.method === 'echo') conn.send({ id: msg.id, result: msg.params, error: null });
}

function client(t: Test, path: string, extra: Partial<OvsdbClientOptions> = {}): OvsdbClient {
  const c = createOvsdbClient({ path, logger: silentLogger(), requestTimeoutMs: 1000, echoIntervalMs: 60_000, backoff: { minMs: 10, maxMs: 20 }, ...extra });
  t.teardown(() => c.close());
  return c;
}

async function failsWith(t: Test, p: Promise<unknown>, kind: OvsError['kind'], what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: resolved`);
  } catch (err) {
    t.ok(err instanceof OvsError && err.kind === kind, `${what}: ${kind}${err instanceof OvsError ? '' : ` (got ${String(err)})`}`);
  }
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const bridgeNames = (s: { rows: { Bridge: ReadonlyMap<string, { name: string }> } }): string[] => [...s.rows.Bridge.values()].map((b) => b.name);
/** A one-op plan: the server's answers are scripted, so the operations only need to be sent. */
const plan = (inserted: string[] = []): TxnPlan => ({ ops: [{ op: 'comment', comment: 'x' }], inserted });

t.test('connects on first use: one monitor of the columns, its rows; sync is an echo after it; the server\'s echo answered', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  t.equal(srv.conns.length, 0, 'nothing opened before a call');
  const s = await c.sync();
  t.same(bridgeNames(s), ['br0']);
  t.ok(c.connected);
  const [monitor, echo] = srv.conns[0]?.got ?? [];
  t.match(monitor, { method: 'monitor', params: ['Open_vSwitch', 'vpc-peerd', { Bridge: { columns: ['name', 'ports'] } }] });
  t.match(echo, { method: 'echo', params: ['sync'] }, 'the barrier');
  const conn = srv.conns[0] as Conn;
  conn.send({ id: 'echo', method: 'echo', params: ['ping'] });
  const { msg } = await srv.next((m) => m.id === 'echo', 'the echo reply');
  t.same(msg, { id: 'echo', result: ['ping'], error: null });
  conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Bridge: { [BR]: { old: { name: 'br0' }, new: { name: 'br1' } } } }] });
  t.same(bridgeNames(await c.sync()), ['br1'], 'an update applied');
});

t.test('keep-alive: an idle link is echoed; a silent one is dropped and replaced', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path, { echoIntervalMs: 40 });
  await c.sync();
  await srv.next((m) => m.method === 'echo' && Array.isArray(m.params) && m.params.length === 0, 'an echo of ours on an idle link');
  t.equal(srv.conns.length, 1, 'an answered echo keeps the link');
  srv.onRequest = (msg, conn) => (msg.method === 'echo' ? undefined : defaultAnswer(msg, conn));
  await until(() => srv.conns.length === 2, 'a new link after the silence');
  srv.onRequest = defaultAnswer;
  t.same(bridgeNames(await c.sync()), ['br0'], 'and it works');
});

t.test('a request that gets no answer times out; the link stays', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path, { requestTimeoutMs: 150 });
  await c.sync();
  srv.onRequest = (msg, conn) => (msg.method === 'transact' ? undefined : defaultAnswer(msg, conn));
  const started = Date.now();
  await failsWith(t, c.commit(() => plan()), 'timeout', 'commit');
  t.ok(Date.now() - started < 1000, `within the timeout (${Date.now() - started} ms)`);
  t.ok(c.connected, 'still connected');
});

t.test('a closed connection fails what waits with unavailable; the reconnect replaces the cache', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  await c.sync();
  srv.onRequest = (msg, conn) => {
    if (msg.method === 'transact') conn.socket.destroy();
    else if (msg.method === 'monitor') conn.send({ id: msg.id, result: initial(5, 'brnew'), error: null });
    else defaultAnswer(msg, conn);
  };
  await failsWith(t, c.commit(() => plan()), 'unavailable', 'the transaction in flight');
  t.same(bridgeNames(await c.sync()), ['brnew'], 'the new monitor reply replaced the rows');
  t.equal(srv.conns.length, 2);

  await srv.stop();
  await until(() => !c.connected, 'down');
  await failsWith(t, c.sync(), 'unavailable', 'a call while nothing listens');
  await srv.start();
  t.same(bridgeNames(await c.sync()), ['brnew'], 'back once the server is');
});

t.test('a garbage frame: the link is dropped (bad-output for what waited), and replaced', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  await c.sync();
  srv.onRequest = (msg, conn) => (msg.method === 'transact' ? void conn.socket.write('{"id":3,"result":[}') : defaultAnswer(msg, conn));
  await failsWith(t, c.commit(() => plan()), 'bad-output', 'the call');
  await until(() => srv.conns.length === 2, 'reconnected');
  srv.conns[1]?.send({ id: 99, method: 'update2', params: [] });
  await until(() => srv.conns.length === 3, 'a message of no known kind: reconnected too');
  t.same(bridgeNames(await c.sync()), ['br0']);
});

t.test('commit: resolves only once vswitchd applied it; a stale-cache refusal is built again from the newer rows', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  await c.sync();
  let transacts = 0;
  srv.onRequest = (msg, conn) => {
    if (msg.method !== 'transact') return defaultAnswer(msg, conn);
    transacts += 1;
    if (transacts === 1) {
      // Another client renamed the bridge just before: its update comes first, then our refusal.
      conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Bridge: { [BR]: { old: { name: 'br0' }, new: { name: 'br9' } } } }] });
      conn.send({ id: msg.id, result: [{ error: 'timed out', details: 'wait' }, null], error: null });
      return;
    }
    conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Open_vSwitch: { [OVS]: { old: { next_cfg: 1 }, new: { cur_cfg: 1, next_cfg: 2 } } } }] });
    conn.send({ id: msg.id, result: [{}, { rows: [{ next_cfg: 2 }] }], error: null });
  };
  const seen: string[][] = [];
  let done = false;
  const committed = c
    .commit((rows): TxnPlan => {
      seen.push([...rows.Bridge.values()].map((b) => b.name));
      return { ops: [{ op: 'comment', comment: 'x' }, { op: 'select', table: 'Open_vSwitch' }], inserted: [] };
    })
    .then(() => (done = true));
  await until(() => transacts === 2, 'sent twice');
  t.same(seen, [['br0'], ['br9']], 'built again from the rows the refusal came after');
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(done, 'not before cur_cfg reaches 2');
  srv.conns[0]?.send({ id: null, method: 'update', params: ['vpc-peerd', { Open_vSwitch: { [OVS]: { old: { cur_cfg: 1 }, new: { cur_cfg: 2, next_cfg: 2 } } } }] });
  await committed;
  t.ok(done, 'resolved when vswitchd caught up');

  srv.onRequest = (msg, conn) => (msg.method === 'transact' ? conn.send({ id: msg.id, result: [{ error: 'timed out' }], error: null }) : defaultAnswer(msg, conn));
  await failsWith(t, c.commit(() => plan()), 'failed', 'refused every time: failed after the last attempt');
  t.equal(await c.commit(() => null).then(() => 'nothing sent'), 'nothing sent', 'nothing to change');
});

t.test("an interface that vswitchd could not set up fails the commit, as ovs-vsctl's check does", async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  await c.sync();
  const IF = '9a4a052a-3dc1-418d-a830-0da688196abd';
  srv.onRequest = (msg, conn) => {
    if (msg.method !== 'transact') return defaultAnswer(msg, conn);
    const row = { name: 'nodev', type: '', options: ['map', []], ofport: -1, ofport_request: ['set', []], error: 'could not open network device nodev' };
    conn.send({ id: msg.id, result: [{}, { rows: [{ next_cfg: 2 }] }], error: null });
    conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Interface: { [IF]: { new: row } }, Open_vSwitch: { [OVS]: { old: { cur_cfg: 1 }, new: { cur_cfg: 2, next_cfg: 2 } } } }] });
  };
  await failsWith(t, c.commit(() => plan(['nodev'])), 'failed', 'the commit');
});

t.test('close: what waits fails unavailable, later calls too; nothing reconnects', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  await c.sync();
  srv.onRequest = (msg, conn) => (msg.method === 'transact' ? undefined : defaultAnswer(msg, conn));
  const pending = c.commit(() => plan());
  await srv.next((m) => m.method === 'transact', 'the transaction sent');
  c.close();
  await failsWith(t, pending, 'unavailable', 'in flight');
  await failsWith(t, c.sync(), 'unavailable', 'after close');
  c.close();
  await new Promise((r) => setTimeout(r, 50));
  t.equal(srv.conns.length, 1, 'no new link');
});

t.test('watch: told of every change of a topology row and of a reconnect\'s rows, not of Open_vSwitch alone; unwatched, no more', async (t) => {
  const srv = await scriptedServer(t);
  const c = client(t, srv.path);
  let heard = 0;
  const unwatch = c.watch(() => (heard += 1));
  c.watch(() => {
    throw new Error('a listener that throws');
  });
  await c.sync();
  t.equal(heard, 1, 'the initial rows');
  const conn = srv.conns[0] as Conn;
  conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Open_vSwitch: { [OVS]: { old: { cur_cfg: 1 }, new: { cur_cfg: 2, next_cfg: 2 } } } }] });
  await c.sync();
  t.equal(heard, 1, 'cur_cfg alone is no topology change');
  conn.send({ id: null, method: 'update', params: ['vpc-peerd', { Bridge: { [BR]: { old: { name: 'br0' }, new: { name: 'br1' } } } }] });
  await c.sync();
  t.equal(heard, 2, 'a bridge renamed; the throwing listener did not stop it');
  conn.socket.destroy();
  await until(() => heard === 3, 'the reconnect\'s initial rows');
  unwatch();
  unwatch();
  srv.conns[1]?.send({ id: null, method: 'update', params: ['vpc-peerd', { Bridge: { [BR]: { old: { name: 'br0' }, new: { name: 'br2' } } } }] });
  t.same(bridgeNames(await c.sync()), ['br2']);
  t.equal(heard, 3, 'not told once unwatched');
});
