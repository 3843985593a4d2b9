// The OpenFlow vocabulary of the daemon: a flow of ours, its match in one typed canonical form
// shared by the desired-flow renderer and the dump-flows parser, and the bundle lines that
// install flows. Pure: no I/O.
//
// Flows are compared by meaning, not by spelling (SPEC §7). A match, as written or as OVS prints
// it, is parsed into typed fields (parseMatch): addresses and their masks as numbers, the value
// reduced by its mask, a field whose mask matches everything dropped (OVS omits it: `nw_src=
// 0.0.0.0/0` is printed as nothing), the protocol as (eth type, IP protocol) whatever keyword or
// field spelt it, integers as numbers. That form is then printed one way only (renderMatch), in a
// syntax ovs-ofctl reads back, so two matches mean the same exactly when their canonical texts
// are equal. What OVS 3.1 was seen to print otherwise than we write (test/integration/
// canonical-form.ovs.test.ts checks every case against a real OVS):
// - a field with a zero-length mask is omitted; `/32` and `/128` are omitted;
// - host bits under the mask are cleared (`10.1.2.3/16` → `10.1.0.0/16`);
// - IPv6 is compressed and lower-cased; an IPv4-compatible address (`::102:304`, first 96 bits
//   zero, last 32 not 0 or 1 alone) and an IPv4-mapped one (`::ffff:a.b.c.d`) are printed in
//   dotted form (`::1.2.3.4`, `::ffff:0.0.0.0/96`), as glibc's inet_ntop prints them;
// - `arp,nw_src=`/`nw_dst=` become `arp_spa=`/`arp_tpa=`; fields are printed in OVS's own order;
// - `actions=` (none) becomes `drop`, `normal` becomes `NORMAL`.

/** One flow of ours, in canonical form. */
export interface Flow {
  readonly table: number;
  readonly priority: number;
  /** The full 64-bit cookie. */
  readonly cookie: bigint;
  /** Canonical match (renderMatch of parseMatch), e.g. `in_port=5,ip,nw_src=10.0.0.0/16`; '' matches everything. */
  readonly match: string;
  /** Canonical actions (e.g. `output:5`, `NORMAL`, `drop`). */
  readonly actions: string;
}

/** What identifies a flow in a table (OpenFlow's strict identity): two flows with one key are one flow. */
export function flowKey(f: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  return `${f.table}/${f.priority}/${f.match}`;
}

/** The order of a table as the daemon lists it: by table, priority (highest first), then match text. */
export function compareFlows(a: Flow, b: Flow): number {
  return a.table - b.table || b.priority - a.priority || (a.match < b.match ? -1 : a.match > b.match ? 1 : 0);
}

/** Same flow, same behaviour: equal key, cookie and actions. */
export function sameFlow(a: Flow, b: Flow): boolean {
  return flowKey(a) === flowKey(b) && a.cookie === b.cookie && a.actions === b.actions;
}

/** Equal lists of flows, in the same order; cheap when they are the same objects (DesiredCache keeps them). */
export function sameFlows(a: readonly Flow[], b: readonly Flow[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Flow;
    const y = b[i] as Flow;
    if (x !== y && !sameFlow(x, y)) return false;
  }
  return true;
}

/** An address field: `value` already reduced by `mask` (both as unsigned numbers of `bits` bits). */
export interface AddressValue {
  readonly kind: 'address';
  readonly bits: 32 | 128;
  readonly value: bigint;
  readonly mask: bigint;
}

/** A field with an integer value (in_port, icmp_type, ...). */
export interface IntegerValue {
  readonly kind: 'integer';
  readonly value: number;
}

/** A field whose value the daemon never writes and does not interpret: kept as printed. */
export interface OpaqueValue {
  readonly kind: 'opaque';
  readonly text: string;
}

export type FieldValue = AddressValue | IntegerValue | OpaqueValue;

/**
 * A match in typed canonical form. `ethType`/`ipProto` come from a protocol keyword (`ip`,
 * `arp`, `icmp6`, ...) or from `dl_type=`/`nw_proto=`; `fields` holds every other field that
 * constrains something, by its canonical name.
 */
export interface Match {
  readonly ethType: number | null;
  readonly ipProto: number | null;
  readonly fields: ReadonlyMap<string, FieldValue>;
}

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;

/** Protocol keywords as OVS reads and prints them (lib/meta-flow: the shorthands of ofp-protocol). */
const PROTOCOLS: readonly (readonly [string, number, number | null])[] = [
  ['ip', ETH_IP, null],
  ['icmp', ETH_IP, 1],
  ['tcp', ETH_IP, 6],
  ['udp', ETH_IP, 17],
  ['sctp', ETH_IP, 132],
  ['arp', ETH_ARP, null],
  ['ipv6', ETH_IPV6, null],
  ['icmp6', ETH_IPV6, 58],
  ['tcp6', ETH_IPV6, 6],
  ['udp6', ETH_IPV6, 17],
  ['sctp6', ETH_IPV6, 132],
];
const PROTOCOL_BY_NAME = new Map(PROTOCOLS.map(([name, eth, proto]) => [name, { eth, proto }]));

