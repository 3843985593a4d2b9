// Captures the OpenFlow 1.4 fixtures of test/fixtures/openflow/ from a real Open vSwitch: how
// they were made, and how to make them again (as root, OVS installed):
//
//   npx tap scripts/capture-openflow.ts
//
// 1. ovs-*.hex: what ovs-vswitchd answers on a private sandbox bridge's `<bridge>.mgmt` socket
//    (test/helpers/ovs.ts) to hand-built requests: hello, flow stats, flow monitor updates
//    (initial, ours abbreviated, another controller's added / modified / removed), error
//    replies (bad prerequisite, a bundle that is not open), bundle replies, echo.
// 2. ofctl-*.hex: what `ovs-ofctl -O OpenFlow14` sends for add-flow, --strict mod/del-flows,
//    --bundle add-flow, dump-flows and monitor, recorded by a fake switch (openflow-wire.ts).
// Run under tap only for its teardown of the sandbox; it asserts only that each capture came.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { encodeMessage } from '../src/ovs/openflow/codec.js';
import { toOfFlow } from '../src/ovs/openflow/flows.js';
import type { Flow } from '../src/ovs/flow.js';
import type { OfMessage } from '../src/ovs/openflow/messages.js';
import { startOvs } from '../test/helpers/ovs.js';
import { COOKIE, FIXTURE_FLOWS, fakeSwitch, headerOf, isType, ofConnect, writeHexFixture } from '../test/helpers/openflow-wire.js';

const OUT = join(import.meta.dirname, '..', 'test', 'fixtures', 'openflow');
/** Runs a command to its end (or its timeout) and gives its stderr. */
function run(cmd: string, args: string[], timeoutMs = 5000): Promise<string> {
  // ovs-ofctl monitor never ends: it is stopped by the timeout once its request was recorded.
  return new Promise((resolve) => execFile(cmd, args, { timeout: timeoutMs }, (_e, _out, err) => resolve(String(err))));
}

