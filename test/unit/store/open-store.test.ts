import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { StateView } from '../../../src/domain/state-index.js';
import type { Mutation } from '../../../src/domain/types.js';
import { createLogger, silentLogger, type Logger } from '../../../src/log/logger.js';
import { encodeHeader, encodeRecord } from '../../../src/store/journal-format.js';
import { openStore, type OpenStoreOptions } from '../../../src/store/open-store.js';
import type { Store } from '../../../src/store/store.js';
import { JOURNAL_ID, peering, peeringId, putPeering, putVpc, snapshotText, vpc, STAMP } from '../../helpers/store-records.js';

function setup(t: Test) {
  const dir = t.testdir();
  // A folder that does not exist yet: the store creates it.
  const path = join(dir, 'var', 'state.json');
  const journal = `${path}.journal`;
  const stores: Store[] = [];
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  const open = async (opts: Partial<OpenStoreOptions> = {}) => {
    const opened = await openStore({ nodeId: 'hv-01', path, logger: silentLogger(), ...opts });
    stores.push(opened.store);
    return opened;
  };
  return { dir, path, journal, open };
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { logger, lines };
}

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
function contents(view: StateView) {
  return { vpcs: [...view.vpcs()].sort(byId), peerings: [...view.peerings()].sort(byId) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const isUnavailable = { name: 'RpcError', reason: 'UNAVAILABLE', code: 503 };

t.test('an empty folder opens as an empty store, with private files', async (t) => {
  const { dir, path, journal, open } = setup(t);
  const { store, recovery } = await open();
  t.same(recovery, { snapshotRecords: 0, journalEntries: 0, seq: 0, droppedTail: null, warnings: [] }, 'a new store: nothing to warn about');
  t.same(contents(store.view), { vpcs: [], peerings: [] });
  t.equal(statSync(join(dir, 'var')).mode & 0o777, 0o750, 'folder created 0750');
  t.equal(statSync(journal).mode & 0o777, 0o600, 'journal 0600');
  t.notOk(existsSync(path), 'no snapshot until the first compaction');
  t.match(store.stats(), { path, state: 'ok', records: 0, seq: 0, commits: 0, syncs: 0, lastWriteAt: null });
});

t.test('commits round-trip through a reopen, in order', async (t) => {
  const { open } = setup(t);
  const first = await open();
  const ops: Mutation[][] = [
    [putVpc('a'), putVpc('b'), putVpc('c')],
    [putPeering(1)],
    [{ op: 'peering.put', peering: { ...peering(1), status: 'active', acceptedBy: 'bob' } }],
    [{ op: 'vpc.put', vpc: { ...vpc('c'), name: 'renamed ✓' } }],
    [{ op: 'peering.del', id: peeringId(1) }, { op: 'vpc.del', id: 'b' }],
  ];
  for (const m of ops) await first.store.commit(m);
  const before = contents(first.store.view);
  t.match(first.store.stats(), { seq: 5, commits: 5, records: 2 });
  t.type(first.store.stats().lastWriteAt, 'string');
  await first.store.close();

  const second = await open();
  t.same(contents(second.store.view), before);
  t.same(second.recovery, { snapshotRecords: 0, journalEntries: 5, seq: 5, droppedTail: null, warnings: [] });
  await second.store.commit([putVpc('d')]);
  t.equal(second.store.stats().seq, 6, 'seq carries on');
});

t.test('a commit is staged at once, and read and acknowledged after its sync', async (t) => {
  const { open } = setup(t);
  const { store } = await open();
  const done = store.commit([putVpc('a')]);
  t.equal(store.stagedView.getVpc('a')?.id, 'a', 'staged synchronously, for the next writer');
  t.equal(store.view.getVpc('a'), undefined, 'reads do not see it before it is on disk');
  t.equal(store.stats().seq, 0, 'not durable yet');
  await done;
  t.equal(store.stats().seq, 1);
  t.equal(store.view.getVpc('a')?.id, 'a', 'reads see it once durable');
});

t.test('group commit: concurrent commits share fdatasyncs', async (t) => {
  const { open } = setup(t);
  let inSync = 0;
  const { store } = await open({ beforeSync: () => { inSync++; return new Promise((r) => setTimeout(r, 20)); } });
  await store.commit([putVpc('a'), putVpc('b')]);

  await Promise.all(Array.from({ length: 50 }, (_, i) => store.commit([putPeering(i)])));
  t.equal(store.stats().syncs, 2, '50 commits in one tick: one sync');

  const first = store.commit([putPeering(100)]);
  await tick(); // the first sync is now running
  const rest = Array.from({ length: 30 }, (_, i) => store.commit([putPeering(101 + i)]));
  await Promise.all([first, ...rest]);
  t.equal(store.stats().syncs, 4, 'commits queued during a sync share the next one');
  t.equal(store.stats().commits, 82);
  t.equal(inSync, 4);
});

t.test('onCommit hears each durable commit once, in order, and can stop', async (t) => {
  const { open } = setup(t);
  const { store } = await open();
  const heard: Array<readonly Mutation[]> = [];
  let durableWhenHeard = true;
  const stop = store.onCommit((m) => {
    heard.push(m);
    durableWhenHeard &&= store.stats().seq >= heard.length;
  });
  store.onCommit(() => { throw new Error('a broken listener'); });
  await Promise.all([store.commit([putVpc('a')]), store.commit([putVpc('b')])]);
  await store.commit([]);
  t.same(heard, [[putVpc('a')], [putVpc('b')]], 'an empty commit is not heard');
  t.ok(durableWhenHeard);
  stop();
  await store.commit([putVpc('c')]);
  t.equal(heard.length, 2);
});

t.test('an empty commit waits for the commits before it', async (t) => {
  const { open } = setup(t);
  const { store } = await open({ beforeSync: () => new Promise((r) => setTimeout(r, 20)) });
  await store.commit([]);
  let firstDone = false;
  const first = store.commit([putVpc('a')]).then(() => { firstDone = true; });
  await store.commit([]);
  t.ok(firstDone);
  await first;
});

t.test('an invalid mutation is refused and not applied', async (t) => {
  const { open } = setup(t);
  const { store } = await open();
  const bad = { op: 'vpc.put', vpc: { ...vpc('a'), bridge: 'this-bridge-name-is-too-long' } } as Mutation;
  await t.rejects(store.commit([putVpc('b'), bad]), /invalid mutation.*bridge/);
  t.equal(store.view.vpcCount, 0);
  t.equal(store.stats().seq, 0);
});

t.test('a torn last line is cut off, reported, and the store carries on', async (t) => {
  const { journal, open } = setup(t);
  const first = await open();
  await first.store.commit([putVpc('a')]);
  await first.store.commit([putVpc('b')]);
  await first.store.close();
  crashed(journal);
  const good = statSync(journal).size;
  const torn = encodeRecord(3, [putVpc('c')], STAMP).slice(0, 40);
  appendFileSync(journal, torn);

  const { logger, lines } = capture();
  const second = await open({ logger });
  t.same(second.recovery.droppedTail, {
    offset: good, bytes: torn.length, reason: 'unterminated last line (seq 3 expected)', savedTo: null, intactRecords: 0,
  });
  t.equal(statSync(journal).size, good, 'truncated to the last good record');
  t.same([...second.store.view.vpcs()].map((v) => v.id), ['a', 'b']);
  t.match(second.recovery.warnings, [/last write before the previous stop was torn \(40 bytes, never acknowledged\).*starts at seq 2/]);
  const warning = lines.find((l) => l.level === 'warn');
  t.match(warning, { msg: /store: the last write .* was torn/, file: journal });

  await second.store.commit([putVpc('c')]);
  await second.store.close();
  const third = await open();
  t.same([...third.store.view.vpcs()].map((v) => v.id).sort(), ['a', 'b', 'c']);
  t.equal(third.recovery.droppedTail, null);
});

t.test('a corrupt middle line followed by intact records: refuse, unless told to recover', async (t) => {
  const { dir, journal, open } = setup(t);
  const first = await open();
  for (const id of ['a', 'b', 'c', 'd', 'e']) await first.store.commit([putVpc(id)]);
  await first.store.close();
  const text = readFileSync(journal, 'utf8');
  const lines = text.split('\n');
  const offset = Buffer.byteLength(lines.slice(0, 3).join('\n') + '\n'); // header + 2 records
  lines[3] = lines[3]!.replace('10.0.0.0', '10.0.0.9'); // still JSON, but the checksum fails
  writeFileSync(journal, lines.join('\n'));

  await t.rejects(open(), /refusing to start on .*: it is damaged in the middle \(checksum mismatch \(seq 3 expected\) at byte \d+\), and 2 intact records follow.*run vpc-peerd --recover-journal/s);
  t.equal(readFileSync(journal, 'utf8'), lines.join('\n'), 'the journal is left as it was');

  const second = await open({ recoverJournal: true });
  const dropped = second.recovery.droppedTail;
  t.match(dropped, { offset, bytes: Buffer.byteLength(text) - offset, reason: /checksum mismatch \(seq 3 expected\)/, intactRecords: 2 });
  t.same([...second.store.view.vpcs()].map((v) => v.id).sort(), ['a', 'b'], 'starts on the last good record');
  t.ok(dropped?.savedTo?.startsWith(`${journal}.dropped-`), 'the cut records are kept for an operator');
  t.equal(readFileSync(dropped!.savedTo!, 'utf8'), lines.slice(3).join('\n'));
  t.equal(statSync(dropped!.savedTo!).mode & 0o777, 0o600);
  t.equal(statSync(journal).size, offset);
  t.match(second.recovery.warnings, [/damaged in the middle .*--recover-journal.* seq 2.* 2 intact records/]);
  t.same(readdirSync(join(dir, 'var')).filter((f) => f.includes('.dropped-')).length, 1);
});

t.test('a corrupt last line is cut and saved aside without asking', async (t) => {
  const { journal, open } = setup(t);
  const first = await open();
  for (const id of ['a', 'b', 'c']) await first.store.commit([putVpc(id)]);
  await first.store.close();
  const lines = readFileSync(journal, 'utf8').split('\n');
  lines[3] = lines[3]!.replace('10.0.0.0', '10.0.0.9');
  writeFileSync(journal, lines.join('\n'));
  const second = await open();
  t.match(second.recovery.droppedTail, { intactRecords: 0, savedTo: /\.dropped-/ });
  t.match(second.recovery.warnings, [/the last lines? of the journal (was|were) corrupt .* starts at seq 2/]);
});

t.test('refuses to start on a file that is not ours, and leaves it alone', async (t) => {
  const cases: Array<[string, 'snapshot' | 'journal', string | Buffer]> = [
    ['a text file as journal', 'journal', 'hello world\n'],
    ['random bytes as journal', 'journal', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256))],
    ['a lowdb JSONFile as snapshot', 'snapshot', JSON.stringify({ vpcs: {}, peerings: {} }, null, 2)],
    ['a damaged snapshot', 'snapshot', snapshotText(1, { vpcs: { a: vpc('a') }, peerings: {} }).replace('br-a', 'br-b')],
  ];
  for (const [name, which, bytes] of cases) {
    await t.test(name, async (t) => {
      const { path, journal, open } = setup(t);
      await (await open()).store.close(); // creates the folder and a journal
      const file = which === 'snapshot' ? path : journal;
      writeFileSync(file, bytes);
      await t.rejects(open(), new RegExp(`refusing to start on ${file.replace(/[.]/g, '[.]')}:`));
      t.same(readFileSync(file), Buffer.from(bytes), 'untouched');
    });
  }
});

