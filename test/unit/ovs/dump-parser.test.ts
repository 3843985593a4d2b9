// The dump-flows parser against output captured from a real OVS 3.1 (test/fixtures/ovs/README.md
// says how): each fixture holds flows added from known bundle lines, so the expected Flows are
// those lines in canonical form, and they must come back equal (sameFlow).
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { canonicalMatch, type Flow, sameFlow } from '../../../src/ovs/flow.js';
import { parseDumpFlows, parseFlowLine } from '../../../src/ovs/dump-parser.js';
import { OvsError } from '../../../src/ovs/runner.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/ovs/${name}`, import.meta.url), 'utf8');

/** A flow as it was written when the fixture was captured (any spelling OVS accepts). */
const flow = (cookie: bigint, table: number, priority: number, match: string, actions: string): Flow => ({
  cookie,
  table,
  priority,
  match: match === '' ? '' : canonicalMatch(match),
  actions,
});

function assertSameFlows(t: Test, got: Flow[], want: Flow[]): void {
  t.equal(got.length, want.length, `${want.length} flows`);
  for (const w of want) {
    t.ok(
      got.some((g) => sameFlow(g, w)),
      `found ${w.table}/${w.priority}/${w.match} → ${w.actions}`,
    );
  }
}

const A = 0x5ee0_aaaa_aaaa_aaaan;
const B = 0x5ee0_bbbb_bbbb_bbbbn;
const CANARY = flow(0x5ee0_0000_0000_0000n, 250, 0, '', 'drop');
const PLATFORM = flow(0x1234n, 0, 0, '', 'NORMAL');

const V4 = [
  flow(A, 0, 100, 'ip,nw_dst=10.1.0.0/16,nw_src=10.0.0.0/16', 'output:1'),
  flow(A, 0, 100, 'arp,arp_spa=10.0.0.0/16,arp_tpa=10.1.0.0/16', 'output:1'),
  flow(A, 0, 100, 'in_port=1,ip,nw_dst=10.0.0.0/16,nw_src=10.1.0.0/16', 'NORMAL'),
  flow(A, 0, 100, 'arp,arp_spa=10.1.0.0/16,arp_tpa=10.0.0.0/16,in_port=1', 'NORMAL'),
  flow(A, 0, 100, 'ip,nw_dst=10.1.2.3/32,nw_src=192.168.7.9/32', 'output:1'),
  flow(A, 0, 100, 'arp,arp_spa=192.168.7.9/32,arp_tpa=10.1.2.3/32', 'output:1'),
  flow(A, 0, 99, 'in_port=1', 'drop'),
  CANARY,
];

const V6 = [
  flow(B, 0, 100, 'ipv6,ipv6_dst=FD00:0B:0000:0:0:0:0:0/64,ipv6_src=fd00:000a:0:0::/64', 'output:1'),
  flow(B, 0, 100, 'icmp6,icmp_type=135,nd_target=fd00:b:0:0:0:0:0:0/64', 'output:1'),
  flow(B, 0, 100, 'icmp6,icmp_type=136,nd_target=fd00:b::/64', 'output:1'),
  flow(B, 0, 100, 'in_port=1,ipv6,ipv6_dst=fd00:a::/64,ipv6_src=fd00:b::/64', 'NORMAL'),
  flow(B, 0, 100, 'icmp6,icmp_type=135,in_port=1,nd_target=fd00:a::/64', 'NORMAL'),
  flow(B, 0, 100, 'icmp6,icmp_type=136,in_port=1,nd_target=fd00:a::/64', 'NORMAL'),
  flow(B, 0, 100, 'ipv6,ipv6_dst=2001:db8:0:0:1:0:0:1/128,ipv6_src=fd00::1:0:0:0:1/128', 'output:1'),
  flow(B, 0, 100, 'icmp6,icmp_type=135,nd_target=2001:DB8::1:0:0:1/128', 'output:1'),
  flow(B, 0, 99, 'in_port=1', 'drop'),
  CANARY,
];

t.test('v4: ip, arp (nw_* written, arp_* dumped), /32 host matches, NORMAL, output, drop, table 250', (t) => {
  assertSameFlows(t, parseDumpFlows(fixture('dump-v4.txt')), V4);
  t.end();
});

