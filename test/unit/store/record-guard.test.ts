import t from 'tap';
import { isMutationList, mutationProblem, stateProblem } from '../../../src/store/record-guard.js';
import { peering, vpc } from '../../helpers/store-records.js';

t.test('sound mutations pass', (t) => {
  const sound = [
    { op: 'vpc.put', vpc: vpc('a') },
    { op: 'vpc.put', vpc: { ...vpc('a'), name: 'prod', cidrs: ['10.0.0.0/16', 'fd00::/48'] } },
    { op: 'peering.put', peering: peering(1) },
    { op: 'peering.put', peering: { ...peering(1), status: 'active', acceptedBy: 'bob', name: 'x' } },
    { op: 'vpc.del', id: 'a' },
    { op: 'peering.del', id: peering(1).id },
  ];
  for (const m of sound) t.equal(mutationProblem(m), null, JSON.stringify(m));
  t.ok(isMutationList(sound));
  t.end();
});

t.test('each malformed field is named', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object/],
    [{ op: 'vpc.nuke', id: 'a' }, /unknown op/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), id: 'A!' } }, /vpc.id/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), tenantId: '' } }, /tenantId/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), name: 'n'.repeat(129) } }, /name/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), cidrs: [] } }, /cidrs/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), cidrs: Array(6).fill('10.0.0.0/8') } }, /cidrs/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), bridge: 'br;rm -rf' } }, /bridge/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), createdAt: 5 } }, /timestamps/],
    [{ op: 'peering.put', peering: { ...peering(1), id: 'pcx-1' } }, /peering.id/],
    [{ op: 'peering.put', peering: { ...peering(1), accepterVpcId: undefined } }, /VPC id/],
    [{ op: 'peering.put', peering: { ...peering(1), status: 'paused' } }, /status/],
    [{ op: 'peering.put', peering: { ...peering(1), requestedBy: '' } }, /principal/],
    [{ op: 'peering.put', peering: { ...peering(1), expiresAt: null } }, /timestamps/],
    [{ op: 'vpc.del', id: 7 }, /vpc.del/],
    [{ op: 'peering.del', id: 'a' }, /peering.del/],
  ];
  for (const [m, problem] of cases) t.match(mutationProblem(m), problem, JSON.stringify(m));
  t.notOk(isMutationList({}), 'not an array');
  t.end();
});

t.test('a state must file each record under its own id', (t) => {
  t.equal(stateProblem({ vpcs: { a: vpc('a') }, peerings: { [peering(1).id]: peering(1) } }), null);
  t.match(stateProblem({ vpcs: {} }), /lacks/);
  t.match(stateProblem({ vpcs: { b: vpc('a') }, peerings: {} }), /under key b/);
  t.match(stateProblem({ vpcs: {}, peerings: { x: peering(1) } }), /under key x/);
  t.match(stateProblem({ vpcs: { a: { ...vpc('a'), bridge: '' } }, peerings: {} }), /bridge/);
  t.end();
});
