import t from 'tap';
import { cidrsOverlap, parseCidrStrict, sameCidrSet } from '../../../src/domain/cidr.js';
import { normaliseCidrs } from '../../../src/domain/validate.js';
import { Catalogue, type Reason, RpcError } from '../../../src/errors.js';

t.test('parseCidrStrict accepts and normalises IPv4 and IPv6', (t) => {
  const cases: [string, string, 4 | 6][] = [
    ['10.0.0.1/16', '10.0.0.0/16', 4],
    ['10.0.0.0/8', '10.0.0.0/8', 4],
    ['192.168.1.77/32', '192.168.1.77/32', 4],
    ['0.0.0.0/0', '0.0.0.0/0', 4],
    ['255.255.255.255/24', '255.255.255.0/24', 4],
    ['172.16.5.4/12', '172.16.0.0/12', 4],
    ['2001:DB8::1/32', '2001:db8::/32', 6],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1/128', 6],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128', 6], // first of two equal runs (RFC 5952)
    ['2001:0:0:1:0:0:0:1/128', '2001:0:0:1::1/128', 6], // the longest run
    ['fd00:1:2:3:4:5:6:7/48', 'fd00:1:2::/48', 6],
    ['fe80::1/64', 'fe80::/64', 6],
    ['::1/128', '::1/128', 6],
    ['::/112', '::/112', 6], // below the mapped range
    ['1:2:3:4:5:6:7::/128', '1:2:3:4:5:6:7:0/128', 6],
    ['64:ff9b::10.0.0.0/120', '64:ff9b::a00:0/120', 6], // NAT64 is plain IPv6
    ['1:2:3:4:5:6:1.2.3.4/128', '1:2:3:4:5:6:102:304/128', 6],
  ];
  for (const [text, cidr, family] of cases) t.same(parseCidrStrict(text), { ok: true, cidr, family }, text);
  t.end();
});

t.test('parseCidrStrict refuses garbage that cidr-tools would accept', (t) => {
  const garbage = [
    '', ' ', '10.0.0.0/16 ', ' 10.0.0.0/16', '10.0.0.0 /16', '10.0.0.0/ 16', '10.0.0.0/16\n',
    '10.0.0.256/24', '256.0.0.0/8', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '/33', '/8',
    '1.2.3/8', '1.2.3.4.5/8', '1.2.3.4', '10.0.0.0', '010.1.2.3/8', '10.01.2.3/8', '10.0.0.0/08',
    '10.0.0.0/016', '10.0.0.0/1e1', '10.0.0.0/16/8', '0x0a.0.0.0/8', '10.0.0.0/16%',
    '::g/64', '2001:db8::/129', '2001:db8::/0128', '2001:db8/32', '1::2::3/64', ':::/64', ':1::/64',
    '1::2:/64', '12345::/16', '1:2:3:4:5:6:7:8:9/128', '1:2:3:4:5:6:7/128', 'fe80::1%eth0/64',
    '::1.2.3/128', '::1.2.3.256/128', '1:2:3:4:5:6:7:1.2.3.4/128', '１0.0.0.0/8', '10.0.0.0／8',
    'a'.repeat(100_000) + '/8', 'x/8', 'localhost/8',
  ];
  for (const text of garbage) {
    const r = parseCidrStrict(text);
    t.equal(r.ok, false, JSON.stringify(text.slice(0, 40)));
    if (!r.ok) t.type(r.why, 'string');
  }
  t.end();
});

t.test('parseCidrStrict refuses IPv6 blocks touching the IPv4-mapped range', (t) => {
  for (const text of ['::ffff:10.0.0.0/104', '::ffff:a00:0/104', '::ffff:0:0/96', '::ffff:1.2.3.4/128', '::/64', '::/0']) {
    t.equal(parseCidrStrict(text).ok, false, text);
  }
  t.equal(parseCidrStrict('::fffe:0:0/96').ok, true, 'the neighbouring block is fine');
  t.end();
});

