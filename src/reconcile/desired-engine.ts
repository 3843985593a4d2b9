// computeDesired kept from one call to the next (issue #12): a call redoes only the peerings and
// bridges that the changes since the previous call can reach, and returns what computeDesired
// returns for the same view, topology and prefix (test/unit/reconcile/desired-engine.test.ts
// checks that law over random histories). Pure: no I/O; it keeps its own indexes.
//
// What a change reaches, by the steps of desired.ts:
// - a peering put or deleted (StateView.changesSince): itself, and the peerings of its 12-hex
//   suffix (the smallest id holds it, the others name it in their error);
// - a VPC put or deleted: the peerings of that VPC;
// - a bridge appearing or going: the peerings located on it (not-local, or contending);
// - a port changed in the topology: the holder of the suffix its name carries (`px<h>[ra]`);
// - a peering whose steering pairs changed (it became or stopped being a contender, or its
//   VPCs changed): every contender connected to it through shared pairs, old or new. The pairs
//   go to the smallest id in order, so only such a component can settle otherwise; it is
//   settled again, in id order, alone.
// A bridge's flows are rebuilt only when the flows of one of its peerings changed; the flows of
// every other bridge stay the same array (sameFlows then skips them, see ovs-dataplane.ts).
// A new view object, another prefix, or a view too far behind for its change log means the
// engine starts afresh from that state (every peering reached, through the same steps).
import type { StateView } from '../domain/state-index.js';
import type { Peering } from '../domain/types.js';
import type { Flow } from '../ovs/flow.js';
import type { Topology } from '../ovs/topology-parser.js';
import {
  type Clash,
  canaryFlow,
  claimPairs,
  type Desired,
  DesiredCache,
  type DesiredInput,
  type DesiredPeering,
  type DesiredPort,
  isOurPort,
  type Located,
  locate,
  type PeeringParts,
  programmed,
  steeringClash,
  suffixClash,
  suffixed,
} from './desired.js';
import { diffTopology } from './topology-diff.js';

export interface DesiredEngine {
  /**
   * What computeDesired returns for this input: the same ports (in order), flows per bridge (in
   * order; a bridge's array is the previous call's object when its flows did not change),
   * peerings and cookies (as maps, in the same iteration order). Only the flows map's bridge
   * order may differ. The view must be changed only through mutations it records (StateIndex).
   */
  compute(input: Omit<DesiredInput, 'cache'>): Desired;
}

/** More changed records than this in one call: start afresh (as cheap, and the snapshots stay small). */
const REBUILD_ABOVE = 1024;
/** Above this many entries changed over its base, a snapshot map is flattened into a new base. */
const SNAPSHOT_DELTA_CAP = 256;

/** What the engine knows of one active peering. */
interface Entry {
  readonly peering: Peering;
  /** Null: an id that fails before its suffix (malformed, the canary's cookie). */
  readonly suffix: string | null;
  readonly cookie: bigint;
  /** It holds its suffix (and so its cookie). */
  readonly holder: boolean;
  /** Step 3, for a holder; null otherwise. */
  readonly located: Located | null;
  /** Why a contender lost its pairs; null for a winner or a non-contender. */
  readonly clash: Clash | null;
  readonly outcome: DesiredPeering;
  /** A winner's patch pair. */
  readonly port: DesiredPort | null;
  /** A ready peering's flows, [bridge, flows] per side (requester first); null otherwise. */
  readonly flows: readonly (readonly [string, readonly Flow[]])[] | null;
}

/** The engine's state after a call: the inputs it reflects, its indexes and the result. */
interface Known {
  readonly view: StateView;
  readonly prefix: number;
  readonly canary: Flow;
  version: number;
  topology: Topology;
  readonly entries: Map<string, Entry>;
  /** VPC id → the active peerings naming it. */
  readonly byVpc: Map<string, Set<string>>;
  /** Bridge → the peerings whose outcome depends on its presence (not-local, or contending). */
  readonly byBridge: Map<string, Set<string>>;
  /** Suffix → the active peerings with a well-formed id carrying it, sorted (the first holds it). */
  readonly bySuffix: Map<string, string[]>;
  /** Bridge → steering pair → every contender wanting it (winners and losers). */
  readonly wanting: Map<string, Map<string, Set<string>>>;
  /** Bridge → steering pair → the contender that won it. */
  readonly owners: Map<string, Map<string, string>>;
  /** Bridge → the ready peerings with flows on it, sorted. */
  readonly onBridge: Map<string, string[]>;
  result: Desired;
  /** The result's peerings and cookies, as the snapshots the next result is made from. */
  peerings: SortedSnapshot<string, DesiredPeering>;
  cookies: SortedSnapshot<bigint, string>;
}

