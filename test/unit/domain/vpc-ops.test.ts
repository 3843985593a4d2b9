import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { OpContext, Peering, PeeringStatus, Vpc } from '../../../src/domain/types.js';
import { createVpc, deleteVpc, getVpc, listVpcs, updateVpc } from '../../../src/domain/vpc-ops.js';
import { Catalogue, type Reason, type RpcError } from '../../../src/errors.js';

const T0 = '2025-01-01T00:00:00.000Z';
const NOW = new Date('2025-01-02T00:00:00.000Z');

// No caller: permissions and tenant visibility are not the operations' (tenancy.test.ts, rpc/permissions.test.ts).
const ctx = (): OpContext => ({
  actor: 'alice',
  now: NOW,
  policy: { pendingTtlSeconds: 3600, terminalRetentionSeconds: 86400, maxActivePerVpc: 125 },
  newPeeringId: () => {
    throw new Error('VPC operations never create peerings');
  },
});

const vpc = (id: string, over: Partial<Vpc> = {}): Vpc => ({
  id, tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge: `br-${id}`, createdAt: T0, updatedAt: T0, ...over,
});

const peering = (id: string, r: string, a: string, status: PeeringStatus): Peering => ({
  id, tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status, requestedBy: 'u',
  createdAt: T0, updatedAt: T0, expiresAt: '2099-01-01T00:00:00.000Z',
});

/** vpc-a, vpc-b (t1) and vpc-x (t2), plus the given peerings. */
function world(peerings: Peering[] = []): StateIndex {
  return new StateIndex({
    vpcs: {
      'vpc-a': vpc('vpc-a', { name: 'alpha' }),
      'vpc-b': vpc('vpc-b', { cidrs: ['10.1.0.0/16'] }),
      'vpc-x': vpc('vpc-x', { tenantId: 't2' }),
    },
    peerings: Object.fromEntries(peerings.map((p) => [p.id, p])),
  });
}

/** What t.throws should match: the stable reason, its catalogue code, and (a subset of) data. */
const refused = (reason: Reason, data: Record<string, unknown> = {}): Refusal => ({ reason, code: Catalogue[reason][0], data });
type Refusal = { reason: Reason; code: number; data: Record<string, unknown> };

/** data.peerings of what `fn` throws, compared exactly (t.throws matches arrays as subsets). */
function peeringsIn(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return (e as RpcError).data.peerings;
  }
  return undefined;
}

const PCX1 = 'pcx-00000000000000001';

t.test('createVpc stores a normalised VPC', (t) => {
  const out = createVpc(world(), ctx(), {
    id: 'vpc-new', tenantId: 't1', cidrs: ['10.9.0.1/16', '2001:DB8::/48'], bridge: 'br_new-1', name: 'web',
  });
  const want: Vpc = {
    id: 'vpc-new', tenantId: 't1', name: 'web', cidrs: ['10.9.0.0/16', '2001:db8::/48'], bridge: 'br_new-1',
    createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(),
  };
  t.same(out.result, want);
  t.same(out.mutations, [{ op: 'vpc.put', vpc: want }]);
  t.equal(out.error, undefined);

  const unnamed = createVpc(world(), ctx(), { id: 'vpc-n', tenantId: 't1', cidrs: ['10.0.0.0/8'], bridge: 'br-n', name: '' });
  t.notOk('name' in unnamed.result, 'an empty name is no name');
  const five = ['10.0.0.0/16', '10.1.0.0/16', '10.2.0.0/16', 'fd00::/48', 'fd01::/48'];
  t.same(createVpc(world(), ctx(), { id: 'vpc-5', tenantId: 't1', cidrs: five, bridge: 'br-5' }).result.cidrs, five);
  t.equal(
    createVpc(world(), ctx(), { id: 'vpc-o', tenantId: 't9', cidrs: ['10.0.0.0/8'], bridge: 'br-o' }).result.tenantId,
    't9',
    'for any tenant',
  );
  t.equal(
    createVpc(world(), ctx(), { id: 'vpc-c', tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge: 'br-c' }).result.id,
    'vpc-c',
    'CIDRs may overlap those of an unpeered VPC',
  );
  t.end();
});

