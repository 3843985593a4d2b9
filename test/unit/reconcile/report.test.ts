// peeringState (SPEC §5), the pure reporting of the data plane: what peering.get says from the
// state and what the last passes found. `programmed` only when verified by a pass that reached
// OVS, from a state at or after the commit (store seq) that last changed the peering; `error`
// with OVS unreachable; `inactive` once none of a stopped peering's flows remain.
import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, PeeringStatus, Vpc } from '../../../src/domain/types.js';
import type { Topology } from '../../../src/ovs/topology-parser.js';
import type { Desired, DesiredPeering } from '../../../src/reconcile/desired.js';
import { peeringCookie } from '../../../src/reconcile/desired.js';
import { type BridgeResult, CommitSeqs, peeringState, type ReportInput } from '../../../src/reconcile/report.js';

const PREFIX = 0x5ee0;
const AT = '2025-01-01T00:00:00.000Z';
const T1 = '2025-01-01T00:00:01.000Z';
const T2 = '2025-01-01T00:00:02.000Z';
const ID = 'pcx-00000000000100000';
const COOKIE = peeringCookie(PREFIX, ID);

const vpc = (id: string, bridge: string): Vpc => ({ id, tenantId: 't', cidrs: ['10.0.0.0/16'], bridge, createdAt: AT, updatedAt: AT });
const peering = (status: PeeringStatus): Peering => ({
  id: ID, tenantId: 't', requesterVpcId: 'a', accepterVpcId: 'b', status, requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
});
const topology = (...bridges: string[]): Topology => ({ bridges: new Map(bridges.map((name) => [name, { name, ports: new Map() }])) });
const result = (over: Partial<BridgeResult> = {}): BridgeResult => ({
  ok: true, at: T2, durationMs: 1, added: 0, removed: 0, error: null, reason: null, lastReconciledAt: T2, retryAt: null,
  flowsLost: 0, flowsDoNotConverge: 0, seq: 5, installed: new Map([[COOKIE, 7]]), want: [], converged: null, ...over,
});
const desired = (d: DesiredPeering | null): Desired => ({ ports: [], flows: new Map(), peerings: new Map(d ? [[ID, d]] : []), cookies: new Map() });
const READY: DesiredPeering = { state: 'ready', flows: 14, bridges: ['br-a', 'br-b'] };

function input(over: Partial<ReportInput> = {}): ReportInput {
  return {
    view: new StateIndex({ vpcs: { a: vpc('a', 'br-a'), b: vpc('b', 'br-b') }, peerings: {} }),
    topology: topology('br-a', 'br-b'),
    desired: desired(READY),
    bridges: new Map([['br-a', result()], ['br-b', result({ lastReconciledAt: T1 })]]),
    cookiePrefix: PREFIX,
    ovs: 'enabled',
    ovsError: null,
    lastReconcileAt: T2,
    lastAttemptAt: T2,
    changedSeq: () => 5,
    ...over,
  };
}

t.test('active, verified on both bridges from a state at or after its commit: programmed', async (t) => {
  t.same(peeringState(peering('active'), input()), { state: 'programmed', flows: 14, lastReconciledAt: T1, lastAttemptAt: T2 }, 'flows installed, the older bridge time');
  t.equal(peeringState(peering('active'), input({ changedSeq: () => 6 })).state, 'pending', 'a commit after the pass: pending, whatever the clocks say');
  t.equal(peeringState(peering('active'), input({ desired: desired({ ...READY, state: 'pending' }) })).state, 'pending', 'patch ports not numbered yet');
  t.equal(peeringState(peering('active'), input({ bridges: new Map([['br-a', result()]]) })).state, 'pending', 'one bridge never reconciled');
  t.equal(peeringState(peering('active'), input({ topology: null })).state, 'pending', 'no pass has reached OVS yet');
});

