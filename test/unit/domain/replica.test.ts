// The store's side of the replicated form: commits applied in place, the upgrade of unversioned
// records, the purge of old tombstones, and the record rules of versions and tombstones.
import t from 'tap';
import type { Hlc } from '../../../src/domain/hlc.js';
import { originProblem, replicaMetaProblem, tombstoneProblem, versionTextProblem } from '../../../src/domain/records.js';
import { applyLocalCommit, copyReplica, emptyReplica, purgeTombstones, recordLocalCommit, replicaOfUnversioned } from '../../../src/domain/replica.js';
import { peering, peeringId, vpc } from '../../helpers/store-records.js';

const v = (wallMs: number, logical = 0): Hlc => ({ wallMs, logical, node: 'hv-01' });

t.test('applyLocalCommit changes the replica in place exactly as recordLocalCommit returns it', (t) => {
  const m = [{ op: 'vpc.put' as const, vpc: vpc('a') }, { op: 'vpc.put' as const, vpc: vpc('b') }, { op: 'peering.put' as const, peering: peering(1) }];
  const now = new Date('2025-01-02T00:00:00.000Z');
  const pure = recordLocalCommit(recordLocalCommit(emptyReplica(), m, v(1), now), [{ op: 'vpc.del', id: 'b' }], v(2), now);
  const mutable = copyReplica(emptyReplica());
  applyLocalCommit(mutable, m, v(1), now);
  applyLocalCommit(mutable, [{ op: 'vpc.del', id: 'b' }], v(2), now);
  t.same(mutable, pure);
  t.throws(() => applyLocalCommit(mutable, m, { wallMs: -1, logical: 0, node: 'hv-01' }, now), /is not an HLC/);
  t.end();
});

t.test('replicaOfUnversioned: the version of updatedAt, the incarnation of createdAt, the basis as it stands', (t) => {
  const a = { ...vpc('a'), cidrs: ['10.1.0.0/16'], updatedAt: '2025-01-05T00:00:00.000Z' };
  const p = { ...peering(1, 'a', 'gone'), updatedAt: '2025-01-06T00:00:00.000Z' };
  const r = replicaOfUnversioned({ vpcs: { a }, peerings: { [p.id]: p } }, 'hv-01');
  t.same(r.vpcs.get('a'), { record: a, version: v(Date.parse(a.updatedAt)), incarnation: v(Date.parse(a.createdAt)) });
  t.same(r.peerings.get(p.id), {
    record: p, version: v(Date.parse(p.updatedAt)), incarnation: v(Date.parse(p.createdAt)),
    basis: { requesterCidrs: ['10.1.0.0/16'], accepterCidrs: [] },
  }, 'a VPC not held gives an empty basis');
  t.same(replicaOfUnversioned({ vpcs: { a }, peerings: {} }, 'hv-01'), replicaOfUnversioned({ vpcs: { a }, peerings: {} }, 'hv-01'), 'the same whenever it runs');
  t.end();
});

t.test('purgeTombstones forgets the tombstones deleted before the cut-off, and nothing live', (t) => {
  const r = copyReplica(emptyReplica());
  applyLocalCommit(r, [{ op: 'vpc.put', vpc: vpc('a') }, { op: 'vpc.put', vpc: vpc('b') }], v(1), new Date('2025-01-01T00:00:00.000Z'));
  applyLocalCommit(r, [{ op: 'vpc.del', id: 'a' }, { op: 'peering.del', id: peeringId(7) }], v(2), new Date('2025-01-01T00:00:00.000Z'));
  applyLocalCommit(r, [{ op: 'vpc.del', id: 'b' }], v(3), new Date('2025-01-03T00:00:00.000Z'));
  t.equal(purgeTombstones(r, new Date('2025-01-01T00:00:00.000Z')), 0, 'not before the cut-off: exactly at it stays');
  t.equal(purgeTombstones(r, new Date('2025-01-02T00:00:00.000Z')), 2);
  t.same([...r.vpcs.keys(), ...r.peerings.keys()], ['b']);
  t.end();
});

t.test('the record rules of versions, origins, tombstones and snapshot meta', (t) => {
  t.equal(versionTextProblem('018c2f3a4b10.0003.hv-01'), null);
  for (const bad of ['', '018c2f3a4b10.3.hv-01', 5, null]) t.match(versionTextProblem(bad), /is not a version/, String(bad));
  t.equal(originProblem('local'), null);
  t.equal(originProblem('HV_02.east'), null);
  t.match(originProblem('two words'), /is not an origin/);
  const tomb = { kind: 'peering', id: peeringId(1), version: '018c2f3a4b10.0003.hv-01', deletedAt: '2025-01-01T00:00:00.000Z' };
  t.equal(tombstoneProblem(tomb), null);
  t.match(tombstoneProblem({ ...tomb, id: 'web' }), /tombstone: id is not a peering id/, 'the id rule of its kind');
  t.match(tombstoneProblem({ ...tomb, kind: 'router' }), /kind/);
  t.match(tombstoneProblem({ ...tomb, deletedAt: 'now' }), /deletedAt/);
  const state = { vpcs: { a: vpc('a') }, peerings: {} };
  const meta = (entry: unknown) => ({ vpcs: { a: entry }, peerings: {} });
  t.equal(replicaMetaProblem(state, meta({ version: '018c2f3a4b10.0003.hv-01', incarnation: '018c2f3a4b10.0000.hv-01' })), null);
  t.match(replicaMetaProblem(state, meta({ version: '018c2f3a4b10.0003.hv-01' })), /vpc a: incarnation is not a version/);
  t.match(replicaMetaProblem(state, { vpcs: {}, peerings: {} }), /0 vpc versions for 1 records/);
  const pState = { vpcs: {}, peerings: { [peeringId(1)]: peering(1) } };
  const pMeta = (basis: unknown) => ({ vpcs: {}, peerings: { [peeringId(1)]: { version: '018c2f3a4b10.0003.hv-01', incarnation: '018c2f3a4b10.0000.hv-01', basis } } });
  t.equal(replicaMetaProblem(pState, pMeta({ requesterCidrs: ['10.0.0.0/16'], accepterCidrs: [] })), null);
  t.match(replicaMetaProblem(pState, pMeta({ requesterCidrs: ['10.0.0.1/16'], accepterCidrs: [] })), /basis.requesterCidrs \[0\] is not normalised/);
  t.match(replicaMetaProblem(pState, pMeta(undefined)), /basis.requesterCidrs/);
  t.end();
});
