// What an operator sees of the data plane, on a real private Open vSwitch (issue 8 part 3): the
// changes a reconcile pass reports, pasted by hand into ovs-ofctl, leave nothing to do; a bridge
// this host does not have is 404 BRIDGE_NOT_FOUND with no ovs-ofctl started for it; peering.get
// shows each bridge's patch port, cookie and flow count, and peering.flows the flows themselves.
//
// The first test drives the data plane module itself with no loop and no monitors (nothing
// repairs the drift made by hand before the dry run sees it); the second the daemon process over
// its socket, with an ovs-ofctl on its PATH that logs every call before it runs the real one.
import t from 'tap';
import { StateIndex } from '../../src/domain/state-index.js';
import type { Peering, Vpc } from '../../src/domain/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { createOvs, type Ovs } from '../../src/ovs/ovs.js';
import { createOvsDataplane } from '../../src/reconcile/ovs-dataplane.js';
import type { ReconcileResult } from '../../src/reconcile/dataplane.js';
import { RpcClientError, type RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { ofctlShim } from '../helpers/ofctl-shim.js';
import { startOvs } from '../helpers/ovs.js';

const OUR_COOKIES = 'cookie=0x5ee0000000000000/0xffff000000000000';
const AT = '2025-01-01T00:00:00.000Z';
const ID = 'pcx-00000000abcd00000';

/** Polls `check` until it holds or the deadline passes. */
async function until(check: () => Promise<boolean>, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function refusal(call: Promise<unknown>): Promise<{ code: number; reason: string | undefined }> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof RpcClientError)) throw new Error(`expected an RPC error, got ${String(err)}`);
  return { code: err.code, reason: err.reason };
}

