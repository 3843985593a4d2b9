import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger, type Logger } from '../../../src/log/logger.js';
import { connectClient } from '../../../src/rpc/client.js';
import { createDispatcher } from '../../../src/rpc/dispatcher.js';
import { createRpcServer, type RpcServer, type RpcServerOptions } from '../../../src/rpc/server.js';
import { openLine } from '../../helpers/line-client.js';
import { fakeAuthenticate, fakeMethods, gate, recordingLogger } from '../../helpers/rpc-fakes.js';

/** A private folder for sockets (short: a socket path must fit in 108 bytes). */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'peerd-rpc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startServer(
  t: Test,
  opts: Partial<RpcServerOptions> & { slow?: Promise<void>; logger?: Logger } = {},
): Promise<{ server: RpcServer; path: string }> {
  const path = opts.path ?? join(tempDir(t), 'd.sock');
  const logger = opts.logger ?? silentLogger();
  const dispatcher = createDispatcher({ methods: fakeMethods({ slow: opts.slow }), authenticate: fakeAuthenticate, logger, maxBatchSize: 10 });
  const server = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 4096, maxConnections: 8, dispatcher, logger, ...opts });
  await server.listen();
  t.teardown(() => server.close());
  return { server, path };
}

type Obj = Record<string, unknown>;
interface Reply {
  id: unknown;
  result?: Obj;
  error?: { code: number; message: string; data: Obj };
}

/** A raw connection: write bytes, read reply lines one by one (parsed). */
async function rawConnection(path: string): Promise<{ socket: Socket; next: () => Promise<Reply>; ended: Promise<void> }> {
  const c = await openLine(path);
  return { socket: c.socket, next: async () => JSON.parse(await c.next()) as Reply, ended: c.closed };
}

const call = (method: string, params: unknown = {}, id: unknown = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n';
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('serves calls, applies the mode, creates the parent folder, removes the socket on close', async (t) => {
  const path = join(tempDir(t), 'nested', 'run', 'd.sock');
  const { server } = await startServer(t, { path, mode: 0o600 });
  t.equal(statSync(path).mode & 0o777, 0o600);
  const client = await connectClient(path);
  t.same(await client.call('echo', { a: 1 }), { params: { a: 1 }, sub: null, connection: 1 });
  t.equal(server.connections(), 1);
  await client.close();
  await server.close();
  t.notOk(existsSync(path), 'the socket file is gone after close');
  await server.close();
  t.pass('close is idempotent');
});

t.test('close() before listen() is a no-op; listen() twice is misuse', async (t) => {
  const path = join(tempDir(t), 'd.sock');
  const dispatcher = createDispatcher({ methods: [], authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 1 });
  const idle = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 100, maxConnections: 1, dispatcher, logger: silentLogger() });
  await idle.close();
  const { server } = await startServer(t);
  t.throws(() => void server.listen(), /once/);
});

t.test('group by gid or by name from /etc/group', async (t) => {
  const byGid = await startServer(t, { group: '1' });
  t.equal(statSync(byGid.path).gid, 1);
  const name = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === '2')?.split(':')[0];
  if (name) {
    const byName = await startServer(t, { group: name });
    t.equal(statSync(byName.path).gid, 2, `group ${name}`);
  }
  const path = join(tempDir(t), 'd.sock');
  const dispatcher = createDispatcher({ methods: [], authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 1 });
  const bad = createRpcServer({ path, mode: 0o660, group: 'no-such-group-xyz', maxLineBytes: 100, maxConnections: 1, dispatcher, logger: silentLogger() });
  await t.rejects(bad.listen(), /no-such-group-xyz/);
  t.notOk(existsSync(path), 'a failed listen leaves no socket behind');
});

t.test('a stale socket is replaced, a live one is refused, a non-socket is left alone', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'd.sock');
  // A daemon killed with SIGKILL leaves its socket file behind.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
  await new Promise((r) => child.stdout.once('data', r));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.ok(existsSync(path), 'stale socket present');
  const { server } = await startServer(t, { path });
  const client = await connectClient(path);
  t.same(await client.call('echo'), { params: {}, sub: null, connection: 1 }, 'listening on the old path');

  const dispatcher = createDispatcher({ methods: [], authenticate: fakeAuthenticate, logger: silentLogger(), maxBatchSize: 1 });
  const second = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 100, maxConnections: 1, dispatcher, logger: silentLogger() });
  await t.rejects(second.listen(), { message: `another vpc-peerd is listening on ${path}` });
  t.ok(await client.call('echo'), 'the first daemon still serves');
  await client.close();
  await delay(20);
  t.equal(server.connections(), 0, 'the probe connection is gone');

  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'keep me');
  const third = createRpcServer({ path: file, mode: 0o660, group: null, maxLineBytes: 100, maxConnections: 1, dispatcher, logger: silentLogger() });
  await t.rejects(third.listen(), /not a socket/);
  t.equal(readFileSync(file, 'utf8'), 'keep me');
});