export function createDesiredEngine(cache: DesiredCache = new DesiredCache()): DesiredEngine {
  let known: Known | null = null;
  return {
    compute(input) {
      const { view, topology, cookiePrefix } = input;
      const version = view.version;
      const changes = known !== null && known.view === view && known.prefix === cookiePrefix ? view.changesSince(known.version) : null;
      if (known === null || changes === null || changes.peeringIds.length + changes.vpcIds.length > REBUILD_ABOVE) {
        known = afresh(view, topology, cookiePrefix, version);
        const all: string[] = [];
        for (const p of view.peerings()) if (p.status === 'active') all.push(p.id);
        step(known, cache, all, [], null);
      } else {
        step(known, cache, changes.peeringIds, changes.vpcIds, topology === known.topology ? null : topology);
      }
      known.version = version;
      return known.result;
    },
  };
}

function afresh(view: StateView, topology: Topology, prefix: number, version: number): Known {
  const peerings = SortedSnapshot.empty<string, DesiredPeering>((id) => id);
  const cookies = SortedSnapshot.empty<bigint, string>((_, id) => id);
  return {
    view,
    prefix,
    canary: canaryFlow(prefix),
    version,
    topology,
    entries: new Map(),
    byVpc: new Map(),
    byBridge: new Map(),
    bySuffix: new Map(),
    wanting: new Map(),
    owners: new Map(),
    onBridge: new Map(),
    result: { ports: [], flows: new Map(), peerings, cookies },
    peerings,
    cookies,
  };
}

/** Step 1..3 of one active peering, before the steering claims. */
interface Pre {
  readonly peering: Peering;
  readonly suffix: string | null;
  readonly cookie: bigint;
  readonly holder: boolean;
  readonly located: Located | null;
  /** The outcome when it is settled before the claims. */
  readonly settled: DesiredPeering | null;
}

function contending(located: Located | null): PeeringParts | null {
  return located?.kind === 'contender' ? located.parts : null;
}

/**
 * Brings `k` to the view's current state and `topology` (null: the topology did not change):
 * `peeringIds`, `vpcIds` are the records changed since `k` was computed.
 */