t.test('v6: uncompressed and upper-case spellings, icmp6 nd_target for types 135 and 136, /128', (t) => {
  assertSameFlows(t, parseDumpFlows(fixture('dump-v6.txt')), V6);
  t.end();
});

t.test('foreign cookies, a zero cookie (not printed), the default priority, timeouts', (t) => {
  assertSameFlows(t, parseDumpFlows(fixture('dump-v4-all-cookies.txt')), [...V4, PLATFORM]);
  const all = parseDumpFlows(fixture('dump-v6-all-cookies.txt'));
  assertSameFlows(t, all, [
    ...V6,
    PLATFORM,
    flow(0n, 0, 1, 'ipv6', 'drop'),
    // ` cookie=0x77, table=3, actions=drop`: no priority (32768) and no match.
    flow(0x77n, 3, 32768, '', 'drop'),
    // Attributes we never set make the flow differ from any desired one.
    flow(0x78n, 0, 5, 'ip,nw_src=10.9.0.0/16', 'drop [idle_timeout=600,hard_timeout=900]'),
  ]);
  t.end();
});

t.test('many flows: 250 peerings × 4', (t) => {
  const want: Flow[] = [];
  for (let i = 0; i < 250; i++) {
    const cookie = 0x5ee0_0000_0000_1000n + BigInt(i);
    const port = 1 + (i % 100);
    const a = `100.${i}.0.0/16`;
    const b = `172.${16 + (i % 16)}.${i}.0/24`;
    want.push(
      flow(cookie, 0, 100, `ip,nw_dst=${b},nw_src=${a}`, `output:${port}`),
      flow(cookie, 0, 100, `arp,arp_spa=${a},arp_tpa=${b}`, `output:${port}`),
      flow(cookie, 0, 100, `in_port=${port},ip,nw_dst=${a},nw_src=${b}`, 'NORMAL'),
      flow(cookie, 0, 100, `in_port=${port},ipv6,ipv6_dst=fd00:${i.toString(16)}::/64,ipv6_src=fd01:${i.toString(16)}::/64`, 'NORMAL'),
    );
  }
  assertSameFlows(t, parseDumpFlows(fixture('dump-many.txt')), want);
  t.end();
});

t.test('reply headers and blank lines are skipped', (t) => {
  const text = `NXST_FLOW reply (xid=0x4):\n\n${fixture('dump-v4.txt')}\nOFPST_FLOW reply (OF1.3) (xid=0x2):\n\n`;
  assertSameFlows(t, parseDumpFlows(text), V4);
  t.same(parseDumpFlows(''), [], 'an empty table');
  t.end();
});

t.test('the canonical form is what the renderer writes: sorted tokens, host prefixes dropped', (t) => {
  const f = parseFlowLine(' cookie=0x5ee0aaaaaaaaaaaa, priority=100,ip,in_port=1,nw_src=10.1.2.3,nw_dst=10.0.0.0/16 actions=NORMAL');
  t.same(f, { table: 0, priority: 100, cookie: A, match: 'in_port=1,ip,nw_dst=10.0.0.0/16,nw_src=10.1.2.3', actions: 'NORMAL' });
  t.end();
});

t.test('a line it cannot read is bad-output, naming the line', (t) => {
  const bad = [
    'garbage',
    ' cookie=0x5ee0, priority=100,ip',
    ' cookie=0x5ee0, priority=100,ip actions=',
    ' cookie=0xZZ, priority=100,ip actions=drop',
    ' cookie=0x12345678901234567, priority=1 actions=drop',
    ' cookie=0x1, table=x, priority=1 actions=drop',
    ' cookie=0x1, table=255, priority=1 actions=drop',
    ' cookie=0x1, priority=99999,ip actions=drop',
    ' cookie=0x1, priority=1,ip,,nw_src=10.0.0.0/8 actions=drop',
    ' cookie=0x1, two words, priority=1 actions=drop',
    ' cookie=0x1, priority=1,ip, actions=drop',
  ];
  for (const line of bad) {
    const err = catchError(() => parseDumpFlows(`${fixture('dump-v4.txt')}${line}\n`));
    t.ok(err instanceof OvsError && err.kind === 'bad-output', `bad-output: ${line}`);
    t.ok(err instanceof Error && err.message.includes(JSON.stringify(line)), 'the message names the line');
  }
  t.end();
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
