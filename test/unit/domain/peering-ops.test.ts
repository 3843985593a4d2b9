import t from 'tap';
import {
  acceptPeering,
  createPeering,
  deletePeering,
  getPeering,
  listPeerings,
  rejectPeering,
  sweep,
} from '../../../src/domain/peering-ops.js';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { OpContext, OpResult, Peering, PeeringPolicy, PeeringStatus, Vpc } from '../../../src/domain/types.js';
import { PeeringStatuses } from '../../../src/domain/types.js';
import { Catalogue, type Reason, RpcError } from '../../../src/errors.js';
import { LATER, NOW, pcx, POLICY, T0 } from '../../helpers/domain-fixtures.js';



// No caller, only the actor it records: permissions and tenant visibility are not the operations'
// (tenancy.test.ts, rpc/permissions.test.ts).
function ctx(who: { sub?: string } = {}, over: Partial<OpContext> = {}): OpContext {
  let n = 100;
  return {
    actor: who.sub ?? 'alice',
    now: NOW,
    policy: POLICY,
    newPeeringId: () => pcx(++n),
    ...over,
  };
}

const vpc = (id: string, cidrs: string[], tenantId = 't1'): Vpc => ({
  id, tenantId, cidrs, bridge: `br-${id}`, createdAt: T0, updatedAt: T0,
});

const peering = (n: number, r: string, a: string, status: PeeringStatus, over: Partial<Peering> = {}): Peering => ({
  id: pcx(n), tenantId: 't1', requesterVpcId: r, accepterVpcId: a, status, requestedBy: 'bob',
  createdAt: T0, updatedAt: T0, expiresAt: LATER, ...over,
});

// b and d overlap each other; everything else of t1 is disjoint. x is of another tenant.
const VPCS = [
  vpc('a', ['10.0.0.0/16', 'fd00:a::/48']),
  vpc('b', ['10.1.0.0/16']),
  vpc('c', ['10.2.0.0/16', 'fd00:c::/48']),
  vpc('d', ['10.1.128.0/24']),
  vpc('e', ['192.168.0.0/24']),
  vpc('v6', ['fd00:a:0:1::/64']), // inside a's IPv6 block
  vpc('x', ['10.9.0.0/16'], 't2'),
  vpc('y', ['10.8.0.0/16'], 't2'),
];

function world(peerings: Peering[] = [], vpcs: Vpc[] = VPCS): StateIndex {
  return new StateIndex({
    vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])),
    peerings: Object.fromEntries(peerings.map((p) => [p.id, p])),
  });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** What t.throws should match: the stable reason, its catalogue code, and (a subset of) data. */
const refused = (reason: Reason, data: Record<string, unknown> = {}): Refusal => ({ reason, code: Catalogue[reason][0], data });
type Refusal = { reason: Reason; code: number; data: Record<string, unknown> };

t.test('createPeering makes a pending request', (t) => {
  const out = createPeering(world(), ctx(), { requesterVpcId: 'a', accepterVpcId: 'b', name: 'a-to-b' });
  const want: Peering = {
    id: pcx(101), tenantId: 't1', requesterVpcId: 'a', accepterVpcId: 'b', name: 'a-to-b',
    status: 'pending-acceptance', requestedBy: 'alice', createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(),
    expiresAt: '2025-01-02T01:00:00.000Z',
  };
  t.same(out, { mutations: [{ op: 'peering.put', peering: want }], result: want });
  t.notOk('name' in createPeering(world(), ctx(), { requesterVpcId: 'a', accepterVpcId: 'b' }).result);
  t.equal(
    createPeering(world(), ctx({ sub: 'root' }), { requesterVpcId: 'x', accepterVpcId: 'y' }).result.tenantId,
    't2',
    'VPCs of any tenant peer; the peering belongs to their tenant',
  );
  t.equal(createPeering(world(), ctx(), { requesterVpcId: 'a', accepterVpcId: 'e' }).result.status, 'pending-acceptance', 'IPv4 only vs dual stack');
  t.end();
});

