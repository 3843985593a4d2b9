// Tenant visibility (SPEC §3 rule 1, §4) as tenancy.ts decides it over the caller-free domain
// operations: a tenant sees its own VPCs and the peerings of its tenant, every other record is
// 404 exactly as if it did not exist (same reason, same data, same order against the params),
// and the operator sees every tenant. The rules themselves (CROSS_TENANT and the rest) run the
// same with no caller at all: the last tests here.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { peeringRuleRefusal } from '../../../src/domain/peering-ops.js';
import { StateIndex } from '../../../src/domain/state-index.js';
import {
  acceptPeering,
  createPeering,
  createVpc,
  deletePeering,
  deleteVpc,
  getPeering,
  getVpc,
  listPeerings,
  listVpcs,
  rejectPeering,
  updateVpc,
} from '../../../src/domain/tenancy.js';
import type { OpContext, OpResult, Peering, PeeringStatus, Principal, Vpc } from '../../../src/domain/types.js';
import { Catalogue, type Reason, RpcError } from '../../../src/errors.js';
import { LATER, NOW, pcx, POLICY, T0 } from '../../helpers/domain-fixtures.js';


// Every permission: the dispatcher checked them before (rpc/permissions.test.ts); here only the tenant matters.
const T1: Principal = { sub: 'alice', tenant: 't1', permissions: ['*'] };
const T2: Principal = { sub: 'bob', tenant: 't2', permissions: ['*'] };
const OPERATOR: Principal = { sub: 'root', tenant: '*', permissions: ['*'] };

function ctx(who: Principal): OpContext {
  let n = 100;
  return { actor: who.sub, now: NOW, policy: POLICY, newPeeringId: () => pcx(++n) };
}

const vpc = (id: string, tenantId: string, cidrs: string[]): Vpc => ({ id, tenantId, cidrs, bridge: `br-${id}`, createdAt: T0, updatedAt: T0 });
const peering = (n: number, tenantId: string, r: string, a: string, status: PeeringStatus, over: Partial<Peering> = {}): Peering => ({
  id: pcx(n), tenantId, requesterVpcId: r, accepterVpcId: a, status, requestedBy: 'u', createdAt: T0, updatedAt: T0, expiresAt: LATER, ...over,
});

// t1: a, b, c; t2: x2, y2, z2 (the 2 keeps an id from matching inside a message). pcx 1–3 are t1's (3 is terminal), 4 is t2's.
function world(): StateIndex {
  const vpcs = [
    vpc('a', 't1', ['10.0.0.0/16']),
    vpc('b', 't1', ['10.1.0.0/16']),
    vpc('c', 't1', ['10.2.0.0/16']),
    vpc('x2', 't2', ['10.9.0.0/16']),
    vpc('y2', 't2', ['10.8.0.0/16']),
    vpc('z2', 't2', ['10.7.0.0/16']),
  ];
  const peerings = [
    peering(1, 't1', 'a', 'b', 'pending-acceptance'),
    peering(2, 't1', 'b', 'c', 'active', { createdAt: '2025-01-01T00:00:01.000Z' }),
    peering(3, 't1', 'a', 'c', 'rejected', { createdAt: '2025-01-01T00:00:02.000Z' }),
    peering(4, 't2', 'x2', 'y2', 'pending-acceptance'),
  ];
  return new StateIndex({
    vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])),
    peerings: Object.fromEntries(peerings.map((p) => [p.id, p])),
  });
}

const refused = (reason: Reason, data: Record<string, unknown> = {}): { reason: Reason; code: number; data: Record<string, unknown> } => ({
  reason,
  code: Catalogue[reason][0],
  data,
});

/** What `fn` throws, as reason, code, data and message: two refusals that must be indistinguishable compare equal. */
function refusalOf(fn: () => unknown): { reason: string; code: number; data: unknown; message: string } | 'no refusal' {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    return { reason: e.reason, code: e.code, data: e.data, message: e.message };
  }
  return 'no refusal';
}

/** The message with every occurrence of `id` replaced, so a refusal for id A can be compared with one for id B. */
function withoutId<T>(r: T, id: string): T {
  return JSON.parse(JSON.stringify(r).replaceAll(id, '<id>')) as T;
}

