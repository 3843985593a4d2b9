// The data plane on a real Open vSwitch: one reconcile cycle (topology → patch ports → per-bridge
// dump, diff, one bundle → stale ports), driven by the loop in loop.ts and triggered by store
// commits, the interval, and `ovs-ofctl monitor` events (drift). It owns the OVS part of
// `status`, the per-peering `dataplane` object and `reconcile.run`.
import type { StateView } from '../domain/state-index.js';
import type { Mutation, Peering } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import type { Ovs, PatchPair, PortRef } from '../ovs/ovs.js';
import { OvsError } from '../ovs/runner.js';
import type { PortInfo, Topology } from '../ovs/topology-parser.js';
import type { Dataplane, OvsStatus, PeeringDataplane, ReconcileRequest, ReconcileResult } from './dataplane.js';
import { canaryCookie, computeDesired, cookieMask, type Desired, DesiredCache, type DesiredPort } from './desired.js';
import { createReconcileLoop, type ReconcileLoop, type Scope } from './loop.js';
import { bundleFor, planFlows, planPorts } from './plan.js';

export interface OvsDataplaneOptions {
  readonly ovs: Ovs;
  readonly view: () => StateView;
  readonly cookiePrefix: number;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface OvsDataplane extends Dataplane {
  start(): void;
  /** Marks what a store commit touched as dirty (wired to Store.onCommit). */
  onCommit(mutations: readonly Mutation[]): void;
  readonly loop: ReconcileLoop;
}

interface BridgeResult {
  readonly ok: boolean;
  readonly at: string;
  readonly durationMs: number;
  readonly added: number;
  readonly removed: number;
  readonly error: string | null;
  /** When the state that was applied was read: a record changed after this is not applied yet. */
  readonly asOf: string;
  /** The desired flows last applied, as one string: equal next time means any change was drift. */
  readonly signature: string;
}

/** How many bridges are dumped and patched at once (each is a child process). */
const BRIDGE_CONCURRENCY = 4;

export function createOvsDataplane(opts: OvsDataplaneOptions): OvsDataplane {
  const { ovs, logger, cookiePrefix } = opts;
  const now = opts.now ?? (() => new Date());
  const bridges = new Map<string, BridgeResult>();
  const monitors = new Map<string, { stop(): void }>();
  let state: OvsStatus['state'] = 'unavailable';
  let lastError: string | null = null;
  let lastReconcileAt: string | null = null;
  let lastReconcileDurationMs: number | null = null;
  let driftRepaired = 0;
  let restartsDetected = 0;
  let lastDesired: Desired | null = null;
  let lastTopology: Topology | null = null;
  let closed = false;
  let desiredGeneration = 0;
  const cache = new DesiredCache();
  let appliedGeneration = 0;

  const loop = createReconcileLoop({
    cycle: async (scope) => {
      // Every commit at or below this generation marked its bridges dirty before this cycle
      // took the dirty set, so a cycle that converges has applied them all.
      const generation = desiredGeneration;
      const { ok } = await cycle(scope, false);
      if (ok) appliedGeneration = Math.max(appliedGeneration, generation);
      return ok;
    },
    intervalMs: opts.intervalMs,
    logger,
  });

  async function cycle(scope: Scope, dryRun: boolean): Promise<ReconcileResult & { ok: boolean }> {
    const started = performance.now();
    const asOf = now().toISOString();
    const result = { bridges: [] as string[], added: 0, removed: 0, unchanged: 0, errors: [] as { bridge: string; error: string }[] };
    try {
      const topology = await ovs.topology();
      const first = computeDesired({ view: opts.view(), topology, cookiePrefix, cache });
      const ports = planPorts(first, topology);
      // Ports go before their flows, and come after them: a patch pair without our flows would
      // let the platform's NORMAL flow join two VPCs. Stale and misplaced ports go first.
      const doomed = [...ports.remove, ...ports.replace];
      if (!dryRun && doomed.length > 0) await ovs.deletePorts(doomed);
      // New pairs get requested ofports so that their flows can go in before the ports exist.
      const pairs = withRequestedOfports(ports.add, topology, doomed);
      const planned = plannedTopology(topology, pairs, doomed);
      const desired = pairs.length === 0 && doomed.length === 0 ? first : computeDesired({ view: opts.view(), topology: planned, cookiePrefix, cache });
      const touched = new Set(pairs.flatMap((p) => [p.bridge, p.peerBridge]));
      const inScope = [...topology.bridges.keys()].filter((b) => scope.all || scope.bridges.has(b) || touched.has(b)).sort();
      await forEachLimited(inScope, BRIDGE_CONCURRENCY, async (bridge) => {
        const r = await reconcileBridge(bridge, desired, dryRun, asOf);
        result.bridges.push(bridge);
        result.added += r.added;
        result.removed += r.removed;
        result.unchanged += r.unchanged;
        if (r.error) result.errors.push({ bridge, error: r.error });
      });
      let final: Topology = planned;
      if (!dryRun && pairs.length > 0) {
        const failed = new Set(result.errors.map((e) => e.bridge));
        // Only pairs whose flows are in on both sides.
        const safe = pairs.filter((p) => !failed.has(p.bridge) && !failed.has(p.peerBridge));
        if (safe.length > 0) await ovs.addPatchPairs(safe);
        final = await ovs.topology();
        if (!sameOfports(pairs, final)) {
          // vswitchd gave other numbers than asked: the next cycle renders flows for the real ones.
          logger.warn('patch ports got other ofports than requested; reconciling again');
          loop.trigger(touched);
        }
      }
      if (!dryRun) {
        lastDesired = desired;
        lastTopology = final;
        syncMonitors(final);
      }
      state = 'enabled';
      lastError = result.errors[0]?.error ?? null;
      result.bridges.sort();
      return { ...result, durationMs: ms(started), ok: result.errors.length === 0 };
    } catch (err) {
      if (!(err instanceof OvsError)) throw err;
      if (state !== 'unavailable') logger.warn('OVS unavailable; retrying with backoff', { err: err.message });
      if (err.kind === 'unavailable' || err.kind === 'timeout') state = 'unavailable';
      lastError = err.message;
      return { ...result, durationMs: ms(started), ok: false, errors: [{ bridge: '*', error: err.message }] };
    } finally {
      if (!dryRun) {
        lastReconcileAt = now().toISOString();
        lastReconcileDurationMs = ms(started);
      }
    }
  }

  async function reconcileBridge(
    bridge: string,
    desired: Desired,
    dryRun: boolean,
    asOf: string,
  ): Promise<{ added: number; removed: number; unchanged: number; error: string | null }> {
    const started = performance.now();
    const want = desired.flows.get(bridge) ?? [];
    const signature = want.map((f) => `${f.cookie}|${f.table}|${f.priority}|${f.match}|${f.actions}`).sort().join('\n');
    try {
      const installed = await ovs.dumpFlows(bridge, BigInt(cookiePrefix) << 48n, cookieMask());
      const plan = planFlows(want, installed, cookiePrefix);
      const added = plan.add.length + plan.modify.length;
      const removed = plan.remove.length;
      if (!dryRun) {
        if (added + removed > 0) await ovs.applyBundle(bridge, bundleFor(plan));
        const previous = bridges.get(bridge);
        if (previous?.ok && previous.signature === signature && added + removed > 0) {
          driftRepaired += added + removed;
          const canary = canaryCookie(cookiePrefix);
          const lostAll = want.length > 0 && !installed.some((f) => f.cookie === canary);
          if (lostAll) restartsDetected += 1;
          logger.info('drift repaired', { bridge, added, removed, flowsLost: lostAll });
        }
        bridges.set(bridge, { ok: true, at: now().toISOString(), asOf, durationMs: ms(started), added, removed, error: null, signature });
      }
      return { added, removed, unchanged: plan.unchanged, error: null };
    } catch (err) {
      // A bridge deleted between the topology read and the dump is not an error: it is not here.
      if (err instanceof OvsError && err.kind === 'failed' && /not a bridge|no bridge named/i.test(err.message)) {
        bridges.delete(bridge);
        return { added: 0, removed: 0, unchanged: 0, error: null };
      }
      if (err instanceof OvsError && err.kind !== 'failed') throw err;
      const error = err instanceof Error ? err.message : String(err);
      logger.error('reconcile of a bridge failed', { bridge, err: error });
      if (!dryRun) {
        bridges.set(bridge, { ok: false, at: now().toISOString(), asOf, durationMs: ms(started), added: 0, removed: 0, error, signature: '' });
      }
      return { added: 0, removed: 0, unchanged: 0, error };
    }
  }

  /** One `ovs-ofctl monitor` per bridge present: drift on it triggers a cycle of that bridge. */
  function syncMonitors(topology: Topology): void {
    if (closed) return;
    for (const [bridge, m] of monitors) {
      if (!topology.bridges.has(bridge)) {
        m.stop();
        monitors.delete(bridge);
      }
    }
    for (const bridge of topology.bridges.keys()) {
      if (monitors.has(bridge)) continue;
      monitors.set(
        bridge,
        ovs.monitor(bridge, {
          // Only changes to flows of ours: the platform's own flow changes are none of our business.
          cookie: { value: BigInt(cookiePrefix) << 48n, mask: cookieMask() },
          onChange: () => loop.trigger([bridge]),
          onExit: (err) => {
            monitors.delete(bridge);
            if (closed) return;
            // vswitchd died or the bridge went away: look at everything again (with backoff).
            logger.debug('flow monitor ended', { bridge, err: err?.message ?? null });
            loop.trigger('all');
          },
        }),
      );
    }
  }

  /**
   * This host's view of one peering. An active one is `programmed` once a cycle after its last
   * change applied its flows on both bridges; any other status is `programmed` (with 0 flows)
   * once a cycle after its last change has removed them. `not-local` when a bridge is not here.
   */
  function peeringState(p: Peering): PeeringDataplane {
    const lastReconciledAt = lastReconcileAt;
    const view = opts.view();
    const local = [p.requesterVpcId, p.accepterVpcId].map((id) => view.getVpc(id)?.bridge);
    if (!lastTopology || local.some((b) => b === undefined || !lastTopology?.bridges.has(b))) {
      return { state: lastTopology ? 'not-local' : 'pending', flows: 0, lastReconciledAt };
    }
    const d = p.status === 'active' ? lastDesired?.peerings.get(p.id) : undefined;
    if (d?.state === 'error') return { state: 'error', flows: 0, lastReconciledAt, error: d.error ?? 'unknown' };
    const results = (local as string[]).map((b) => bridges.get(b));
    const failed = results.find((r) => r && !r.ok);
    if (failed) return { state: 'error', flows: d?.flows ?? 0, lastReconciledAt: failed.at, error: failed.error ?? 'unknown' };
    // Strictly later: a cycle that started in the same millisecond may have read the state before the change.
    const current = results.every((r) => r?.ok && r.asOf > p.updatedAt);
    const ready = p.status !== 'active' || d?.state === 'ready';
    return { state: current && ready ? 'programmed' : 'pending', flows: d?.flows ?? 0, lastReconciledAt };
  }

  return {
    loop,
    start: () => loop.start(),
    onCommit(mutations) {
      const view = opts.view();
      const touched = new Set<string>();
      for (const m of mutations) {
        if (m.op === 'vpc.put') touched.add(m.vpc.bridge);
        if (m.op === 'peering.put') {
          for (const id of [m.peering.requesterVpcId, m.peering.accepterVpcId]) {
            const vpc = view.getVpc(id);
            if (vpc) touched.add(vpc.bridge);
          }
        }
      }
      // A deleted record's bridge is unknown by now; the periodic pass cleans up after it.
      if (touched.size === 0) return;
      desiredGeneration += 1;
      loop.trigger(touched);
    },
    status: () => ({
      state,
      reason: state === 'unavailable' ? lastError : null,
      bridges: lastTopology ? [...lastTopology.bridges.keys()].sort() : [],
      lastReconcileAt,
      lastReconcileDurationMs,
      driftRepaired,
      desiredGeneration,
      appliedGeneration,
      restartsDetected,
      lastError,
      perBridge: Object.fromEntries(
        [...bridges].map(([b, r]) => [b, { ok: r.ok, at: r.at, durationMs: r.durationMs, added: r.added, removed: r.removed, error: r.error }]),
      ),
    }),
    peering: peeringState,
    reconcile: (req: ReconcileRequest) =>
      loop.exclusive(async () => {
        const scope: Scope = req.bridge ? { all: false, bridges: new Set([req.bridge]) } : { all: true };
        const { ok: _ok, ...result } = await cycle(scope, req.dryRun === true);
        return result;
      }),
    async close() {
      closed = true;
      await loop.stop();
      for (const m of monitors.values()) m.stop();
      monitors.clear();
    },
  };
}

/** Where requested patch ports are numbered from: far above what a platform assigns to instances. */
const FIRST_REQUESTED_OFPORT = 32768;
const LAST_OFPORT = 0xfeff;

/** The pairs to create, each side with a free OpenFlow port number of its bridge to ask for. */
function withRequestedOfports(add: readonly DesiredPort[], topology: Topology, doomed: readonly PortRef[]): PatchPair[] {
  const gone = new Set(doomed.map((p) => `${p.bridge}/${p.port}`));
  const used = new Map<string, Set<number>>();
  for (const [name, b] of topology.bridges) {
    used.set(name, new Set([...b.ports.values()].filter((p) => !gone.has(`${name}/${p.name}`)).flatMap((p) => (p.ofport === null ? [] : [p.ofport]))));
  }
  const take = (bridge: string, port: string): number | undefined => {
    const existing = topology.bridges.get(bridge)?.ports.get(port);
    if (existing?.ofport && !gone.has(`${bridge}/${port}`)) return existing.ofport;
    const taken = used.get(bridge) ?? new Set<number>();
    for (let n = FIRST_REQUESTED_OFPORT; n <= LAST_OFPORT; n++) {
      if (!taken.has(n)) {
        taken.add(n);
        used.set(bridge, taken);
        return n;
      }
    }
    return undefined; // no number free: let vswitchd choose (flows follow next cycle)
  };
  return add.map((d) => ({
    bridge: d.bridge,
    port: d.port,
    peerBridge: d.peerBridge,
    peerPort: d.peerPort,
    ofport: take(d.bridge, d.port),
    peerOfport: take(d.peerBridge, d.peerPort),
  }));
}

/** The topology as it will be once the doomed ports are gone and the pairs exist. */
function plannedTopology(topology: Topology, pairs: readonly PatchPair[], doomed: readonly PortRef[]): Topology {
  if (pairs.length === 0 && doomed.length === 0) return topology;
  const bridges = new Map([...topology.bridges].map(([name, b]) => [name, { name, ports: new Map(b.ports) }]));
  for (const d of doomed) bridges.get(d.bridge)?.ports.delete(d.port);
  const put = (bridge: string, port: string, peer: string, ofport: number | undefined): void => {
    const info: PortInfo = { name: port, ofport: ofport ?? null, type: 'patch', peer, error: null };
    bridges.get(bridge)?.ports.set(port, info);
  };
  for (const p of pairs) {
    put(p.bridge, p.port, p.peerPort, p.ofport);
    put(p.peerBridge, p.peerPort, p.port, p.peerOfport);
  }
  return { bridges };
}

function sameOfports(pairs: readonly PatchPair[], topology: Topology): boolean {
  return pairs.every(
    (p) =>
      topology.bridges.get(p.bridge)?.ports.get(p.port)?.ofport === p.ofport &&
      topology.bridges.get(p.peerBridge)?.ports.get(p.peerPort)?.ofport === p.peerOfport,
  );
}

function ms(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
