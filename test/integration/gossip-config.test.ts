// A gossip section is acted on, never ignored: the daemon starts gossip and says so, and status
// shows the peer it dials (unreachable here, so not connected, with the error); without the
// section gossip is off and status says that. A bad key file is a config error: exit 78 (which
// the unit does not restart), before the store is opened or the operator token written.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runDaemon, startDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/poll.js';

type GossipStatus = { enabled: boolean; listen: string | null; peers: { url?: string; connected: boolean; lastError?: string }[] };

t.test('a gossip section starts gossip: logged, and its peer in status', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-gossip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'gossip.secret'), 'x'.repeat(32), { mode: 0o600 });
  // Port 9 (discard) on loopback: nothing listens, so every dial is refused.
  const peers = ['ws://127.0.0.1:9'];
  const d = await startDaemon(t, { dir, config: { gossip: { secretFile: './gossip.secret', peers, listen: '127.0.0.1:0' } } });
  const lines = d.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const started = lines.find((l) => l.msg === 'gossip started');
  t.match(started, { peers, listen: /^127\.0\.0\.1:\d+$/ }, 'the bound address and the peers are logged');
  const c = await d.admin();
  const status = async (): Promise<GossipStatus> => ((await c.call('status', {})) as { gossip: GossipStatus }).gossip;
  const failed = await until(async () => (await status()).peers[0]?.lastError !== undefined, 10_000);
  t.ok(failed.ok, 'the failed dial is reported');
  t.match(await status(), { enabled: true, listen: started?.listen, peers: [{ url: peers[0], connected: false, lastError: /ECONNREFUSED/ }] });

  // A peer URL ws cannot dial (a #fragment) is refused by the reload; it crashed the daemon (70).
  const config = JSON.parse(readFileSync(d.configPath, 'utf8')) as { gossip: Record<string, unknown> };
  writeFileSync(d.configPath, JSON.stringify({ ...config, gossip: { ...config.gossip, peers: [...peers, 'ws://127.0.0.1:10/#x'] } }));
  const from = d.logs().length;
  d.child.kill('SIGHUP');
  const refused = await until(async () => d.logs().slice(from).includes('"msg":"config reload refused; keeping the running config"') || d.child.exitCode !== null, 5000);
  t.ok(refused.ok && d.child.exitCode === null, `the reload is refused and the daemon runs on (exit code ${d.child.exitCode})`);
  t.match(d.logs().slice(from), /gossip\.peers\[1\]: must be a ws:\/\/ or wss:\/\/ URL without credentials or #fragment/);
  t.match(await status(), { peers: [{ url: peers[0] }] }, 'still dialling the peers of the last good file');
  t.equal((await status()).peers.length, 1);

  // Another key in the secret file: not taken at run time (restart), and the reload says so.
  writeFileSync(d.configPath, JSON.stringify(config));
  writeFileSync(join(dir, 'gossip.secret'), 'y'.repeat(32), { mode: 0o600 });
  const before = d.logs().length;
  d.child.kill('SIGHUP');
  const warned = await until(async () => d.logs().slice(before).includes('gossip.secretFile holds another key than the one in use'), 5000);
  t.ok(warned.ok, 'a changed secret file is named at the reload, with the advice to restart');
});

t.test('without a gossip section, gossip is off', async (t) => {
  const d = await startDaemon(t);
  const c = await d.admin();
  t.match(((await c.call('status', {})) as { gossip: GossipStatus }).gossip, { enabled: false, listen: null, peers: [] });
  t.notMatch(d.logs(), /gossip started/);
});

t.test('a bad key file exits 78 (EX_CONFIG) and touches neither the store nor the token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-badkey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'good.secret'), 'x'.repeat(48), { mode: 0o600 });
  writeFileSync(join(dir, 'short.secret'), 'x'.repeat(10), { mode: 0o600 });
  writeFileSync(join(dir, 'open.secret'), 'x'.repeat(48), { mode: 0o644 });
  const base = { nodeId: 'hv-1', socket: { path: './s.sock' }, store: { path: './state.json' }, ovs: { enabled: false }, log: { level: 'debug' } };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a short gossip.secretFile', { auth: { jwtSecretFile: './good.secret', adminTokenFile: './admin.token' }, gossip: { secretFile: './short.secret', listen: '127.0.0.1:0' } }, /gossip\.secretFile/],
    ['a world-readable gossip.secretFile', { auth: { jwtSecretFile: './good.secret', adminTokenFile: './admin.token' }, gossip: { secretFile: './open.secret', listen: '127.0.0.1:0' } }, /gossip\.secretFile/],
    ['a missing gossip.secretFile', { auth: { jwtSecretFile: './good.secret', adminTokenFile: './admin.token' }, gossip: { secretFile: './none.secret', listen: '127.0.0.1:0' } }, /gossip\.secretFile/],
    ['a short auth.jwtSecretFile', { auth: { jwtSecretFile: './short.secret', adminTokenFile: './admin.token' } }, /auth\.jwtSecretFile/],
  ];
  for (const [what, config, key] of cases) {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...base, ...config }));
    const r = await runDaemon(configPath);
    t.equal(r.code, 78, `${what}: exit 78`);
    t.match(r.output, key, `${what}: the key is named`);
    t.notOk(existsSync(join(dir, 'state.json')), `${what}: no journal created`);
    t.notOk(existsSync(join(dir, 'admin.token')), `${what}: no token written`);
  }
});
