// What the OVS adapter refuses before starting any process: names and values that are not
// ours to pass (misuse throws a plain Error, never an OvsError), and a missing binary.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { encodeMessage } from '../../../src/ovs/openflow/codec.js';
import { OFP14_VERSION } from '../../../src/ovs/openflow/messages.js';
import { createOvs, flowShape } from '../../../src/ovs/ovs.js';
import { until } from '../../helpers/poll.js';
import { createRunner, OvsError } from '../../../src/ovs/runner.js';

// No OVS answers here: a call that got as far as starting a process would fail differently.
const ovs = createOvs({ rundir: '/nonexistent/vpc-peerd-test', logger: silentLogger() });

/** Misuse: rejected (or thrown) with a plain Error, before any process is started. */
async function misuse(t: Test, call: () => unknown, what: string): Promise<void> {
  try {
    await call();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof Error && !(err instanceof OvsError), what);
  }
}

t.test('bridge and port names: ^[A-Za-z0-9_-]{1,15}$, and no leading dash (an option to the tools)', async (t) => {
  for (const bad of ['', 'a'.repeat(16), 'br a', 'br;rm', 'br,x', 'bré', 'br\n', '--if-exists', '--', '-h']) {
    const q = JSON.stringify(bad);
    await misuse(t, () => ovs.dumpFlows(bad, 0n, 0n), `dumpFlows ${q}`);
    await misuse(t, () => ovs.applyBundle(bad, []), `applyBundle ${q}`);
    await misuse(t, () => ovs.deletePorts([{ bridge: 'br0', port: bad }]), `deletePorts ${q}`);
    await misuse(t, () => ovs.addPatchPairs([{ bridge: 'br0', port: 'p0', peerBridge: 'br1', peerPort: bad }]), `addPatchPairs ${q}`);
    await misuse(t, () => ovs.openFlow(bad, {}).close(), `openFlow ${q}`);
  }
});

t.test('cookies, masks, ofport requests and bundle lines are checked', async (t) => {
  await misuse(t, () => ovs.dumpFlows('br0', -1n, 0n), 'a negative cookie');
  await misuse(t, () => ovs.dumpFlows('br0', 0n, 1n << 64n), 'a mask over 64 bits');
  for (const ofport of [0, -1, 65280, 1.5]) {
    await misuse(t, () => ovs.addPatchPairs([{ bridge: 'a', port: 'p', peerBridge: 'b', peerPort: 'q', ofport }]), `ofport ${ofport}`);
  }
  for (const line of ['', 'add', 'mod-flows x', 'add a\nadd b', 'delete cookie=0x1/-1']) {
    await misuse(t, () => ovs.applyBundle('br0', [line]), `bundle line ${JSON.stringify(line)}`);
  }
});

t.test('empty lists start no process', async (t) => {
  await ovs.applyBundle('br0', []);
  await ovs.addPatchPairs([]);
  await ovs.deletePorts([]);
  t.pass('resolved without OVS');
});

t.test('a binary missing from PATH is missing-binary', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  t.teardown(() => {
    process.env.PATH = saved;
  });
  const runner = createRunner({ rundir: '/nonexistent' });
  await t.rejects(runner.run('ovs-vsctl', ['list-br']), { name: 'OvsError', kind: 'missing-binary' });
  t.equal(await createOvs({ rundir: '/nonexistent', logger: silentLogger() }).probe(), 'down', 'probe says down');
});

t.test('no OVS in the rundir: probe is down, vswitchdPid is null', async (t) => {
  t.equal(await ovs.probe(), 'down');
  t.equal(await ovs.vswitchdPid(), null);
});