t.test('empty files are an empty store, and an empty journal is reported', async (t) => {
  const { path, journal, open } = setup(t);
  await (await open()).store.close();
  writeFileSync(path, '');
  writeFileSync(journal, '');
  const { logger, lines } = capture();
  const { store, recovery } = await open({ logger });
  t.equal(recovery.seq, 0);
  t.match(recovery.warnings, [/journal .* is empty \(0 bytes\), but every journal starts with a header line: it was truncated/]);
  t.ok(lines.some((l) => l.level === 'warn' && /was truncated/.test(String(l.msg))), 'and logged at warn');
  await store.commit([putVpc('a')]);
  t.equal(store.view.vpcCount, 1);
});

t.test('a journal missing or empty beside a snapshot is reported, and the snapshot is loaded', async (t) => {
  for (const damage of ['missing', 'empty'] as const) {
    await t.test(damage, async (t) => {
      const { path, journal, open } = setup(t);
      await (await open()).store.close();
      writeFileSync(path, snapshotText(4, { vpcs: { a: vpc('a') }, peerings: {} }));
      if (damage === 'missing') rmSync(journal);
      else writeFileSync(journal, '');
      const { store, recovery } = await open();
      t.same([...store.view.vpcs()].map((v) => v.id), ['a']);
      t.match(recovery, { seq: 4, warnings: [new RegExp(`journal .* is ${damage}.* beside the snapshot at seq 4 \\(which expects journal ${JOURNAL_ID}\\).*commits after seq 4, if there were any, are lost`)] });
      t.match(store.stats().recovery, recovery, 'status.store.recovery says the same');
      await store.commit([putVpc('b')]);
      t.equal(store.stats().seq, 5, 'a fresh journal carries on from the snapshot');
    });
  }
});