const V4_FIELDS = new Set(['nw_src', 'nw_dst', 'arp_spa', 'arp_tpa']);
const V6_FIELDS = new Set(['ipv6_src', 'ipv6_dst', 'nd_target']);
/** Integer fields the daemon writes or may meet on its own flows; printed in decimal. */
const INTEGER_FIELDS = new Set(['in_port', 'icmp_type', 'icmp_code', 'nw_tos', 'nw_ttl', 'tp_src', 'tp_dst']);
/** ARP matches written with IP field names, as OVS renames them. */
const ARP_ALIASES: Readonly<Record<string, string>> = { nw_src: 'arp_spa', nw_dst: 'arp_tpa' };
/** Other spellings of a field that OVS prints under one name. */
const FIELD_ALIASES: Readonly<Record<string, string>> = { icmpv6_type: 'icmp_type', icmpv6_code: 'icmp_code' };

/** Refused by the parser: the text is not a match it can read. */
export class MatchSyntaxError extends Error {
  override readonly name = 'MatchSyntaxError';
}

/**
 * Parses a match (`ip,nw_src=10.0.0.0/16,in_port=5`, as written or as dumped) into its typed
 * canonical form. Throws MatchSyntaxError on a token it cannot read (an empty token, a bad
 * address, mask or integer, a field given twice): our flows never have one, and a dump that
 * does is not ours to judge.
 */
export function parseMatch(text: string): Match {
  let ethType: number | null = null;
  let ipProto: number | null = null;
  const raw: [string, string][] = [];
  const setProtocol = (eth: number | null, proto: number | null, token: string): void => {
    if (eth !== null) {
      if (ethType !== null && ethType !== eth) throw new MatchSyntaxError(`"${token}" contradicts the protocol of "${text}"`);
      ethType = eth;
    }
    if (proto !== null) {
      if (ipProto !== null && ipProto !== proto) throw new MatchSyntaxError(`"${token}" contradicts the protocol of "${text}"`);
      ipProto = proto;
    }
  };
  if (text.trim() !== '') {
    for (const piece of text.split(',')) {
      const token = piece.trim();
      if (token === '') throw new MatchSyntaxError(`empty token in match "${text}"`);
      const eq = token.indexOf('=');
      if (eq < 0) {
        const protocol = PROTOCOL_BY_NAME.get(token.toLowerCase());
        if (protocol === undefined) raw.push([token.toLowerCase(), '']);
        else setProtocol(protocol.eth, protocol.proto, token);
        continue;
      }
      const key = token.slice(0, eq).toLowerCase();
      const value = token.slice(eq + 1);
      if (key === 'dl_type' || key === 'eth_type') setProtocol(parseInteger(value, 0xffff, token), null, token);
      else if (key === 'nw_proto' || key === 'ip_proto') setProtocol(null, parseInteger(value, 0xff, token), token);
      else raw.push([key, value]);
    }
  }
  const fields = new Map<string, FieldValue>();
  for (const [written, value] of raw) {
    const alias = ethType === ETH_ARP ? ARP_ALIASES[written] : undefined;
    const key = alias ?? FIELD_ALIASES[written] ?? written;
    if (fields.has(key)) throw new MatchSyntaxError(`the field ${key} is given twice in "${text}"`);
    let typed: FieldValue;
    if (V4_FIELDS.has(key)) typed = parseAddressField(value, 32, key);
    else if (V6_FIELDS.has(key)) typed = parseAddressField(value, 128, key);
    else if (INTEGER_FIELDS.has(key) && /^(\d+|0x[0-9a-f]+)$/i.test(value)) typed = { kind: 'integer', value: parseInteger(value, 0xffffffff, `${key}=${value}`) };
    else typed = { kind: 'opaque', text: value };
    // A mask of zero matches every packet: OVS does not keep the field at all.
    if (typed.kind === 'address' && typed.mask === 0n) continue;
    fields.set(key, typed);
  }
  return { ethType, ipProto, fields };
}

/**
 * The one text of a typed match: the protocol keyword (or `dl_type=0x…`/`nw_proto=N` when no
 * keyword says it) and the fields, sorted by name (the keyword's name is itself); an address without its mask when
 * the mask is all ones, with `/N` when it is a prefix, with a mask address otherwise; IPv6 in
 * RFC 5952 hexadecimal form (never dotted); integers in decimal. ovs-ofctl reads it back.
 */
