import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
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