t.test('createPeering refuses a bad id source as a bug, not a user error', (t) => {
  for (const id of ['pcx-123', 'pcx-0000000000000000G', pcx(1)]) {
    const c = ctx({}, { newPeeringId: () => id });
    const e = thrown(() => createPeering(world([peering(1, 'c', 'e', 'deleted')]), c, { requesterVpcId: 'a', accepterVpcId: 'b' }));
    t.ok(e instanceof Error && !(e instanceof RpcError), `${id}: a plain Error`);
  }
  t.end();
});

t.test('createPeering enforces every rule of SPEC §3', (t) => {
  type Case = [string, { r: string; a: string; name?: string }, Peering[], Partial<PeeringPolicy>, Refusal];
  const cases: Case[] = [
    ['bad requester id', { r: 'A!', a: 'b' }, [], {}, refused('INVALID_PARAMS', { field: 'requesterVpcId' })],
    ['bad accepter id', { r: 'a', a: '' }, [], {}, refused('INVALID_PARAMS', { field: 'accepterVpcId' })],
    ['name too long', { r: 'a', a: 'b', name: 'n'.repeat(129) }, [], {}, refused('INVALID_PARAMS', { field: 'name' })],
    ['requester missing', { r: 'zz', a: 'b' }, [], {}, refused('VPC_NOT_FOUND', { vpcId: 'zz' })],
    ['accepter missing', { r: 'a', a: 'zz' }, [], {}, refused('VPC_NOT_FOUND', { vpcId: 'zz' })],
    // Rule 1: VPCs of two tenants never peer (what a tenant's caller may see: tenancy.test.ts).
    ['VPCs of two tenants', { r: 'a', a: 'x' }, [], {}, refused('CROSS_TENANT', { requesterVpcId: 'a', accepterVpcId: 'x' })],
    ['VPCs of two tenants, reversed', { r: 'x', a: 'a' }, [], {}, refused('CROSS_TENANT')],
    // Rule 2
    ['self', { r: 'a', a: 'a' }, [], {}, refused('SELF_PEERING', { vpcId: 'a' })],
    ['duplicate pending', { r: 'a', a: 'b' }, [peering(1, 'a', 'b', 'pending-acceptance')], {}, refused('DUPLICATE_PEERING', { peeringId: pcx(1) })],
    ['duplicate active, reversed', { r: 'a', a: 'b' }, [peering(1, 'b', 'a', 'active')], {}, refused('DUPLICATE_PEERING', { peeringId: pcx(1), status: 'active' })],
    // Rule 3
    ['IPv4 overlap', { r: 'b', a: 'd' }, [], {}, refused('CIDR_OVERLAP', { vpcId: 'b', cidr: '10.1.0.0/16', peerVpcId: 'd', conflictsWith: '10.1.128.0/24' })],
    ['IPv6 overlap', { r: 'v6', a: 'a' }, [], {}, refused('CIDR_OVERLAP', { cidr: 'fd00:a:0:1::/64', conflictsWith: 'fd00:a::/48' })],
    // Rule 4, both ways, with pending and active peers.
    ['new accepter overlaps a peer of the requester', { r: 'a', a: 'd' }, [peering(1, 'a', 'b', 'active')], {}, refused('PEER_CIDR_OVERLAP', { vpcId: 'a', peerVpcId: 'd', cidr: '10.1.128.0/24', conflictingVpcId: 'b', conflictsWith: '10.1.0.0/16', peeringId: pcx(1) })],
    ['new requester overlaps a peer of the accepter', { r: 'd', a: 'a' }, [peering(1, 'b', 'a', 'pending-acceptance')], {}, refused('PEER_CIDR_OVERLAP', { vpcId: 'a', peerVpcId: 'd', conflictingVpcId: 'b' })],
    ['IPv6 peer overlap', { r: 'c', a: 'v6' }, [peering(1, 'a', 'c', 'active')], {}, refused('PEER_CIDR_OVERLAP', { vpcId: 'c', peerVpcId: 'v6', conflictingVpcId: 'a' })],
    // Rule 5, either side; pending peerings do not count.
    ['requester at the limit', { r: 'a', a: 'b' }, [peering(1, 'a', 'c', 'active'), peering(2, 'e', 'a', 'active')], { maxActivePerVpc: 2 }, refused('LIMIT_EXCEEDED', { vpcId: 'a', limit: 2 })],
    ['accepter at the limit', { r: 'a', a: 'b' }, [peering(1, 'b', 'c', 'active')], { maxActivePerVpc: 1 }, refused('LIMIT_EXCEEDED', { vpcId: 'b', limit: 1 })],
  ];
  for (const [what, p, peerings, policy, want] of cases) {
    const c = ctx({}, { policy: { ...POLICY, ...policy } });
    const params = { requesterVpcId: p.r, accepterVpcId: p.a, ...(p.name === undefined ? {} : { name: p.name }) };
    t.throws(() => createPeering(world(peerings), c, params), want, what);
  }

  const allowed: [string, { r: string; a: string }, Peering[], Partial<PeeringPolicy>][] = [
    ['terminal peerings of the pair are no duplicate', { r: 'a', a: 'b' },
      ['rejected', 'deleted', 'expired', 'failed'].map((s, i) => peering(i + 1, 'a', 'b', s as PeeringStatus)), {}],
    ['terminal peers do not count for rule 4', { r: 'a', a: 'd' },
      ['rejected', 'deleted', 'expired', 'failed'].map((s, i) => peering(i + 1, 'a', 'b', s as PeeringStatus)), {}],
    ['a disjoint second peer', { r: 'a', a: 'c' }, [peering(1, 'a', 'b', 'active')], {}],
    ['the peers of the new peer may overlap each other elsewhere', { r: 'a', a: 'b' }, [peering(1, 'd', 'e', 'active')], {}],
    ['pending peerings do not count for the limit', { r: 'a', a: 'b' }, [peering(1, 'a', 'c', 'pending-acceptance')], { maxActivePerVpc: 1 }],
    ['one below the limit', { r: 'a', a: 'b' }, [peering(1, 'a', 'c', 'active')], { maxActivePerVpc: 2 }],
  ];
  for (const [what, p, peerings, policy] of allowed) {
    const c = ctx({}, { policy: { ...POLICY, ...policy } });
    t.equal(createPeering(world(peerings), c, { requesterVpcId: p.r, accepterVpcId: p.a }).result.status, 'pending-acceptance', what);
  }
  t.end();
});

