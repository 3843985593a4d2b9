// The operator's text of a reconcile pass (reconcile.run with dryRun or verbose): every flow the
// daemon writes, rendered for `ovs-ofctl add-flow` and `ovs-ofctl --strict del-flows`, reads back
// (through the canonical form of src/ovs/flow.ts) as the same flow; the change log lists each
// bridge's flows and patch ports; peering.get's per-bridge view of a peering.
// test/integration/operator.ovs.test.ts pastes the same text into a real ovs-ofctl.
import t from 'tap';
import { StateIndex } from '../../../src/domain/state-index.js';
import type { Peering, Vpc } from '../../../src/domain/types.js';
import { canonicalActions, canonicalMatch, type Flow, flowKey, flowText, strictFlowText } from '../../../src/ovs/flow.js';
import type { PortInfo, Topology } from '../../../src/ovs/topology-parser.js';
import { createChangeLog } from '../../../src/reconcile/changes.js';
import { canaryFlow, computeDesired, patchPortNames } from '../../../src/reconcile/desired.js';
import { localBridges, peeringBridges } from '../../../src/reconcile/peering-detail.js';
import type { BridgeResult } from '../../../src/reconcile/report.js';

const PREFIX = 0x5ee0;
const AT = '2025-01-01T00:00:00.000Z';
const ID = 'pcx-0123456789abcdef0';
const vpc = (id: string, bridge: string, cidrs: string[]): Vpc => ({ id, tenantId: 't1', cidrs, bridge, createdAt: AT, updatedAt: AT });
const PEERING: Peering = {
  id: ID, tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b',
  status: 'active', requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
};
const names = patchPortNames(ID);

function port(name: string, ofport: number, peer: string | null = null): [string, PortInfo] {
  return [name, { name, ofport, type: peer === null ? '' : 'patch', peer, error: null }];
}

/** br-a and br-b with an instance each and, unless `patched` is false, the peering's patch pair. */
function topology(patched = true): Topology {
  const a = new Map([port('vm-a', 1), ...(patched ? [port(names.requester, 32768, names.accepter)] : [])]);
  const b = new Map([port('vm-b', 1), ...(patched ? [port(names.accepter, 32768, names.requester)] : [])]);
  return { bridges: new Map([['br-a', { name: 'br-a', ports: a }], ['br-b', { name: 'br-b', ports: b }]]) };
}

/** v4 and v6 blocks of every kind the renderer meets: the whole space, a host, an IPv4-mapped block. */
const view = new StateIndex({
  vpcs: {
    'vpc-a': vpc('vpc-a', 'br-a', ['0.0.0.0/0', 'fd00:a::/64', '::ffff:0.0.0.0/96']),
    'vpc-b': vpc('vpc-b', 'br-b', ['10.1.2.3/32', 'fd49::/64', '::/0']),
  },
  peerings: { [ID]: PEERING },
});

/** Reads `cookie=…[/-1],table=…,priority=…[,match][,actions=…]` back as the parts of a flow. */
function readBack(text: string): { cookie: string; table: number; priority: number; match: string; actions: string | null } {
  const at = text.indexOf(',actions=');
  const head = at < 0 ? text : text.slice(0, at);
  const tokens = head.split(',');
  const take = (key: string): string => {
    const i = tokens.findIndex((tok) => tok.startsWith(`${key}=`));
    if (i < 0) throw new Error(`no ${key} in ${text}`);
    return tokens.splice(i, 1)[0]?.slice(key.length + 1) ?? '';
  };
  return {
    cookie: take('cookie'),
    table: Number(take('table')),
    priority: Number(take('priority')),
    match: canonicalMatch(tokens.join(',')),
    actions: at < 0 ? null : canonicalActions(text.slice(at + ',actions='.length)),
  };
}

const desired = computeDesired({ view, topology: topology(), cookiePrefix: PREFIX });
const flows: Flow[] = [...desired.flows.values()].flat();

t.test('add-flow text reads back as the same flow, for every flow the daemon writes', async (t) => {
  t.ok(flows.length > 20, `${flows.length} flows, the canary among them`);
  t.ok(flows.some((f) => f.match === ''), 'a flow with an empty match (the canary)');
  for (const f of flows) {
    const back = readBack(flowText(f));
    t.same(back, { cookie: `0x${f.cookie.toString(16)}`, table: f.table, priority: f.priority, match: f.match, actions: f.actions }, flowText(f));
  }
});

t.test('--strict del-flows text names the flow by its key and its exact cookie, without actions', async (t) => {
  for (const f of flows) {
    const text = strictFlowText(f);
    const back = readBack(text);
    t.equal(back.actions, null, `${text}: no actions (del-flows refuses them)`);
    t.equal(back.cookie, `0x${f.cookie.toString(16)}/-1`, 'the exact cookie');
    t.equal(flowKey(back), flowKey(f), 'the same key');
  }
  t.equal(strictFlowText(canaryFlow(PREFIX)), 'cookie=0x5ee0000000000000/-1,table=250,priority=0', 'an empty match leaves no comma');
});

