// Until replication is built (docs/GOSSIP.md), a gossip section must not be ignored silently.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startDaemon } from '../helpers/daemon.js';

t.test('a gossip section is warned about at start, before the daemon listens', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-gossip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'gossip.secret'), 'x'.repeat(32), { mode: 0o600 });
  const peers = ['ws://127.0.0.1:7946'];
  const d = await startDaemon(t, { dir, config: { gossip: { secretFile: './gossip.secret', peers } } });
  const lines = d.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const warn = lines.findIndex((l) => l.level === 'warn' && /gossip is not implemented/.test(String(l.msg)));
  t.ok(warn >= 0, 'a warn line names the ignored section');
  t.match(lines[warn], { peers, listen: null });
  t.ok(warn < lines.findIndex((l) => l.msg === 'listening'), 'it comes before "listening"');
});

t.test('no warning without a gossip section', async (t) => {
  const d = await startDaemon(t);
  t.notMatch(d.logs(), /gossip is not implemented/);
});