export function renderMatch(m: Match): string {
  const entries: [string, string][] = [...protocolTokens(m), ...[...m.fields].map(([key, v]): [string, string] => [key, fieldText(key, v)])];
  return entries.sort(byKey).map(([, text]) => text).join(',');
}

/**
 * A canonical match with holes, laid out once: `matchTemplate('ip,nw_src={l},in_port={p}')`
 * gives a function that fills `{l}` and `{p}` with canonical value texts (canonicalBlock, a port
 * number) and leaves out a field whose value is null (a block that matches everything). The
 * result equals canonicalMatch of the filled text, without parsing 100k flows one by one.
 */
export function matchTemplate(raw: string): (values: Readonly<Record<string, string | null>>) => string {
  const holes: [string, string][] = [];
  const rest = raw.split(',').filter((token) => {
    const hole = /^([a-z_0-9]+)=\{([a-z])\}$/i.exec(token.trim());
    if (hole === null) return true;
    holes.push([hole[1]?.toLowerCase() ?? '', hole[2] ?? '']);
    return false;
  });
  const m = parseMatch(rest.join(','));
  const arp = m.ethType === ETH_ARP;
  const entries: [string, { text: string } | { hole: string }][] = [
    ...protocolTokens(m).map(([key, text]): [string, { text: string }] => [key, { text }]),
    ...[...m.fields].map(([key, v]): [string, { text: string }] => [key, { text: fieldText(key, v) }]),
    ...holes.map(([written, hole]): [string, { hole: string }] => {
      const key = (arp ? ARP_ALIASES[written] : undefined) ?? FIELD_ALIASES[written] ?? written;
      return [key, { hole }];
    }),
  ];
  entries.sort(byKey);
  return (values) => {
    const out: string[] = [];
    for (const [key, e] of entries) {
      if ('text' in e) out.push(e.text);
      else {
        const v = values[e.hole];
        if (v === undefined) throw new Error(`matchTemplate: no value for {${e.hole}}`);
        if (v !== null) out.push(`${key}=${v}`);
      }
    }
    return out.join(',');
  };
}

/** The protocol keyword (or `dl_type=0x…`/`nw_proto=N` when no keyword says it), as [sort key, text]. */
function protocolTokens(m: Match): [string, string][] {
  const keyword = PROTOCOLS.find(([, eth, proto]) => eth === m.ethType && proto === m.ipProto)?.[0];
  if (keyword !== undefined) return [[keyword, keyword]];
  const out: [string, string][] = [];
  const base = PROTOCOLS.find(([, eth, proto]) => eth === m.ethType && proto === null)?.[0];
  if (base !== undefined) out.push([base, base]);
  else if (m.ethType !== null) out.push(['dl_type', `dl_type=0x${m.ethType.toString(16).padStart(4, '0')}`]);
  if (m.ipProto !== null) out.push(['nw_proto', `nw_proto=${m.ipProto}`]);
  return out;
}

function fieldText(key: string, v: FieldValue): string {
  if (v.kind === 'opaque') return v.text === '' ? key : `${key}=${v.text}`;
  if (v.kind === 'integer') return `${key}=${v.value}`;
  return `${key}=${renderAddress(v)}`;
}

