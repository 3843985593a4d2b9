// The process runner against a real private OVS: how each kind of failure is classified.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createRunner, OvsError, type OvsErrorKind } from '../../../src/ovs/runner.js';
import { startOvs } from '../../helpers/ovs.js';

async function failsWith(t: Test, call: Promise<unknown>, kind: OvsErrorKind, what: string): Promise<OvsError | undefined> {
  try {
    await call;
    t.fail(`${what}: succeeded`);
  } catch (err) {
    t.ok(err instanceof OvsError, `${what}: an OvsError`);
    t.equal((err as OvsError).kind, kind, `${what}: ${kind} (${(err as Error).message})`);
    return err as OvsError;
  }
  return undefined;
}

t.test('a successful run: exit code, output, duration', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  const r = await sb.runner.run('ovs-vsctl', ['list-br']);
  t.equal(r.code, 0);
  t.equal(r.stdout, `${br}\n`);
  t.ok(r.durationMs > 0 && r.durationMs < 5000, `took ${r.durationMs.toFixed(1)} ms`);
});

t.test('a child that outlives the timeout is killed: timeout', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  const started = Date.now();
  // `monitor` never exits by itself.
  await failsWith(t, sb.runner.run('ovs-ofctl', ['monitor', br, 'watch:'], { timeoutMs: 300 }), 'timeout', 'monitor');
  t.ok(Date.now() - started < 3000, 'killed at the deadline');
});

t.test('output past the cap kills the child: bad-output', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  const lines = Array.from({ length: 200 }, (_, i) => `add cookie=0x5ee0000000000001,priority=${i + 1},ip,actions=drop`);
  await sb.runner.run('ovs-ofctl', ['--bundle', 'add-flows', br, '-'], { stdin: lines.join('\n') });
  const capped = createRunner({ rundir: sb.rundir, maxOutputBytes: 4096 });
  await failsWith(t, capped.run('ovs-ofctl', ['dump-flows', br, '--no-stats', '--no-names']), 'bad-output', 'dump of 200 flows');
});

t.test('"normalization changed" turns exit 0 into failed: the flow installed matches more than written', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  await failsWith(t, sb.runner.run('ovs-ofctl', ['add-flow', br, 'cookie=0x5ee0000000000002,priority=5,nw_dst=10.0.0.0/8,actions=drop']), 'failed', 'nw_dst without ip');
  await failsWith(t, sb.runner.run('ovs-ofctl', ['add-flow', br, 'cookie=0x5ee0000000000002,priority=6,icmp6,nd_target=fd00::1,actions=drop']), 'failed', 'nd_target without icmp_type');
  const dump = await sb.ofctl('dump-flows', br, 'cookie=0x5ee0000000000002/-1', '--no-stats', '--no-names');
  t.match(dump, / priority=5 actions=drop/, 'OVS installed a flow that drops everything: why this is an error');
});

t.test('ovs-vsctl exits 0 on an interface vswitchd could not set up: failed', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  await failsWith(t, sb.runner.run('ovs-vsctl', ['add-port', br, 'nosuchdev0']), 'failed', 'a system port without a device');
});

t.test('a wrong command is failed, not unavailable', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  await failsWith(t, sb.runner.run('ovs-vsctl', ['del-port', br, 'nosuchport']), 'failed', 'del-port of a missing port');
  await failsWith(t, sb.runner.run('ovs-ofctl', ['add-flow', br, 'table=254,priority=0,actions=drop']), 'failed', 'table 254 (EPERM)');
});

t.test('no OVS in the rundir: unavailable, for every tool, with or without stdin', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-no-ovs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = createRunner({ rundir: dir });
  await failsWith(t, r.run('ovs-vsctl', ['list-br']), 'unavailable', 'ovs-vsctl');
  await failsWith(t, r.run('ovs-ofctl', ['dump-flows', 'br0']), 'unavailable', 'ovs-ofctl');
  await failsWith(t, r.run('ovs-appctl', ['-t', 'ovs-vswitchd', 'version']), 'unavailable', 'ovs-appctl');
  const big = 'add priority=1,ip,actions=drop\n'.repeat(20_000); // more than a pipe holds: EPIPE
  await failsWith(t, r.run('ovs-ofctl', ['--bundle', 'add-flows', 'br0', '-'], { stdin: big }), 'unavailable', 'a bundle on stdin');
});

t.test('vswitchd dead, ovsdb up: ovs-ofctl is unavailable (stale socket), ovs-vsctl reads still work', async (t) => {
  const sb = await startOvs(t);
  const br = await sb.addBridge('a');
  await sb.killVswitchd();
  await failsWith(t, sb.runner.run('ovs-ofctl', ['dump-flows', br]), 'unavailable', 'dump-flows');
  t.equal((await sb.runner.run('ovs-vsctl', ['list-br'])).stdout, `${br}\n`);
  // A write waits for vswitchd to apply it: it never does, so the runner's timeout ends it.
  await failsWith(t, sb.runner.run('ovs-vsctl', ['add-br', sb.name('b')], { timeoutMs: 500 }), 'timeout', 'add-br');
});
