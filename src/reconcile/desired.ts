// The desired data plane of this host (SPEC §7): which patch pairs must exist and which flows
// each bridge must carry, computed from the state and the OVS topology. Pure: no I/O. The
// reconcile loop diffs the result against what OVS reports (plan.ts) and applies the difference.
//
// Per active peering P (requester VPC R on bridge BR, accepter VPC A on bridge BA), when both
// bridges exist here: a patch pair `px<h>r` (on BR) ↔ `px<h>a` (on BA), h = the first 12 hex
// digits of P's id, and on each bridge, with local blocks L, peer blocks Q and patch ofport p:
//   100  ip,nw_src=l,nw_dst=q / arp,arp_spa=l,arp_tpa=q / ipv6,ipv6_src=l,ipv6_dst=q  → output:p
//   100  icmp6,icmp_type=135,ipv6_src=l,nd_target=q (neighbour solicitation: its destination is
//        multicast, so it is matched by target)                                     → output:p
//   100  the same from the patch: in_port=p, src in Q, dst (or nd_target) in L        → NORMAL
//   101  in_port=p with a source in L (ip, arp, ipv6)                                  → drop
//    99  in_port=p                                                                    → drop
// Non-transitivity (SPEC §3 rule 7) rests on two facts checked by the tests: every flow that
// outputs to a patch requires a source in L, and a packet from a patch with a source in L is
// dropped at 101, above every steering flow; so nothing that came in through one patch leaves
// through another, and what is let in (NORMAL) carries a source of that peer only.
// Neighbour advertisements need no flow of their own: Linux answers a solicitation from the
// target address itself to the solicitor's address, which the ipv6 flows carry. (A flow keyed
// by nd_target alone would also be one flow shared by every peering of the VPC.)
import type { StateView } from '../domain/state-index.js';
import { PEERING_ID_PATTERN, type Peering, type Vpc } from '../domain/types.js';
import { type Flow, canonicalActions, canonicalBlock, matchTemplate } from '../ovs/flow.js';
import type { Topology } from '../ovs/topology-parser.js';
import type { DataplaneReason } from './dataplane.js';

/** One patch pair: `port` on `bridge` (requester side) ↔ `peerPort` on `peerBridge` (accepter side). */
export interface DesiredPort {
  readonly peeringId: string;
  readonly bridge: string;
  readonly port: string;
  readonly peerBridge: string;
  readonly peerPort: string;
}

/**
 * - `ready`: both patch ports have an ofport; the peering's flows are in `Desired.flows` (the
 *   loop reports `programmed` once they are applied).
 * - `pending`: the patch pair is wanted but an ofport is missing; no flows yet.
 * - `not-local`: a bridge of the peering is not on this host; nothing here.
 * - `error`: the peering cannot be programmed (see `error`); no flows.
 */
export type DesiredPeeringState = 'ready' | 'pending' | 'not-local' | 'error';

export interface DesiredPeering {
  readonly state: DesiredPeeringState;
  /** Flows of this peering on both bridges (the canary not counted). */
  readonly flows: number;
  /** [requester bridge, accepter bridge], when both VPCs are known. */
  readonly bridges: readonly string[];
  readonly error?: string;
  /** With `error`: PEERING_ID_CLASH, VPC_NOT_KNOWN, SAME_BRIDGE, STEERING_CLASH or PATCH_PORT_FAILED. */
  readonly reason?: DataplaneReason;
}

export interface Desired {
  /** Every patch pair that must exist, in peering-id order. */
  readonly ports: readonly DesiredPort[];
  /** Per bridge, its flows (the canary included); bridges without flows are absent. */
  readonly flows: ReadonlyMap<string, readonly Flow[]>;
  /** Every active peering, by id; other statuses are absent (they own nothing). */
  readonly peerings: ReadonlyMap<string, DesiredPeering>;
  /** Cookie → the active peering that owns it, so installed flows can be attributed. */
  readonly cookies: ReadonlyMap<bigint, string>;
}