t.test('malformed JSON and invalid UTF-8 get errors and the connection keeps serving', async (t) => {
  const { path } = await startServer(t);
  const c = await rawConnection(path);
  c.socket.write('{"jsonrpc": "2.0", oops\n');
  t.equal((await c.next()).error?.code, -32700);
  c.socket.write(Buffer.from([0x22, 0xc3, 0x28, 0x22, 0x0a]));
  t.same([(await c.next()).error?.data.reason], ['PARSE_ERROR']);
  c.socket.write(call('echo', { ok: true }, 2));
  t.same((await c.next()).result?.params, { ok: true });
  c.socket.end();
});

t.test('a line over maxLineBytes gets LINE_TOO_LONG and the connection is closed', async (t) => {
  const { path, server } = await startServer(t, { maxLineBytes: 100 });
  const c = await rawConnection(path);
  c.socket.write('{"jsonrpc":"2.0","id":1,"method":"echo","params":{"pad":"' + 'x'.repeat(200));
  const reply = await c.next();
  t.same([reply.id, reply.error?.code, reply.error?.data.reason, reply.error?.data.maxLineBytes], [null, -32600, 'LINE_TOO_LONG', 100]);
  await c.ended;
  t.pass('closed without waiting for the newline');
  const other = await connectClient(path);
  t.ok(await other.call('echo'), 'other connections are unaffected');
  await other.close();
  await delay(20);
  t.equal(server.connections(), 0);
});

t.test('calls on one connection do not wait for each other, nor for other connections', async (t) => {
  const g = gate();
  const { path } = await startServer(t, { slow: g.wait });
  const c = await rawConnection(path);
  c.socket.write(call('slow', { tag: 'a' }, 1) + call('echo', {}, 2));
  t.equal((await c.next()).id, 2, 'the fast call answers first');
  const other = await connectClient(path);
  t.ok(await other.call('echo'), 'another connection is served meanwhile');
  g.open();
  t.same((await c.next()).result, { done: true, tag: 'a' });
  await other.close();
  c.socket.end();
});

t.test('a client that half-closes after writing still gets its replies', async (t) => {
  const { path } = await startServer(t);
  const c = await rawConnection(path);
  c.socket.end(call('echo', { n: 1 }, 1) + call('echo', { n: 2 }, 2));
  const ids = [(await c.next()).id, (await c.next()).id].sort();
  t.same(ids, [1, 2]);
  await c.ended;
});

t.test('connections beyond maxConnections are told UNAVAILABLE', async (t) => {
  const { path } = await startServer(t, { maxConnections: 1 });
  const first = await connectClient(path);
  const c = await rawConnection(path);
  const reply = await c.next();
  t.same([reply.error?.code, reply.error?.data.reason], [503, 'UNAVAILABLE']);
  await c.ended;
  t.ok(await first.call('echo'));
  await first.close();
});

t.test('close() waits for in-flight calls, then closes; new connections are refused', async (t) => {
  const g = gate();
  const { server, path } = await startServer(t, { slow: g.wait });
  const client = await connectClient(path);
  const inFlight = client.call('slow', { tag: 'late' });
  await delay(20);
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  await delay(50);
  t.equal(closed, false, 'still waiting for the call');
  t.notOk(existsSync(path), 'no longer accepting');
  g.open();
  t.same(await inFlight, { done: true, tag: 'late' }, 'the in-flight call got its reply');
  await closing;
  t.equal(server.connections(), 0);
});

t.test('close() gives up on in-flight calls at its deadline', async (t) => {
  const g = gate();
  t.teardown(g.open);
  const { server, path } = await startServer(t, { slow: g.wait, closeTimeoutMs: 100 });
  const client = await connectClient(path);
  const outcome = client.call('slow').catch((err: unknown) => err);
  await delay(20);
  const started = Date.now();
  await server.close();
  t.ok(Date.now() - started < 2000, 'close did not hang');
  t.match(await outcome, { name: 'RpcTransportError', kind: 'closed' });
});

t.test('a slow reader is throttled: reading pauses, nothing is lost', async (t) => {
  const { path, server } = await startServer(t, { maxLineBytes: 64 * 1024, maxPendingOutputBytes: 64 * 1024 });
  const c = await rawConnection(path);
  c.socket.pause();
  const pad = 'x'.repeat(30_000);
  // 100 requests whose replies (3 MB) exceed the kernel's buffers and our cap many times over.
  c.socket.write(Array.from({ length: 100 }, (_, i) => call('echo', { pad }, i)).join(''));
  await delay(200);
  t.equal(server.connections(), 1, 'the connection is held, not dropped');
  c.socket.resume();
  const ids = new Set<number>();
  for (let i = 0; i < 100; i++) ids.add((await c.next()).id as number);
  t.equal(ids.size, 100, 'every reply arrives once the client reads');
  c.socket.end();
});

