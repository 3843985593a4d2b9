// The typed canonical form of a match: every field the daemon writes, every spelling OVS 3.1 was
// seen to print for it (test/integration/canonical-form.ovs.test.ts checks the same against a real
// OVS), and properties over generated blocks: all spellings of one meaning give one text, and the
// text reads back as itself.
import fc from 'fast-check';
import t from 'tap';
import { canonicalBlock, canonicalMatch, MatchSyntaxError, matchTemplate, parseMatch } from '../../../src/ovs/flow.js';

t.test('every field the daemon writes, as written and as OVS prints it', (t) => {
  const cases: [string, string, string][] = [
    // [what, written, as OVS 3.1 printed it]
    ['ip + v4 blocks', 'ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16', 'ip,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16'],
    ['/32 dropped', 'ip,nw_src=10.0.0.7/32', 'ip,nw_src=10.0.0.7'],
    ['host bits cleared', 'ip,nw_dst=10.1.2.3/16', 'ip,nw_dst=10.1.0.0/16'],
    ['a zero-length mask is omitted', 'ip,in_port=5,nw_src=0.0.0.0/0', 'ip,in_port=5'],
    ['the zero host is kept', 'ip,nw_src=0.0.0.0/32', 'ip,nw_src=0.0.0.0'],
    ['arp with IP field names', 'arp,nw_src=10.0.0.0/16,nw_dst=10.1.0.0/16', 'arp,arp_spa=10.0.0.0/16,arp_tpa=10.1.0.0/16'],
    ['arp /0 omitted', 'arp,in_port=5,arp_spa=0.0.0.0/0,arp_tpa=10.0.0.0/8', 'arp,in_port=5,arp_tpa=10.0.0.0/8'],
    ['ipv6 compressed, lower case', 'ipv6,ipv6_src=FD00:0000:0000:0000:0000:0000:0000:0000/64', 'ipv6,ipv6_src=fd00::/64'],
    ['/128 dropped', 'ipv6,ipv6_dst=fd00::1/128', 'ipv6,ipv6_dst=fd00::1'],
    ['IPv4-compatible printed dotted', 'ipv6,ipv6_src=::102:304', 'ipv6,ipv6_src=::1.2.3.4'],
    ['IPv4-compatible block printed dotted', 'ipv6,ipv6_src=::102:300/120', 'ipv6,ipv6_src=::1.2.3.0/120'],
    ['a low compat address stays hex', 'ipv6,ipv6_src=::100/120', 'ipv6,ipv6_src=::100/120'],
    ['IPv4-mapped printed dotted', 'ipv6,ipv6_dst=::ffff:0:0/96', 'ipv6,ipv6_dst=::ffff:0.0.0.0/96'],
    ['unspecified and loopback', 'ipv6,ipv6_src=::/128,ipv6_dst=::1', 'ipv6,ipv6_src=::,ipv6_dst=::1'],
    ['zero runs: the longer one wins', 'ipv6,ipv6_src=0:0:0:1:0:0:0:0/64', 'ipv6,ipv6_src=0:0:0:1::/64'],
    ['zero runs: the first of a tie', 'ipv6,ipv6_dst=1:0:0:0:1:0:0:0', 'ipv6,ipv6_dst=1::1:0:0:0'],
    ['one zero group is not compressed', 'ipv6,ipv6_src=1:0:1:1:1:1:1:1', 'ipv6,ipv6_src=1:0:1:1:1:1:1:1'],
    ['nd_target, fields reordered', 'icmp6,icmp_type=135,ipv6_src=fd00::/8,nd_target=fd49::/64', 'icmp6,ipv6_src=fd00::/8,icmp_type=135,nd_target=fd49::/64'],
    ['nd_target ::/0 omitted', 'icmp6,icmp_type=135,ipv6_src=::/1,nd_target=::/0', 'icmp6,ipv6_src=::/1,icmp_type=135'],
    ['ipv6 ::/0 omitted', 'ipv6,in_port=7,ipv6_src=::/0', 'ipv6,in_port=7'],
    ['in_port in hex', 'in_port=0x10', 'in_port=16'],
    ['dl_type for ip', 'dl_type=0x0800,nw_src=10.0.0.0/8', 'ip,nw_src=10.0.0.0/8'],
    ['ipv6 + nw_proto 58 is icmp6', 'ipv6,nw_proto=58,icmp_type=136', 'icmp6,icmp_type=136'],
  ];
  for (const [what, written, printed] of cases) {
    t.equal(canonicalMatch(written), canonicalMatch(printed), what);
    t.equal(canonicalMatch(canonicalMatch(written)), canonicalMatch(written), `${what}: the canonical text reads back as itself`);
  }
  t.end();
});

