// Issue 12: the daemon programs and watches its bridges over their OpenFlow channels and makes
// its patch ports over one OVSDB connection, so an accept, a repaired drift and the replay after
// an ovs-vswitchd restart start no process at all: no ovs-ofctl, ovs-vsctl or ovs-appctl (counted
// by a shim of the three first on the daemon's PATH). What ovs-ofctl itself
// shows stays the witness: the pings, the flows back after each event, and at the end a dry run
// (the backstop's dump diffed against the desired set) with nothing to change and no
// disagreement between the channel's table and the dump.
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { ofctlShim } from '../helpers/ofctl-shim.js';
import { startOvs } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

const OURS = 'cookie=0x5ee0000000000000/0xffff000000000000';

t.test('accept, drift and a vswitchd restart start no OVS tool process; the flows are right after each', async (t) => {
  const sb = await startOvs(t, { name: 'hot' });
  const brA = await sb.addBridge('a');
  const brB = await sb.addBridge('b');
  const a = await sb.addInstance(brA, 'ia', { v4: '10.0.0.2/16', routes: ['10.1.0.0/16'] });
  const b = await sb.addInstance(brB, 'ib', { v4: '10.1.0.2/16', routes: ['10.0.0.0/16'] });
  const shim = ofctlShim(t);
  const d = await startDaemon(t, {
    config: { ovs: { enabled: true, rundir: sb.rundir, reconcileIntervalMs: 3_600_000 } },
    env: { PATH: shim.path },
  });
  const admin: RpcClient = await d.admin();
  const call = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> => admin.call(method, params) as Promise<T>;
  type OvsStatus = { state: string; channelsSynced: number; channelDisagreements: number; restartsDetected: number; driftRepaired: number };
  const ovsStatus = async (): Promise<OvsStatus> => (await call<{ ovs: OvsStatus }>('status')).ovs;
  const ours = async (bridge: string): Promise<string[]> =>
    (await sb.ofctl('--no-stats', '--no-names', 'dump-flows', bridge, OURS))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('cookie='))
      .sort();

  await call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: brA });
  await call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16'], bridge: brB });
  const synced = await until(async () => (await ovsStatus()).channelsSynced === 2, 15_000);
  t.ok(synced.ok, `both bridges' channels are up with their tables read (${synced.ms} ms)`);

  let from = shim.processes().length;
  const id = (await call<{ id: string }>('peering.create', { requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b' })).id;
  await call('peering.accept', { id });
  const programmed = await until(async () => (await call<{ dataplane: { state: string } }>('peering.get', { id })).dataplane.state === 'programmed', 10_000);
  t.ok(programmed.ok, `programmed (${programmed.ms} ms)`);
  t.same(shim.processes().slice(from), [], 'accept (its patch pair included): no process started');
  t.ok(await sb.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A reaches B');
  const installed = { a: await ours(brA), b: await ours(brB) };
  t.ok(installed.a.length > 3 && installed.b.length > 3, `flows on both bridges (${installed.a.length}, ${installed.b.length})`);

  from = shim.processes().length;
  const driftBefore = (await ovsStatus()).driftRepaired;
  const victim = installed.b.find((l) => l.includes('priority=100') && l.includes('actions=output:')) ?? '';
  t.not(victim, '', 'a steering flow to delete by hand');
  const match = victim.replace(/^cookie=0x[0-9a-f]+,\s*(table=\d+,\s*)?/, '').replace(/ actions=.*$/, '');
  await sb.ofctl('--strict', 'del-flows', brB, `${OURS},table=0,${match}`);
  const repaired = await until(async () => (await ours(brB)).join('\n') === installed.b.join('\n'), 5_000);
  const driftAfter = (await ovsStatus()).driftRepaired;
  t.ok(repaired.ok && driftAfter === driftBefore + 1, `the hand deletion is repaired (${repaired.ms} ms; driftRepaired ${driftBefore} → ${driftAfter})`);
  // An OpenFlow 1.0 mod-flows gives the flow the cookie it names (none: 0): it is no longer ours.
  await sb.ofctl('--strict', 'mod-flows', brB, `table=0,${match},actions=drop`);
  const retaken = await until(async () => (await ours(brB)).join('\n') === installed.b.join('\n'), 5_000);
  t.ok(retaken.ok, `a flow of ours taken over by mod-flows is ours again (${retaken.ms} ms)`);
  const foreign = (await sb.ofctl('--no-stats', '--no-names', 'dump-flows', brB)).split('\n').filter((l) => l.includes(match.replace(/^priority=\d+,/, '')));
  t.equal(foreign.length, 1, 'one flow with that match, ours');
  t.same(shim.processes().slice(from), [], 'drift: no process started');

  from = shim.processes().length;
  await sb.killVswitchd();
  await sb.startVswitchd();
  const back = await until(async () => (await ours(brA)).join('\n') === installed.a.join('\n') && (await ours(brB)).join('\n') === installed.b.join('\n'), 20_000);
  t.ok(back.ok, `every flow is back after the restart (${back.ms} ms after vswitchd started)`);
  t.equal((await ovsStatus()).restartsDetected, 1, 'seen as one restart');
  t.same(shim.processes().slice(from), [], 'restart replay: no process started');
  t.ok(await sb.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A reaches B again');
  t.notOk(await sb.ping(b, '10.0.0.9', { timeoutS: 1 }), 'and nothing else: no reply from an address that is not there');

  const dry = await call<{ added: number; removed: number }>('reconcile.run', { dryRun: true });
  t.match(dry, { added: 0, removed: 0 }, 'the backstop’s dump equals the desired set');
  t.ok(shim.processes().slice(from).some((l) => l.startsWith('ovs-ofctl dump-flows')), 'and it did read with ovs-ofctl');
  const last = await ovsStatus();
  t.equal(last.channelDisagreements, 0, 'the channel’s table and the dump never disagreed');
});