function step(k: Known, cache: DesiredCache, peeringIds: readonly string[], vpcIds: readonly string[], topology: Topology | null): void {
  const { view, entries } = k;
  const canaryCookie = k.canary.cookie;
  const reached = new Set<string>();
  const reachSuffix = (suffix: string): void => {
    for (const id of k.bySuffix.get(suffix) ?? []) reached.add(id);
  };

  // What the changes reach; the record indexes follow the view.
  for (const id of new Set(peeringIds)) {
    const old = entries.get(id)?.peering;
    const now = activeRecord(view, id);
    if (old === now) continue;
    reached.add(id);
    if (old) for (const vpcId of vpcsOf(old)) removeFrom(k.byVpc, vpcId, id);
    if (now) for (const vpcId of vpcsOf(now)) addTo(k.byVpc, vpcId, id);
    const s = suffixed(id, canaryCookie);
    if (s.ok && !old !== !now) {
      let ids = k.bySuffix.get(s.suffix);
      if (!ids) k.bySuffix.set(s.suffix, (ids = []));
      if (now) insertSorted(ids, id);
      else removeSorted(ids, id);
      reachSuffix(s.suffix);
      if (ids.length === 0) k.bySuffix.delete(s.suffix);
    }
  }
  for (const vpcId of vpcIds) for (const id of k.byVpc.get(vpcId) ?? []) reached.add(id);
  if (topology !== null) {
    const reachBridge = (bridge: string): void => {
      for (const id of k.byBridge.get(bridge) ?? []) reached.add(id);
    };
    const reachPort = (name: string): void => {
      if (isOurPort(name)) reachSuffix(name.slice(2, 14));
    };
    diffTopology(k.topology, topology, reachBridge, reachPort);
    k.topology = topology;
  }
  const top = k.topology;

  // Steps 1..3 of every peering reached.
  const pre = new Map<string, Pre | null>();
  for (const id of reached) {
    const peering = activeRecord(view, id);
    if (!peering) {
      pre.set(id, null);
      continue;
    }
    const s = suffixed(id, canaryCookie);
    if (!s.ok) {
      pre.set(id, { peering, suffix: null, cookie: 0n, holder: false, located: null, settled: s.outcome });
      continue;
    }
    const holder = (k.bySuffix.get(s.suffix) as string[])[0] as string;
    if (holder !== id) {
      pre.set(id, { peering, suffix: s.suffix, cookie: s.cookie, holder: false, located: null, settled: suffixClash(id, holder) });
      continue;
    }
    const located = locate(peering, s.cookie, view, top, cache);
    const settled = located.kind === 'settled' ? located.outcome : null;
    pre.set(id, { peering, suffix: s.suffix, cookie: s.cookie, holder: true, located, settled });
  }

  // Step 4: the components of contenders whose pairs changed are settled again.
  const claimed = settleClaims(k, reached, pre);
  for (const id of claimed.keys()) {
    if (reached.has(id)) continue;
    reached.add(id);
    const e = entries.get(id) as Entry;
    pre.set(id, { peering: e.peering, suffix: e.suffix, cookie: e.cookie, holder: e.holder, located: e.located, settled: null });
  }

  // Step 5, and what changed in the result.
  const peeringChanges = new Map<string, DesiredPeering | typeof GONE>();
  const cookiesGone: bigint[] = [];
  const cookiesHeld: [bigint, string][] = [];
  const portsGone = new Set<string>();
  const portsNew: DesiredPort[] = [];
  const dirtyBridges = new Set<string>();
  for (const id of reached) {
    const old = entries.get(id);
    const p = pre.get(id) ?? null;
    const next = p === null ? null : finish(id, p, claimed.has(id) ? (claimed.get(id) ?? null) : (old?.clash ?? null), top);
    if (next === null) {
      if (old) peeringChanges.set(id, GONE);
    } else if (!old || !sameOutcome(old.outcome, next.outcome)) {
      peeringChanges.set(id, next.outcome);
    }
    if (old?.holder && !next?.holder) cookiesGone.push(old.cookie);
    if (next?.holder && !old?.holder) cookiesHeld.push([next.cookie, id]);
    if (old?.port !== next?.port) {
      if (old?.port) portsGone.add(id);
      if (next?.port) portsNew.push(next.port);
    }
    const oldFlows = old?.flows ?? [];
    const newFlows = next?.flows ?? [];
    for (const [bridge, flows] of oldFlows) {
      if (newFlows.some(([b, f]) => b === bridge && f === flows)) continue;
      dirtyBridges.add(bridge);
      if (!newFlows.some(([b]) => b === bridge)) removeSorted(k.onBridge.get(bridge) ?? [], id);
    }
    for (const [bridge, flows] of newFlows) {
      if (oldFlows.some(([b, f]) => b === bridge && f === flows)) continue;
      dirtyBridges.add(bridge);
      if (!oldFlows.some(([b]) => b === bridge)) {
        let ids = k.onBridge.get(bridge);
        if (!ids) k.onBridge.set(bridge, (ids = []));
        insertSorted(ids, id);
      }
    }
    const oldOn = old ? bridgesOf(old.located) : null;
    const newOn = next ? bridgesOf(next.located) : null;
    if (oldOn !== newOn) {
      for (const b of oldOn ?? []) removeFrom(k.byBridge, b, id);
      for (const b of newOn ?? []) addTo(k.byBridge, b, id);
    }
    if (next) entries.set(id, next);
    else entries.delete(id);
  }

  // The result: a new object for each part that changed, the same one for each that did not.
  const prev = k.result;
  let flows = prev.flows;
  if (dirtyBridges.size > 0) {
    const m = new Map(prev.flows);
    for (const bridge of dirtyBridges) {
      const ids = k.onBridge.get(bridge) ?? [];
      if (ids.length === 0) {
        m.delete(bridge);
        k.onBridge.delete(bridge);
        continue;
      }
      // Whole arrays at a time: this runs cold in the daemon, where a loop per flow is interpreted.
      const list: Flow[] = [k.canary];
      for (const id of ids) {
        const sides = (entries.get(id) as Entry).flows ?? [];
        const side = sides[0]?.[0] === bridge ? sides[0] : sides[1];
        if (side) list.push(...side[1]);
      }
      m.set(bridge, list);
    }
    flows = m;
  }
  const cookieChanges = new Map<bigint, string | typeof GONE>();
  // Gone first: a suffix that changes holder keeps its cookie.
  for (const c of cookiesGone) cookieChanges.set(c, GONE);
  for (const [c, id] of cookiesHeld) cookieChanges.set(c, id);
  k.peerings = k.peerings.with(peeringChanges);
  k.cookies = k.cookies.with(cookieChanges);
  const ports = portsGone.size + portsNew.length === 0 ? prev.ports : mergePorts(prev.ports, portsGone, portsNew);
  const same = ports === prev.ports && flows === prev.flows && k.peerings === prev.peerings && k.cookies === prev.cookies;
  if (!same) k.result = { ports, flows, peerings: k.peerings, cookies: k.cookies };
}