t.test('VPCs: a tenant sees its own, the operator every tenant', (t) => {
  const w = world();
  const ids = (p: Principal, tenantId?: string): string[] => listVpcs(w, p, tenantId === undefined ? {} : { tenantId }).items.map((v) => v.id);
  t.same(ids(T1), ['a', 'b', 'c']);
  t.same(ids(T2), ['x2', 'y2', 'z2']);
  t.same(ids(OPERATOR), ['a', 'b', 'c', 'x2', 'y2', 'z2']);
  t.same(ids(OPERATOR, 't2'), ['x2', 'y2', 'z2']);
  t.same(ids(T1, 't2'), [], 'another tenant looks empty, not forbidden');
  t.throws(() => ids(T1, 'T 2'), refused('INVALID_PARAMS', { field: 'tenantId' }));

  t.equal(getVpc(w, T1, { id: 'a' }).id, 'a');
  t.equal(getVpc(w, OPERATOR, { id: 'x2' }).tenantId, 't2');
  t.throws(() => getVpc(w, T1, { id: 'x2' }), refused('VPC_NOT_FOUND', { vpcId: 'x2' }), 'another tenant: 404, never 403');
  t.throws(() => getVpc(w, T2, { id: 'a' }), refused('VPC_NOT_FOUND', { vpcId: 'a' }));

  t.throws(() => updateVpc(w, T1, ctx(T1), { id: 'x2', name: 'mine' }), refused('VPC_NOT_FOUND', { vpcId: 'x2' }));
  t.equal(updateVpc(w, OPERATOR, ctx(OPERATOR), { id: 'x2', name: 'op' }).result.name, 'op', 'the operator updates any tenant');
  t.equal(updateVpc(w, T2, ctx(T2), { id: 'x2', name: 'own' }).result.name, 'own');

  t.throws(() => deleteVpc(w, T1, ctx(T1), { id: 'x2' }), refused('VPC_NOT_FOUND', { vpcId: 'x2' }));
  t.same(deleteVpc(w, OPERATOR, ctx(OPERATOR), { id: 'z2' }).result, { id: 'z2', deleted: true }, 'the operator deletes in any tenant');
  t.throws(() => deleteVpc(w, T1, ctx(T1), { id: 'a' }), refused('VPC_IN_USE'), 'its own VPC: the rules apply');
  t.end();
});

t.test('vpc.create: for its own tenant only; ids and bridges are unique across tenants', (t) => {
  const w = world();
  const ok = { id: 'n', tenantId: 't1', cidrs: ['10.50.0.0/16'], bridge: 'br-n' };
  t.equal(createVpc(w, T1, ctx(T1), ok).result.tenantId, 't1');
  t.equal(createVpc(w, OPERATOR, ctx(OPERATOR), { ...ok, tenantId: 't9' }).result.tenantId, 't9', 'the operator creates for any tenant');
  t.throws(() => createVpc(w, T1, ctx(T1), { ...ok, tenantId: 't2' }), refused('TENANT_MISMATCH', { tenantId: 't2' }));
  t.throws(() => createVpc(w, T1, ctx(T1), { ...ok, tenantId: 't2', id: 'x2' }), refused('TENANT_MISMATCH'), 'before VPC_EXISTS');
  t.throws(() => createVpc(w, T1, ctx(T1), { ...ok, tenantId: 't2', cidrs: ['10.0.0.256/24'] }), refused('INVALID_PARAMS', { field: 'cidrs[0]' }), 'after the params');
  t.throws(() => createVpc(w, T1, ctx(T1), { ...ok, id: 'x2' }), refused('VPC_EXISTS', { vpcId: 'x2' }), 'an id of another tenant is taken');
  const foreign = refusalOf(() => createVpc(w, T1, ctx(T1), { ...ok, bridge: 'br-x2' }));
  t.match(foreign, refused('BRIDGE_IN_USE'), 'a bridge of another tenant is taken');
  t.same(foreign !== 'no refusal' && foreign.data, { bridge: 'br-x2' }, 'its holder is not named');
  t.throws(() => createVpc(w, T1, ctx(T1), { ...ok, bridge: 'br-b' }), refused('BRIDGE_IN_USE', { bridge: 'br-b', vpcId: 'b' }), 'its own holder is named');
  t.throws(() => createVpc(w, OPERATOR, ctx(OPERATOR), { ...ok, bridge: 'br-x2' }), refused('BRIDGE_IN_USE', { bridge: 'br-x2', vpcId: 'x2' }), 'to the operator too');
  t.end();
});