t.test('normaliseCidrs: 1 to 5 blocks, normalised, disjoint', (t) => {
  t.same(normaliseCidrs(['10.0.0.1/16']), ['10.0.0.0/16']);
  t.same(
    normaliseCidrs(['10.0.0.0/16', '10.1.0.0/16', '192.168.0.0/24', '2001:DB8::/48', '10.2.3.4/16']),
    ['10.0.0.0/16', '10.1.0.0/16', '192.168.0.0/24', '2001:db8::/48', '10.2.0.0/16'],
    'five blocks, order kept',
  );
  t.same(normaliseCidrs(['10.0.0.0/8', '::fffe:a00:0/104']), ['10.0.0.0/8', '::fffe:a00:0/104'], 'v4 never overlaps v6');

  const refusals: [string, string[], Reason, Record<string, unknown>][] = [
    ['none', [], 'INVALID_PARAMS', { field: 'cidrs' }],
    ['six', ['10.0.0.0/16', '10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16', '10.5.0.0/16'], 'INVALID_PARAMS', { field: 'cidrs' }],
    ['garbage at index 1', ['10.0.0.0/16', '10.0.0.256/24'], 'INVALID_PARAMS', { field: 'cidrs[1]' }],
    ['nested', ['10.0.0.0/8', '10.1.0.0/16'], 'CIDR_OVERLAP', { cidr: '10.0.0.0/8', conflictsWith: '10.1.0.0/16' }],
    ['duplicate spelt differently', ['10.0.0.1/16', '10.0.0.0/16'], 'CIDR_OVERLAP', { cidr: '10.0.0.0/16', conflictsWith: '10.0.0.0/16' }],
    ['IPv6 nested', ['2001:db8::/32', '2001:db8:1::/48'], 'CIDR_OVERLAP', { cidr: '2001:db8::/32' }],
    ['IPv6 duplicate', ['2001:db8::/48', '2001:DB8:0::/48'], 'CIDR_OVERLAP', { cidr: '2001:db8::/48' }],
  ];
  for (const [what, list, reason, data] of refusals) {
    t.throws(() => normaliseCidrs(list), { reason, code: Catalogue[reason][0], data }, what);
  }
  t.throws(() => normaliseCidrs(['10.0.0.0/8', '10.1.0.0/16']), RpcError);
  t.end();
});

t.test('cidrsOverlap finds the first overlapping pair, per family', (t) => {
  const cases: [string[], string[], [string, string] | null][] = [
    [['10.0.0.0/16'], ['10.1.0.0/16'], null],
    [['10.0.0.0/16'], ['10.0.1.0/24'], ['10.0.0.0/16', '10.0.1.0/24']],
    [['10.0.1.0/24'], ['10.0.0.0/16'], ['10.0.1.0/24', '10.0.0.0/16']],
    [['10.0.0.0/24'], ['10.0.0.255/32'], ['10.0.0.0/24', '10.0.0.255/32']],
    [['10.0.0.0/24'], ['10.0.1.0/32'], null],
    [['0.0.0.0/0'], ['192.168.0.0/16'], ['0.0.0.0/0', '192.168.0.0/16']],
    [['192.168.0.0/16', '10.0.0.0/8'], ['172.16.0.0/12', '10.9.0.0/16'], ['10.0.0.0/8', '10.9.0.0/16']],
    [['2001:db8::/32'], ['2001:db8:ffff::/48'], ['2001:db8::/32', '2001:db8:ffff::/48']],
    [['2001:db8::/32'], ['2001:db9::/32'], null],
    [['10.0.0.0/8'], ['::fffe:a00:0/104', '2001:db8::/32'], null],
    [['0.0.0.0/0'], ['2000::/3'], null],
    [[], ['10.0.0.0/8'], null],
  ];
  for (const [a, b, want] of cases) t.same(cidrsOverlap(a, b), want, `${a.join(',')} vs ${b.join(',')}`);
  t.end();
});

t.test('sameCidrSet ignores order', (t) => {
  t.equal(sameCidrSet(['10.0.0.0/16', '10.1.0.0/16'], ['10.1.0.0/16', '10.0.0.0/16']), true);
  t.equal(sameCidrSet(['10.0.0.0/16'], ['10.0.0.0/16', '10.1.0.0/16']), false);
  t.equal(sameCidrSet(['10.0.0.0/16'], ['10.0.0.0/17']), false);
  t.end();
});
