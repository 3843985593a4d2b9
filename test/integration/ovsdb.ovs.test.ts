// createOvs's ports and topology over its OVSDB connection, against a real private OVS, with
// ovs-vsctl as the independent witness (list-br, list-ports, get interface): patch pairs added,
// repaired and deleted without starting a process; the ofports the monitor shows are the ones
// ovs-vsctl reads; pairs made while another client keeps changing the same bridges; a port of the
// name on another bridge refused as ovs-vsctl refuses it; ovsdb-server restarted under the client.
import t, { type Test } from 'tap';
import { silentLogger } from '../../src/log/logger.js';
import { createOvs, type Ovs, OvsError, type PatchPair, type Topology } from '../../src/ovs/ovs.js';
import { createRunner, type Runner } from '../../src/ovs/runner.js';
import { type OvsSandbox, startOvs } from '../helpers/ovs.js';

/** createOvs with a runner that counts the processes it starts. */
function countedOvs(t: Test, sb: OvsSandbox): { ovs: Ovs; processes: string[] } {
  const real = createRunner({ rundir: sb.rundir });
  const processes: string[] = [];
  const runner: Runner = { rundir: sb.rundir, run: (bin, args, o) => (processes.push(`${bin} ${args.join(' ')}`), real.run(bin, args, o)) };
  const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger(), runner });
  t.teardown(() => ovs.close());
  return { ovs, processes };
}

/** What ovs-vsctl says of a port: ofport, type, options:peer ("" when none). */
async function witness(sb: OvsSandbox, port: string): Promise<{ ofport: number | null; type: string; peer: string }> {
  const [ofport = '', type = '', peer = ''] = (await sb.vsctl('--if-exists', 'get', 'interface', port, 'ofport', 'type', 'options:peer')).split('\n').map((l) => l.trim().replace(/^"(.*)"$/, '$1'));
  return { ofport: /^\d+$/.test(ofport) && ofport !== '-1' ? Number(ofport) : null, type, peer };
}

/** Each bridge's ports as ovs-vsctl lists them (the bridge's own port is not listed). */
async function listed(sb: OvsSandbox): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const br of (await sb.vsctl('list-br')).split('\n').filter(Boolean)) out[br] = (await sb.vsctl('list-ports', br)).split('\n').filter(Boolean).sort();
  return out;
}

/** The topology's bridges and ports, in ovs-vsctl list-ports' terms. */
function portsOf(topo: Topology): Record<string, string[]> {
  return Object.fromEntries([...topo.bridges].map(([br, b]) => [br, [...b.ports.keys()].filter((p) => p !== br).sort()]));
}

/** The topology agrees with ovs-vsctl on every bridge, every port and each port's ofport/type/peer. */
async function agrees(t: Test, sb: OvsSandbox, topo: Topology, what: string): Promise<void> {
  t.same(portsOf(topo), await listed(sb), `${what}: the bridges and ports ovs-vsctl lists`);
  const wrong: string[] = [];
  for (const b of topo.bridges.values()) {
    for (const p of b.ports.values()) {
      const w = await witness(sb, p.name);
      if (w.ofport !== p.ofport || w.type !== p.type || w.peer !== (p.peer ?? '')) wrong.push(`${p.name}: ${JSON.stringify(p)} vs ovs-vsctl ${JSON.stringify(w)}`);
    }
  }
  t.same(wrong, [], `${what}: ofport, type and peer of every port as ovs-vsctl reads them`);
}

