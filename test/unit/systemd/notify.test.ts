import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../../src/log/logger.js';
import { createNotifier, formatNotification, MAX_FIELD_CHARS, parseNotifySocket, sanitizeField } from '../../../src/systemd/notify.js';
import { listenNotify } from '../../helpers/notify-socket.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  const out: string[] = [];
  return { logger: createLogger({ level: 'debug', sink: { write: (l: string) => out.push(l) } }), lines: () => out };
}

t.test('parseNotifySocket', (t) => {
  t.equal(parseNotifySocket(undefined), null);
  t.equal(parseNotifySocket(''), null);
  t.same(parseNotifySocket('/run/systemd/notify'), { kind: 'path', path: '/run/systemd/notify' });
  t.same(parseNotifySocket('@/org/freedesktop/systemd1/notify'), { kind: 'abstract', name: '/org/freedesktop/systemd1/notify' });
  t.equal(parseNotifySocket('@'), null, 'an empty abstract name');
  t.equal(parseNotifySocket('relative/notify'), null, 'a relative path');
  t.equal(parseNotifySocket(`/${'x'.repeat(107)}`), null, 'longer than sun_path');
  t.end();
});

t.test('sanitizeField: one line, no field can be injected, bounded', (t) => {
  t.equal(sanitizeField('ok\nREADY=1\nWATCHDOG=1'), 'ok READY=1 WATCHDOG=1');
  t.equal(sanitizeField('a\r\n\tb\u0000c\u007fd\u2028e'), 'a b c d e');
  t.equal(sanitizeField('  spaced   out  '), 'spaced out');
  const long = sanitizeField('é'.repeat(500));
  t.equal([...long].length, MAX_FIELD_CHARS);
  t.ok(long.endsWith('…'));
  const emoji = sanitizeField('😀'.repeat(300), 10);
  t.equal(emoji, `${'😀'.repeat(9)}…`, 'cut on code points, not UTF-16 halves');
  t.end();
});

t.test('formatNotification', (t) => {
  t.equal(formatNotification({ READY: '1', STATUS: 'serving\nWATCHDOG=1' }), 'READY=1\nSTATUS=serving WATCHDOG=1');
  t.throws(() => formatNotification({ 'BAD\nKEY': 'x' }), /invalid field name/);
  t.throws(() => formatNotification({ status: 'x' }), /invalid field name/);
  t.end();
});

t.test('createNotifier', async (t) => {
  t.test('no NOTIFY_SOCKET: disabled, silent', async (t) => {
    const { logger, lines } = capture();
    const n = await createNotifier({ socket: undefined, logger });
    t.equal(n.enabled, false);
    n.send({ READY: '1' });
    n.close();
    t.same(lines(), []);
  });

  t.test('an abstract socket cannot be addressed: disabled, and said so', async (t) => {
    const { logger, lines } = capture();
    const n = await createNotifier({ socket: '@/org/freedesktop/systemd1/notify', logger });
    t.equal(n.enabled, false);
    t.match(lines().join(''), /abstract socket/);
  });

  t.test('a path socket gets each message as one datagram', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-notify-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const listener = await listenNotify(t, dir);
    const { logger } = capture();
    const n = await createNotifier({ socket: listener.path, logger });
    t.teardown(() => n.close());
    t.equal(n.enabled, true);
    n.send({ READY: '1', STATUS: 'serving\nSTOPPING=1' });
    n.send({ WATCHDOG: '1' });
    await listener.waitFor('WATCHDOG');
    t.same(
      listener.messages.map((m) => m.raw),
      ['READY=1\nSTATUS=serving STOPPING=1', 'WATCHDOG=1'],
    );
  });

  t.test('a socket nobody listens on: sends fail, logged once, never thrown', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-notify-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const { logger, lines } = capture();
    const n = await createNotifier({ socket: join(dir, 'gone.sock'), logger });
    t.teardown(() => n.close());
    n.send({ WATCHDOG: '1' });
    n.send({ WATCHDOG: '1' });
    t.equal(lines().filter((l) => l.includes('sd_notify failed')).length, 1);
  });
});
