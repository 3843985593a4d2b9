import t from 'tap';
import { type Permission, Permissions, canSee, hasPermission, requirePermission } from '../../../src/domain/rbac.js';
import type { Principal } from '../../../src/domain/types.js';

const who = (permissions: string[], tenant = 't1'): Principal => ({ sub: 'u', tenant, permissions });

t.test('hasPermission: exact grants and trailing wildcards', (t) => {
  // grant → the permissions it covers; every other permission of the catalogue must be refused.
  const matrix: [string, Permission[]][] = [
    ['*', [...Permissions]],
    ['vpc:*', ['vpc:create', 'vpc:read', 'vpc:update', 'vpc:delete']],
    ['vpc_peering:*', ['vpc_peering:create', 'vpc_peering:accept', 'vpc_peering:reject', 'vpc_peering:delete', 'vpc_peering:read']],
    ['daemon:*', ['daemon:status', 'daemon:reconcile']],
    ['vpc:read', ['vpc:read']],
    ['vpc_peering:accept', ['vpc_peering:accept']],
    ['vpc*', []], // a wildcard only stands for a whole segment
    ['vpc_*', []],
    ['vpc:', []],
    ['vpc', []],
    ['*:read', []], // only trailing wildcards
    ['VPC:READ', []], // case matters
    ['', []],
  ];
  for (const [grant, covered] of matrix) {
    for (const perm of Permissions) {
      t.equal(hasPermission(who([grant]), perm), covered.includes(perm), `${JSON.stringify(grant)} → ${perm}`);
    }
  }
  t.equal(hasPermission(who([]), 'vpc:read'), false, 'no grants, nothing allowed');
  t.equal(hasPermission(who(['vpc:read', 'vpc_peering:*']), 'vpc_peering:reject'), true, 'any grant suffices');
  t.end();
});

t.test('canSee: own tenant, or every tenant for the operator', (t) => {
  t.equal(canSee(who([], 't1'), 't1'), true);
  t.equal(canSee(who([], 't1'), 't2'), false);
  t.equal(canSee(who([], '*'), 't2'), true);
  t.equal(canSee(who([], 't1'), '*'), false, 'a resource tenant is never a wildcard');
  t.end();
});

t.test('requirePermission throws FORBIDDEN with data.permission', (t) => {
  t.doesNotThrow(() => requirePermission(who(['vpc:*']), 'vpc:delete'));
  t.throws(() => requirePermission(who(['vpc:read']), 'vpc:delete'), {
    reason: 'FORBIDDEN',
    code: 403,
    data: { permission: 'vpc:delete' },
  });
  t.end();
});