t.test('the change log: per bridge, adds and modifications as add-flow text, removals as del-flows text, sorted', async (t) => {
  const log = createChangeLog();
  const [f1, f2, f3] = desired.flows.get('br-b') ?? [];
  if (!f1 || !f2 || !f3) throw new Error('too few flows on br-b');
  log.flows('br-b', { add: [f1], modify: [f2], remove: [f3], unchanged: 4 });
  log.flows('br-a', { add: [], modify: [], remove: [], unchanged: 9 });
  t.same(log.list(), [{ bridge: 'br-b', addFlows: [flowText(f1), flowText(f2)], removeFlows: [strictFlowText(f3)], addPorts: [], removePorts: [] }], 'a bridge with nothing to do is not listed');

  log.ports(
    [{ bridge: 'br-a', port: names.requester, peerBridge: 'br-b', peerPort: names.accepter, ofport: 32768, peerOfport: 32768 }],
    [{ bridge: 'br-c', port: 'px000000000001r' }],
    topology(false),
  );
  t.same(log.list().map((c) => [c.bridge, c.addPorts, c.removePorts]), [
    ['br-a', [`${names.requester} (peer=${names.accepter})`], []],
    ['br-b', [`${names.accepter} (peer=${names.requester})`], []],
    ['br-c', [], ['px000000000001r']],
  ]);
});

t.test('the change log lists only the side of a pair that is not already as it should be', async (t) => {
  const half = topology(false);
  const withA: Topology = {
    bridges: new Map([...half.bridges].map(([n, b]) => [n, n === 'br-a' ? { name: n, ports: new Map([...b.ports, port(names.requester, 7, names.accepter)]) } : b])),
  };
  const pair = { bridge: 'br-a', port: names.requester, peerBridge: 'br-b', peerPort: names.accepter };
  const log = createChangeLog();
  log.ports([pair], [], withA);
  t.same(log.list().map((c) => [c.bridge, c.addPorts]), [['br-b', [`${names.accepter} (peer=${names.requester})`]]]);
  const replaced = createChangeLog();
  replaced.ports([pair], [{ bridge: 'br-a', port: names.requester }], withA);
  t.same(replaced.list().map((c) => [c.bridge, c.addPorts, c.removePorts]), [
    ['br-a', [`${names.requester} (peer=${names.accepter})`], [names.requester]],
    ['br-b', [`${names.accepter} (peer=${names.requester})`], []],
  ], 'a side deleted to be re-created is both removed and added');
});

t.test('peeringBridges: both sides with their patch ports, cookie and flows as installed per the last result', async (t) => {
  const result = (bridge: string, ok = true): BridgeResult => {
    const want = ok ? (desired.flows.get(bridge) ?? []) : [];
    const installed = new Map<bigint, number>();
    for (const f of want) installed.set(f.cookie, (installed.get(f.cookie) ?? 0) + 1);
    return {
      ok, at: AT, durationMs: 1, added: 0, removed: 0, error: ok ? null : 'failed', reason: ok ? null : 'OVS_COMMAND_FAILED',
      lastReconciledAt: ok ? AT : null, retryAt: null, flowsLost: 0, flowsDoNotConverge: 0, seq: 1, installed, want, converged: null,
    };
  };
  const bridges = new Map([['br-a', result('br-a')], ['br-b', result('br-b')]]);
  const perSide = (b: string): number => (desired.flows.get(b) ?? []).filter((f) => f.cookie !== canaryFlow(PREFIX).cookie).length;
  const got = peeringBridges(PEERING, { view, topology: topology(), bridges, cookiePrefix: PREFIX });
  t.same(got, [
    { bridge: 'br-a', patchPort: names.requester, peerPatchPort: names.accepter, cookie: '0x5ee00123456789ab', flows: perSide('br-a') },
    { bridge: 'br-b', patchPort: names.accepter, peerPatchPort: names.requester, cookie: '0x5ee00123456789ab', flows: perSide('br-b') },
  ]);
  t.equal((got[0]?.flows ?? 0) + (got[1]?.flows ?? 0), desired.peerings.get(ID)?.flows, 'the per-bridge counts add up to the peering\'s flows');
  const failed = new Map([['br-a', result('br-a', false)], ['br-b', result('br-b')]]);
  t.equal(peeringBridges(PEERING, { view, topology: topology(), bridges: failed, cookiePrefix: PREFIX })[0]?.flows, 0, 'nothing of it installed: 0');
  const oneSide: Topology = { bridges: new Map([...topology().bridges].filter(([n]) => n === 'br-a')) };
  t.same(peeringBridges(PEERING, { view, topology: oneSide, bridges, cookiePrefix: PREFIX }), [], 'one bridge here: no patch pair, no sides');
  t.same(peeringBridges(PEERING, { view, topology: null, bridges, cookiePrefix: PREFIX }), [], 'before the first pass: none');
  t.same(localBridges(PEERING, view, oneSide), ['br-a'], 'flows are dumped on the side that is here');
});