export interface DesiredInput {
  readonly view: StateView;
  readonly topology: Topology;
  /** `ovs.cookie`: the top 16 bits of every cookie of ours. */
  readonly cookiePrefix: number;
  /** Reuse across calls (see DesiredCache); without it everything is computed afresh. */
  readonly cache?: DesiredCache;
}

export const STEER_PRIORITY = 100;
/** Above steering: a patch packet claiming one of our own sources never reaches a steering flow. */
export const GUARD_PRIORITY = 101;
/** Below steering: whatever else comes in through a patch port. */
export const DROP_PRIORITY = 99;
export const CANARY_TABLE = 250;

const SUFFIX_HEX = 12;
const OUR_PORT = /^px[0-9a-f]{12}[ra]$/;

/** Selects the top 16 bits of a cookie: `cookie=prefix<<48/cookieMask()` dumps all of ours. */
export function cookieMask(): bigint {
  return 0xffff_0000_0000_0000n;
}

function checkPrefix(prefix: number): bigint {
  // Zero is refused: `cookie=0/…` would also select flows of OVS itself and other controllers.
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 0xffff) {
    throw new RangeError(`cookie prefix must be an integer in 1..0xffff, got ${prefix}`);
  }
  return BigInt(prefix) << 48n;
}

function checkPeeringId(peeringId: string): string {
  if (!PEERING_ID_PATTERN.test(peeringId)) throw new RangeError(`not a peering id: ${JSON.stringify(peeringId)}`);
  return peeringId.slice(4, 4 + SUFFIX_HEX);
}

/** The patch port names of a peering (15 characters each: OpenFlow truncates longer ones). */
export function patchPortNames(peeringId: string): { requester: string; accepter: string; suffixHex: string } {
  const h = checkPeeringId(peeringId);
  return { requester: `px${h}r`, accepter: `px${h}a`, suffixHex: h };
}

/** The cookie of every flow of one peering, on both bridges: `cookie=C/-1` selects exactly them. */
export function peeringCookie(prefix: number, peeringId: string): bigint {
  return checkPrefix(prefix) | BigInt(`0x${checkPeeringId(peeringId)}`);
}

/** Reserved for the canary flow (a peering whose suffix is zero cannot have it). */
export function canaryCookie(prefix: number): bigint {
  return checkPrefix(prefix);
}

/** The canary: its disappearance from a bridge tells the loop that OVS lost its flows. */
export function canaryFlow(prefix: number): Flow {
  // An empty match: every packet of table 250, which nothing sends there.
  return { table: CANARY_TABLE, priority: 0, cookie: canaryCookie(prefix), match: '', actions: 'drop' };
}

/** True for a cookie carrying our prefix in its top 16 bits. */
export function isOurCookie(prefix: number, cookie: bigint): boolean {
  return (cookie & cookieMask()) === checkPrefix(prefix);
}

/** Ports named like ours are ours: the daemon creates and removes them and never touches another. */
export function isOurPort(name: string): boolean {
  return OUR_PORT.test(name);
}

/** What one side of a patch pair looks like in the topology. */
type SideState =
  | { readonly kind: 'ok'; readonly ofport: number }
  | { readonly kind: 'pending' }
  | { readonly kind: 'failed'; readonly error: string };

function sideState(topology: Topology, bridge: string, port: string, peer: string): SideState {
  const p = topology.bridges.get(bridge)?.ports.get(port);
  // Absent, or not the patch it should be: planPorts (re)creates it; no ofport to use until then.
  if (!p || p.type !== 'patch' || p.peer !== peer) return { kind: 'pending' };
  // A usable ofport wins over an error text: a port that can forward must get its flows.
  if (p.ofport !== null && p.ofport >= 1) return { kind: 'ok', ofport: p.ofport };
  if (p.error !== null) return { kind: 'failed', error: `port ${port} on ${bridge}: ${p.error}` };
  return { kind: 'pending' };
}

/**
 * One block of a side: its stored text, and its canonical value in a match (canonicalBlock),
 * null for a block that matches every address, whose field a match then leaves out.
 */
interface Block {
  readonly cidr: string;
  readonly value: string | null;
}

/** One side's blocks, split by family (computed once per VPC). */
interface Side {
  readonly v4: readonly Block[];
  readonly v6: readonly Block[];
}