t.test('a client whose unread replies pass the cap is disconnected', async (t) => {
  const { logger, lines } = recordingLogger();
  const { path, server } = await startServer(t, { logger, maxPendingOutputBytes: 64 * 1024 });
  const c = await rawConnection(path);
  c.socket.pause();
  // Small requests, all read at once, whose 3 MB of replies nobody reads.
  c.socket.write(Array.from({ length: 100 }, (_, i) => call('big', { bytes: 30_000 }, i)).join(''));
  for (let i = 0; i < 200 && server.connections() > 0; i++) await delay(10);
  t.equal(server.connections(), 0, 'the connection was dropped');
  t.ok(lines.some((l) => l.level === 'warn' && /does not read/.test(String(l.msg))), 'and the reason logged');
  c.socket.destroy();
});

t.test('a connection idle past idleTimeoutMs is told IDLE_TIMEOUT and closed; a running call is not idleness', async (t) => {
  const g = gate();
  const { server, path } = await startServer(t, { idleTimeoutMs: 150, slow: g.wait });
  const idle = await rawConnection(path);
  const started = Date.now();
  t.match(await idle.next(), { id: null, error: { code: 503, data: { reason: 'IDLE_TIMEOUT', idleTimeoutMs: 150 } } });
  await idle.ended;
  t.ok(Date.now() - started >= 140, 'not before the timeout');
  const busy = await rawConnection(path);
  busy.socket.write(call('slow', { tag: 'long' }));
  await delay(400);
  g.open();
  t.match(await busy.next(), { id: 1, result: { tag: 'long' } }, 'a call longer than the timeout is answered');
  t.equal(server.connections(), 1, 'and its connection was kept');
  busy.socket.destroy();
});

t.test('a line not completed within lineTimeoutMs closes the connection with LINE_TIMEOUT, even if bytes trickle in', async (t) => {
  const { path } = await startServer(t, { lineTimeoutMs: 200, idleTimeoutMs: 10_000 });
  const slow = await rawConnection(path);
  const trickle = setInterval(() => slow.socket.write('{'), 20);
  t.teardown(() => clearInterval(trickle));
  t.match(await slow.next(), { id: null, error: { code: -32600, data: { reason: 'LINE_TIMEOUT', lineTimeoutMs: 200 } } });
  await slow.ended;
  clearInterval(trickle);
  const steady = await rawConnection(path);
  for (let i = 0; i < 5; i++) {
    steady.socket.write(call('echo', {}, i).slice(0, 10));
    await delay(60);
    steady.socket.write(call('echo', {}, i).slice(10));
    t.match(await steady.next(), { id: i }, 'each line within the deadline, the connection living longer than it');
  }
  steady.socket.destroy();
});

t.test('unfinished lines across connections are bounded by maxBufferedBytes', async (t) => {
  const { server, path } = await startServer(t, { maxLineBytes: 4096, maxBufferedBytes: 10_000, maxConnections: 16 });
  const held = [];
  for (let i = 0; i < 2; i++) {
    const c = await rawConnection(path);
    c.socket.write('x'.repeat(4000));
    held.push(c);
  }
  await delay(50);
  const third = await rawConnection(path);
  third.socket.write('y'.repeat(4000));
  t.match(await third.next(), { id: null, error: { code: 503, data: { reason: 'UNAVAILABLE' } } }, 'the connection that passed the budget is closed');
  await third.ended;
  held[0]?.socket.destroy();
  await held[0]?.ended;
  const fourth = await rawConnection(path);
  fourth.socket.write('z'.repeat(4000));
  await delay(50);
  t.equal(server.connections(), 2, 'a closed connection gave its bytes back: a new partial line fits');
  for (const c of [held[1], fourth]) c?.socket.destroy();
});

t.test('reserved slots: connections that never log in cannot lock out one that does', async (t) => {
  const { path } = await startServer(t, { maxConnections: 4, reservedConnections: 2 });
  const squatters = [];
  for (let i = 0; i < 6; i++) squatters.push(await rawConnection(path));
  // 2 open slots, 2 reserved ones on probation; each newcomer past 4 evicts the oldest probationer.
  const evicted = await Promise.all(squatters.slice(2, 4).map((c) => c.next()));
  for (const reply of evicted) t.match(reply, { error: { code: 503, data: { reason: 'UNAVAILABLE' } } }, 'an older probationer made room');
  const client = await connectClient(path);
  t.match(await client.call('auth.login', { token: 'alice-token' }), { sub: 'alice' }, 'a newcomer that logs in is served');
  t.match(await client.call('whoami'), { sub: 'alice' }, 'and keeps its slot');
  const anon = await rawConnection(path);
  anon.socket.write(call('echo'));
  t.match(await anon.next(), { result: {} }, 'a probationer first gets its answer');
  t.match(await anon.next(), { error: { data: { reason: 'UNAVAILABLE' } } }, 'then is closed: its first line did not log it in');
  await anon.ended;
  await client.close();
  for (const c of squatters) c.socket.destroy();
});