t.test('peerings: a tenant sees those of its tenant, the operator all', (t) => {
  const w = world();
  const ids = (p: Principal, params: Parameters<typeof listPeerings>[2] = {}): string[] => listPeerings(w, p, params).items.map((x) => x.id);
  t.same(ids(T1), [pcx(1), pcx(2), pcx(3)], 'every peering of its tenant, terminal included, oldest first');
  t.same(ids(T1, { vpcId: 'a' }), [pcx(1), pcx(3)]);
  t.same(ids(T1, { vpcId: 'x2' }), [], 'a VPC of another tenant has no visible peerings');
  t.same(ids(T2), [pcx(4)]);
  t.same(ids(OPERATOR), [pcx(1), pcx(4), pcx(2), pcx(3)]);
  t.same(ids(OPERATOR, { status: 'pending-acceptance' }), [pcx(1), pcx(4)]);

  t.equal(getPeering(w, T1, { id: pcx(3) }).status, 'rejected');
  t.equal(getPeering(w, OPERATOR, { id: pcx(4) }).tenantId, 't2');
  t.throws(() => getPeering(w, T1, { id: pcx(4) }), refused('PEERING_NOT_FOUND', { peeringId: pcx(4) }));

  const ops: [string, typeof acceptPeering][] = [['accept', acceptPeering], ['reject', rejectPeering], ['delete', deletePeering]];
  for (const [what, op] of ops) {
    t.throws(() => op(w, T1, ctx(T1), { id: pcx(4) }), refused('PEERING_NOT_FOUND', { peeringId: pcx(4) }), `${what}: another tenant's peering is 404`);
    t.equal(op(w, T2, ctx(T2), { id: pcx(4) }).error, undefined, `${what}: its own tenant may`);
    t.equal(op(w, OPERATOR, ctx(OPERATOR), { id: pcx(4) }).error, undefined, `${what}: the operator may`);
  }
  t.equal(acceptPeering(w, OPERATOR, ctx(OPERATOR), { id: pcx(4) }).result.acceptedBy, 'root', 'the actor recorded is the caller');
  t.end();
});

t.test('peering.create: both VPCs must be visible; only the operator reaches CROSS_TENANT', (t) => {
  const w = world();
  const create = (p: Principal, r: string, a: string): OpResult<Peering> => createPeering(w, p, ctx(p), { requesterVpcId: r, accepterVpcId: a });
  t.equal(create(T1, 'a', 'c').result.tenantId, 't1');
  t.throws(() => create(T1, 'a', 'x2'), refused('VPC_NOT_FOUND', { vpcId: 'x2' }), 'accepter of another tenant: 404, not CROSS_TENANT');
  t.throws(() => create(T1, 'x2', 'a'), refused('VPC_NOT_FOUND', { vpcId: 'x2' }), 'requester of another tenant');
  t.throws(() => create(T2, 'a', 'b'), refused('VPC_NOT_FOUND', { vpcId: 'a' }), 'both of another tenant: the requester is named');
  t.throws(() => create(OPERATOR, 'a', 'x2'), refused('CROSS_TENANT', { requesterVpcId: 'a', accepterVpcId: 'x2' }), 'the operator sees both; the rule refuses');
  t.equal(create(OPERATOR, 'x2', 'z2').result.tenantId, 't2', 'the operator peers VPCs of one tenant; the peering is theirs');
  // The first VPC that is missing or hidden is named, whichever of the two it is.
  t.throws(() => create(T1, 'gone', 'x2'), refused('VPC_NOT_FOUND', { vpcId: 'gone' }));
  t.throws(() => create(T1, 'x2', 'gone'), refused('VPC_NOT_FOUND', { vpcId: 'x2' }));
  t.end();
});

