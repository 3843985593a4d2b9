import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { contactPath, openContactMark } from '../../../src/store/contact.js';

t.test('the last-contact mark: none at first, kept across a reopen, written at most once per interval', async (t) => {
  const path = contactPath(join(t.testdir(), 'state.json'));
  t.match(path, /state\.json\.contact$/);
  const mark = await openContactMark({ path, minIntervalMs: 60_000, logger: silentLogger() });
  t.equal(mark.lastContactAt, null, 'a new host was never in contact');
  mark.mark(new Date('2026-12-03T07:00:00.000Z'));
  mark.mark(new Date('2026-12-03T07:00:05.000Z'));
  t.equal(mark.lastContactAt?.toISOString(), '2026-12-03T07:00:05.000Z', 'the newest mark is what counts now');
  await new Promise((resolve) => setImmediate(resolve));
  await mark.close();
  t.same(JSON.parse(readFileSync(path, 'utf8')), { lastContactAt: '2026-12-03T07:00:05.000Z' }, 'close writes the mark the interval held back');
  const again = await openContactMark({ path, minIntervalMs: 60_000, logger: silentLogger() });
  t.equal(again.lastContactAt?.toISOString(), '2026-12-03T07:00:05.000Z', 'kept across a restart');
  await again.close();
});

t.test('a damaged mark is taken as the epoch: the host resyncs rather than trusting it', async (t) => {
  const path = join(t.testdir(), 'state.json.contact');
  for (const text of ['{', '{"lastContactAt":"yesterday"}', '[]']) {
    writeFileSync(path, text);
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (msg: string) => void warnings.push(msg) };
    const mark = await openContactMark({ path, minIntervalMs: 1000, logger });
    t.equal(mark.lastContactAt?.getTime(), 0, `${text}: the epoch`);
    t.match(warnings, [/last-contact file is unreadable/], 'said once');
    await mark.close();
  }
});
