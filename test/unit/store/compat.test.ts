// Journal compatibility: a store written by an earlier daemon (test/fixtures/store-v1, see its
// README) still loads, with every record, and takes new commits on top.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isTombstone } from '../../../src/domain/replica.js';
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

  // Upgraded in place: both files are format 2 now, and every record has its upgrade version.
  t.match(readFileSync(`${path}.journal`, 'utf8'), /^\{"journal":"vpc-peerd","version":2,"baseSeq":53,/);
  t.match(readFileSync(path, 'utf8'), /^\{"snapshot":"vpc-peerd","version":2,"seq":53,/);
  const web = store.replica.vpcs.get('web');
  t.same(web && !isTombstone(web) ? [web.version, web.incarnation] : null, [
    { wallMs: Date.parse(view.getVpc('web')!.updatedAt), logical: 0, node: 'hv-01' },
    { wallMs: Date.parse(view.getVpc('web')!.createdAt), logical: 0, node: 'hv-01' },
  ], 'a format-1 record: the version of its updatedAt, the incarnation of its createdAt');
  t.equal(store.replica.vpcs.size, 24, 'format 1 kept no tombstones');

  await store.commit([putVpc('new-one')]);
  await store.commit([{ op: 'vpc.del', id: 'bulk-19' }]);
  const slots = [...store.replica.vpcs.entries()];
  await store.close();
  const again = await openStore({ nodeId: 'hv-01', path, logger: silentLogger() });
  t.equal(again.recovery.seq, 55, 'commits made on top of the upgraded files are there after a reopen');
  t.ok(again.store.view.getVpc('new-one'));
  t.same([...again.store.replica.vpcs.entries()], slots, 'versions and the tombstone survive the reopen exactly');
  t.same(again.recovery.warnings, [], 'a clean stop of an upgraded store');
  await again.store.close();
});
