// Journal compatibility: a store written by an earlier daemon (test/fixtures/store-v1, see its
// README) still loads, with every record, and takes new commits on top.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { openStore } from '../../../src/store/open-store.js';
import { putVpc } from '../../helpers/store-records.js';

const FIXTURE = new URL('../../fixtures/store-v1/', import.meta.url).pathname;

t.test('a store written by the code of commit 35407b6 loads whole', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-compat-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, dir, { recursive: true });
  const path = join(dir, 'state.json');

  const { store, recovery } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger() });
  t.match(recovery, { seq: 53, journalEntries: 15, droppedTail: null });
  const view = store.view;
  t.equal(view.vpcCount, 24, '24 VPCs');
  t.equal(view.peeringCount, 4, '4 peerings');
  t.match(view.getVpc('web'), { name: 'Web tier 🌐', cidrs: ['10.0.0.0/16', 'fd00::/64'], bridge: 'br-web' });
  t.equal(view.getVpc('cache')?.name, 'x'.repeat(128));
  t.same(view.getVpc('bulk-1')?.cidrs, ['192.168.1.0/24']);
  t.equal(view.getVpc('bulk-0')?.name, 'renamed');
  t.equal(view.getVpc('bulk-20'), undefined, 'deleted VPCs stay deleted');
  t.same([...view.peerings()].map((p) => p.status).sort(), ['active', 'deleted', 'pending-acceptance', 'rejected']);

  await store.commit([putVpc('new-one')]);
  await store.close();
  const again = await openStore({ nodeId: 'hv-01', path, logger: silentLogger() });
  t.equal(again.recovery.seq, 54, 'a commit made on top of the old files is there after a reopen');
  t.ok(again.store.view.getVpc('new-one'));
  await again.store.close();
});
