// SPEC §8 versions and tombstones in the real daemon's files: a deletion through the API leaves
// a tombstone that a compaction writes into the snapshot, and a restart reads it back.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDaemon } from '../helpers/daemon.js';

interface SnapshotFile {
  version: number;
  meta: { vpcs: Record<string, { version: string; incarnation: string }> };
  tombstones: { kind: string; id: string; version: string; deletedAt: string }[];
}

t.test('vpc.delete leaves a tombstone; the snapshot keeps it and every version; a restart reads them back', async (t) => {
  // A small journal, so that a few dozen commits compact it into a snapshot.
  const d = await startDaemon(t, { config: { store: { path: './state.json', compactAfterBytes: 4096 } } });
  const admin = await d.admin();
  const before = Date.now();
  await admin.call('vpc.create', { id: 'doomed', tenantId: 'acme', cidrs: ['10.200.0.0/16'], bridge: 'br-doomed' });
  await admin.call('vpc.delete', { id: 'doomed' });
  for (let i = 0; i < 20; i++) await admin.call('vpc.create', { id: `v${i}`, tenantId: 'acme', cidrs: [`10.${i}.0.0/16`], bridge: `br-v${i}` });
  t.equal(await d.kill('SIGTERM'), 0);

  const snapshot = JSON.parse(readFileSync(join(d.dir, 'state.json'), 'utf8')) as SnapshotFile;
  t.equal(snapshot.version, 2);
  const tomb = snapshot.tombstones.find((x) => x.id === 'doomed');
  t.match(tomb, { kind: 'vpc', id: 'doomed', version: /^[0-9a-f]{12}\.[0-9a-f]{4}\./ }, 'the deletion is remembered');
  t.ok(tomb && Date.parse(tomb.deletedAt) >= before - 1000 && Date.parse(tomb.deletedAt) <= Date.now(), 'deletedAt is when it happened');
  t.match(snapshot.meta.vpcs.v0, { version: /^[0-9a-f]{12}\.[0-9a-f]{4}\./, incarnation: /^[0-9a-f]{12}\.[0-9a-f]{4}\./ });

  await d.restart();
  const items = ((await (await d.admin()).call('vpc.list', {})) as { items: { id: string }[] }).items;
  t.equal(items.length, 20);
  t.notOk(items.some((v) => v.id === 'doomed'), 'the deleted VPC stays deleted');
  t.notOk('version' in (items[0] as object), 'API results carry no version');
});
