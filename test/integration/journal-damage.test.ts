// Issue 9, fault 9, with real files and the real daemon process: journal damage is detected
// where it can be, reported in the log and in status.store.recovery, and damage in the middle of
// the journal stops the start until an operator runs vpc-peerd --recover-journal (SPEC §10).
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RecoveryReport } from '../../src/store/store.js';
import { type DaemonHandle, runDaemon, startDaemon } from '../helpers/daemon.js';

const FIXTURE = new URL('../fixtures/store-v1/', import.meta.url).pathname;

async function createVpcs(d: DaemonHandle, ids: string[]): Promise<void> {
  const admin = await d.admin();
  for (const [i, id] of ids.entries()) {
    await admin.call('vpc.create', { id, tenantId: 'acme', cidrs: [`10.${i}.0.0/16`], bridge: `br-${id}` });
  }
}

async function stored(d: DaemonHandle): Promise<{ ids: string[]; recovery: RecoveryReport }> {
  const admin = await d.admin();
  const items = ((await admin.call('vpc.list', {})) as { items: { id: string }[] }).items;
  const status = (await admin.call('status', {})) as { store: { recovery: RecoveryReport } };
  return { ids: items.map((v) => v.id).sort(), recovery: status.store.recovery };
}

t.test('damage in the middle: the start is refused with how to proceed; --recover-journal starts on the last good record', async (t) => {
  const d = await startDaemon(t);
  await createVpcs(d, ['v1', 'v2', 'v3', 'v4', 'v5']);
  t.equal(await d.kill('SIGTERM'), 0);
  const journal = join(d.dir, 'state.json.journal');
  const lines = readFileSync(journal, 'utf8').split('\n');
  lines[3] = lines[3]!.replace('10.2.0.0', '10.2.0.9'); // v3's record: still JSON, the checksum fails
  writeFileSync(journal, lines.join('\n'));

  const refused = await runDaemon(d.configPath);
  t.equal(refused.code, 65, 'the daemon refuses to start, with EX_DATAERR (its unit does not restart it)');
  t.match(refused.output, /damaged in the middle \(checksum mismatch \(seq 3 expected\) at byte \d+\), and 2 intact records follow the damage/);
  t.match(refused.output, /run vpc-peerd --recover-journal with the same --config/, 'and says how to proceed');
  t.equal(readFileSync(journal, 'utf8'), lines.join('\n'), 'the journal is untouched');

  await d.restart(['--recover-journal']);
  const { ids, recovery } = await stored(d);
  t.same(ids, ['v1', 'v2'], 'started on the last good record');
  t.match(recovery, { seq: 2, droppedTail: { intactRecords: 2, savedTo: /state\.json\.journal\.dropped-/ } });
  t.match(recovery.warnings, [/damaged in the middle.*--recover-journal.*seq 2.*2 intact records, is kept in/]);
  const savedTo = recovery.droppedTail!.savedTo!;
  t.match(readFileSync(savedTo, 'utf8'), /"id":"v4"[\s\S]*"id":"v5"/, 'the cut records are in the file');
  t.match(d.logs(), /"level":"warn","msg":"store: the journal was damaged in the middle/, 'and the log says so');

  await (await d.admin()).call('vpc.create', { id: 'after', tenantId: 'acme', cidrs: ['10.9.0.0/16'], bridge: 'br-after' });
  await d.kill('SIGTERM');
  await d.restart();
  t.same((await stored(d)).ids, ['after', 'v1', 'v2'], 'a normal start afterwards');
  t.same((await stored(d)).recovery.warnings, []);
});

t.test('a journal missing beside its snapshot is reported plainly', async (t) => {
  const d = await startDaemon(t, { config: { store: { path: './state.json', compactAfterBytes: 1024 } } });
  await createVpcs(d, Array.from({ length: 12 }, (_, i) => `v${i}`));
  t.equal(await d.kill('SIGTERM'), 0);
  t.ok(existsSync(join(d.dir, 'state.json')), 'a compaction wrote a snapshot');
  rmSync(join(d.dir, 'state.json.journal'));

  await d.restart();
  const { ids, recovery } = await stored(d);
  t.ok(ids.length > 0 && ids.length <= 12, `the snapshot's ${ids.length} VPCs are loaded`);
  t.match(recovery.warnings, [/journal .* is missing beside the snapshot at seq \d+ \(which expects journal [0-9a-f]{16}\): .*commits after seq \d+, if there were any, are lost/]);
  t.match(d.logs(), /"level":"warn","msg":"store: the journal [^"]* is missing beside the snapshot/);
});