t.test('a journal that is not the one the snapshot names is refused', async (t) => {
  const { path, journal, open } = setup(t);
  await (await open()).store.close();
  writeFileSync(path, snapshotText(2, { vpcs: { a: vpc('a') }, peerings: {} }));
  writeFileSync(journal, encodeHeader(2, '00000000000000bb') + encodeRecord(3, [putVpc('b')], STAMP));
  await t.rejects(open(), /refusing to start on .*journal: it is journal 00000000000000bb, but the snapshot .* \(seq 2\) was written for journal 00000000000000aa/);
  // A journal the snapshot names as its predecessor is the crash window of a compaction: fine.
  writeFileSync(path, snapshotText(2, { vpcs: { a: vpc('a') }, peerings: {} }, undefined, { id: JOURNAL_ID, previous: '00000000000000bb' }));
  const { store } = await open();
  t.same([...store.view.vpcs()].map((v) => v.id).sort(), ['a', 'b']);
});

t.test('compaction: commits keep flowing and a reopen sees the same state', async (t) => {
  const { path, journal, open } = setup(t);
  const { logger, lines } = capture();
  const first = await open({ compactAfterBytes: 2048, logger });
  await first.store.commit([putVpc('a'), putVpc('b')]);
  // Waves of concurrent commits, so appends keep arriving while snapshots are written.
  for (let wave = 0; wave < 15; wave++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) => first.store.commit([putPeering(wave * 20 + i)])));
  }
  await Promise.all(Array.from({ length: 40 }, (_, i) => first.store.commit([{ op: 'peering.del', id: peeringId(i * 3) }])));
  const before = contents(first.store.view);
  await first.store.close();
  const stats = first.store.stats();
  t.ok(stats.compactions >= 2, `compacted ${stats.compactions} times`);
  t.ok(lines.some((l) => l.msg === 'store: compacted'));
  t.ok(statSync(journal).size < 64 * 1024, 'the journal was restarted');
  t.equal(statSync(path).mode & 0o777, 0o600, 'snapshot 0600');

  const second = await open();
  t.same(contents(second.store.view), before);
  t.ok(second.recovery.snapshotRecords > 0);
  t.equal(second.recovery.seq, stats.seq);
  t.equal(second.recovery.seq, 1 + 300 + 40);
});