const ops = { accept: acceptPeering, reject: rejectPeering, delete: deletePeering } as const;
type Action = keyof typeof ops;

t.test('lifecycle: every status × every action', (t) => {
  // [from, action] → the status it leads to, or null when refused with INVALID_STATE.
  const lifecycle: Record<PeeringStatus, Record<Action, PeeringStatus | null>> = {
    'pending-acceptance': { accept: 'active', reject: 'rejected', delete: 'deleted' },
    active: { accept: null, reject: null, delete: 'deleted' },
    rejected: { accept: null, reject: null, delete: null },
    deleted: { accept: null, reject: null, delete: null },
    expired: { accept: null, reject: null, delete: null },
    failed: { accept: null, reject: null, delete: null },
  };
  for (const from of PeeringStatuses) {
    for (const action of Object.keys(ops) as Action[]) {
      const to = lifecycle[from][action];
      const w = world([peering(1, 'a', 'b', from)]);
      const run = (): OpResult<Peering> => ops[action](w, ctx({ sub: 'carol' }), { id: pcx(1) });
      if (to === null) {
        t.throws(run, refused('INVALID_STATE', { peeringId: pcx(1), status: from, action }), `${from} × ${action}`);
        continue;
      }
      const out = run();
      t.equal(out.error, undefined, `${from} × ${action}: no error`);
      t.equal(out.result.status, to, `${from} × ${action} → ${to}`);
      t.equal(out.result.updatedAt, NOW.toISOString());
      t.equal(out.result.createdAt, T0, 'createdAt kept');
      t.same(out.mutations, [{ op: 'peering.put', peering: out.result }]);
      if (to === 'active') {
        t.equal(out.result.acceptedBy, 'carol');
        t.notOk('statusReason' in out.result, 'an active peering has no statusReason');
      } else {
        t.type(out.result.statusReason, 'string', `${to} carries a statusReason`);
        t.notOk('acceptedBy' in out.result, 'acceptedBy only on accept');
      }
    }
  }
  t.end();
});