void t.test('capture from ovs-vswitchd', async (t) => {
  mkdirSync(OUT, { recursive: true });
  const sb = await startOvs(t, { name: 'ofcap' });
  const br = await sb.addBridge('of');
  const c = await ofConnect(join(sb.rundir, `${br}.mgmt`));
  t.teardown(() => c.close());
  let xid = 100;
  const send = (m: OfMessage): void => c.send(encodeMessage(m));
  const save = (name: string, comment: string, frame: Buffer): void => {
    writeHexFixture(join(OUT, `${name}.hex`), comment, frame);
    t.pass(`${name}: ${frame.length} bytes`);
  };

  send({ type: 'hello', xid: 1, headerVersion: 5, versions: [5] });
  save('ovs-hello', "ovs-vswitchd 3.1's hello on a bridge's mgmt socket", await c.frames.next('hello', isType(0)));

  // The monitor first, so our own adds come back abbreviated.
  send({ type: 'flow_monitor_request', xid: 2, monitorId: 1, table: 0xff, initial: true, noAbbrev: false });
  save('ovs-monitor-initial', 'flow monitor reply to OFPFMF_INITIAL: the platform NORMAL flow', await c.frames.next('monitor reply', isType(19, 2)));

  for (const f of FIXTURE_FLOWS) send({ type: 'flow_mod', xid: ++xid, command: 'add', flow: toOfFlow(f) });
  const barrier = xid + 1;
  send({ type: 'barrier_request', xid: barrier });
  await c.frames.next('barrier reply', isType(21, barrier));
  save('ovs-monitor-abbrev', 'flow monitor update: our own first add, abbreviated (its xid 101)', await c.frames.next('abbrev', (f) => isType(19, 0)(f) && f.readUInt16BE(18) === 4));

  // Another controller's changes: a flow with a field and an action outside our subset too.
  await sb.ofctl('-O', 'OpenFlow14', 'add-flow', br, 'cookie=0x77,priority=50,ip,nw_src=10.9.0.0/16,actions=output:2');
  save('ovs-monitor-added', "flow monitor update: another controller's add (cookie 0x77)", await c.frames.next('added', (f) => isType(19, 0)(f) && f.readUInt16BE(18) === 1));
  await sb.ofctl('-O', 'OpenFlow14', '--strict', 'mod-flows', br, 'cookie=0x77,priority=50,ip,nw_src=10.9.0.0/16,actions=NORMAL');
  save('ovs-monitor-modified', "flow monitor update: another controller's modify", await c.frames.next('modified', (f) => isType(19, 0)(f) && f.readUInt16BE(18) === 3));
  await sb.ofctl('-O', 'OpenFlow14', '--strict', 'del-flows', br, 'priority=50,ip,nw_src=10.9.0.0/16');
  save('ovs-monitor-removed', "flow monitor update: another controller's delete", await c.frames.next('removed', (f) => isType(19, 0)(f) && f.readUInt16BE(18) === 2));
  await sb.ofctl('-O', 'OpenFlow14', 'add-flow', br, 'cookie=0x88,priority=60,dl_src=aa:00:00:00:00:01,actions=mod_dl_dst:aa:00:00:00:00:02,output:1');
  save('ovs-monitor-untyped', 'flow monitor update: a flow whose match (dl_src) and actions (mod_dl_dst) are outside the subset', await c.frames.next('added untyped', (f) => isType(19, 0)(f) && f.readUInt16BE(18) === 1));

  send({ type: 'flow_stats_request', xid: 200, table: 0xff, cookie: 0n, cookieMask: 0n });
  save('ovs-flow-stats', 'flow stats reply: every flow (ours, the platform flow, the untyped 0x88)', await c.frames.next('flow stats', isType(19, 200)));
  send({ type: 'flow_stats_request', xid: 201, table: 0xff, cookie: COOKIE, cookieMask: 0xffff_ffff_ffff_ffffn });
  save('ovs-flow-stats-cookie', 'flow stats reply: our cookie only', await c.frames.next('flow stats', isType(19, 201)));

  // A flow mod whose ipv4_src has no eth_type: our encoder refuses it, so the bytes are hand-made
  // from a valid one (in_port=7 → ipv4_src=10.0.0.1 of the same 8 bytes).
  const good = encodeMessage({ type: 'flow_mod', xid: 300, command: 'add', flow: toOfFlow(FIXTURE_FLOWS[4] as Flow) });
  const bad = Buffer.from(good);
  Buffer.from('80001604' + '0a000001', 'hex').copy(bad, 52);
  c.send(bad);
  save('ovs-error-bad-prereq', 'error reply to a flow mod whose ipv4_src lacks eth_type (OFPET_BAD_MATCH, OFPBMC_BAD_PREREQ)', await c.frames.next('error', isType(1, 300)));

  send({ type: 'bundle_control', xid: 400, bundleId: 9, control: 'open_request', atomic: true, ordered: true });
  save('ovs-bundle-open-reply', 'bundle open reply (bundle 9, atomic ordered)', await c.frames.next('open reply', isType(33, 400)));
  send({ type: 'bundle_add', xid: 401, bundleId: 9, atomic: true, ordered: true, message: { type: 'flow_mod', xid: 401, command: 'delete_strict', flow: toOfFlow(FIXTURE_FLOWS[4] as Flow) } });
  const badAdd = Buffer.from(bad);
  badAdd.writeUInt32BE(402, 4);
  const wrapped = Buffer.alloc(16);
  wrapped.writeUInt8(5, 0);
  wrapped.writeUInt8(34, 1);
  wrapped.writeUInt16BE(16 + badAdd.length, 2);
  wrapped.writeUInt32BE(402, 4);
  wrapped.writeUInt32BE(9, 8);
  wrapped.writeUInt16BE(3, 14);
  c.send(Buffer.concat([wrapped, badAdd]));
  save('ovs-error-bundle-add', 'error reply to a bundle add carrying a flow mod with a bad prerequisite', await c.frames.next('bundle add error', isType(1, 402)));
  send({ type: 'bundle_control', xid: 403, bundleId: 9, control: 'commit_request', atomic: true, ordered: true });
  const commit = await c.frames.next('commit answer', (f) => headerOf(f).xid === 403);
  save(commit[1] === 1 ? 'ovs-error-bundle-commit' : 'ovs-bundle-commit-reply', 'answer to the commit of bundle 9 after a failed add', commit);
  send({ type: 'bundle_control', xid: 404, bundleId: 77, control: 'commit_request', atomic: true, ordered: true });
  save('ovs-error-bundle-bad-id', 'error reply to the commit of a bundle never opened (OFPET_BUNDLE_FAILED)', await c.frames.next('bad id error', isType(1, 404)));

  send({ type: 'echo_request', xid: 500, data: Buffer.from('ping') });
  save('ovs-echo-reply', 'echo reply carrying "ping"', await c.frames.next('echo reply', isType(3, 500)));
});

