import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { connectClient, RpcClientError } from '../../../src/rpc/client.js';
import { createDispatcher } from '../../../src/rpc/dispatcher.js';
import { createRpcServer } from '../../../src/rpc/server.js';
import { fakeAuthenticate, fakeMethods, gate } from '../../helpers/rpc-fakes.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'peerd-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function daemon(t: Test, slow?: Promise<void>): Promise<string> {
  const path = join(tempDir(t), 'd.sock');
  const logger = silentLogger();
  const dispatcher = createDispatcher({ methods: fakeMethods({ slow }), authenticate: fakeAuthenticate, logger, maxBatchSize: 10 });
  const server = createRpcServer({ path, mode: 0o660, group: null, maxLineBytes: 1 << 20, maxConnections: 4, dispatcher, logger });
  await server.listen();
  t.teardown(() => server.close());
  return path;
}

/** A fake daemon speaking whatever the test wants, to drive the client's edge cases. */
async function scriptedDaemon(t: Test, onLine: (line: string, socket: Socket) => void): Promise<string> {
  const path = join(tempDir(t), 's.sock');
  const server = createServer((socket) => {
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        onLine(buf.slice(0, nl), socket);
        buf = buf.slice(nl + 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return path;
}

t.test('concurrent calls are matched to their replies by id', async (t) => {
  const g = gate();
  const client = await connectClient(await daemon(t, g.wait));
  const slow = client.call('slow', { tag: 'first' });
  const fast = await Promise.all([1, 2, 3].map((n) => client.call('echo', { n })));
  t.same(fast.map((r) => (r as { params: { n: number } }).params.n), [1, 2, 3], 'fast calls answer while a slow one runs');
  g.open();
  t.same(await slow, { done: true, tag: 'first' });
  await client.close();
});

t.test('a daemon error rejects with RpcClientError carrying code, message, data', async (t) => {
  const client = await connectClient(await daemon(t));
  const err = await client.call('conflict').catch((e: unknown) => e);
  t.ok(err instanceof RpcClientError);
  t.match(err, { code: 409, reason: 'CIDR_OVERLAP', data: { cidrs: ['10.0.0.0/16', '10.0.1.0/24'] } });
  t.match(await client.call('whoami').catch((e: unknown) => e), { code: 401, reason: 'UNAUTHENTICATED' });
  t.same(await client.call('whoami', { auth: 'alice-token' }), { sub: 'alice', tenant: 't1' }, 'the connection still works');
  await client.close();
});

t.test('transport failures are RpcTransportError', async (t) => {
  const dir = tempDir(t);
  await t.rejects(connectClient(join(dir, 'absent.sock')), { name: 'RpcTransportError', kind: 'unreachable', errno: 'ENOENT' });

  const silent = await scriptedDaemon(t, () => undefined);
  const client = await connectClient(silent, { timeoutMs: 50 });
  await t.rejects(client.call('echo'), { name: 'RpcTransportError', kind: 'timeout' });
  await client.close();
  await t.rejects(client.call('echo'), { name: 'RpcTransportError', kind: 'closed' }, 'a closed client refuses calls');

  const hangUp = await scriptedDaemon(t, (_line, socket) => socket.destroy());
  const c2 = await connectClient(hangUp);
  await t.rejects(c2.call('echo'), { name: 'RpcTransportError', kind: 'closed' });

  const garbage = await scriptedDaemon(t, (_line, socket) => socket.write('hello\n'));
  const c3 = await connectClient(garbage);
  await t.rejects(c3.call('echo'), { name: 'RpcTransportError', kind: 'bad-reply' });
});

t.test('an error without id fails the pending calls; a late reply is ignored', async (t) => {
  // The reply to `late` is held until the client has timed it out, then written just before the
  // reply to `ok`: the client must drop it and give `ok` its own reply.
  const held: string[] = [];
  const path = await scriptedDaemon(t, (line, socket) => {
    const { id, method } = JSON.parse(line) as { id: number; method: string };
    if (method === 'late') held.push(JSON.stringify({ jsonrpc: '2.0', id, result: 'late' }) + '\n');
    else if (method === 'ok') socket.write(held.splice(0).join('') + JSON.stringify({ jsonrpc: '2.0', id, result: 'ok' }) + '\n');
    else socket.write(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'too long', data: { reason: 'LINE_TOO_LONG' } } }) + '\n');
  });
  const client = await connectClient(path, { timeoutMs: 300 });
  await t.rejects(client.call('late'), { name: 'RpcTransportError', kind: 'timeout' });
  t.equal(await client.call('ok'), 'ok', 'the late reply did not confuse later calls');
  t.same(held, [], 'the late reply was sent');
  const err = await client.call('other').catch((e: unknown) => e);
  t.type(err, RpcClientError);
  t.match(err, { code: -32600, reason: 'LINE_TOO_LONG' });
  await client.close();
});