t.test('a failed compaction step is logged, loses nothing, and is retried', async (t) => {
  for (const blocked of ['snapshot', 'journal'] as const) {
    await t.test(`${blocked} temp file cannot be written`, async (t) => {
      const { dir, path, journal, open } = setup(t);
      const { logger, lines } = capture();
      const first = await open({ compactAfterBytes: 1024, logger });
      // A folder where the temp file goes makes creating it fail (EISDIR).
      const tmp = `${blocked === 'snapshot' ? path : journal}.tmp`;
      mkdirSync(tmp);
      await first.store.commit([putVpc('a'), putVpc('b')]);
      for (let i = 0; i < 30; i++) await first.store.commit([putPeering(i)]);
      t.equal(first.store.stats().compactions, 0);
      t.equal(first.store.stats().state, 'ok', 'the store carries on');
      t.ok(lines.some((l) => l.level === 'error' && /compaction will be retried/.test(String(l.msg))));
      if (blocked === 'journal') {
        // The new snapshot is in place beside the old journal: a copy of the two files opens
        // to the same state without applying any record twice.
        mkdirSync(join(dir, 'copy'));
        const copy = join(dir, 'copy', 'state.json');
        copyFileSync(path, copy);
        copyFileSync(journal, `${copy}.journal`);
        const opened = await openStore({ nodeId: 'hv-01', path: copy, logger: silentLogger() });
        t.same(contents(opened.store.view), contents(first.store.view));
        t.ok(opened.recovery.snapshotRecords > 0 && opened.recovery.journalEntries < 31);
        await opened.store.close();
      }

      rmdirSync(tmp);
      for (let i = 30; i < 60; i++) await first.store.commit([putPeering(i)]);
      const before = contents(first.store.view);
      await first.store.close();
      t.ok(first.store.stats().compactions >= 1, 'retried once the journal grew again');
      t.same(contents((await open()).store.view), before);
    });
  }
});