void t.test('capture what ovs-ofctl sends', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'of-capture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'x.sock');
  const sw = await fakeSwitch(sock);
  t.teardown(() => sw.close());
  const target = `unix:${sock}`;
  const capture = async (name: string, comment: string, type: number, args: string[], timeoutMs?: number): Promise<void> => {
    const from = sw.received.length;
    const stderr = await run('ovs-ofctl', ['-O', 'OpenFlow14', '--no-names', ...args], timeoutMs);
    const frames = sw.received.slice(from).filter((f) => f[1] === type);
    t.ok(frames.length > 0, `${name}: ovs-ofctl sent type ${type}`, { stderr, types: sw.received.slice(from).map((f) => f[1]) });
    frames.forEach((f, i) => writeHexFixture(join(OUT, `${name}${frames.length > 1 ? `-${i + 1}` : ''}.hex`), `${comment}\novs-ofctl -O OpenFlow14 --no-names ${args.join(' ').replace(target, 'unix:SOCK')}`, f));
  };
  const [f0, f1, , f3] = FIXTURE_FLOWS as [Flow, Flow, Flow, Flow, Flow];
  const text = (f: Flow): string => `cookie=0x${f.cookie.toString(16)},table=${f.table},priority=${f.priority},${f.match},actions=${f.actions}`;
  await capture('ofctl-add-ip', 'flow mod add (ovs-ofctl)', 14, ['add-flow', target, text(f0)]);
  await capture('ofctl-add-icmp6', 'flow mod add (ovs-ofctl)', 14, ['add-flow', target, text(f3)]);
  await capture('ofctl-add-drop', 'flow mod add (ovs-ofctl)', 14, ['add-flow', target, text(FIXTURE_FLOWS[4] as Flow)]);
  await capture('ofctl-mod-strict', 'flow mod modify_strict (ovs-ofctl)', 14, ['--strict', 'mod-flows', target, text(f1)]);
  await capture('ofctl-del-strict', 'flow mod delete_strict (ovs-ofctl)', 14, ['--strict', 'del-flows', target, `cookie=0x${f1.cookie.toString(16)}/-1,table=0,priority=${f1.priority},${f1.match}`]);
  await capture('ofctl-bundle-control', 'bundle control (ovs-ofctl --bundle)', 33, ['--bundle', 'add-flow', target, text(f0)]);
  await capture('ofctl-bundle-add', 'bundle add (ovs-ofctl --bundle)', 34, ['--bundle', 'add-flow', target, text(f0)]);
  await capture('ofctl-dump-flows', 'flow stats request (ovs-ofctl dump-flows)', 18, ['dump-flows', target, `cookie=0x${COOKIE.toString(16)}/-1`]);
  await capture('ofctl-monitor', 'flow monitor request (ovs-ofctl monitor)', 18, ['monitor', target, 'watch:'], 1500);
});