t.test('the reasons of reject and delete name the actor and the status the call found, nothing more', (t) => {
  const reasonOf = (action: Action, from: PeeringStatus): string | undefined =>
    ops[action](world([peering(1, 'a', 'b', from)]), ctx({ sub: 'carol' }), { id: pcx(1) }).result.statusReason;
  t.equal(reasonOf('reject', 'pending-acceptance'), 'Rejected by carol.');
  t.equal(reasonOf('delete', 'active'), 'Deleted by carol.');
  // Not "before it was accepted": a concurrent accept on another host may merge under this delete.
  t.equal(reasonOf('delete', 'pending-acceptance'), 'Deleted by carol while pending acceptance.');
  t.end();
});

t.test('transitions: a missing peering or a bad id', (t) => {
  const w = world([peering(1, 'a', 'b', 'pending-acceptance')]);
  for (const action of Object.keys(ops) as Action[]) {
    const op = ops[action];
    t.throws(() => op(w, ctx(), { id: pcx(9) }), refused('PEERING_NOT_FOUND', { peeringId: pcx(9) }), `${action}: missing`);
    t.throws(() => op(w, ctx(), { id: 'pcx-1' }), refused('INVALID_PARAMS', { field: 'id' }), `${action}: bad id`);
  }
  t.end();
});

t.test('accept checks every rule again; a new conflict fails the peering and is recorded', (t) => {
  type Case = [string, Peering[], Vpc[], Partial<PeeringPolicy>, Reason];
  const pending = peering(1, 'a', 'b', 'pending-acceptance');
  const moved = (id: string, cidrs: string[], tenantId = 't1'): Vpc[] => VPCS.map((v) => (v.id === id ? vpc(id, cidrs, tenantId) : v));
  const cases: Case[] = [
    // A merge from another host can bring what local checks would have refused.
    ['the accepter now overlaps the requester', [pending], moved('b', ['10.0.128.0/24']), {}, 'CIDR_OVERLAP'],
    ['another peering of the pair went active', [pending, peering(2, 'b', 'a', 'active')], VPCS, {}, 'DUPLICATE_PEERING'],
    ['another request for the pair is pending', [pending, peering(2, 'a', 'b', 'pending-acceptance')], VPCS, {}, 'DUPLICATE_PEERING'],
    ['the requester has a peer overlapping the accepter', [pending, peering(2, 'a', 'd', 'active')], VPCS, {}, 'PEER_CIDR_OVERLAP'],
    ['the accepter has a peer overlapping the requester', [pending, peering(2, 'v6', 'b', 'pending-acceptance')], VPCS, {}, 'PEER_CIDR_OVERLAP'],
    ['the requester reached the limit', [pending, peering(2, 'a', 'c', 'active')], VPCS, { maxActivePerVpc: 1 }, 'LIMIT_EXCEEDED'],
    ['the accepter reached the limit', [pending, peering(2, 'e', 'b', 'active')], VPCS, { maxActivePerVpc: 1 }, 'LIMIT_EXCEEDED'],
    ['the accepter moved to another tenant', [pending], moved('b', ['10.1.0.0/16'], 't2'), {}, 'CROSS_TENANT'],
    ['the accepter is gone', [pending], VPCS.filter((v) => v.id !== 'b'), {}, 'VPC_NOT_FOUND'],
    ['the requester is gone', [pending], VPCS.filter((v) => v.id !== 'a'), {}, 'VPC_NOT_FOUND'],
  ];
  for (const [what, peerings, vpcs, policy, reason] of cases) {
    const out = acceptPeering(world(peerings, vpcs), ctx({ sub: 'carol' }, { policy: { ...POLICY, ...policy } }), { id: pcx(1) });
    t.match(out.error, refused(reason), `${what}: ${reason}`);
    t.ok(out.error instanceof RpcError);
    t.equal(out.result.status, 'failed', `${what}: failed`);
    t.type(out.result.statusReason, 'string');
    t.equal(out.result.updatedAt, NOW.toISOString());
    t.notOk('acceptedBy' in out.result);
    t.same(out.mutations, [{ op: 'peering.put', peering: out.result }], `${what}: the failure is to be persisted`);
  }
  const ok = acceptPeering(world([pending, peering(2, 'a', 'c', 'active')]), ctx({}, { policy: { ...POLICY, maxActivePerVpc: 2 } }), { id: pcx(1) });
  t.equal(ok.result.status, 'active', 'the peering being accepted does not count against itself');
  t.end();
});

