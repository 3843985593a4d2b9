// A gossip section is acted on, never ignored: the daemon starts gossip and says so, and status
// shows the peer it dials (unreachable here, so not connected, with the error); without the
// section gossip is off and status says that.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startDaemon } from '../helpers/daemon.js';
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
});

t.test('without a gossip section, gossip is off', async (t) => {
  const d = await startDaemon(t);
  const c = await d.admin();
  t.match(((await c.call('status', {})) as { gossip: GossipStatus }).gossip, { enabled: false, listen: null, peers: [] });
  t.notMatch(d.logs(), /gossip started/);
});