t.test('the changes of a dry run, pasted into ovs-ofctl by hand, leave nothing to do', async (t) => {
  const sb = await startOvs(t, { name: 'opa' });
  const brA = await sb.addBridge('a');
  const brB = await sb.addBridge('b');
  const vpc = (id: string, bridge: string, cidrs: string[]): Vpc => ({ id, tenantId: 't1', cidrs, bridge, createdAt: AT, updatedAt: AT });
  const peering: Peering = {
    id: ID, tenantId: 't1', requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b',
    status: 'active', requestedBy: 'u', createdAt: AT, updatedAt: AT, expiresAt: AT,
  };
  const view = new StateIndex({
    vpcs: { 'vpc-a': vpc('vpc-a', brA, ['10.0.0.0/16', 'fd00:a::/64']), 'vpc-b': vpc('vpc-b', brB, ['10.1.0.0/16', '192.168.7.9/32', 'fd00:b::/64']) },
    peerings: { [ID]: peering },
  });
  const real = createOvs({ rundir: sb.rundir, logger: silentLogger() });
  /** ovs-ofctl calls of the data plane (each one a process), by bridge. */
  const ofctl: string[] = [];
  const ovs: Ovs = {
    ...real,
    dumpFlows: (bridge, cookie, mask) => {
      ofctl.push(bridge);
      return real.dumpFlows(bridge, cookie, mask);
    },
    dumpFlowLines: (bridge, cookie, mask) => {
      ofctl.push(bridge);
      return real.dumpFlowLines(bridge, cookie, mask);
    },
    applyBundle: (bridge, lines) => {
      ofctl.push(bridge);
      return real.applyBundle(bridge, lines);
    },
  };
  // Not started: no loop and no monitors, so nothing repairs what is done by hand below.
  const dp = createOvsDataplane({ ovs, view: () => view, cookiePrefix: 0x5ee0, intervalMs: 3_600_000, logger: silentLogger() });
  t.teardown(() => dp.close());
  const ourFlows = async (br: string): Promise<string[]> =>
    (await sb.ofctl('dump-flows', br, OUR_COOKIES, '--no-stats', '--no-names')).split('\n').filter((l) => l.includes('cookie='));
  /** Runs each line of `changes` as an operator would paste it; returns how many. */
  const paste = async (result: ReconcileResult): Promise<number> => {
    const commands = (result.changes ?? []).flatMap((c) => [
      ...c.addFlows.map((f) => ['add-flow', c.bridge, f]),
      ...c.removeFlows.map((f) => ['--strict', 'del-flows', c.bridge, f]),
    ]);
    for (const args of commands) await sb.ofctl(...args);
    return commands.length;
  };

  t.test('a dry run lists the patch ports and flows a verbose first run then makes', async (t) => {
    const dry = await dp.reconcile({ dryRun: true });
    t.equal((await sb.vsctl('list-ports', brA)).split('\n').filter((p) => p.startsWith('px')).length, 0, 'the dry run made no port');
    const first = await dp.reconcile({ verbose: true });
    t.same(first.changes, dry.changes, 'what it would do is what it did');
    t.match(first, { ovs: 'enabled', errors: [], removed: 0 });
    const changes = first.changes ?? [];
    t.same(changes.map((c) => c.bridge), [brA, brB].sort());
    const a = changes.find((c) => c.bridge === brA);
    t.same(a?.addPorts, ['px00000000abcdr (peer=px00000000abcda)'], 'the requester side of the pair');
    t.equal(changes.reduce((n, c) => n + c.addFlows.length, 0), first.added, 'one line per flow added');
    t.equal(a?.addFlows.length, (await ourFlows(brA)).length, 'as many as are now on the bridge');
    t.match(await dp.reconcile({ dryRun: true }), { added: 0, removed: 0, changes: [] }, 'and it did them: nothing left to do');
  });

  t.test('drift by hand: the dry run lists it, pasting its text repairs it', async (t) => {
    const before = await ourFlows(brA);
    await sb.ofctl('--strict', 'del-flows', brA, 'priority=100,ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16');
    await sb.ofctl('--strict', 'mod-flows', brB, 'priority=100,ipv6,ipv6_src=fd00:b::/64,ipv6_dst=fd00:a::/64,actions=drop');
    await sb.ofctl('add-flow', brA, 'cookie=0x5ee0000000000777,priority=100,ip,nw_dst=10.77.0.0/16,actions=drop');
    await sb.ofctl('add-flow', brB, 'cookie=0x5ee0000000000000,table=250,priority=5,actions=drop');
    const stalePort = 'px00000000eeeer';
    await sb.vsctl('add-port', brA, stalePort, '--', 'set', 'interface', stalePort, 'type=patch', 'options:peer=px00000000eeeea');

    const dry = await dp.reconcile({ dryRun: true });
    t.match(dry, { ovs: 'enabled', added: 2, removed: 2, errors: [] });
    t.same(
      dry.changes?.map((c) => [c.bridge, c.addFlows.length, c.removeFlows.length, c.removePorts]),
      [[brA, 1, 1, [stalePort]], [brB, 1, 1, []]],
    );
    t.equal(await paste(dry), 4, 'four lines pasted into ovs-ofctl');
    await sb.vsctl('del-port', brA, stalePort);
    const after = await dp.reconcile({ dryRun: true });
    t.match(after, { added: 0, removed: 0, changes: [] }, 'a following reconcile.run finds nothing to do');
    t.same((await ourFlows(brA)).sort(), before.sort(), 'the bridge holds exactly our flows again');
  });

  t.test('a bridge not on this host: BRIDGE_NOT_FOUND, and no ovs-ofctl for it', async (t) => {
    const from = ofctl.length;
    await t.rejects(dp.reconcile({ bridge: 'nope', dryRun: true }), { name: 'DataplaneError', reason: 'BRIDGE_NOT_FOUND' });
    await t.rejects(dp.reconcile({ bridge: 'nope' }), { name: 'DataplaneError', reason: 'BRIDGE_NOT_FOUND' });
    t.same(ofctl.slice(from), [], 'no ovs-ofctl started');
  });

  t.test('peeringFlows: the dump by the peering’s exact cookie', async (t) => {
    const got = await dp.peeringFlows(peering);
    for (const br of [brA, brB]) {
      const byHand = (await sb.ofctl('dump-flows', br, 'cookie=0x5ee000000000abcd/-1', '--no-stats', '--no-names'))
        .split('\n').filter((l) => l.includes('cookie=')).map((l) => l.trim());
      t.same(got.bridges.find((b) => b.bridge === br)?.flows, byHand, `${br}: as ovs-ofctl prints them`);
      t.ok(byHand.length > 5 && byHand.every((l) => !l.includes('n_packets')), `${byHand.length} flows, no stats`);
    }
    t.notOk(got.bridges.some((b) => b.flows.some((l) => l.includes('table=250'))), 'the canary (cookie …0000) is not the peering’s');
  });
});

