import t from 'tap';
import {
  codePoints,
  isMutationList,
  MAX_REASON_LENGTH,
  mutationProblem,
  nameProblem,
  reasonText,
  stateProblem,
  storedCidrsProblem,
  timestampProblem,
} from '../../../src/domain/records.js';
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
    [{ op: 'vpc.put', vpc: { ...vpc('a'), id: 'A!' } }, /vpc A!: id is not a valid id/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), tenantId: '' } }, /tenantId/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), name: 'n'.repeat(129) } }, /name/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), cidrs: [] } }, /cidrs/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), cidrs: Array(6).fill('10.0.0.0/8') } }, /cidrs/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), bridge: 'br;rm -rf' } }, /bridge/],
    [{ op: 'vpc.put', vpc: { ...vpc('a'), createdAt: 5 } }, /createdAt is not an ISO-8601 UTC timestamp/],
    [{ op: 'peering.put', peering: { ...peering(1), id: 'pcx-1' } }, /peering.id/],
    [{ op: 'peering.put', peering: { ...peering(1), accepterVpcId: undefined } }, /accepterVpcId is not a valid id/],
    [{ op: 'peering.put', peering: { ...peering(1), status: 'paused' } }, /status/],
    [{ op: 'peering.put', peering: { ...peering(1), requestedBy: '' } }, /requestedBy must be a non-empty string/],
    [{ op: 'peering.put', peering: { ...peering(1), expiresAt: null } }, /expiresAt is not an ISO/],
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

t.test('names count code points and refuse control characters', (t) => {
  t.equal(nameProblem('😀'.repeat(128)), null, '128 emoji (256 UTF-16 units) is a name');
  t.match(nameProblem('😀'.repeat(129)), /longer than 128/);
  t.equal(nameProblem('é'.repeat(128)), null);
  t.match(nameProblem('a\nb'), /control character/);
  t.match(nameProblem('\u001b[31mred'), /control character/);
  t.match(nameProblem(''), /non-empty/, 'an empty name is "no name", never stored');
  t.match(mutationProblem({ op: 'vpc.put', vpc: { ...vpc('a'), name: 'x\ty' } }), /vpc a: name contains a control character/);
  t.end();
});

t.test('stored CIDRs parse, are normalised and disjoint', (t) => {
  t.equal(storedCidrsProblem(['10.0.0.0/16', 'fd00::/64']), null);
  t.match(storedCidrsProblem(['10.0.0.1/16']), /\[0\] is not normalised \(10\.0\.0\.0\/16\)/);
  t.match(storedCidrsProblem(['10.0.0.0/16', 'FD00::/64']), /\[1\] is not normalised/);
  t.match(storedCidrsProblem(['10.0.0.256/24']), /\[0\] has "10\.0\.0\.256"/);
  t.match(storedCidrsProblem(['10.0.0.0/8', '10.1.0.0/16']), /overlapping blocks 10\.0\.0\.0\/8 and 10\.1\.0\.0\/16/);
  t.match(storedCidrsProblem(['10.0.0.0/8', 7]), /\[1\] is not a string/);
  t.match(storedCidrsProblem('10.0.0.0/8'), /not a list/);
  t.end();
});

t.test('timestamps are ISO-8601 UTC as toISOString prints them', (t) => {
  t.equal(timestampProblem('2025-01-01T00:00:00.000Z'), null);
  t.equal(timestampProblem(new Date(0).toISOString()), null);
  for (const bad of ['2025-01-01', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00.000+01:00', '2025-02-30T00:00:00.000Z', 'soon', '', 17]) {
    t.match(timestampProblem(bad), /not an ISO-8601/, JSON.stringify(bad));
  }
  t.end();
});

t.test('a reason is cut to its maximum length at a code point', (t) => {
  t.equal(reasonText('short'), 'short');
  const long = reasonText('😀'.repeat(MAX_REASON_LENGTH + 10));
  t.equal(codePoints(long), MAX_REASON_LENGTH);
  t.ok(long.endsWith('😀…'), 'never splits a surrogate pair');
  t.equal(mutationProblem({ op: 'peering.put', peering: { ...peering(1), status: 'rejected', statusReason: long } }), null);
  t.match(mutationProblem({ op: 'peering.put', peering: { ...peering(1), statusReason: 'x'.repeat(MAX_REASON_LENGTH + 1) } }), /statusReason is longer/);
  t.end();
});