function sideOf(cidrs: readonly string[]): Side {
  // Stored blocks are normalised, so `:` tells the family; the Set drops a duplicate that a
  // hand-edited record might hold (two desired flows with one key would be refused by planFlows).
  const unique = [...new Set(cidrs)];
  const block = (cidr: string): Block => ({ cidr, value: canonicalBlock(cidr) });
  return {
    v4: unique.filter((c) => !c.includes(':')).map(block),
    v6: unique.filter((c) => c.includes(':')).map(block),
  };
}

/** The (local, peer) block pairs of one family, as `l q` strings: what two peerings must not share on a bridge. */
function steeringPairs(local: Side, peer: Side): string[] {
  const out: string[] = [];
  for (const [ls, qs] of [[local.v4, peer.v4], [local.v6, peer.v6]] as const) {
    for (const l of ls) for (const q of qs) out.push(`${l.cidr} ${q.cidr}`);
  }
  return out;
}

/** A canonical match with holes for a local block `l`, a peer block `q` and the patch ofport `p` (see matchTemplate). */
type MatchTemplate = (values: { readonly l: string | null; readonly q: string | null; readonly p: string }) => string;

const V4_PAIR: readonly (readonly [MatchTemplate, 'out' | 'in'])[] = [
  [matchTemplate('ip,nw_src={l},nw_dst={q}'), 'out'],
  [matchTemplate('arp,arp_spa={l},arp_tpa={q}'), 'out'],
  [matchTemplate('ip,in_port={p},nw_src={q},nw_dst={l}'), 'in'],
  [matchTemplate('arp,in_port={p},arp_spa={q},arp_tpa={l}'), 'in'],
];
const V6_PAIR: readonly (readonly [MatchTemplate, 'out' | 'in'])[] = [
  [matchTemplate('ipv6,ipv6_src={l},ipv6_dst={q}'), 'out'],
  // A solicitation goes to a multicast address: it is matched by its target.
  [matchTemplate('icmp6,icmp_type=135,ipv6_src={l},nd_target={q}'), 'out'],
  [matchTemplate('ipv6,in_port={p},ipv6_src={q},ipv6_dst={l}'), 'in'],
  [matchTemplate('icmp6,icmp_type=135,in_port={p},ipv6_src={q},nd_target={l}'), 'in'],
];
const V4_GUARDS: MatchTemplate[] = [matchTemplate('ip,in_port={p},nw_src={l}'), matchTemplate('arp,in_port={p},arp_spa={l}')];
const V6_GUARDS: MatchTemplate[] = [matchTemplate('ipv6,in_port={p},ipv6_src={l}')];
const PATCH_DROP: MatchTemplate = matchTemplate('in_port={p}');
const NORMAL = canonicalActions('NORMAL');
const DROP = canonicalActions('drop');

/**
 * The flows of one side of a peering (see the module comment). No two share a key: pairs,
 * blocks and the patch port are distinct.
 */
function sideFlows(cookie: bigint, ofport: number, local: Side, peer: Side): Flow[] {
  const p = String(ofport);
  const output = canonicalActions(`output:${p}`);
  const flows: Flow[] = [];
  const add = (priority: number, match: string, actions: string): void => {
    flows.push({ table: 0, priority, cookie, match, actions });
  };
  for (const [ls, qs, pair] of [[local.v4, peer.v4, V4_PAIR], [local.v6, peer.v6, V6_PAIR]] as const) {
    for (const l of ls) {
      for (const q of qs) {
        for (const [m, dir] of pair) add(STEER_PRIORITY, m({ l: l.value, q: q.value, p }), dir === 'out' ? output : NORMAL);
      }
    }
  }
  // Guards cover every local block, whatever families this peer has: another peering of the
  // bridge may steer the other family out through its own patch.
  for (const [ls, guards] of [[local.v4, V4_GUARDS], [local.v6, V6_GUARDS]] as const) {
    for (const l of ls) for (const m of guards) add(GUARD_PRIORITY, m({ l: l.value, q: null, p }), DROP);
  }
  add(DROP_PRIORITY, PATCH_DROP({ l: null, q: null, p }), DROP);
  return flows;
}