t.test('crash windows of a compaction', async (t) => {
  const state = (ids: string[]) => ({ vpcs: Object.fromEntries(ids.map((id) => [id, vpc(id)])), peerings: {} });
  const records = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => encodeRecord(from + i, [putVpc(`v${from + i}`)], STAMP)).join('');
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `v${i + 1}`);

  await t.test('temp files left behind are removed; the state is untouched', async (t) => {
    const { path, journal, open } = setup(t);
    const first = await open();
    await first.store.commit([putVpc('a')]);
    await first.store.close();
    writeFileSync(`${path}.tmp`, '{"snapshot":"vpc-pe');
    writeFileSync(`${journal}.tmp`, encodeHeader(1, JOURNAL_ID));
    const second = await open();
    t.equal(second.recovery.seq, 1);
    t.ok(second.store.view.getVpc('a'));
    t.notOk(existsSync(`${path}.tmp`));
    t.notOk(existsSync(`${journal}.tmp`));
  });

  await t.test('snapshot renamed, old journal still in place: records in the snapshot are not replayed twice', async (t) => {
    const { path, journal, open } = setup(t);
    await (await open()).store.close();
    // The new snapshot names the journal that will follow it and, as previous, the one still here.
    writeFileSync(path, snapshotText(3, state(ids(3)), undefined, { id: '00000000000000cc', previous: JOURNAL_ID }));
    writeFileSync(journal, encodeHeader(0, JOURNAL_ID) + records(1, 5));
    const { store, recovery } = await open();
    t.match(recovery, { snapshotRecords: 3, journalEntries: 2, seq: 5, droppedTail: null, warnings: [/does not end with the line a clean stop writes/] });
    t.same([...store.view.vpcs()].map((v) => v.id).sort(), ids(5));
    await store.commit([putVpc('v6')]);
    await store.close();
    t.same((await open()).recovery, { snapshotRecords: 3, journalEntries: 3, seq: 6, droppedTail: null, warnings: [] });
  });

  await t.test('a journal that ends before the snapshot is reported and restarted at the snapshot', async (t) => {
    const { path, journal, open } = setup(t);
    await (await open()).store.close();
    writeFileSync(path, snapshotText(5, state(ids(5)), undefined, { id: '00000000000000cc', previous: JOURNAL_ID }));
    writeFileSync(journal, encodeHeader(0, JOURNAL_ID) + records(1, 3) + '{"seq":4,"m');
    const { store, recovery } = await open();
    t.match(recovery, { seq: 5, journalEntries: 0 });
    t.match(recovery.warnings, [/torn/, /the journal ends at seq 3, before the snapshot's seq 5: it was cut/]);
    t.equal(readFileSync(journal, 'utf8'), encodeHeader(5, '00000000000000cc'), 'a fresh journal, the one the snapshot expects');
    await store.commit([putVpc('v6')]);
    await store.close();
    const again = await open();
    t.same([...again.store.view.vpcs()].map((v) => v.id).sort(), ids(6));
  });

  await t.test('a journal that starts after the snapshot is refused: records would be missing', async (t) => {
    const { path, journal, open } = setup(t);
    await (await open()).store.close();
    writeFileSync(path, snapshotText(5, state(ids(5))));
    writeFileSync(journal, encodeHeader(7, JOURNAL_ID) + records(8, 9));
    await t.rejects(open(), /refusing to start on .*state\.json\.journal: it continues from seq 7.*only up to seq 5/);
  });

  await t.test('a journal that starts after seq 0 with no snapshot is refused', async (t) => {
    const { journal, open } = setup(t);
    await (await open()).store.close();
    writeFileSync(journal, encodeHeader(3, JOURNAL_ID) + records(4, 4));
    await t.rejects(open(), /refusing to start on .*: it continues from seq 3.*is missing/);
  });
});

t.test('close waits for syncs in flight, is idempotent, and later commits are refused', async (t) => {
  const { open } = setup(t);
  const { store } = await open({ beforeSync: () => new Promise((r) => setTimeout(r, 20)) });
  let acked = false;
  const pending = store.commit([putVpc('a')]).then(() => { acked = true; });
  const closed = store.close();
  t.equal(store.close(), closed, 'same promise');
  await closed;
  t.ok(acked, 'the commit accepted before close was made durable');
  await pending;
  await t.rejects(store.commit([putVpc('b')]), isUnavailable);
  t.equal(store.view.getVpc('b'), undefined, 'a refused commit is not applied');
  t.equal(store.stats().state, 'closed');
});