t.test('OVS unreachable: error OVS_UNAVAILABLE, timestamps of the last success', async (t) => {
  const p = peeringState(peering('active'), input({ ovs: 'unavailable', ovsError: 'ovs-ofctl: connection refused', lastAttemptAt: '2025-01-01T00:00:09.000Z' }));
  t.match(p, { state: 'error', reason: 'OVS_UNAVAILABLE', error: /connection refused/, lastReconciledAt: T1, lastAttemptAt: '2025-01-01T00:00:09.000Z' });
  t.equal(peeringState(peering('deleted'), input({ ovs: 'unavailable', ovsError: 'x' })).state, 'error', 'a stopped peering too: nothing can be verified');
  t.equal(peeringState(peering('active'), input({ ovs: 'unavailable', ovsError: null, topology: null })).state, 'pending', 'before the first attempt ended');
});

t.test('a failing bridge or an unprogrammable peering: error with its reason', async (t) => {
  const failing = result({ ok: false, error: 'The flows of br-b do not converge', reason: 'FLOWS_DO_NOT_CONVERGE', lastReconciledAt: T1 });
  t.match(peeringState(peering('active'), input({ bridges: new Map([['br-a', result()], ['br-b', failing]]) })), {
    state: 'error', reason: 'FLOWS_DO_NOT_CONVERGE', error: /do not converge/,
  });
  const clash: DesiredPeering = { state: 'error', flows: 0, bridges: [], error: 'would steer ...', reason: 'STEERING_CLASH' };
  t.match(peeringState(peering('active'), input({ desired: desired(clash) })), { state: 'error', reason: 'STEERING_CLASH' });
});

t.test('a bridge not on this host: not-local', async (t) => {
  t.equal(peeringState(peering('active'), input({ topology: topology('br-a') })).state, 'not-local');
});

t.test('not active: pending while some of its flows remain, inactive once none do', async (t) => {
  for (const status of ['deleted', 'rejected', 'pending-acceptance'] as const) {
    t.same(peeringState(peering(status), input()), { state: 'pending', flows: 14, lastReconciledAt: T1, lastAttemptAt: T2 }, `${status}: flows left`);
    const none = new Map([['br-a', result({ installed: new Map() })], ['br-b', result({ installed: new Map([[COOKIE + 1n, 3]]) })]]);
    t.same(peeringState(peering(status), input({ bridges: none })), { state: 'inactive', flows: 0, lastReconciledAt: T2, lastAttemptAt: T2 }, `${status}: none left`);
    t.equal(peeringState(peering(status), input({ bridges: none, changedSeq: () => 9 })).state, 'pending', `${status}: results older than its change`);
  }
  const stray = new Map([['br-a', result({ installed: new Map() })], ['br-b', result({ installed: new Map() })], ['br-x', result()]]);
  t.match(peeringState(peering('deleted'), input({ bridges: stray })), { state: 'pending', flows: 7 }, 'flows of it on a bridge its VPCs do not name count');
  const failing = new Map([['br-a', result({ ok: false, reason: 'OVS_COMMAND_FAILED', error: 'refused' })], ['br-b', result({ installed: new Map() })]]);
  t.match(peeringState(peering('deleted'), input({ bridges: failing })), { state: 'error', reason: 'OVS_COMMAND_FAILED' }, 'flows left on a failing bridge');
});

t.test('CommitSeqs: the last commit that put the peering or one of its VPCs', async (t) => {
  const seqs = new CommitSeqs();
  const p = peering('active');
  t.equal(seqs.of(p), 0, 'nothing since start');
  seqs.note([{ op: 'vpc.put', vpc: vpc('a', 'br-a') }], 3);
  seqs.note([{ op: 'peering.put', peering: p }], 4);
  t.equal(seqs.of(p), 4);
  seqs.note([{ op: 'vpc.put', vpc: vpc('b', 'br-b') }, { op: 'vpc.put', vpc: vpc('z', 'br-z') }], 9);
  t.equal(seqs.of(p), 9, 'a VPC of it changed later');
  seqs.note([{ op: 'vpc.del', id: 'b' }, { op: 'peering.del', id: ID }], 10);
  t.equal(seqs.of(p), 3, 'deleted records are forgotten');
});