t.test('createVpc refusals', (t) => {
  const ok = { id: 'vpc-new', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br-new' };
  const cases: [string, Partial<typeof ok & { name: string }>, Refusal][] = [
    ['bad id', { id: 'VPC_1' }, refused('INVALID_PARAMS', { field: 'id' })],
    ['id starting with a dash', { id: '-a' }, refused('INVALID_PARAMS', { field: 'id' })],
    ['id too long', { id: 'a'.repeat(64) }, refused('INVALID_PARAMS', { field: 'id' })],
    ['bad tenant', { tenantId: 't 1' }, refused('INVALID_PARAMS', { field: 'tenantId' })],
    ['tenant is a wildcard', { tenantId: '*' }, refused('INVALID_PARAMS', { field: 'tenantId' })],
    ['bad bridge', { bridge: 'br;rm -rf /' }, refused('INVALID_PARAMS', { field: 'bridge' })],
    ['bridge too long', { bridge: 'b'.repeat(16) }, refused('INVALID_PARAMS', { field: 'bridge' })],
    ['name too long', { name: 'n'.repeat(129) }, refused('INVALID_PARAMS', { field: 'name' })],
    ['name with a newline', { name: 'a\nb' }, refused('INVALID_PARAMS', { field: 'name' })],
    ['no CIDR', { cidrs: [] }, refused('INVALID_PARAMS', { field: 'cidrs' })],
    ['garbage CIDR', { cidrs: ['10.0.0.256/24'] }, refused('INVALID_PARAMS', { field: 'cidrs[0]' })],
    ['own CIDRs overlap', { cidrs: ['10.0.0.0/8', '10.9.0.0/16'] }, refused('CIDR_OVERLAP')],
    ['id taken', { id: 'vpc-a' }, refused('VPC_EXISTS', { vpcId: 'vpc-a' })],
    ['id taken in another tenant', { id: 'vpc-x' }, refused('VPC_EXISTS')],
    ['bridge taken', { bridge: 'br-vpc-b' }, refused('BRIDGE_IN_USE', { bridge: 'br-vpc-b', vpcId: 'vpc-b' })],
  ];
  for (const [what, params, want] of cases) {
    t.throws(() => createVpc(world(), ctx(), { ...ok, ...params }), want, what);
  }
  t.equal(createVpc(world(), ctx(), { ...ok, name: 'n'.repeat(128) }).result.name?.length, 128, '128 chars is fine');
  t.equal(createVpc(world(), ctx(), { ...ok, name: '🐳'.repeat(128) }).result.name, '🐳'.repeat(128), 'counted in characters');

  t.throws(() => createVpc(world(), ctx(), { ...ok, bridge: 'br-vpc-x' }), refused('BRIDGE_IN_USE', { vpcId: 'vpc-x' }), 'a bridge of another tenant is taken too');
  t.end();
});

t.test('updateVpc', (t) => {
  const renamed = updateVpc(world(), ctx(), { id: 'vpc-a', name: 'beta' });
  t.same(renamed.result, { ...vpc('vpc-a', { name: 'beta' }), updatedAt: NOW.toISOString() });
  t.same(renamed.mutations, [{ op: 'vpc.put', vpc: renamed.result }]);

  const cleared = updateVpc(world(), ctx(), { id: 'vpc-a', name: '' }).result;
  t.notOk('name' in cleared, 'an empty name clears it');
  t.equal(cleared.updatedAt, NOW.toISOString());

  const recidr = updateVpc(world(), ctx(), { id: 'vpc-a', cidrs: ['10.0.0.0/16', '10.5.7.0/24'] });
  t.same(recidr.result.cidrs, ['10.0.0.0/16', '10.5.7.0/24']);
  t.equal(recidr.result.updatedAt, NOW.toISOString());
  t.equal(recidr.result.name, 'alpha', 'the name stays');

  for (const [what, params] of [
    ['nothing given', {}],
    ['same name', { name: 'alpha' }],
    ['same CIDRs, spelt differently', { cidrs: ['10.0.9.9/16'] }],
  ] as const) {
    const out = updateVpc(world(), ctx(), { id: 'vpc-a', ...params });
    t.same(out.mutations, [], `${what}: no mutation`);
    t.equal(out.result.updatedAt, T0, `${what}: updatedAt unchanged`);
  }
  const unnamed = updateVpc(world(), ctx(), { id: 'vpc-b', name: '' });
  t.same(unnamed.mutations, [], 'clearing an absent name changes nothing');
  t.end();
});

t.test('updateVpc: CIDRs are locked by pending and active peerings only', (t) => {
  const two = ['10.0.0.0/16', '10.3.0.0/16'];
  const cases: [PeeringStatus, boolean][] = [
    ['pending-acceptance', true], ['active', true],
    ['rejected', false], ['deleted', false], ['expired', false], ['failed', false],
  ];
  for (const [status, locked] of cases) {
    const w = world([peering(PCX1, 'vpc-b', 'vpc-a', status)]);
    if (locked) {
      t.throws(() => updateVpc(w, ctx(), { id: 'vpc-a', cidrs: two }), refused('CIDR_LOCKED', { vpcId: 'vpc-a' }), status);
      t.same(peeringsIn(() => updateVpc(w, ctx(), { id: 'vpc-a', cidrs: two })), [PCX1]);
      t.same(updateVpc(w, ctx(), { id: 'vpc-a', cidrs: ['10.0.0.0/16'], name: 'x' }).result.name, 'x', `${status}: same set is no change`);
    } else {
      t.same(updateVpc(w, ctx(), { id: 'vpc-a', cidrs: two }).result.cidrs, two, status);
    }
  }
  const w = world([peering(PCX1, 'vpc-a', 'vpc-b', 'active')]);
  t.same(updateVpc(w, ctx(), { id: 'vpc-a', name: 'renamed' }).result.name, 'renamed', 'renaming is not locked');
  t.end();
});

t.test('updateVpc refusals', (t) => {
  const cases: [string, { id: string; name?: string; cidrs?: string[] }, Refusal][] = [
    ['missing', { id: 'vpc-zz', name: 'x' }, refused('VPC_NOT_FOUND')],
    ['bad id', { id: 'Vpc' }, refused('INVALID_PARAMS', { field: 'id' })],
    ['name too long', { id: 'vpc-a', name: 'n'.repeat(129) }, refused('INVALID_PARAMS', { field: 'name' })],
    ['six CIDRs', { id: 'vpc-a', cidrs: ['1.0.0.0/8', '2.0.0.0/8', '3.0.0.0/8', '4.0.0.0/8', '5.0.0.0/8', '6.0.0.0/8'] }, refused('INVALID_PARAMS', { field: 'cidrs' })],
    ['garbage CIDR', { id: 'vpc-a', cidrs: ['::g/64'] }, refused('INVALID_PARAMS', { field: 'cidrs[0]' })],
    ['overlapping CIDRs', { id: 'vpc-a', cidrs: ['fd00::/16', 'fd00:1::/32'] }, refused('CIDR_OVERLAP')],
  ];
  for (const [what, params, want] of cases) t.throws(() => updateVpc(world(), ctx(), params), want, what);
  t.equal(updateVpc(world(), ctx(), { id: 'vpc-x', name: 'op' }).result.name, 'op', 'a VPC of any tenant');
  t.end();
});

t.test('deleteVpc', (t) => {
  t.same(deleteVpc(world(), { id: 'vpc-a' }), { mutations: [{ op: 'vpc.del', id: 'vpc-a' }], result: { id: 'vpc-a', deleted: true } });
  const cases: [PeeringStatus, boolean][] = [
    ['pending-acceptance', true], ['active', true],
    ['rejected', false], ['deleted', false], ['expired', false], ['failed', false],
  ];
  for (const [status, inUse] of cases) {
    const w = world([peering(PCX1, 'vpc-a', 'vpc-b', status), peering('pcx-00000000000000002', 'vpc-b', 'vpc-a', 'rejected')]);
    for (const id of ['vpc-a', 'vpc-b']) {
      if (inUse) {
        t.throws(() => deleteVpc(w, { id }), refused('VPC_IN_USE', { vpcId: id }), `${status} ${id}`);
        t.same(peeringsIn(() => deleteVpc(w, { id })), [PCX1], 'only the live peering is listed');
      } else {
        t.same(deleteVpc(w, { id }).mutations, [{ op: 'vpc.del', id }], `${status} ${id}`);
      }
    }
  }
  const many = world([peering(PCX1, 'vpc-a', 'vpc-b', 'active'), peering('pcx-00000000000000002', 'vpc-b', 'vpc-a', 'pending-acceptance')]);
  t.same(peeringsIn(() => deleteVpc(many, { id: 'vpc-a' })), [PCX1, 'pcx-00000000000000002'], 'lists every live one');

  t.throws(() => deleteVpc(world(), { id: 'nope' }), refused('VPC_NOT_FOUND'));
  t.throws(() => deleteVpc(world(), { id: '../etc' }), refused('INVALID_PARAMS', { field: 'id' }));
  t.same(deleteVpc(world(), { id: 'vpc-x' }).result, { id: 'vpc-x', deleted: true }, 'a VPC of any tenant');
  t.end();
});

t.test('getVpc', (t) => {
  t.same(getVpc(world(), { id: 'vpc-a' }), vpc('vpc-a', { name: 'alpha' }));
  t.same(getVpc(world(), { id: 'vpc-x' }).tenantId, 't2');
  t.throws(() => getVpc(world(), { id: 'vpc-zz' }), refused('VPC_NOT_FOUND', { vpcId: 'vpc-zz' }));
  t.throws(() => getVpc(world(), { id: 'BAD' }), refused('INVALID_PARAMS'));
  t.end();
});

t.test('listVpcs lists every VPC, sorted by id, optionally of one tenant', (t) => {
  const ids = (tenantId?: string): string[] => listVpcs(world(), tenantId === undefined ? {} : { tenantId }).items.map((v) => v.id);
  t.same(ids(), ['vpc-a', 'vpc-b', 'vpc-x']);
  t.same(ids('t2'), ['vpc-x']);
  t.same(ids('t1'), ['vpc-a', 'vpc-b']);
  t.same(ids('t9'), []);
  t.throws(() => ids('T 1'), refused('INVALID_PARAMS', { field: 'tenantId' }));
  t.end();
});