/** Step 5 of one peering from its steps 1..4. */
function finish(id: string, p: Pre, clash: Clash | null, topology: Topology): Entry {
  const base = { peering: p.peering, suffix: p.suffix, cookie: p.cookie, holder: p.holder, located: p.located };
  if (p.settled !== null) return { ...base, clash: null, outcome: p.settled, port: null, flows: null };
  const parts = contending(p.located) as PeeringParts;
  if (clash !== null) return { ...base, clash, outcome: steeringClash(id, clash, parts.bridges), port: null, flows: null };
  const done = programmed(parts, topology);
  const flows =
    done.onR !== null && done.onA !== null
      ? ([
          [parts.port.bridge, done.onR],
          [parts.port.peerBridge, done.onA],
        ] as const)
      : null;
  return { ...base, clash: null, outcome: done.outcome, port: parts.port, flows };
}

/**
 * Settles again the steering claims of every component (contenders joined by a shared pair on a
 * bridge) that holds a reached peering whose pairs changed, before or after the change. Returns
 * each contender of those components with its clash (null: it won), having updated the indexes.
 */
function settleClaims(k: Known, reached: ReadonlySet<string>, pre: ReadonlyMap<string, Pre | null>): Map<string, Clash | null> {
  const partsNow = (id: string): PeeringParts | null =>
    reached.has(id) ? contending(pre.get(id)?.located ?? null) : contending(k.entries.get(id)?.located ?? null);
  const start: string[] = [];
  for (const id of reached) {
    const was = contending(k.entries.get(id)?.located ?? null);
    const now = partsNow(id);
    if (was === now) continue;
    if (was) {
      for (const [bridge, pairs] of was.wanted) {
        const wanting = k.wanting.get(bridge);
        const owners = k.owners.get(bridge);
        for (const pair of pairs) {
          const ids = wanting?.get(pair);
          ids?.delete(id);
          for (const other of ids ?? []) start.push(other);
          if (ids?.size === 0) wanting?.delete(pair);
          if (owners?.get(pair) === id) owners.delete(pair);
        }
      }
    }
    if (now) {
      for (const [bridge, pairs] of now.wanted) {
        let wanting = k.wanting.get(bridge);
        if (!wanting) k.wanting.set(bridge, (wanting = new Map<string, Set<string>>()));
        for (const pair of pairs) {
          let ids = wanting.get(pair);
          if (!ids) wanting.set(pair, (ids = new Set<string>()));
          ids.add(id);
        }
      }
      start.push(id);
    }
  }
  const component = new Map<string, PeeringParts>();
  while (start.length > 0) {
    const id = start.pop() as string;
    if (component.has(id)) continue;
    const parts = partsNow(id);
    if (!parts) continue;
    component.set(id, parts);
    for (const [bridge, pairs] of parts.wanted) {
      const wanting = k.wanting.get(bridge);
      for (const pair of pairs) for (const other of wanting?.get(pair) ?? []) if (!component.has(other)) start.push(other);
    }
  }
  for (const [id, parts] of component) {
    for (const [bridge, pairs] of parts.wanted) {
      const owners = k.owners.get(bridge);
      for (const pair of pairs) if (owners?.get(pair) === id) owners.delete(pair);
    }
  }
  const out = new Map<string, Clash | null>();
  for (const id of [...component.keys()].sort(byId)) out.set(id, claimPairs(k.owners, id, (component.get(id) as PeeringParts).wanted));
  return out;
}

function sameOutcome(a: DesiredPeering, b: DesiredPeering): boolean {
  if (a === b) return true;
  if (a.state !== b.state || a.flows !== b.flows || a.error !== b.error || a.reason !== b.reason) return false;
  return a.bridges.length === b.bridges.length && a.bridges.every((x, i) => x === b.bridges[i]);
}