/**
 * What computeDesired may reuse from one call to the next. Rendering is most of its cost (10k
 * peerings are over 100k Flow objects), and from one cycle to the next almost nothing changes.
 * Keyed by record identity: records are immutable (a change replaces the record), so a peering
 * whose record and VPC records are the same objects as last time, and whose patch ofports did
 * not move, keeps its Flow objects. Only an optimisation: results are equal with or without it.
 * Entries go with their records (weak keys). Hand the same cache to every call.
 */
export class DesiredCache {
  /** Internal to computeDesired and the desired engine. */
  readonly peerings = new WeakMap<Peering, PeeringParts>();
  /** Internal to computeDesired and the desired engine. */
  readonly sides = new WeakMap<Vpc, Side>();
}

/** Everything about one local active peering that its records and the cookie prefix decide. */
export interface PeeringParts {
  readonly requester: Vpc;
  readonly accepter: Vpc;
  readonly cookie: bigint;
  readonly port: DesiredPort;
  readonly bridges: readonly string[];
  readonly onR: SideParts;
  readonly onA: SideParts;
  /** The steering pairs it claims, per bridge (the requester's first): what claimPairs takes. */
  readonly wanted: readonly (readonly [string, readonly string[]])[];
}

interface SideParts {
  readonly local: Side;
  readonly peer: Side;
  /** The steering pairs this side claims on its bridge. */
  readonly pairs: readonly string[];
  /** The flows last rendered, and the patch ofport they were rendered for. */
  rendered?: { readonly ofport: number; readonly flows: readonly Flow[] };
}

function partsOf(cache: DesiredCache, p: Peering, r: Vpc, a: Vpc, cookie: bigint): PeeringParts {
  const cached = cache.peerings.get(p);
  if (cached && cached.requester === r && cached.accepter === a && cached.cookie === cookie) return cached;
  const side = (v: Vpc): Side => {
    let s = cache.sides.get(v);
    if (!s) cache.sides.set(v, (s = sideOf(v.cidrs)));
    return s;
  };
  const [sr, sa] = [side(r), side(a)];
  const names = patchPortNames(p.id);
  const onR: SideParts = { local: sr, peer: sa, pairs: steeringPairs(sr, sa) };
  const onA: SideParts = { local: sa, peer: sr, pairs: steeringPairs(sa, sr) };
  const parts: PeeringParts = {
    requester: r,
    accepter: a,
    cookie,
    port: { peeringId: p.id, bridge: r.bridge, port: names.requester, peerBridge: a.bridge, peerPort: names.accepter },
    bridges: [r.bridge, a.bridge],
    onR,
    onA,
    wanted: [
      [r.bridge, onR.pairs],
      [a.bridge, onA.pairs],
    ],
  };
  cache.peerings.set(p, parts);
  return parts;
}

function renderSide(s: SideParts, cookie: bigint, ofport: number): readonly Flow[] {
  if (s.rendered?.ofport !== ofport) s.rendered = { ofport, flows: sideFlows(cookie, ofport, s.local, s.peer) };
  return s.rendered.flows;
}

// The steps of one active peering, in the order computeDesired takes them; desired-engine.ts
// takes the same steps for the peerings a change reaches, so the rules live here once.

function failed(reason: DataplaneReason, error: string, bridges: readonly string[] = []): DesiredPeering {
  return { state: 'error', flows: 0, bridges, error, reason };
}

/** An active peering's 12-hex suffix and cookie, or why its id cannot have them (PEERING_ID_CLASH). */
export type Suffixed =
  | { readonly ok: true; readonly suffix: string; readonly cookie: bigint }
  | { readonly ok: false; readonly outcome: DesiredPeering };