t.test('the canonical text: fields sorted, no dotted IPv6, prefixes as lengths', (t) => {
  t.equal(canonicalMatch('nw_src=10.1.2.3,in_port=1,ip,nw_dst=10.0.0.0/16'), 'in_port=1,ip,nw_dst=10.0.0.0/16,nw_src=10.1.2.3');
  t.equal(canonicalMatch('ipv6,ipv6_src=::ffff:1.2.3.4'), 'ipv6,ipv6_src=::ffff:102:304');
  t.equal(canonicalMatch('ip,nw_src=10.0.0.0/255.255.0.0'), 'ip,nw_src=10.0.0.0/16', 'a contiguous mask is a prefix');
  t.equal(canonicalMatch('ip,nw_src=10.0.0.1/255.0.0.255'), 'ip,nw_src=10.0.0.1/255.0.0.255', 'a mask with holes stays a mask');
  t.equal(canonicalMatch(''), '', 'the empty match');
  t.same(parseMatch('ip,nw_src=10.0.0.0/8'), {
    ethType: 0x0800,
    ipProto: null,
    fields: new Map([['nw_src', { kind: 'address', bits: 32, value: 0x0a00_0000n, mask: 0xff00_0000n }]]),
  }, 'addresses and masks as numbers');
  t.end();
});

t.test('what it cannot read is a MatchSyntaxError', (t) => {
  for (const bad of ['ip,,nw_src=10.0.0.0/8', 'ip,nw_src=10.0.0.256/8', 'ip,nw_src=10.0.0.0/33', 'ipv6,ipv6_src=1:::2', 'ipv6,ipv6_src=1:2:3:4:5:6:7:8:9', 'ip,nw_src=1.2.3.4,nw_src=1.2.3.5', 'ip,ipv6', 'in_port=0x1ffffffff', 'ipv6,ipv6_src=::1.2.3']) {
    t.throws(() => canonicalMatch(bad), MatchSyntaxError, bad);
  }
  t.end();
});

t.test('matchTemplate fills holes as canonicalMatch would, leaving out match-everything blocks', (t) => {
  const m = matchTemplate('ip,in_port={p},nw_src={q},nw_dst={l}');
  t.equal(m({ p: '5', q: '10.1.0.0/16', l: '10.0.0.0/16' }), canonicalMatch('ip,in_port=5,nw_src=10.1.0.0/16,nw_dst=10.0.0.0/16'));
  t.equal(m({ p: '5', q: '10.1.0.0/16', l: null }), 'in_port=5,ip,nw_src=10.1.0.0/16');
  t.equal(matchTemplate('arp,nw_src={l}')({ l: '10.0.0.0/8' }), 'arp,arp_spa=10.0.0.0/8', 'aliases apply to holes');
  t.throws(() => m({ p: '5', q: null }), /no value for \{l\}/);
  t.equal(canonicalBlock('0.0.0.0/0'), null);
  t.equal(canonicalBlock('10.0.0.1/32'), '10.0.0.1');
  t.equal(canonicalBlock('::102:300/120'), '::102:300/120');
  t.end();
});

/** An IPv6 address in a spelling OVS or a person might use: full, compressed, upper case, dotted tail. */
function spellings6(n: bigint): string[] {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
  const dotted = `${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:${[24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.')}`;
  return [full, full.toUpperCase(), dotted];
}

const v6 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  // Sparse groups: runs of zeros of every length and place, for `::`.
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((gs) => gs.reduce((a, g) => (a << 16n) | BigInt(g), 0n)),
  // IPv4-compatible and IPv4-mapped.
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }).map((x) => 0xffff_0000_0000n | x),
);

t.test('property: every spelling of one IPv6 block gives one canonical text, which reads back as itself', (t) => {
  fc.assert(
    fc.property(v6, fc.integer({ min: 0, max: 128 }), (addr, len) => {
      const texts = spellings6(addr).map((s) => canonicalMatch(`ipv6,ipv6_src=${s}/${len}`));
      const first = texts[0] as string;
      return texts.every((x) => x === first) && canonicalMatch(first) === first && !/\d+\.\d+\.\d+\.\d+/.test(first) && (len > 0 || first === 'ipv6');
    }),
    { seed: 8, numRuns: 2000 },
  );
  t.end();
});

t.test('property: an IPv4 block with host bits set, as a prefix or a mask, gives one canonical text', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 32 }), (n, len) => {
      const dotted = (x: number): string => [24, 16, 8, 0].map((s) => String((x >>> s) & 0xff)).join('.');
      const mask = len === 0 ? 0 : (0xffff_ffff << (32 - len)) >>> 0;
      const a = canonicalMatch(`ip,nw_dst=${dotted(n)}/${len}`);
      const b = canonicalMatch(`ip,nw_dst=${dotted(n)}/${dotted(mask)}`);
      const c = canonicalMatch(`ip,nw_dst=${dotted((n & mask) >>> 0)}${len === 32 ? '' : `/${len}`}`);
      return a === b && b === c && canonicalMatch(a) === a && (len > 0 || a === 'ip');
    }),
    { seed: 8, numRuns: 2000 },
  );
  t.end();
});
