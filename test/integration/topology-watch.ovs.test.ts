// Issue 12, defects 4–6: a change of the topology that OVSDB shows starts a pass at once. With
// the periodic pass an hour away (reconcileIntervalMs 3,600,000), only that trigger can repair:
// our patch port deleted by hand (`ovs-vsctl del-port`) or pointed elsewhere (`options:peer`) is
// made again within 2 s and the instances ping again, each counted in status.ovs.portsRepaired;
// a VPC's bridge added while the daemon runs (`add-br`) is programmed within 2 s.
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { type OvsSandbox, startOvs } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

const REPAIR_MS = 2_000;

async function ourPorts(sb: OvsSandbox, bridge: string): Promise<string[]> {
  return (await sb.vsctl('list-ports', bridge)).split('\n').filter((p) => /^px[0-9a-f]{12}[ra]$/.test(p));
}

/** options:peer of an interface, unquoted ('' when it has none or is gone). */
async function peerOf(sb: OvsSandbox, port: string): Promise<string> {
  const out = await sb.vsctl('--if-exists', 'get', 'interface', port, 'options:peer').catch(() => '');
  return out.trim().replace(/^"(.*)"$/, '$1');
}

t.test('a topology change by hand starts a pass at once', async (t) => {
  const sb = await startOvs(t, { name: 'topo' });
  const brA = await sb.addBridge('a');
  const brB = await sb.addBridge('b');
  const a = await sb.addInstance(brA, 'ia', { v4: '10.0.0.2/16', routes: ['10.1.0.0/16', '10.4.0.0/16'] });
  await sb.addInstance(brB, 'ib', { v4: '10.1.0.2/16', routes: ['10.0.0.0/16'] });
  const d = await startDaemon(t, { config: { ovs: { enabled: true, rundir: sb.rundir, reconcileIntervalMs: 3_600_000 } } });
  const admin: RpcClient = await d.admin();
  const call = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> => admin.call(method, params) as Promise<T>;
  const state = async (id: string): Promise<string> => (await call<{ dataplane: { state: string } }>('peering.get', { id })).dataplane.state;
  const portsRepaired = async (): Promise<number> => (await call<{ ovs: { portsRepaired: number } }>('status')).ovs.portsRepaired;
  const peer = async (requesterVpcId: string, accepterVpcId: string): Promise<string> => {
    const { id } = await call<{ id: string }>('peering.create', { requesterVpcId, accepterVpcId });
    await call('peering.accept', { id });
    return id;
  };

  await call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: brA });
  await call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16'], bridge: brB });
  const ab = await peer('vpc-a', 'vpc-b');
  t.ok((await until(async () => (await state(ab)) === 'programmed', 10_000)).ok, 'A–B programmed');
  t.ok(await sb.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A reaches B');
  t.equal(await portsRepaired(), 0, 'making the pair is no repair');
  const [port = ''] = await ourPorts(sb, brA);
  const rightPeer = await peerOf(sb, port);
  t.not(rightPeer, '', `our patch port ${port} on A, peer ${rightPeer}`);

  t.test('ovs-vsctl del-port of our patch port: made again at once, counted', async (t) => {
    await sb.vsctl('del-port', brA, port);
    const back = await until(async () => (await ourPorts(sb, brA)).includes(port) && (await peerOf(sb, port)) === rightPeer, REPAIR_MS);
    t.ok(back.ok, `the port is back (${back.ms} ms)`);
    t.ok(await sb.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A reaches B again');
    t.equal(await portsRepaired(), 1, 'portsRepaired counts it');
    t.equal(await state(ab), 'programmed');
  });

  t.test('options:peer of our patch port changed by hand: put right at once, counted', async (t) => {
    await sb.vsctl('set', 'interface', port, 'options:peer=bogus');
    const back = await until(async () => (await peerOf(sb, port)) === rightPeer, REPAIR_MS);
    t.ok(back.ok, `the peer is ${rightPeer} again (${back.ms} ms)`);
    t.ok(await sb.ping(a, '10.1.0.2', { deadlineS: 5 }), 'A reaches B again');
    t.equal(await portsRepaired(), 2, 'portsRepaired counts it');
  });

  t.test('a VPC bridge added while running (add-br): programmed at once', async (t) => {
    const brE = sb.name('e');
    await call('vpc.create', { id: 'vpc-e', tenantId: 'acme', cidrs: ['10.4.0.0/16'], bridge: brE });
    const ae = await peer('vpc-a', 'vpc-e');
    t.ok((await until(async () => (await state(ae)) === 'not-local', 5_000)).ok, 'not-local while its bridge is not here');
    t.equal(await sb.addBridge('e'), brE);
    const programmed = await until(async () => (await state(ae)) === 'programmed', REPAIR_MS);
    t.ok(programmed.ok, `programmed (${programmed.ms} ms after the bridge was added)`);
    t.equal((await ourPorts(sb, brE)).length, 1, 'its patch port');
    await sb.addInstance(brE, 'ie', { v4: '10.4.0.2/16', routes: ['10.0.0.0/16'] });
    t.ok(await sb.ping(a, '10.4.0.2', { deadlineS: 5 }), 'A reaches E');
    t.equal(await portsRepaired(), 2, 'new ports, not repairs');
  });
});