t.test('a failed sync is rolled back from every view, and the store recovers by itself', async (t) => {
  const { open } = setup(t);
  const { logger, lines } = capture();
  let failing = false;
  const { store } = await open({
    logger,
    retryMs: 20,
    beforeSync: () => {
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device, fdatasync'), { code: 'ENOSPC' });
    },
  });
  await store.commit([putVpc('a')]);
  failing = true;
  const refused = store.commit([putVpc('b')]);
  const after = store.commit([putVpc('c')]); // queued behind the failing one: refused with it
  await t.rejects(refused, isUnavailable);
  await t.rejects(after, isUnavailable);
  t.equal(store.view.getVpc('b'), undefined, 'reads never showed the failed commit');
  t.equal(store.stagedView.getVpc('b'), undefined, 'and writers no longer see it');
  t.equal(store.stagedView.getVpc('c'), undefined);
  t.match(store.stats(), { state: /degraded|recovering/, seq: 1, lastError: /ENOSPC/ });
  await t.rejects(store.commit([putVpc('d')]), isUnavailable, 'degraded: commits refused');
  t.ok(lines.some((l) => l.level === 'error' && /journal failed/.test(String(l.msg))));

  // Retries fail while the disk refuses, then succeed once it takes writes again.
  await until(() => lines.some((l) => /still cannot rewrite/.test(String(l.msg))));
  failing = false;
  await until(() => store.stats().state === 'ok');
  t.match(store.stats(), { recoveries: 1, lastError: null, degradedSince: null });
  await store.commit([putVpc('e')]);
  t.ok(store.view.getVpc('e'), 'commits are taken again');
  await store.close();

  const reopened = await open();
  t.same([...reopened.store.view.vpcs()].map((v) => v.id).sort(), ['a', 'e'], 'on disk: the acknowledged commits, and only those');
});

/** Removes the end line a clean stop wrote, leaving the journal as a crash would. */
function crashed(journal: string): void {
  const text = readFileSync(journal, 'utf8');
  const cut = text.lastIndexOf('\n', text.length - 2) + 1;
  if (!text.slice(cut).startsWith('{"end":"clean"')) throw new Error('no end line to remove');
  writeFileSync(journal, text.slice(0, cut));
}

/** Polls `check` every 5 ms until it holds, for at most 5 s. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('misuse throws at once', async (t) => {
  await t.rejects(openStore({ nodeId: 'hv-01', path: '', logger: silentLogger() }), /path is required/);
  await t.rejects(openStore({ nodeId: 'hv-01', path: 'x', logger: silentLogger(), compactAfterBytes: 0 }), /compactAfterBytes/);
});

t.test('a journal cut exactly at a record boundary is told from a clean stop', async (t) => {
  const { journal, open } = setup(t);
  const first = await open();
  for (const id of ['a', 'b', 'c']) await first.store.commit([putVpc(id)]);
  await first.store.close();
  t.match(readFileSync(journal, 'utf8'), /\{"end":"clean","seq":3,"crc":"[0-9a-f]{8}"\}\n$/, 'a clean stop ends the journal');

  const second = await open();
  t.same(second.recovery.warnings, [], 'a clean stop: nothing to report');
  t.notMatch(readFileSync(journal, 'utf8'), /"end"/, 'the end line is cut off before appending');
  await second.store.commit([putVpc('d')]);
  await second.store.close();

  // Cut the last record and the end line: the journal is sound, one record shorter.
  const lines = readFileSync(journal, 'utf8').split('\n');
  writeFileSync(journal, lines.slice(0, -3).join('\n') + '\n');
  const { store, recovery } = await open();
  t.equal(recovery.seq, 3);
  t.match(recovery.warnings, [/does not end with the line a clean stop writes: .*crash, kill -9 or power loss .*up to seq 3.*or the journal was cut, and then commits after seq 3 are lost/]);
  t.same(store.stats().recovery.warnings, recovery.warnings, 'status.store.recovery carries it');
});

t.test('a refused line is cut off the journal, so a store closed while degraded leaves none for the next start', async (t) => {
  const { journal, open } = setup(t);
  let failing = false;
  const { store } = await open({
    retryMs: 60_000,
    beforeSync: () => {
      if (failing) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    },
  });
  await store.commit([putVpc('a')]);
  failing = true;
  await t.rejects(store.commit([putVpc('b')]), isUnavailable);
  t.match(readFileSync(journal, 'utf8'), /"id":"b"/, 'the refused line reached the file (only its sync failed)');
  await store.close();
  t.notMatch(readFileSync(journal, 'utf8'), /"id":"b"/, 'cut off');
  const reopened = await open();
  t.same([...reopened.store.view.vpcs()].map((v) => v.id), ['a']);
});
