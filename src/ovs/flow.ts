// The canonical form of an OpenFlow flow, shared by the desired-flow renderer and the
// dump-flows parser, so that "desired" and "installed" compare as plain strings. OVS prints a
// flow with its own field order and normalisations (`/32` dropped, IPv6 compressed, `arp,nw_src`
// → `arp_spa`); both sides are reduced to the same form here: match tokens normalised and
// sorted, actions normalised. Pure: no I/O.

/** One flow of ours, in canonical form. */
export interface Flow {
  readonly table: number;
  readonly priority: number;
  /** The full 64-bit cookie. */
  readonly cookie: bigint;
  /** Canonical match: normalised tokens, sorted, comma-joined (e.g. `in_port=5,ip,nw_dst=...`). */
  readonly match: string;
  /** Canonical actions (e.g. `output:5`, `NORMAL`, `drop`). */
  readonly actions: string;
}

/** What identifies a flow in a table (OpenFlow's strict identity): two flows with one key are one flow. */
export function flowKey(f: Pick<Flow, 'table' | 'priority' | 'match'>): string {
  return `${f.table}/${f.priority}/${f.match}`;
}

/** Same flow, same behaviour: equal key, cookie and actions. */
export function sameFlow(a: Flow, b: Flow): boolean {
  return flowKey(a) === flowKey(b) && a.cookie === b.cookie && a.actions === b.actions;
}

const HOST_PREFIX: Readonly<Record<string, string>> = {
  nw_src: '/32',
  nw_dst: '/32',
  arp_spa: '/32',
  arp_tpa: '/32',
  ipv6_src: '/128',
  ipv6_dst: '/128',
  nd_target: '/128',
};

/** ARP matches written with IP field names, as OVS renames them. */
const ARP_ALIASES: Readonly<Record<string, string>> = { nw_src: 'arp_spa', nw_dst: 'arp_tpa' };

/**
 * Canonical match text from a match as written or as dumped: `ip,nw_src=10.0.0.0/16,in_port=5`.
 * Throws on a token it cannot read (a comma inside a value, an empty token): our flows never
 * have one, and a dump that does is not ours to judge.
 */
export function canonicalMatch(text: string): string {
  const tokens = text.split(',').map((t) => t.trim());
  const isArp = tokens.includes('arp');
  const out: string[] = [];
  for (const token of tokens) {
    if (token === '') throw new Error(`empty token in match "${text}"`);
    const eq = token.indexOf('=');
    if (eq < 0) {
      out.push(token.toLowerCase());
      continue;
    }
    let key = token.slice(0, eq).toLowerCase();
    let value = token.slice(eq + 1);
    if (isArp) key = ARP_ALIASES[key] ?? key;
    const host = HOST_PREFIX[key];
    if (host !== undefined) value = canonicalAddress(value, host);
    out.push(`${key}=${value}`);
  }
  return out.sort().join(',');
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

/** `10.1.2.3/32` → `10.1.2.3`; IPv6 lower-cased and compressed; other prefixes kept. */
function canonicalAddress(value: string, hostPrefix: string): string {
  const v = value.endsWith(hostPrefix) ? value.slice(0, -hostPrefix.length) : value;
  if (!v.includes(':')) return v;
  const slash = v.indexOf('/');
  const addr = slash < 0 ? v : v.slice(0, slash);
  const prefix = slash < 0 ? '' : v.slice(slash);
  return compressIpv6(addr) + prefix;
}

/** RFC 5952 text of an IPv6 address given in any valid spelling (no embedded IPv4 form). */
export function compressIpv6(addr: string): string {
  const lower = addr.toLowerCase();
  const [head = '', tail] = lower.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headParts.length - tailParts.length;
  const groups = [...headParts, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailParts].map(
    (g) => Number.parseInt(g, 16).toString(16),
  );
  // The longest run of two or more zero groups becomes `::` (the first, if tied).
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

/** The line for an `ovs-ofctl add-flows` bundle file: `add`, `modify_strict` or `delete_strict`. */
export function bundleLine(command: 'add' | 'delete_strict', f: Flow): string {
  const cookie = `cookie=0x${f.cookie.toString(16)}`;
  if (command === 'delete_strict') {
    // `/-1`: delete only the flow that carries exactly our cookie.
    return `delete_strict ${cookie}/-1,table=${f.table},priority=${f.priority},${f.match}`;
  }
  return `add ${cookie},table=${f.table},priority=${f.priority},${f.match},actions=${f.actions}`;
}
