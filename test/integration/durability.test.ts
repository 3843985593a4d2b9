// Durability of the real daemon process: acknowledged writes survive kill -9, a torn journal
// tail is recovered, garbage refuses the start, a live socket refuses a second daemon.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RpcTransportError } from '../../src/rpc/client.js';
import { runDaemon, startDaemon } from '../helpers/daemon.js';

t.test('kill -9 during concurrent creates loses no acknowledged create', async (t) => {
  const d = await startDaemon(t);
  const acked: string[] = [];
  const workers = 8;
  let stopped = false;
  const clients = await Promise.all(Array.from({ length: workers }, () => d.admin()));
  const streams = clients.map(async (c, w) => {
    for (let i = 0; !stopped; i++) {
      const id = `v-${w}-${i}`;
      try {
        await c.call('vpc.create', { id, tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: `b${w}x${i}` });
        acked.push(id);
      } catch (err) {
        if (err instanceof RpcTransportError) return; // the daemon died under us
        throw err;
      }
    }
  });
  // Kill once a good number of writes are acknowledged (poll with a deadline, no fixed sleep).
  const deadline = Date.now() + 20_000;
  while (acked.length < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.ok(acked.length >= 300, `${acked.length} creates acknowledged before the kill`);
  await d.kill('SIGKILL');
  stopped = true;
  await Promise.all(streams);

  await d.restart(); // the socket file left behind by kill -9 is stale: it must be replaced
  const admin = await d.admin();
  const stored = new Set(((await admin.call('vpc.list', {})) as { items: { id: string }[] }).items.map((v) => v.id));
  const lost = acked.filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acked.length} acknowledged creates survived (${stored.size} stored)`);
});

t.test('a torn journal tail is cut off and everything before it is kept', async (t) => {
  const d = await startDaemon(t);
  const admin = await d.admin();
  for (let i = 0; i < 20; i++) {
    await admin.call('vpc.create', { id: `v${i}`, tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: `b${i}` });
  }
  await d.kill('SIGKILL');
  appendFileSync(join(d.dir, 'state.json.journal'), '{"seq":21,"m":[{"op":"vpc.put","vpc":{"id":"half');
  await d.restart();
  const again = await d.admin();
  const items = ((await again.call('vpc.list', {})) as { items: unknown[] }).items;
  t.equal(items.length, 20, 'the 20 acknowledged VPCs are there');
  t.match(d.logs(), /"level":"warn"[^\n]*droppedTail|droppedTail[^\n]*"level":"warn"|"msg":"[^"]*(torn|tail|dropped)/i, 'the cut is logged');
  await again.call('vpc.create', { id: 'after', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: 'bafter' });
  t.pass('writes work after the recovery');
});

t.test('a journal that is garbage from the first byte stops the start', async (t) => {
  const d = await startDaemon(t);
  await d.kill('SIGKILL');
  writeFileSync(join(d.dir, 'state.json.journal'), 'this is not a journal\n');
  const r = await runDaemon(d.configPath);
  t.not(r.code, 0, 'exits non-zero');
  t.match(r.output, /state\.json\.journal/, 'names the file');
});

t.test('a live daemon on the socket refuses a second one; SIGTERM exits 0', async (t) => {
  const d = await startDaemon(t);
  const r = await runDaemon(d.configPath);
  t.not(r.code, 0, 'the second daemon exits non-zero');
  t.match(r.output, /listening|in use|another/i, 'and says why');
  const admin = await d.admin();
  t.match(await admin.call('status', {}), { nodeId: 'test-node' }, 'the first keeps serving');
  t.equal(await d.kill('SIGTERM'), 0, 'SIGTERM: exit 0');
});

t.test('a bad config file is refused with the key and the reason', async (t) => {
  const d = await startDaemon(t);
  await d.kill('SIGTERM');
  writeFileSync(d.configPath, JSON.stringify({ socket: { maxLineBytes: 'big' }, stor: {} }));
  const r = await runDaemon(d.configPath);
  t.not(r.code, 0);
  t.match(r.output, /socket\.maxLineBytes/);
  t.match(r.output, /stor/);
});

t.test('a second daemon on the same store (another socket) is refused', async (t) => {
  const d = await startDaemon(t);
  const other = join(d.dir, 'other.json');
  writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(d.configPath, 'utf8')), socket: { path: './other.sock' } }));
  const r = await runDaemon(other);
  t.not(r.code, 0);
  t.match(r.output, /store lock/);
  t.equal(await d.kill('SIGTERM'), 0, 'the first is unharmed and stops cleanly');
});