t.test("another tenant's record is refused exactly as a missing one, in the same order against the params", (t) => {
  const w = world();
  const same = (what: string, hidden: string, missing: string, call: (id: string) => unknown): void => {
    const a = refusalOf(() => call(hidden));
    t.not(a, 'no refusal', `${what}: refused`);
    t.same(withoutId(a, hidden), withoutId(refusalOf(() => call(missing)), missing), `${what}: hidden ${hidden} ≡ missing ${missing}`);
  };
  // Valid params: 404 either way.
  same('vpc.get', 'x2', 'gone', (id) => getVpc(w, T1, { id }));
  same('vpc.update', 'x2', 'gone', (id) => updateVpc(w, T1, ctx(T1), { id, name: 'n' }));
  same('vpc.delete', 'x2', 'gone', (id) => deleteVpc(w, T1, ctx(T1), { id }));
  same('peering.create accepter', 'x2', 'gone', (id) => createPeering(w, T1, ctx(T1), { requesterVpcId: 'a', accepterVpcId: id }));
  same('peering.get', pcx(4), pcx(9), (id) => getPeering(w, T1, { id }));
  same('peering.accept', pcx(4), pcx(9), (id) => acceptPeering(w, T1, ctx(T1), { id }));
  // Params the operation refuses: the params error either way (a 404 here would tell that the id exists).
  same('vpc.update, bad CIDR', 'x2', 'gone', (id) => updateVpc(w, T1, ctx(T1), { id, cidrs: ['10.0.0.0/33'] }));
  same('vpc.update, own CIDRs overlap', 'x2', 'gone', (id) => updateVpc(w, T1, ctx(T1), { id, cidrs: ['10.0.0.0/8', '10.1.0.0/16'] }));
  same('vpc.update, name', 'x2', 'gone', (id) => updateVpc(w, T1, ctx(T1), { id, name: 'n'.repeat(129) }));
  same('peering.create, name', 'x2', 'gone', (id) => createPeering(w, T1, ctx(T1), { requesterVpcId: id, accepterVpcId: 'a', name: 'a\nb' }));
  t.throws(() => updateVpc(w, T1, ctx(T1), { id: 'x2', cidrs: ['10.0.0.0/33'] }), refused('INVALID_PARAMS', { field: 'cidrs[0]' }));
  t.end();
});

t.test("an overdue request of another tenant stays hidden: no lazy expiry is written for that caller", (t) => {
  const w = new StateIndex({
    vpcs: { x: vpc('x2', 't2', ['10.9.0.0/16']), y: vpc('y2', 't2', ['10.8.0.0/16']) },
    peerings: { [pcx(4)]: peering(4, 't2', 'x2', 'y2', 'pending-acceptance', { expiresAt: T0 }) },
  });
  t.throws(() => acceptPeering(w, T1, ctx(T1), { id: pcx(4) }), refused('PEERING_NOT_FOUND'));
  const own = acceptPeering(w, T2, ctx(T2), { id: pcx(4) });
  t.equal(own.result.status, 'expired', 'its own tenant expires it');
  t.match(own.error, refused('INVALID_STATE'));
  t.end();
});

t.test('the rules need no caller: peeringRuleRefusal over a view, a policy and a record', (t) => {
  const w = world();
  t.equal(peeringRuleRefusal(w, POLICY, peering(9, 't1', 'a', 'c', 'pending-acceptance')), undefined, 'a and c may peer');
  t.match(peeringRuleRefusal(w, POLICY, peering(9, 't1', 'a', 'x2', 'pending-acceptance')), refused('CROSS_TENANT'), 'CROSS_TENANT is a rule of the records');
  t.match(peeringRuleRefusal(w, POLICY, peering(9, 't1', 'a', 'b', 'active')), refused('DUPLICATE_PEERING', { peeringId: pcx(1) }));
  t.equal(peeringRuleRefusal(w, POLICY, peering(1, 't1', 'a', 'b', 'active')), undefined, 'the record itself is ignored');
  t.match(peeringRuleRefusal(w, POLICY, peering(9, 't1', 'a', 'gone', 'active')), refused('VPC_NOT_FOUND', { vpcId: 'gone' }));
  t.match(peeringRuleRefusal(w, { ...POLICY, maxActivePerVpc: 1 }, peering(9, 't1', 'c', 'a', 'active')), refused('LIMIT_EXCEEDED', { vpcId: 'c' }));
  t.end();
});

t.test('the domain operations and the merge know no principal', (t) => {
  // OpContext carries the actor's name only; a `principal` member would not compile here.
  const noPrincipal: 'principal' extends keyof OpContext ? false : true = true;
  t.ok(noPrincipal);
  for (const file of ['vpc-ops.ts', 'peering-ops.ts', 'merge.ts', 'replica.ts']) {
    const src = readFileSync(new URL(`../../../src/domain/${file}`, import.meta.url), 'utf8');
    t.notMatch(src, /from '\.\/(rbac|tenancy)\.js'/, `${file} imports neither rbac.ts nor tenancy.ts`);
    t.notMatch(src, /\bPrincipal\b/, `${file} names no Principal`);
  }
  t.end();
});