/** Step 1: the suffix and cookie of `id`; `canary` is canaryCookie(prefix). */
export function suffixed(id: string, canary: bigint): Suffixed {
  if (!PEERING_ID_PATTERN.test(id)) {
    return { ok: false, outcome: failed('PEERING_ID_CLASH', `The peering id ${JSON.stringify(id)} is malformed; it cannot name patch ports.`) };
  }
  const suffix = id.slice(4, 4 + SUFFIX_HEX);
  const cookie = canary | BigInt(`0x${suffix}`);
  if (cookie === canary) {
    const error = `The peering ${id} maps to the cookie reserved for the canary flow; delete it and create it again to get a new id.`;
    return { ok: false, outcome: failed('PEERING_ID_CLASH', error) };
  }
  return { ok: true, suffix, cookie };
}

/** Step 2, lost: the suffix is held by `holder`, the smallest active id with it. */
export function suffixClash(id: string, holder: string): DesiredPeering {
  return failed(
    'PEERING_ID_CLASH',
    `The peering ${id} shares its patch port names and cookie with ${holder} (same first 12 hex digits); ` +
      `delete it and create it again to get a new id.`,
  );
}

/**
 * Step 3, for a peering that holds its suffix: settled before the steering claims (a VPC not
 * known, both on one bridge, a bridge not here), or a contender for its steering pairs.
 * `on`: the bridges whose presence in the topology decided a settled outcome (not-local), else null.
 */
export type Located =
  | { readonly kind: 'settled'; readonly outcome: DesiredPeering; readonly on: readonly string[] | null }
  | { readonly kind: 'contender'; readonly parts: PeeringParts };

export function locate(p: Peering, cookie: bigint, view: StateView, topology: Topology, cache: DesiredCache): Located {
  const r = view.getVpc(p.requesterVpcId);
  const a = view.getVpc(p.accepterVpcId);
  if (!r || !a) {
    const outcome = failed('VPC_NOT_KNOWN', `The VPC ${r ? p.accepterVpcId : p.requesterVpcId} of this peering is not known here yet.`);
    return { kind: 'settled', outcome, on: null };
  }
  if (r.bridge === a.bridge) {
    // A patch pair on one bridge would be a loop.
    const outcome = failed('SAME_BRIDGE', `Both VPCs of this peering are on the bridge ${r.bridge}.`, [r.bridge, a.bridge]);
    return { kind: 'settled', outcome, on: null };
  }
  if (!topology.bridges.has(r.bridge) || !topology.bridges.has(a.bridge)) {
    const bridges = [r.bridge, a.bridge];
    return { kind: 'settled', outcome: { state: 'not-local', flows: 0, bridges }, on: bridges };
  }
  return { kind: 'contender', parts: partsOf(cache, p, r, a, cookie) };
}

/** A steering pair another peering claimed first on a bridge (claimPairs). */
export interface Clash {
  readonly bridge: string;
  readonly pair: string;
  readonly owner: string;
}

/** Step 4, lost: a steering pair of the peering is claimed by a smaller id. */
export function steeringClash(id: string, clash: Clash, bridges: readonly string[]): DesiredPeering {
  return failed(
    'STEERING_CLASH',
    `The peering ${id} would steer ${clash.pair.replace(' ', ' → ')} on the bridge ${clash.bridge}, ` +
      `as the peering ${clash.owner} already does; their peer CIDRs overlap.`,
    bridges,
  );
}

/** Step 5, for a peering that won its pairs: its state from its patch ports, and its flows per side once both have an ofport. */
export interface Programmed {
  readonly outcome: DesiredPeering;
  /** The flows on the requester's and the accepter's bridge; null unless ready. */
  readonly onR: readonly Flow[] | null;
  readonly onA: readonly Flow[] | null;
}

export function programmed(parts: PeeringParts, topology: Topology): Programmed {
  const { port, bridges, cookie } = parts;
  const rs = sideState(topology, port.bridge, port.port, port.peerPort);
  const as = sideState(topology, port.peerBridge, port.peerPort, port.port);
  if (rs.kind === 'ok' && as.kind === 'ok') {
    const onR = renderSide(parts.onR, cookie, rs.ofport);
    const onA = renderSide(parts.onA, cookie, as.ofport);
    return { outcome: { state: 'ready', flows: onR.length + onA.length, bridges }, onR, onA };
  }
  if (rs.kind === 'failed' || as.kind === 'failed') {
    // The pair stays wanted: removing and re-creating it every cycle would not clear the error.
    const errors = [rs, as].flatMap((s) => (s.kind === 'failed' ? [s.error] : []));
    return { outcome: failed('PATCH_PORT_FAILED', errors.join('; '), bridges), onR: null, onA: null };
  }
  return { outcome: { state: 'pending', flows: 0, bridges }, onR: null, onA: null };
}