t.test('expiry is lazy on transitions, and exact at expiresAt', (t) => {
  const at = (iso: string): Partial<OpContext> => ({ now: new Date(iso) });
  for (const action of Object.keys(ops) as Action[]) {
    const w = world([peering(1, 'a', 'b', 'pending-acceptance', { expiresAt: NOW.toISOString() })]);
    const out = ops[action](w, ctx(), { id: pcx(1) });
    t.match(out.error, refused('INVALID_STATE', { status: 'expired', action }), `${action} at expiresAt`);
    t.equal(out.result.status, 'expired');
    t.type(out.result.statusReason, 'string');
    t.equal(out.result.updatedAt, NOW.toISOString());
    t.same(out.mutations, [{ op: 'peering.put', peering: out.result }], `${action}: the expiry is to be persisted`);

    const before = ops[action](w, ctx({}, at('2025-01-01T23:59:59.999Z')), { id: pcx(1) });
    t.equal(before.error, undefined, `${action} 1 ms before expiresAt`);
  }
  const active = world([peering(1, 'a', 'b', 'active', { expiresAt: T0 })]);
  t.equal(deletePeering(active, ctx(), { id: pcx(1) }).result.status, 'deleted', 'an active peering never expires');
  t.end();
});

t.test('a full story through the state index', (t) => {
  const w = world();
  let n = 0;
  const as = (sub: string): OpContext => ctx({ sub }, { newPeeringId: () => pcx(++n) });
  const step = <T>(out: OpResult<T>): T => {
    w.apply(out.mutations);
    return out.result;
  };
  const p = step(createPeering(w, as('alice'), { requesterVpcId: 'a', accepterVpcId: 'b' }));
  t.throws(() => createPeering(w, as('alice'), { requesterVpcId: 'b', accepterVpcId: 'a' }), refused('DUPLICATE_PEERING'));
  t.throws(() => createPeering(w, as('alice'), { requesterVpcId: 'd', accepterVpcId: 'a' }), refused('PEER_CIDR_OVERLAP'), 'pending peers count');
  t.equal(step(acceptPeering(w, as('bob'), { id: p.id })).acceptedBy, 'bob');
  t.equal(getPeering(w, { id: p.id }).status, 'active');
  t.equal(step(deletePeering(w, as('alice'), { id: p.id })).status, 'deleted');
  const q = step(createPeering(w, as('alice'), { requesterVpcId: 'd', accepterVpcId: 'a' }));
  t.equal(q.status, 'pending-acceptance', 'the pair is free again');
  t.not(q.id, p.id);
  t.end();
});

