import t from 'tap';
import { CHANGE_LOG_LENGTH, StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, Vpc } from '../../../src/domain/types.js';

const vpc = (id: string, bridge: string): Vpc => ({
  id, tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge, createdAt: 'x', updatedAt: 'x',
});
const peering = (id: string, r: string, a: string): Peering => ({
  id, tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status: 'active', requestedBy: 'u',
  createdAt: 'x', updatedAt: 'x', expiresAt: 'x',
});

t.test('indexes peerings by VPC and VPCs by bridge, incrementally', (t) => {
  const s = new StateIndex();
  s.apply([
    { op: 'vpc.put', vpc: vpc('a', 'br-a') },
    { op: 'vpc.put', vpc: vpc('b', 'br-b') },
    { op: 'peering.put', peering: peering('pcx-1', 'a', 'b') },
  ]);
  t.equal(s.vpcByBridge('br-a')?.id, 'a');
  t.same(s.peeringsOfVpc('b').map((p) => p.id), ['pcx-1']);
  t.equal(s.peeringCountsByStatus().active, 1);
  s.apply([{ op: 'peering.put', peering: { ...peering('pcx-1', 'a', 'b'), status: 'deleted' } }]);
  t.same(s.peeringCountsByStatus(), {
    'pending-acceptance': 0, active: 0, rejected: 0, deleted: 1, expired: 0, failed: 0,
  });
  s.apply([{ op: 'vpc.put', vpc: vpc('a', 'br-a2') }]);
  t.equal(s.vpcByBridge('br-a'), undefined, 'old bridge name released');
  t.equal(s.vpcByBridge('br-a2')?.id, 'a');
  s.apply([{ op: 'peering.del', id: 'pcx-1' }, { op: 'vpc.del', id: 'b' }]);
  t.same(s.peeringsOfVpc('a'), []);
  t.equal(s.vpcCount, 1);
  t.equal(s.peeringCount, 0);
  t.same(new StateIndex(s.toState()).toState(), s.toState(), 'round-trips through a plain state');
  t.end();
});

t.test('changesSince lists the records changed after a version, until the log no longer reaches it', (t) => {
  const s = new StateIndex();
  const v0 = s.version;
  s.apply([{ op: 'vpc.put', vpc: vpc('a', 'br-a') }, { op: 'peering.put', peering: peering('pcx-1', 'a', 'b') }]);
  const v1 = s.version;
  t.equal(v1, v0 + 2, 'one version per mutation');
  s.apply([{ op: 'peering.del', id: 'pcx-1' }, { op: 'vpc.del', id: 'a' }]);
  t.same(s.changesSince(v0), { vpcIds: ['a', 'a'], peeringIds: ['pcx-1', 'pcx-1'] });
  t.same(s.changesSince(v1), { vpcIds: ['a'], peeringIds: ['pcx-1'] });
  t.same(s.changesSince(s.version), { vpcIds: [], peeringIds: [] });
  t.equal(s.changesSince(s.version + 1), null, 'a version it never had');
  t.equal(s.changesSince(1.5), null);
  for (let i = 0; i < 2 * CHANGE_LOG_LENGTH; i++) s.apply([{ op: 'vpc.put', vpc: vpc('b', 'br-b') }]);
  t.equal(s.changesSince(v1), null, 'too far behind');
  t.equal(s.changesSince(s.version - CHANGE_LOG_LENGTH)?.vpcIds.length, CHANGE_LOG_LENGTH, 'the last CHANGE_LOG_LENGTH are always kept');
  t.end();
});