/** The bridges whose presence decides a located peering's outcome. */
function bridgesOf(located: Located | null): readonly string[] | null {
  if (located === null) return null;
  return located.kind === 'contender' ? located.parts.bridges : located.on;
}

function activeRecord(view: StateView, id: string): Peering | undefined {
  const p = view.getPeering(id);
  return p?.status === 'active' ? p : undefined;
}

function vpcsOf(p: Peering): string[] {
  return [p.requesterVpcId, p.accepterVpcId];
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  ids?.delete(id);
  if (ids?.size === 0) index.delete(key);
}

/** The order of computeDesired: peering ids as strings. */
function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where `id` is, or would go, in the sorted `ids`. */
function searchSorted(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ids[mid] as string) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(ids: string[], id: string): void {
  const i = searchSorted(ids, id);
  if (ids[i] !== id) ids.splice(i, 0, id);
}

function removeSorted(ids: string[], id: string): void {
  const i = searchSorted(ids, id);
  if (ids[i] === id) ids.splice(i, 1);
}

/** `ports` without those of `gone`, with `added` put in, in peering-id order (by splices: builtins, not a loop per port). */
function mergePorts(ports: readonly DesiredPort[], gone: ReadonlySet<string>, added: readonly DesiredPort[]): DesiredPort[] {
  const out = ports.slice();
  const at = (id: string): number => {
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((out[mid] as DesiredPort).peeringId < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (const id of gone) {
    const i = at(id);
    if (out[i]?.peeringId === id) out.splice(i, 1);
  }
  for (const p of added) out.splice(at(p.peeringId), 0, p);
  return out;
}

const GONE: unique symbol = Symbol('gone');

/**
 * An immutable map made of a base and the changes since it, so that a result that changes a few
 * of 10k peerings costs a few entries, not a copy (a copy of a 10k Map was 1.5 ms hot here).
 * Iterated in the order of `order` (what computeDesired's insertion order is), flattening it once.
 */
class SortedSnapshot<K, V> implements ReadonlyMap<K, V> {
  private flat: Map<K, V> | null = null;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly delta: ReadonlyMap<K, V | typeof GONE>,
    readonly size: number,
    private readonly order: (key: K, value: V) => string,
  ) {}

  static empty<K, V>(order: (key: K, value: V) => string): SortedSnapshot<K, V> {
    return new SortedSnapshot<K, V>(new Map(), new Map(), 0, order);
  }

  get(key: K): V | undefined {
    const d = this.delta.get(key);
    if (d !== undefined) return d === GONE ? undefined : d;
    return this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** This map with `changes` made (GONE: deleted); this one itself when there are none. */
  with(changes: ReadonlyMap<K, V | typeof GONE>): SortedSnapshot<K, V> {
    if (changes.size === 0) return this;
    let size = this.size;
    const delta = new Map(this.delta);
    for (const [key, v] of changes) {
      size += (v === GONE ? 0 : 1) - (this.has(key) ? 1 : 0);
      delta.set(key, v);
    }
    const next = new SortedSnapshot(this.base, delta, size, this.order);
    return delta.size > SNAPSHOT_DELTA_CAP ? new SortedSnapshot(next.flatten(), new Map(), size, this.order) : next;
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.flatten()) fn.call(thisArg, value, key, this);
  }

  entries(): MapIterator<[K, V]> {
    return this.flatten().entries();
  }

  keys(): MapIterator<K> {
    return this.flatten().keys();
  }

  values(): MapIterator<V> {
    return this.flatten().values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** One Map in order: the base's entries (in order already) merged with the changed ones. */
  private flatten(): Map<K, V> {
    if (this.flat !== null) return this.flat;
    const added: { key: K; value: V; at: string }[] = [];
    for (const [key, value] of this.delta) if (value !== GONE) added.push({ key, value, at: this.order(key, value) });
    added.sort((a, b) => byId(a.at, b.at));
    const out = new Map<K, V>();
    let i = 0;
    for (const [key, value] of this.base) {
      if (this.delta.has(key)) continue;
      const at = this.order(key, value);
      for (; i < added.length && (added[i] as { at: string }).at < at; i++) out.set((added[i] as { key: K }).key, (added[i] as { value: V }).value);
      out.set(key, value);
    }
    for (; i < added.length; i++) out.set((added[i] as { key: K }).key, (added[i] as { value: V }).value);
    this.flat = out;
    return out;
  }
}