/**
 * The desired patch pairs, flows and per-peering states. Only `active` peerings produce
 * anything. Conflicts are settled by peering id (the smaller wins), so every host settles them
 * alike:
 * - two ids with the same 12-hex suffix would share patch port names and a cookie;
 * - two peerings steering the same (local block, peer block) pair on one bridge (SPEC §3 rule 4
 *   forbids it; a gossip race might not) would install one flow twice.
 * The losers get `error` and no patch pair: a pair without its drop flows would join two bridges.
 * This walks every active peering; desired-engine.ts gives the same result from what changed.
 */
export function computeDesired(input: DesiredInput): Desired {
  const { view, topology, cookiePrefix } = input;
  const cache = input.cache ?? new DesiredCache();
  const canary = canaryFlow(cookiePrefix);
  const active = [...view.peerings()].filter((p) => p.status === 'active').sort((a, b) => (a.id < b.id ? -1 : 1));

  const ports: DesiredPort[] = [];
  const peerings = new Map<string, DesiredPeering>();
  const cookies = new Map<bigint, string>();
  const suffixOwner = new Map<string, string>();
  /** Per bridge: `l q` steering pair → the peering that steers it. */
  const pairOwner = new Map<string, Map<string, string>>();
  const bridgeFlows = new Map<string, Flow[]>();

  for (const p of active) {
    const s = suffixed(p.id, canary.cookie);
    if (!s.ok) {
      peerings.set(p.id, s.outcome);
      continue;
    }
    const holder = suffixOwner.get(s.suffix);
    if (holder !== undefined) {
      peerings.set(p.id, suffixClash(p.id, holder));
      continue;
    }
    suffixOwner.set(s.suffix, p.id);
    cookies.set(s.cookie, p.id);

    const at = locate(p, s.cookie, view, topology, cache);
    if (at.kind === 'settled') {
      peerings.set(p.id, at.outcome);
      continue;
    }
    const { parts } = at;
    const clash = claimPairs(pairOwner, p.id, parts.wanted);
    if (clash) {
      peerings.set(p.id, steeringClash(p.id, clash, parts.bridges));
      continue;
    }
    ports.push(parts.port);
    const done = programmed(parts, topology);
    if (done.onR !== null && done.onA !== null) {
      appendFlows(bridgeFlows, parts.port.bridge, done.onR, canary);
      appendFlows(bridgeFlows, parts.port.peerBridge, done.onA, canary);
    }
    peerings.set(p.id, done.outcome);
  }
  return { ports, flows: bridgeFlows, peerings, cookies };
}

/**
 * Claims the steering pairs of a peering on its two bridges, all or nothing. Returns the first
 * clash with a peering that claimed earlier, or null. Only steering flows can clash: every
 * other flow carries the peering's own patch ofport in `in_port`.
 */
export function claimPairs(
  owners: Map<string, Map<string, string>>,
  peeringId: string,
  wanted: readonly (readonly [string, readonly string[]])[],
): Clash | null {
  for (const [bridge, pairs] of wanted) {
    const claimed = owners.get(bridge);
    for (const pair of pairs) {
      const owner = claimed?.get(pair);
      if (owner !== undefined) return { bridge, pair, owner };
    }
  }
  for (const [bridge, pairs] of wanted) {
    let claimed = owners.get(bridge);
    if (!claimed) owners.set(bridge, (claimed = new Map<string, string>()));
    for (const pair of pairs) claimed.set(pair, peeringId);
  }
  return null;
}

function appendFlows(byBridge: Map<string, Flow[]>, bridge: string, flows: readonly Flow[], canary: Flow): void {
  let list = byBridge.get(bridge);
  if (!list) byBridge.set(bridge, (list = [canary]));
  for (const f of flows) list.push(f);
}