t.test('getPeering and listPeerings', (t) => {
  const w = world([
    peering(3, 'a', 'b', 'active', { createdAt: '2025-01-01T00:00:03.000Z' }),
    peering(1, 'c', 'e', 'rejected', { createdAt: '2025-01-01T00:00:01.000Z' }),
    peering(2, 'a', 'c', 'pending-acceptance', { createdAt: '2025-01-01T00:00:01.000Z' }),
    peering(4, 'x', 'y', 'active', { tenantId: 't2' }),
    peering(5, 'gone', 'a', 'deleted'), // of a VPC deleted since
  ]);
  t.equal(getPeering(w, { id: pcx(3) }).status, 'active');
  t.equal(getPeering(w, { id: pcx(4) }).tenantId, 't2');
  t.throws(() => getPeering(w, { id: pcx(9) }), refused('PEERING_NOT_FOUND', { peeringId: pcx(9) }));
  t.throws(() => getPeering(w, { id: 'PCX-1' }), refused('INVALID_PARAMS', { field: 'id' }));

  const ids = (params: Parameters<typeof listPeerings>[1]): string[] => listPeerings(w, params).items.map((p) => p.id);
  t.same(ids({}), [pcx(4), pcx(5), pcx(1), pcx(2), pcx(3)], 'oldest first, then by id');
  t.same(ids({ vpcId: 'a' }), [pcx(5), pcx(2), pcx(3)]);
  t.same(ids({ vpcId: 'gone' }), [pcx(5)], 'terminal records outlive their VPC');
  t.same(ids({ vpcId: 'x' }), [pcx(4)]);
  t.same(ids({ status: 'active' }), [pcx(4), pcx(3)]);
  t.same(ids({ vpcId: 'c', status: 'rejected' }), [pcx(1)]);
  t.throws(() => ids({ status: 'bogus' as PeeringStatus }), refused('INVALID_PARAMS', { field: 'status' }));
  t.throws(() => ids({ vpcId: 'A' }), refused('INVALID_PARAMS', { field: 'vpcId' }));
  t.end();
});

t.test('sweep expires overdue requests and compacts old terminal records', (t) => {
  const dayAgo = '2025-01-01T00:00:00.000Z'; // exactly terminalRetentionSeconds before NOW
  const w = world([
    peering(1, 'a', 'b', 'pending-acceptance', { expiresAt: NOW.toISOString() }),
    peering(2, 'a', 'c', 'pending-acceptance', { expiresAt: LATER }),
    peering(3, 'c', 'e', 'active', { expiresAt: T0 }),
    ...(['rejected', 'deleted', 'expired', 'failed'] as const).map((s, i) => peering(10 + i, 'a', 'e', s, { updatedAt: dayAgo })),
    ...(['rejected', 'deleted', 'expired', 'failed'] as const).map((s, i) => peering(20 + i, 'a', 'e', s, { updatedAt: '2025-01-01T00:00:00.001Z' })),
  ]);
  const mutations = sweep(w, NOW, POLICY);
  const expiredOne = mutations.find((m) => m.op === 'peering.put');
  t.match(expiredOne, { op: 'peering.put', peering: { id: pcx(1), status: 'expired', updatedAt: NOW.toISOString(), statusReason: String } });
  t.same(
    mutations.filter((m) => m.op === 'peering.del').map((m) => (m.op === 'peering.del' ? m.id : '')).sort(),
    [pcx(10), pcx(11), pcx(12), pcx(13)],
    'terminal records at the retention limit go; younger ones stay',
  );
  t.equal(mutations.length, 5, 'nothing else changes');

  w.apply(mutations);
  t.same(sweep(w, NOW, POLICY), [], 'idempotent');
  const dayLater = new Date(NOW.getTime() + POLICY.terminalRetentionSeconds * 1000);
  t.same(
    sweep(w, dayLater, POLICY).map((m) => (m.op === 'peering.del' ? m.id : m.op)).sort(),
    [pcx(1), pcx(20), pcx(21), pcx(22), pcx(23)],
    'a day later: the freshly expired and the younger terminal records go',
  );
  t.end();
});