t.test('flowShape: addresses, ports, cookie, table and priority do not make a new shape; fields and protocols do', (t) => {
  const shape = (flow: string): string => flowShape(flow);
  const steer = (l: string, q: string, p: number, cookie = '0x5ee0000000000001'): string =>
    `cookie=${cookie},table=0,priority=100,ip,nw_src=${l},nw_dst=${q},actions=output:${p}`;
  t.equal(shape(steer('10.0.0.0/24', '10.1.0.0/24', 32768)), shape(steer('192.168.7.9', '172.16.0.0/12', 7, '0x5ee0ffffffffffff')), 'other blocks, port, cookie');
  t.equal(
    shape('cookie=0x1,table=0,priority=100,icmp6,icmp_type=135,in_port=5,ipv6_src=fd00:a::/64,nd_target=fd00:b::/64,actions=NORMAL'),
    shape('cookie=0x2,table=3,priority=7,icmp6,icmp_type=135,in_port=9,ipv6_src=2001:db8::1,nd_target=fd00::/8,actions=NORMAL'),
    'v6 blocks and hosts, in_port, table, priority',
  );
  const differ: [string, string, string][] = [
    [steer('10.0.0.0/24', '10.1.0.0/24', 1), steer('10.0.0.0/24', '10.1.0.0/24', 1).replace(',ip,', ','), 'a protocol dropped'],
    [steer('10.0.0.0/24', '10.1.0.0/24', 1), steer('10.0.0.0/24', '10.1.0.0/24', 1).replace(',ip,', ',arp,'), 'another protocol'],
    [steer('10.0.0.0/24', '10.1.0.0/24', 1), steer('10.0.0.0/0', '10.1.0.0/24', 1), 'a zero-length prefix (needs no protocol)'],
    [steer('10.0.0.0/24', '10.1.0.0/24', 1), steer('10.0.0.0/255.0.0.0', '10.1.0.0/24', 1), 'a dotted mask'],
    [steer('10.0.0.0/24', '10.1.0.0/24', 1), steer('10.0.0.0/24', '10.1.0.0/24', 1).replace('actions=output:1', 'actions=NORMAL'), 'other actions'],
    [
      'cookie=0x1,priority=100,icmp6,icmp_type=135,nd_target=fd00:b::/64,actions=drop',
      'cookie=0x1,priority=100,icmp6,icmp_type=136,nd_target=fd00:b::/64,actions=drop',
      'another icmp_type',
    ],
    ['cookie=0x1,priority=100,ipv6,ipv6_src=fd00:a::/64,actions=drop', 'cookie=0x1,priority=100,ipv6,ipv6_src=::/0,actions=drop', 'a v6 /0'],
    ['cookie=0x1,priority=100,tcp,tp_dst=80,actions=drop', 'cookie=0x1,priority=100,tcp,tp_dst=443,actions=drop', 'a field whose value is not known to be free'],
  ];
  for (const [a, b, what] of differ) t.not(shape(a), shape(b), what);
  t.end();
});

t.test('a channel connects as soon as its bridge socket appears in the rundir, not at the end of its backoff', async (t) => {
  const rundir = mkdtempSync(join(tmpdir(), 'vpc-peerd-rundir-'));
  t.teardown(() => rmSync(rundir, { recursive: true, force: true }));
  // A backoff longer than the test: only the rundir watch can make it connect.
  const watched = createOvs({ rundir, logger: silentLogger(), channelBackoff: { minMs: 60_000, maxMs: 60_000 } });
  t.teardown(() => watched.close());
  let connects = 0;
  const ch = watched.openFlow('br0', { onConnect: () => void connects++ });
  t.teardown(() => ch.close());
  const failed = await until(async () => ch.unreachable, 5_000);
  t.ok(failed.ok, 'no socket yet: the first attempt failed');
  const conns: Socket[] = [];
  const server = createServer((c) => {
    conns.push(c);
    c.on('error', () => undefined);
    c.write(encodeMessage({ type: 'hello', xid: 1, versions: [OFP14_VERSION], headerVersion: OFP14_VERSION }));
  });
  t.teardown(() => {
    for (const c of conns) c.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(join(rundir, 'br0.mgmt'), resolve));
  const up = await until(async () => ch.connected, 5_000);
  t.ok(up.ok && connects === 1, `connected ${up.ms} ms after the socket appeared`);
});