function byKey(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Canonical match text from a match as written or as dumped (renderMatch of parseMatch); '' for an empty match. */
export function canonicalMatch(text: string): string {
  return renderMatch(parseMatch(text));
}

/**
 * The canonical value text of one block for an address field (as renderMatch prints it), or
 * null when the block matches every address (`0.0.0.0/0`): the field is then left out. Throws
 * MatchSyntaxError on a bad block.
 */
export function canonicalBlock(cidr: string): string | null {
  const bits = cidr.includes(':') ? 128 : 32;
  const v = parseAddressField(cidr, bits, 'block');
  return v.mask === 0n ? null : renderAddress(v);
}

/** Canonical actions: OVS prints `drop` for an empty action list and upper-cases NORMAL. */
export function canonicalActions(text: string): string {
  const a = text.trim();
  if (a === '' || a === 'drop') return 'drop';
  return a
    .split(',')
    .map((x) => (x.toLowerCase() === 'normal' ? 'NORMAL' : x.toLowerCase()))
    .join(',');
}

/**
 * The line for an `ovs-ofctl add-flows` bundle file: `add` or `delete_strict`. An empty match
 * leaves an empty field (`priority=0,,actions=`), which ovs-ofctl skips.
 */
export function bundleLine(command: 'add' | 'delete_strict', f: Flow): string {
  const cookie = `cookie=0x${f.cookie.toString(16)}`;
  if (command === 'delete_strict') {
    // `/-1`: delete only the flow that carries exactly our cookie.
    return `delete_strict ${cookie}/-1,table=${f.table},priority=${f.priority},${f.match}`;
  }
  return `add ${cookie},table=${f.table},priority=${f.priority},${f.match},actions=${f.actions}`;
}

/** The ovs-ofctl text of a flow (for operators: `ovs-ofctl add-flow BR '…'` takes it). */
export function flowText(f: Flow): string {
  return `${flowHead(f, '')},actions=${f.actions}`;
}

/**
 * The ovs-ofctl text that selects exactly this flow (for operators: `ovs-ofctl --strict
 * del-flows BR '…'` deletes it and nothing else): its key, and its cookie with the mask `-1`.
 */
export function strictFlowText(f: Pick<Flow, 'cookie' | 'table' | 'priority' | 'match'>): string {
  return flowHead(f, '/-1');
}

function flowHead(f: Pick<Flow, 'cookie' | 'table' | 'priority' | 'match'>, cookieMask: '' | '/-1'): string {
  const match = f.match === '' ? '' : `,${f.match}`;
  return `cookie=0x${f.cookie.toString(16)}${cookieMask},table=${f.table},priority=${f.priority}${match}`;
}

function parseInteger(text: string, max: number, token: string): number {
  const n = /^\d{1,10}$/.test(text) ? Number(text) : /^0x[0-9a-f]{1,8}$/i.test(text) ? Number.parseInt(text.slice(2), 16) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > max) throw new MatchSyntaxError(`"${token}" does not hold an integer of 0..${max}`);
  return n;
}

function parseAddressField(text: string, bits: 32 | 128, key: string): AddressValue {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const maskText = slash < 0 ? null : text.slice(slash + 1);
  const parse = bits === 32 ? parseIpv4 : parseIpv6;
  const value = parse(addrText);
  if (value === null) throw new MatchSyntaxError(`${key}=${text}: not an IPv${bits === 32 ? 4 : 6} address`);
  const all = (1n << BigInt(bits)) - 1n;
  let mask = all;
  if (maskText !== null) {
    if (/^\d{1,3}$/.test(maskText)) {
      const len = Number(maskText);
      if (len > bits) throw new MatchSyntaxError(`${key}=${text}: prefix longer than ${bits}`);
      mask = len === 0 ? 0n : (all << BigInt(bits - len)) & all;
    } else {
      const m = parse(maskText);
      if (m === null) throw new MatchSyntaxError(`${key}=${text}: not a mask`);
      mask = m;
    }
  }
  return { kind: 'address', bits, value: value & mask, mask };
}

function renderAddress(v: AddressValue): string {
  const all = (1n << BigInt(v.bits)) - 1n;
  const text = v.bits === 32 ? ipv4Text(v.value) : ipv6Text(v.value);
  if (v.mask === all) return text;
  const len = prefixLength(v.mask, v.bits);
  return `${text}/${len ?? (v.bits === 32 ? ipv4Text(v.mask) : ipv6Text(v.mask))}`;
}

/** The prefix length of a contiguous mask, or null for a mask with holes. */
function prefixLength(mask: bigint, bits: number): number | null {
  let len = 0;
  let i = bits - 1;
  while (i >= 0 && ((mask >> BigInt(i)) & 1n) === 1n) {
    len++;
    i--;
  }
  return mask >> BigInt(bits - len) << BigInt(bits - len) === mask ? len : null;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** A dotted-quad IPv4 address as a number, or null. */
function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n);
}

/** An IPv6 address in any valid spelling (`::` compression, a dotted IPv4 tail) as a number, or null. */
function parseIpv6(text: string): bigint | null {
  let t = text.toLowerCase();
  let tail: bigint | null = null;
  const lastColon = t.lastIndexOf(':');
  if (lastColon < 0) return null;
  if (t.slice(lastColon + 1).includes('.')) {
    tail = parseIpv4(t.slice(lastColon + 1));
    if (tail === null) return null;
    t = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return null;
  const split = (h: string): string[] | null => {
    if (h === '') return [];
    const groups = h.split(':');
    return groups.every((g) => /^[0-9a-f]{1,4}$/.test(g)) ? groups : null;
  };
  const head = split(halves[0] ?? '');
  const rest = halves.length === 2 ? split(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  const written = head.length + rest.length;
  if (halves.length === 2 ? written > 7 : written !== 8) return null;
  const groups = [...head, ...Array<string>(8 - written).fill('0'), ...rest];
  let n = groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
  if (tail !== null) n = (n & ~0xffff_ffffn) | tail;
  return n;
}

function ipv4Text(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** RFC 5952 text of an IPv6 address: lower case, the longest run (first if tied) of two or more zero groups as `::`. */
function ipv6Text(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
