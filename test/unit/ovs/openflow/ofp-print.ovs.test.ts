// The independent witness: `ovs-ofctl ofp-print` (OVS's own decoder) reads the bytes our codec
// writes, and what it prints is the flow we meant (canonical match, cookie, actions). Needs
// ovs-ofctl; without it the test fails saying what to install.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { canonicalMatch, type Flow } from '../../../../src/ovs/flow.js';
import { encodeMessage } from '../../../../src/ovs/openflow/codec.js';
import { toOfFlow } from '../../../../src/ovs/openflow/flows.js';
import type { FlowModCommand, OfMessage } from '../../../../src/ovs/openflow/messages.js';
import { FIXTURE_FLOWS } from '../../../helpers/openflow-wire.js';

const run = promisify(execFile);

async function ofpPrint(m: OfMessage): Promise<string> {
  try {
    return (await run('ovs-ofctl', ['ofp-print', encodeMessage(m).toString('hex')])).stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('ovs-ofctl is missing: apt-get install openvswitch-common', { cause: e });
    throw e;
  }
}

const FLOWS: readonly Flow[] = [
  ...FIXTURE_FLOWS,
  { table: 3, priority: 7, cookie: 0xffff_ffff_ffff_fffen, match: 'ip,in_port=9,nw_src=10.0.0.0/255.0.255.0', actions: 'output:1,output:2' },
  { table: 0, priority: 65535, cookie: 1n, match: 'icmp,icmp_type=8,icmp_code=0', actions: 'drop' },
  { table: 0, priority: 5, cookie: 2n, match: 'tcp6,ipv6_dst=::ffff:0.0.0.0/96,tp_dst=443', actions: 'NORMAL' },
  { table: 0, priority: 5, cookie: 2n, match: 'udp,tp_src=53', actions: 'NORMAL' },
  { table: 0, priority: 0, cookie: 3n, match: '', actions: 'drop' },
];

const LINE = /^OFPT_FLOW_MOD \(OF1\.4\) \(xid=0x([0-9a-f]+)\): (ADD|MOD_STRICT|DEL_STRICT) (?:table:(\d+) )?priority=(\d+)(?:,(\S*))? (?:cookie:0x([0-9a-f]+)(\/0x[0-9a-f]+)? )?actions=(\S+)$/m;

t.test('ovs-ofctl ofp-print reads our flow mods as the flows we meant', async (t) => {
  for (const f of FLOWS) {
    for (const [command, word] of [
      ['add', 'ADD'],
      ['modify_strict', 'MOD_STRICT'],
      ['delete_strict', 'DEL_STRICT'],
    ] as [FlowModCommand, string][]) {
      const text = await ofpPrint({ type: 'flow_mod', xid: 0x2a, command, flow: toOfFlow(f) });
      const m = LINE.exec(text);
      t.ok(m, `${word} ${f.match}: ${text}`);
      if (m === null) continue;
      // A modify cannot change a cookie in OpenFlow 1.2+: its cookie is a filter, and ours has
      // mask 0 (as ovs-ofctl's), so ofp-print shows none.
      t.same(
        { xid: m[1], word: m[2], table: Number(m[3] ?? 0), priority: Number(m[4]), match: canonicalMatch(m[5] ?? ''), cookie: m[6] === undefined ? null : BigInt(`0x${m[6]}`), exact: m[7] === '/0xffffffffffffffff', actions: m[8] },
        { xid: '2a', word, table: f.table, priority: f.priority, match: canonicalMatch(f.match), cookie: command === 'modify_strict' ? null : f.cookie, exact: command === 'delete_strict', actions: command === 'delete_strict' ? 'drop' : f.actions },
        `${word} ${f.match}`,
      );
    }
  }
});

t.test('ovs-ofctl ofp-print reads our bundles and requests', async (t) => {
  const flow = toOfFlow(FIXTURE_FLOWS[0] as Flow);
  t.match(await ofpPrint({ type: 'bundle_control', xid: 1, bundleId: 7, control: 'commit_request', atomic: true, ordered: true }), /OFPT_BUNDLE_CONTROL \(OF1\.4\).*\n\s*bundle_id=0x7 type=COMMIT_REQUEST flags=atomic ordered/);
  const add = await ofpPrint({ type: 'bundle_add', xid: 2, bundleId: 7, atomic: true, ordered: false, message: { type: 'flow_mod', xid: 2, command: 'add', flow } });
  t.match(add, /bundle_id=0x7 flags=atomic\n/);
  t.match(add, /ADD priority=100,ip,nw_src=10\.1\.0\.0\/16,nw_dst=10\.2\.0\.0\/16 cookie:0x5eed00000000000a actions=NORMAL/);
  // ofp-print shows no cookie filter of a flow stats request, not even of ovs-ofctl's own (the
  // fixture test holds our bytes equal to those).
  t.match(await ofpPrint({ type: 'flow_stats_request', xid: 3, table: 255, cookie: 5n, cookieMask: 0xffff_ffff_ffff_ffffn }), /^OFPST_FLOW request \(OF1\.4\) \(xid=0x3\):/);
  t.match(await ofpPrint({ type: 'flow_monitor_request', xid: 4, monitorId: 1, table: 255, initial: true, noAbbrev: false }), /OFPST_FLOW_MONITOR request \(OF1\.4\)/);
  t.match(await ofpPrint({ type: 'hello', xid: 5, headerVersion: 5, versions: [5] }), /OFPT_HELLO \(OF1\.4\).*\n\s*version bitmap: 0x05/);
});