t.test('over the socket: dataplane.bridges, peering.flows, reconcile.run changes and BRIDGE_NOT_FOUND', async (t) => {
  const sb = await startOvs(t, { name: 'opb' });
  const brA = await sb.addBridge('a');
  const brB = await sb.addBridge('b');
  const shim = ofctlShim(t);
  const ofctlCalls = (): string[] => shim.calls();

  const d = await startDaemon(t, {
    config: { ovs: { enabled: true, rundir: sb.rundir, reconcileIntervalMs: 3_600_000 } },
    env: { PATH: shim.path },
  });
  const admin: RpcClient = await d.admin();
  const call = <T>(method: string, params: Record<string, unknown> = {}) => admin.call(method, params) as Promise<T>;
  await call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16', 'fd00:a::/64'], bridge: brA });
  await call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16'], bridge: brB });
  const id = (await call<{ id: string }>('peering.create', { requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b' })).id;
  await call('peering.accept', { id });
  type Dp = { state: string; flows: number; bridges: { bridge: string; patchPort: string; peerPatchPort: string; cookie: string; flows: number }[] };
  const get = async (): Promise<Dp> => (await call<{ dataplane: Dp }>('peering.get', { id })).dataplane;
  t.ok(await until(async () => (await get()).state === 'programmed', 5000), 'programmed');
  // Start and accept go over the OpenFlow channels; a dry run dumps every bridge with ovs-ofctl.
  await call('reconcile.run', { dryRun: true });
  t.ok(ofctlCalls().length > 0, 'the shim sees the daemon’s ovs-ofctl calls');

  t.test('peering.get: per bridge, the patch port, the cookie and the flows there', async (t) => {
    const dp = await get();
    const h = id.slice(4, 16);
    const cookie = `0x5ee0${h}`;
    t.same(dp.bridges.map((b) => [b.bridge, b.patchPort, b.peerPatchPort, b.cookie]), [
      [brA, `px${h}r`, `px${h}a`, cookie],
      [brB, `px${h}a`, `px${h}r`, cookie],
    ]);
    for (const b of dp.bridges) {
      const dumped = (await sb.ofctl('dump-flows', b.bridge, `cookie=${cookie}/-1`, '--no-stats')).split('\n').filter((l) => l.includes('cookie='));
      t.equal(b.flows, dumped.length, `${b.bridge}: ${b.flows} flows, as ovs-ofctl counts them`);
      t.ok((await sb.vsctl('list-ports', b.bridge)).split('\n').includes(b.patchPort), `${b.patchPort} is on ${b.bridge}`);
    }
    t.equal(dp.bridges.reduce((n, b) => n + b.flows, 0), dp.flows, 'the per-bridge counts add up');
  });

  t.test('peering.flows: the flows by the peering’s cookie; another tenant sees no such peering', async (t) => {
    const got = await call<{ id: string; bridges: { bridge: string; flows: string[] }[] }>('peering.flows', { id });
    t.same(got.bridges.map((b) => b.bridge), [brA, brB]);
    const dp = await get();
    t.same(got.bridges.map((b) => b.flows.length), dp.bridges.map((b) => b.flows), 'as many as peering.get counts');
    t.ok(got.bridges.every((b) => b.flows.every((l) => l.startsWith(`cookie=${dp.bridges[0]?.cookie ?? '?'}`))), 'each line carries the cookie');
    const other = await d.client();
    await other.call('auth.login', { token: await d.token({ tenant: 'globex', perms: ['vpc_peering:read'] }) });
    t.same(await refusal(other.call('peering.flows', { id })), { code: 404, reason: 'PEERING_NOT_FOUND' });
    const reader = await d.client();
    await reader.call('auth.login', { token: await d.token({ tenant: 'acme', perms: ['vpc:read'] }) });
    t.same(await refusal(reader.call('peering.flows', { id })), { code: 403, reason: 'FORBIDDEN' });
  });

  t.test('reconcile.run: converged, a dry run and a verbose run list nothing to change', async (t) => {
    t.match(await call('reconcile.run', { dryRun: true }), { ovs: 'enabled', added: 0, removed: 0, errors: [], changes: [] });
    t.match(await call('reconcile.run', { verbose: true }), { ovs: 'enabled', added: 0, removed: 0, changes: [] });
    const plain = await call<Record<string, unknown>>('reconcile.run', {});
    t.notOk('changes' in plain, 'a plain run has no changes member');
  });

  t.test('reconcile.run on a bridge this host does not have: 404 BRIDGE_NOT_FOUND, no ovs-ofctl started', async (t) => {
    const from = ofctlCalls().length;
    t.same(await refusal(call('reconcile.run', { bridge: 'nope' })), { code: 404, reason: 'BRIDGE_NOT_FOUND' });
    t.same(await refusal(call('reconcile.run', { bridge: 'nope', dryRun: true })), { code: 404, reason: 'BRIDGE_NOT_FOUND' });
    t.same(ofctlCalls().slice(from), [], 'no ovs-ofctl process at all meanwhile');
    t.match(await call('reconcile.run', { bridge: brB, dryRun: true }), { bridges: [brB], changes: [] }, 'a bridge that is here');
  });

  t.test('OVS stopped: peering.flows is 503 OVS_UNAVAILABLE, and the API keeps serving', async (t) => {
    await sb.stopAll();
    t.same(await refusal(call('peering.flows', { id })), { code: 503, reason: 'OVS_UNAVAILABLE' });
    t.match(await call('reconcile.run', { dryRun: true }), { ovs: 'unavailable', errors: [{ bridge: '*', reason: 'OVS_UNAVAILABLE' }] });
    t.match(await call('vpc.list'), { items: [{}, {}] });
    await sb.startAll();
  });
});