t.test('a journal cut exactly at a record boundary is reported', async (t) => {
  const d = await startDaemon(t);
  await createVpcs(d, ['v1', 'v2', 'v3']);
  t.equal(await d.kill('SIGTERM'), 0);
  const journal = join(d.dir, 'state.json.journal');
  const lines = readFileSync(journal, 'utf8').split('\n');
  writeFileSync(journal, lines.slice(0, -3).join('\n') + '\n'); // the last record and the end line

  await d.restart();
  const { ids, recovery } = await stored(d);
  t.same(ids, ['v1', 'v2']);
  t.match(recovery.warnings, [/does not end with the line a clean stop writes.*or the journal was cut, and then commits after seq 2 are lost/]);
});

t.test('a store written by the daemon before this change still loads, and is upgraded in place to format 2', async (t) => {
  // One sweep (at the start), none during the test: what it writes depends on the date alone.
  const d = await startDaemon(t, { config: { peering: { sweepIntervalMs: 3_600_000 } } });
  await d.kill('SIGTERM');
  cpSync(FIXTURE, d.dir, { recursive: true, filter: (src) => !src.endsWith('README.md') });
  await d.restart();
  const { ids, recovery } = await stored(d);
  t.equal(ids.length, 24);
  t.match(recovery, { seq: 53, warnings: [] }, 'an old journal (no ids, no end line) is not reported as damaged');
  const journal = join(d.dir, 'state.json.journal');
  const snapshot = join(d.dir, 'state.json');
  t.match(readFileSync(journal, 'utf8'), /^\{"journal":"vpc-peerd","version":2,"baseSeq":53,"id":"[0-9a-f]{16}"/, 'the journal is format 2');
  t.match(readFileSync(snapshot, 'utf8'), /^\{"snapshot":"vpc-peerd","version":2,"seq":53,.*"meta":\{"vpcs":\{"web":\{"version":"[0-9a-f]{12}\.0000\./, 'the snapshot holds versions');

  // Writes on top land as format-2 lines, and survive a restart of the real daemon.
  const admin = await d.admin();
  await admin.call('vpc.delete', { id: 'bulk-19' });
  // The start's sweep may have written first (the fixture's peerings expire and are compacted by
  // the wall clock: its rejected one a day after it was made), so the delete is found, not counted.
  const deleteLine = readFileSync(journal, 'utf8').split('\n').find((l) => l.includes('"id":"bulk-19"'));
  t.match(deleteLine, /^\{"seq":\d+,"origin":"local","version":"[0-9a-f]{12}\.[0-9a-f]{4}\.[^"]+","at":"[^"]+","m":\[\{"op":"vpc.del","id":"bulk-19"\}\]/, 'the delete is a format-2 line');
  t.equal(await d.kill('SIGTERM'), 0);
  const lastSeq = Math.max(...readFileSync(journal, 'utf8').split('\n').flatMap((l) => /^\{"seq":(\d+),/.exec(l)?.[1] ?? []).map(Number));
  t.ok(lastSeq > 53, `writes went on after the fixture's seq 53 (to ${lastSeq})`);
  await d.restart();
  const after = await stored(d);
  t.equal(after.ids.length, 23);
  t.match(after.recovery, { seq: lastSeq, warnings: [] }, 'the upgraded store stopped and started cleanly');
});