async function failsWith(t: Test, p: Promise<unknown>, kind: OvsError['kind'], what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: resolved`);
  } catch (err) {
    t.ok(err instanceof OvsError && err.kind === kind, `${what}: ${kind}${err instanceof OvsError ? ` (${err.message})` : ` (got ${String(err)})`}`);
  }
}

t.test('add, repair and delete patch pairs: no process, ovs-vsctl agrees, ofports as requested', async (t) => {
  const sb = await startOvs(t, { name: 'dbpairs' });
  const [a, b] = [await sb.addBridge('a'), await sb.addBridge('b')];
  await sb.addInstance(a, 'i1');
  const { ovs, processes } = countedOvs(t, sb);
  const pair: PatchPair = { bridge: a, port: sb.name('pa'), peerBridge: b, peerPort: sb.name('pb'), ofport: 4000, peerOfport: 4001 };

  await agrees(t, sb, await ovs.topology(), 'at first');
  await ovs.addPatchPairs([pair]);
  let topo = await ovs.topology();
  t.same(topo.bridges.get(a)?.ports.get(pair.port), { name: pair.port, ofport: 4000, type: 'patch', peer: pair.peerPort, error: null }, 'right after addPatchPairs: its ofport');
  t.equal((await sb.vsctl('get', 'interface', pair.peerPort, 'ofport')).trim(), '4001', 'ovs-vsctl reads the same ofport');
  await agrees(t, sb, topo, 'after the add');
  t.equal(await ovs.topology(), topo, 'nothing changed: the same object');

  await sb.vsctl('set', 'interface', pair.port, 'type=internal', 'options:peer=elsewhere');
  await ovs.addPatchPairs([pair]);
  t.same(await witness(sb, pair.port), { ofport: 4000, type: 'patch', peer: pair.peerPort }, 'type and peer changed by hand: repaired');
  await sb.vsctl('del-port', pair.peerPort);
  await ovs.addPatchPairs([pair]);
  await agrees(t, sb, await ovs.topology(), 'one side deleted by hand: made again');

  await ovs.deletePorts([
    { bridge: a, port: pair.port },
    { bridge: b, port: pair.peerPort },
  ]);
  await ovs.deletePorts([{ bridge: a, port: pair.port }]);
  topo = await ovs.topology();
  t.notOk(topo.bridges.get(a)?.ports.has(pair.port), 'deleted; deleting again is fine');
  await agrees(t, sb, topo, 'after the delete');
  t.same(processes, [], 'not one process started');
});

t.test("ovs-vsctl's refusals: a port of the name on another bridge, a bridge that is not there", async (t) => {
  const sb = await startOvs(t, { name: 'dbrefuse' });
  const [a, b, c] = [await sb.addBridge('a'), await sb.addBridge('b'), await sb.addBridge('c')];
  const { ovs } = countedOvs(t, sb);
  const taken = sb.name('px');
  await sb.vsctl('add-port', c, taken, '--', 'set', 'interface', taken, 'type=internal');
  await failsWith(t, ovs.addPatchPairs([{ bridge: a, port: taken, peerBridge: b, peerPort: sb.name('py') }]), 'failed', 'add: the port is on another bridge');
  t.notOk((await sb.vsctl('list-ports', b)).includes(sb.name('py')), 'nothing of the transaction was made');
  await failsWith(t, ovs.deletePorts([{ bridge: a, port: taken }]), 'failed', 'delete: the port is on another bridge');
  await failsWith(t, ovs.addPatchPairs([{ bridge: 'nosuchbr', port: sb.name('pz'), peerBridge: b, peerPort: sb.name('pw') }]), 'no-such-bridge', 'a missing bridge');
  const vsctl = await sb.runner.run('ovs-vsctl', ['--may-exist', 'add-port', a, taken]).then(() => 'accepted', (e: unknown) => (e instanceof OvsError ? e.kind : 'other'));
  t.equal(vsctl, 'failed', 'ovs-vsctl refuses the same add');
});

t.test('pairs made and deleted while another client keeps changing the same bridges', async (t) => {
  const sb = await startOvs(t, { name: 'dbrace' });
  const [a, b] = [await sb.addBridge('a'), await sb.addBridge('b')];
  const { ovs } = countedOvs(t, sb);
  let stop = false;
  let churned = 0;
  // Another client: ports of its own added and removed on both bridges, as fast as ovs-vsctl goes.
  const churn = (async () => {
    for (let i = 0; !stop; i++) {
      const br = i % 2 === 0 ? a : b;
      const port = sb.name(`o${i % 4}`);
      await sb.vsctl('--may-exist', 'add-port', br, port, '--', 'set', 'interface', port, 'type=internal');
      await sb.vsctl('--if-exists', 'del-port', br, port);
      churned += 1;
    }
  })();
  try {
    for (let i = 0; i < 8; i++) {
      const pair: PatchPair = { bridge: a, port: sb.name(`pa${i}`), peerBridge: b, peerPort: sb.name(`pb${i}`), ofport: 5000 + i, peerOfport: 6000 + i };
      await ovs.addPatchPairs([pair]);
      t.same(await witness(sb, pair.port), { ofport: 5000 + i, type: 'patch', peer: pair.peerPort }, `pair ${i}: made, with its ofport`);
      if (i % 2 === 1) await ovs.deletePorts([{ bridge: a, port: pair.port }, { bridge: b, port: pair.peerPort }]);
    }
    // One name raced: ovs-vsctl creates it as an internal port while we make it a patch port.
    // Whoever commits second wins; when it is ovs-vsctl, the next call repairs it. A call that
    // turned the internal port into a patch port in the transaction that inserted its peer may
    // see the peer in error for that moment, as ovs-vsctl's own check would: 'failed'.
    const raced: PatchPair = { bridge: a, port: sb.name('race'), peerBridge: b, peerPort: sb.name('racb') };
    const [, ours] = await Promise.all([
      sb.runner.run('ovs-vsctl', ['--may-exist', 'add-port', a, raced.port, '--', 'set', 'interface', raced.port, 'type=internal']).catch(() => undefined),
      ovs.addPatchPairs([raced]).then(() => 'ok', (e: unknown) => (e instanceof OvsError ? e.kind : String(e))),
    ]);
    t.ok(ours === 'ok' || ours === 'failed', `the raced call: ${ours}`);
    await ovs.addPatchPairs([raced]);
    t.match(await witness(sb, raced.port), { type: 'patch', peer: raced.peerPort }, 'a raced name ends as our patch port');
  } finally {
    stop = true;
    await churn;
  }
  t.ok(churned > 0, `the other client made ${churned} changes meanwhile`);
  await agrees(t, sb, await ovs.topology(), 'in the end');
});

t.test('ovsdb-server restarted: calls fail unavailable while it is down, then the cache is right again', async (t) => {
  const sb = await startOvs(t, { name: 'dbrst' });
  const [a, b] = [await sb.addBridge('a'), await sb.addBridge('b')];
  const { ovs } = countedOvs(t, sb);
  await ovs.addPatchPairs([{ bridge: a, port: sb.name('pa'), peerBridge: b, peerPort: sb.name('pb'), ofport: 4000, peerOfport: 4001 }]);
  await agrees(t, sb, await ovs.topology(), 'before');

  await sb.stopAll();
  await failsWith(t, ovs.topology(), 'unavailable', 'topology while OVS is stopped');
  await failsWith(t, ovs.addPatchPairs([{ bridge: a, port: sb.name('pc'), peerBridge: b, peerPort: sb.name('pd') }]), 'unavailable', 'addPatchPairs while stopped');
  await sb.startAll();
  // Changes made by someone else right after the restart: the new monitor's rows must show them.
  await sb.vsctl('del-port', sb.name('pa'));
  await sb.vsctl('add-port', b, sb.name('pe'), '--', 'set', 'interface', sb.name('pe'), 'type=internal');
  const topo = await ovs.topology();
  t.notOk(topo.bridges.get(a)?.ports.has(sb.name('pa')), 'a port deleted after the restart is gone');
  t.ok(topo.bridges.get(b)?.ports.has(sb.name('pe')), 'one added is there');
  await agrees(t, sb, topo, 'after the restart');
});

t.test('addPatchPairs waits for vswitchd: with vswitchd dead it times out, as ovs-vsctl would hang; the rows are in', async (t) => {
  const sb = await startOvs(t, { name: 'dbwait' });
  const [a, b] = [await sb.addBridge('a'), await sb.addBridge('b')];
  const ovs = createOvs({ rundir: sb.rundir, logger: silentLogger(), timeoutMs: 500 });
  t.teardown(() => ovs.close());
  await ovs.topology();
  await sb.killVswitchd();
  const pair: PatchPair = { bridge: a, port: sb.name('pa'), peerBridge: b, peerPort: sb.name('pb'), ofport: 4000, peerOfport: 4001 };
  await failsWith(t, ovs.addPatchPairs([pair]), 'timeout', 'nobody applies the configuration');
  t.match(await witness(sb, pair.port), { type: 'patch', peer: pair.peerPort, ofport: null }, 'committed, no ofport yet');
  await sb.startVswitchd();
  await ovs.addPatchPairs([pair]);
  t.same(await witness(sb, pair.port), { ofport: 4000, type: 'patch', peer: pair.peerPort }, 'vswitchd back: its ofport');
});
