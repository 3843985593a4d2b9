// The data plane on a real Open vSwitch: one reconcile cycle (per-bridge dumps, started at once,
// alongside the topology and the desired flows → stale ports deleted → per bridge: diff, one
// bundle → new patch ports), driven by the loop in loop.ts and triggered by store commits, the
// interval, and `ovs-ofctl monitor` events (drift). Monitor events that our own bundles cause are
// told apart and ignored; drift during a cycle joins it at the head of its queue. It owns the OVS
// part of `status`, the per-peering `dataplane` object and `reconcile.run`.
import type { StateView } from '../domain/state-index.js';
import type { Mutation, Peering } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import type { FlowEvent, Ovs, PatchPair, PortRef } from '../ovs/ovs.js';
import { OvsError } from '../ovs/runner.js';
import type { PortInfo, Topology } from '../ovs/topology-parser.js';
import type { BridgeStatus, Dataplane, OvsStatus, PeeringDataplane, ReconcileRequest, ReconcileResult } from './dataplane.js';
import { canaryCookie, computeDesired, cookieMask, type Desired, DesiredCache, type DesiredPort, isOurPort } from './desired.js';
import { type Flow, sameFlow } from './flow.js';
import { createReconcileLoop, type ReconcileLoop, type Scope } from './loop.js';
import { bundleFor, type FlowPlan, planFlows, planPorts, type PortPlan } from './plan.js';

export interface OvsDataplaneOptions {
  readonly ovs: Ovs;
  /** The state; every change to it must be reported through onCommit (the desired flows are reused until then). */
  readonly view: () => StateView;
  readonly cookiePrefix: number;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Told the duration of every pass that is not a dry run, when it ends (metrics). */
  readonly onReconciled?: (durationMs: number) => void;
}

export interface OvsDataplane extends Dataplane {
  start(): void;
  /** Marks what a store commit touched as dirty (wired to Store.onCommit). */
  onCommit(mutations: readonly Mutation[]): void;
  readonly loop: ReconcileLoop;
}

interface BridgeResult extends BridgeStatus {
  /** When the state that was applied was read: a record changed after this is not applied yet. */
  readonly asOf: string;
  /** The desired flows last applied: the same next time means any change was drift. */
  readonly want: readonly Flow[];
  /** The dump that was found to hold exactly `want`: the same dump (by identity) again needs no diff. */
  readonly converged: readonly Flow[] | null;
}

/** computeDesired and planPorts for one state version and one topology. */
interface Computed {
  readonly version: number;
  readonly topology: Topology;
  readonly desired: Desired;
  readonly ports: PortPlan;
}

/** What a cycle works from once the topology is known. */
interface Prepared {
  /** The state version the desired flows were computed from. */
  readonly version: number;
  readonly topology: Topology;
  readonly desired: Desired;
  /** New patch pairs, with requested ofports: created once their flows are in. */
  readonly pairs: readonly PatchPair[];
  /** The topology as it will be once the stale ports are gone and the pairs exist. */
  readonly planned: Topology;
  /** The bridges of the topology this cycle must reconcile, sorted. */
  readonly inScope: readonly string[];
  /** The bridges of the new pairs. */
  readonly touched: ReadonlySet<string>;
}

/** A bridge's dump: its flows of ours, or why they could not be read. */
/**
 * A bridge's flows of ours, as dumped or as `trusted` holds them. `epoch`: the bridge's drift
 * epoch when the read started, if its monitor was running then (see `trusted`).
 */
type Dumped = { readonly flows: readonly Flow[]; readonly err: null; readonly epoch: number | null } | { readonly flows: null; readonly err: unknown; readonly epoch: null };

/** The bridges a running cycle works through; drift of a bridge it knows jumps the queue. */
interface Pass {
  readonly queue: string[];
  readonly busy: Set<string>;
  /** Busy bridges that drifted again meanwhile: done once more when their worker is free. */
  readonly again: Set<string>;
  /** Bridges dumped before the topology was known, waiting for it with their dump. */
  readonly parked: Map<string, Dumped>;
  /** Dumps read ahead of the workers (see readAhead in cycle), by bridge; and how many run. */
  readonly ahead: Map<string, Promise<Dumped>>;
  readonly pending: Set<Promise<Dumped>>;
  reading: number;
  /** No more dumps to start: the pass is over, or failed. */
  halted: boolean;
  /** Bridges that drifted before the topology was known: queued once it is. */
  readonly early: Set<string>;
  /** Bridges that drifted and were taken into this pass, not dumped since: if it ends first, a cycle follows. */
  readonly drifted: Set<string>;
  /** Known once the topology is. */
  prepared: Prepared | null;
  open: boolean;
}

/** How many bridges are dumped and patched at once (each is a child process). */
export const BRIDGE_CONCURRENCY = 4;
/** The longest wait between two attempts while OVS does not answer. */
const MAX_BACKOFF_MS = 250;
/** Past this many lines a bundle's own monitor events are not told apart: they cost one more dump. */
const MAX_ECHOES = 20_000;

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
  /**
   * The topology as last read, or as our own port changes left it. A cycle of some bridges (a
   * commit, drift) reads it again only when one of them is not in it (a new bridge); every pass
   * over everything reads it (see cycle), so ports changed by someone else are seen by the next.
   */
  let known: Topology | null = null;
  /** Bumped by every commit: the desired flows of an unchanged state and topology are reused. */
  let stateVersion = 0;
  let computed: Computed | null = null;
  let pass: Pass | null = null;
  /** The topology the monitors must follow, while syncMonitors is starting them. */
  let monitorTarget: Topology | null = null;
  let syncingMonitors = false;
  let monitorSync: Promise<void> = Promise.resolve();
  /**
   * Per bridge, the monitor events our own last bundle will cause (`kind|table|cookie|match` →
   * count): they are not drift. Cleared when the bridge is dumped again, which sees the result.
   */
  const echoes = new Map<string, Map<string, number>>();
  /**
   * Per bridge, our flows as our last bundle left them, while its monitor has reported nothing
   * else since the dump that bundle was planned from: a cycle of some bridges (a commit) diffs
   * against this instead of dumping again, which halves what an accept costs. Passes over
   * everything (the interval, reconcile.run) always dump, and refresh it. Dropped on any event
   * that is not our own echo, when the monitor ends, and on any failure.
   */
  const trusted = new Map<string, readonly Flow[]>();
  /** Per bridge, bumped by every event not our own and every monitor end: a read older than that is not trusted. */
  const driftEpochs = new Map<string, number>();

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
    // Retries while OVS is down cost a few dumps that fail at once (see cycle): a short cap finds
    // a restarted vswitchd sooner.
    maxBackoffMs: MAX_BACKOFF_MS,
  });

  /** The desired flows and port plan; reused while neither the state nor the topology changed. */
  function compute(topology: Topology, reuse: boolean): Computed {
    if (reuse && computed !== null && computed.version === stateVersion && computed.topology === topology) return computed;
    const version = stateVersion;
    const desired = computeDesired({ view: opts.view(), topology, cookiePrefix, cache });
    computed = { version, topology, desired, ports: planPorts(desired, topology) };
    return computed;
  }

  /**
   * One pass. The dumps start at once, for the bridges the topology is expected to list, while the
   * topology is read (or taken from `known`) and the desired flows computed: a dump does not
   * depend on them. A bridge dumped before they are known waits with its dump; each is then
   * diffed and patched, and bridges the topology lists that were not guessed are done last.
   *
   * A pass over everything that the loop starts (the interval, a monitor that ended) does not
   * wait for its topology read: it works from `known` at once, provided that needs no port
   * change, and once the read is in, does again with it every bridge already done if our ports,
   * the bridges or the desired flows turn out different. `fresh`: read the topology and compute
   * the desired flows first, whatever the scope (reconcile.run).
   */
  async function cycle(scope: Scope, dryRun: boolean, fresh = false): Promise<ReconcileResult & { ok: boolean }> {
    const started = performance.now();
    const asOf = now().toISOString();
    const result = { bridges: [] as string[], added: 0, removed: 0, unchanged: 0, errors: [] as { bridge: string; error: string }[] };
    const current: Pass = {
      queue: [],
      busy: new Set(),
      again: new Set(),
      parked: new Map(),
      ahead: new Map(),
      pending: new Set(),
      reading: 0,
      halted: false,
      early: new Set(),
      drifted: new Set(),
      prepared: null,
      open: !dryRun,
    };
    if (!dryRun) pass = current;
    try {
      const full = scope.all || fresh;
      const provisional = scope.all && !fresh ? provisionalFrom(known) : null;
      current.prepared = provisional;
      const guess = scope.all ? (known ? [...known.bridges.keys()] : await ovs.bridgeHints()) : [...scope.bridges];
      current.queue.push(...[...new Set(guess)].sort());
      const attempted = new Set<string>();
      const done = new Set<string>();
      /** Bridges diffed against the provisional topology. */
      const doneEarly: string[] = [];
      /** Starts the preparation once a dump succeeded, when it must wait for one. */
      let waitForDump: (() => unknown) | null = null;
      const work = async (bridge: string): Promise<void> => {
        attempted.add(bridge);
        let dumped = current.parked.get(bridge);
        current.parked.delete(bridge);
        if (dumped === undefined) {
          const ahead = current.ahead.get(bridge);
          current.ahead.delete(bridge);
          if (ahead === undefined) current.drifted.delete(bridge);
          readAhead();
          dumped = await (ahead ?? dumpBridge(bridge, dryRun, !full));
          if (dumped.flows !== null) waitForDump?.();
        }
        const prep = current.prepared;
        if (prep === null) {
          current.parked.set(bridge, dumped);
          return;
        }
        const outcome = await reconcileBridge(bridge, dumped, prep, dryRun, asOf);
        // The provisional topology was replaced meanwhile: this bridge is done again with the read one.
        if (current.prepared !== prep) current.queue.push(bridge);
        else if (prep === provisional) doneEarly.push(bridge);
        if (outcome === null) return;
        done.add(bridge);
        result.added += outcome.added;
        result.removed += outcome.removed;
        result.unchanged += outcome.unchanged;
        if (outcome.error) result.errors.push({ bridge, error: outcome.error });
      };
      /**
       * Dumps of the next bridges of the queue, BRIDGE_CONCURRENCY at most in flight, so that a
       * worker finds its bridge's dump done: a dump waits on vswitchd more than it works it.
       */
      const readAhead = (): void => {
        if (current.halted) return;
        for (const bridge of current.queue) {
          if (current.reading >= BRIDGE_CONCURRENCY) return;
          if (current.ahead.has(bridge) || current.parked.has(bridge) || current.busy.has(bridge)) continue;
          current.drifted.delete(bridge);
          current.reading += 1;
          const dump = dumpBridge(bridge, dryRun, !full);
          current.ahead.set(bridge, dump);
          current.pending.add(dump);
          void dump.then(() => {
            current.reading -= 1;
            current.pending.delete(dump);
            readAhead();
          });
        }
      };
      let preparing: Promise<Prepared> | null = null;
      const startPreparing = (): Promise<Prepared> => {
        preparing ??= prepare(scope, full, dryRun).then((p) => {
          if (provisional === null) current.prepared = p;
          else if (!sameOutcome(provisional, p)) {
            current.prepared = p;
            current.queue.push(...doneEarly.splice(0));
          }
          for (const bridge of current.early) takeDrift(current, bridge);
          current.early.clear();
          return p;
        });
        // Awaited below; this only keeps its rejection from going unhandled while the workers finish.
        preparing.catch(() => undefined);
        return preparing;
      };
      // While OVS is down (we are retrying), a topology read waits for a dump to succeed: a
      // failing attempt then costs a few dumps that fail at once, not a read of the database.
      waitForDump = state === 'unavailable' ? startPreparing : null;
      // The workers spawn their first dumps synchronously, before prepare() computes.
      const draining = drain(current, work);
      if (waitForDump === null) void startPreparing();
      const drained = await draining.then(
        () => null,
        (err: unknown) => ({ err }),
      );
      // Nothing of a cycle outlives it: a failed one still waits for its preparation and its
      // dumps read ahead to end.
      const prepared = preparing === null && drained === null ? startPreparing() : preparing;
      if (prepared !== null) await prepared.catch(() => undefined);
      if (drained !== null) {
        current.halted = true;
        await Promise.all(current.pending);
        throw drained.err;
      }
      if (prepared === null) throw new Error('unreachable: a cycle without preparation');
      const prep = await prepared;
      current.queue.push(...current.parked.keys(), ...prep.inScope.filter((b) => !attempted.has(b)));
      if (current.queue.length > 0) await drain(current, work);
      current.open = false;
      current.halted = true;
      await Promise.all(current.pending);
      result.bridges.push(...done);

      const { desired, pairs, touched } = prep;
      let final: Topology = prep.planned;
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
        known = final;
        syncMonitors(final);
      }
      state = 'enabled';
      lastError = result.errors[0]?.error ?? null;
      result.bridges.sort();
      return { ...result, durationMs: ms(started), ok: result.errors.length === 0 };
    } catch (err) {
      trusted.clear();
      if (!(err instanceof OvsError)) throw err;
      if (state !== 'unavailable') logger.warn('OVS unavailable; retrying with backoff', { err: err.message });
      if (err.kind === 'unavailable' || err.kind === 'timeout') state = 'unavailable';
      lastError = err.message;
      return { ...result, durationMs: ms(started), ok: false, errors: [{ bridge: '*', error: err.message }] };
    } finally {
      current.open = false;
      if (pass === current) pass = null;
      // Drift this pass took but did not get to (it failed, or the event came late).
      const left = [...current.early, ...current.drifted];
      if (left.length > 0) loop.trigger(left);
      if (!dryRun) {
        lastReconcileAt = now().toISOString();
        lastReconcileDurationMs = ms(started);
        opts.onReconciled?.(lastReconcileDurationMs);
      }
    }
  }

  /** What a pass can work from before its topology read is in: `known`, if it needs no port change. */
  function provisionalFrom(topology: Topology | null): Prepared | null {
    if (topology === null) return null;
    const { version, desired, ports } = compute(topology, true);
    if (ports.add.length + ports.remove.length + ports.replace.length > 0) return null;
    const inScope = [...topology.bridges.keys()].sort();
    return { version, topology, desired, pairs: [], planned: topology, inScope, touched: new Set() };
  }

  /**
   * The topology (read unless `known` lists every bridge of a scoped cycle), the desired flows,
   * stale ports deleted (ports go before their flows, and come after them: a patch pair without
   * our flows would let the platform's NORMAL flow join two VPCs), and the new pairs, numbered
   * so that their flows can go in before the ports exist.
   */
  async function prepare(scope: Scope, full: boolean, dryRun: boolean): Promise<Prepared> {
    const cached = !full && !scope.all && known !== null && [...scope.bridges].every((b) => known?.bridges.has(b)) ? known : null;
    const topology = cached ?? (await ovs.topology());
    if (topology !== cached) known = topology;
    const { version, desired: first, ports } = compute(topology, !full);
    const doomed = [...ports.remove, ...ports.replace];
    if (!dryRun && doomed.length > 0) await ovs.deletePorts(doomed);
    const pairs = withRequestedOfports(ports.add, topology, doomed);
    const planned = plannedTopology(topology, pairs, doomed);
    const desired = pairs.length === 0 && doomed.length === 0 ? first : computeDesired({ view: opts.view(), topology: planned, cookiePrefix, cache });
    const touched = new Set(pairs.flatMap((p) => [p.bridge, p.peerBridge]));
    const inScope = [...topology.bridges.keys()].filter((b) => scope.all || scope.bridges.has(b) || touched.has(b)).sort();
    return { version, topology, desired, pairs, planned, inScope, touched };
  }

  /**
   * Our flows on one bridge (from `trusted` when `trust` and a real cycle); a failure is kept for
   * reconcileBridge, which knows whether it matters.
   */
  function dumpBridge(bridge: string, dryRun: boolean, trust: boolean): Promise<Dumped> {
    const epoch = monitors.has(bridge) ? (driftEpochs.get(bridge) ?? 0) : null;
    const held = trust && !dryRun ? trusted.get(bridge) : undefined;
    if (held !== undefined) return Promise.resolve({ flows: held, err: null, epoch });
    // The dump sees the result of our earlier bundles: their events no longer need telling apart.
    if (!dryRun) echoes.delete(bridge);
    return ovs.dumpFlows(bridge, BigInt(cookiePrefix) << 48n, cookieMask()).then(
      (flows) => ({ flows, err: null, epoch }),
      (err: unknown) => ({ flows: null, err, epoch: null }),
    );
  }

  /** Something other than our own bundle changed `bridge` (or may have): forget what we trusted. */
  function distrust(bridge: string): void {
    trusted.delete(bridge);
    driftEpochs.set(bridge, (driftEpochs.get(bridge) ?? 0) + 1);
  }

  /** Diffs and patches one bridge from its dump; null when the topology does not list it (not here). */
  async function reconcileBridge(
    bridge: string,
    dumped: Dumped,
    prep: Prepared,
    dryRun: boolean,
    asOf: string,
  ): Promise<{ added: number; removed: number; unchanged: number; error: string | null } | null> {
    const started = performance.now();
    // A guessed bridge that the topology does not list is not ours to look at, whatever the dump said.
    if (!prep.topology.bridges.has(bridge)) return null;
    const want = prep.desired.flows.get(bridge) ?? [];
    try {
      if (dumped.flows === null) throw dumped.err;
      const installed = dumped.flows;
      const previous = bridges.get(bridge);
      // ovs.dumpFlows returns the very array of the last dump when OVS printed the same: a
      // steady bridge is not diffed again.
      const steady = previous?.converged === installed && sameFlows(previous.want, want);
      const plan = steady ? { add: [], modify: [], remove: [], unchanged: want.length } : planFlows(want, installed, cookiePrefix);
      const added = plan.add.length + plan.modify.length;
      const removed = plan.remove.length;
      if (!dryRun) {
        if (added + removed > 0) {
          expectEchoes(bridge, plan);
          try {
            await ovs.applyBundle(bridge, bundleFor(plan));
          } catch (err) {
            echoes.delete(bridge);
            distrust(bridge);
            throw err;
          }
        }
        if (previous?.ok && added + removed > 0 && sameFlows(previous.want, want)) {
          driftRepaired += added + removed;
          const canary = canaryCookie(cookiePrefix);
          const lostAll = want.length > 0 && !installed.some((f) => f.cookie === canary);
          if (lostAll) restartsDetected += 1;
          logger.info('drift repaired', { bridge, added, removed, flowsLost: lostAll });
        }
        // The bridge now holds `want`, unless its monitor said otherwise since the read.
        if (dumped.epoch !== null && dumped.epoch === (driftEpochs.get(bridge) ?? 0) && monitors.has(bridge)) trusted.set(bridge, want);
        else trusted.delete(bridge);
        const converged = added + removed === 0 ? installed : null;
        bridges.set(bridge, { ok: true, at: now().toISOString(), asOf, durationMs: ms(started), added, removed, error: null, want, converged });
      }
      return { added, removed, unchanged: plan.unchanged, error: null };
    } catch (err) {
      // A bridge deleted between the topology read and the dump is not an error: it is not here.
      if (err instanceof OvsError && err.kind === 'failed' && /not a bridge|no bridge named/i.test(err.message)) {
        bridges.delete(bridge);
        distrust(bridge);
        known = null;
        return { added: 0, removed: 0, unchanged: 0, error: null };
      }
      if (err instanceof OvsError && err.kind !== 'failed') throw err;
      const error = err instanceof Error ? err.message : String(err);
      logger.error('reconcile of a bridge failed', { bridge, err: error });
      if (!dryRun) {
        distrust(bridge);
        bridges.set(bridge, { ok: false, at: now().toISOString(), asOf, durationMs: ms(started), added: 0, removed: 0, error, want: [], converged: null });
      }
      return { added: 0, removed: 0, unchanged: 0, error };
    }
  }

  /**
   * One `ovs-ofctl monitor` per bridge present: drift on it triggers a cycle of that bridge. Each
   * start is a process spawn (a few ms of blocked event loop), so they are spread over turns of
   * the event loop and the cycle does not wait for them.
   */
  function syncMonitors(topology: Topology): void {
    monitorTarget = topology;
    if (syncingMonitors) return;
    syncingMonitors = true;
    monitorSync = (async () => {
      try {
        while (monitorTarget !== null && !closed) {
          const target: Topology = monitorTarget;
          monitorTarget = null;
          for (const [bridge, m] of monitors) {
            if (!target.bridges.has(bridge)) {
              m.stop();
              monitors.delete(bridge);
              distrust(bridge);
            }
          }
          for (const bridge of target.bridges.keys()) {
            if (closed || monitorTarget !== null) break;
            if (monitors.has(bridge)) continue;
            monitors.set(bridge, startMonitor(bridge));
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      } finally {
        syncingMonitors = false;
      }
    })();
  }

  function startMonitor(bridge: string): { stop(): void } {
    return ovs.monitor(bridge, {
      // Only changes to flows of ours: the platform's own flow changes are none of our business.
      cookie: { value: BigInt(cookiePrefix) << 48n, mask: cookieMask() },
      onChange: (event) => onFlowEvent(bridge, event),
      onExit: (err) => {
        monitors.delete(bridge);
        echoes.delete(bridge);
        distrust(bridge);
        if (closed) return;
        // vswitchd died or the bridge went away: look at everything again (with backoff).
        logger.debug('flow monitor ended', { bridge, err: err?.message ?? null });
        loop.trigger('all');
      },
    });
  }

  /** Records the monitor events that applying `plan` to `bridge` will cause. */
  function expectEchoes(bridge: string, plan: FlowPlan): void {
    if (!monitors.has(bridge) || plan.add.length + plan.modify.length + plan.remove.length > MAX_ECHOES) return;
    let expected = echoes.get(bridge);
    if (!expected) echoes.set(bridge, (expected = new Map<string, number>()));
    const expect = (kind: 'added' | 'deleted', f: Flow): void => {
      const key = echoKey(kind, f.table, f.cookie, f.match);
      expected.set(key, (expected.get(key) ?? 0) + 1);
    };
    // An add that replaces a flow of the same key is reported ADDED too.
    for (const f of plan.add) expect('added', f);
    for (const f of plan.modify) expect('added', f);
    for (const f of plan.remove) expect('deleted', f);
  }

  /** A flow of ours changed on `bridge`: our own bundle's doing, or drift to repair. */
  function onFlowEvent(bridge: string, event: FlowEvent | null): void {
    const expected = echoes.get(bridge);
    if (event !== null && expected !== undefined && event.kind !== 'modified') {
      const key = echoKey(event.kind, event.table, event.cookie, event.match);
      const left = expected.get(key) ?? 0;
      if (left > 0) {
        if (left === 1) expected.delete(key);
        else expected.set(key, left - 1);
        return;
      }
    }
    distrust(bridge);
    // A cycle running now takes the bridge next (once it knows the topology); otherwise a cycle follows.
    const p = pass;
    if (p?.open && p.prepared === null) p.early.add(bridge);
    else if (p?.open) takeDrift(p, bridge);
    else loop.trigger([bridge]);
  }

  /** Puts a drifted bridge at the head of a running pass, if the pass's desired flows still hold. */
  function takeDrift(p: Pass, bridge: string): void {
    const prep = p.prepared;
    if (prep === null || prep.version !== stateVersion || !prep.topology.bridges.has(bridge)) {
      loop.trigger([bridge]);
      return;
    }
    // A dump taken (or started) before this event is stale.
    p.parked.delete(bridge);
    p.ahead.delete(bridge);
    p.drifted.add(bridge);
    if (p.busy.has(bridge)) {
      p.again.add(bridge);
      return;
    }
    const at = p.queue.indexOf(bridge);
    if (at >= 0) p.queue.splice(at, 1);
    p.queue.unshift(bridge);
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
      stateVersion += 1;
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
        const { ok: _ok, ...result } = await cycle(scope, req.dryRun === true, true);
        return result;
      }),
    async close() {
      closed = true;
      await loop.stop();
      await monitorSync;
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

/**
 * Works through a pass's queue, BRIDGE_CONCURRENCY bridges at once, until it is empty. Bridges
 * may join the queue meanwhile (drift); one is never worked on by two workers at once. After a
 * failure no new bridge is started, and it returns (rethrowing the first failure) only once every
 * worker has stopped: nothing of a cycle outlives it.
 */
async function drain(p: Pass, fn: (bridge: string) => Promise<void>): Promise<void> {
  const failure: { err?: unknown; failed: boolean } = { failed: false };
  const worker = async (): Promise<void> => {
    while (!failure.failed) {
      const bridge = p.queue.shift();
      if (bridge === undefined) return;
      p.busy.add(bridge);
      try {
        await fn(bridge);
      } catch (err) {
        if (!failure.failed) Object.assign(failure, { err, failed: true });
      } finally {
        p.busy.delete(bridge);
      }
      if (p.again.delete(bridge) && p.open) p.queue.unshift(bridge);
    }
  };
  await Promise.all(Array.from({ length: BRIDGE_CONCURRENCY }, worker));
  if (failure.failed) throw failure.err;
}

/**
 * Whether two preparations make the same changes: same bridges, same ports of ours (all that the
 * desired flows and the port plan read from a topology), no port change, same desired flows.
 */
function sameOutcome(a: Prepared, b: Prepared): boolean {
  if (a.pairs.length + b.pairs.length > 0 || a.topology.bridges.size !== b.topology.bridges.size) return false;
  for (const [name, ba] of a.topology.bridges) {
    const bb = b.topology.bridges.get(name);
    if (bb === undefined || !sameOurPorts(ba.ports, bb.ports) || !sameOurPorts(bb.ports, ba.ports)) return false;
    if (!sameFlows(a.desired.flows.get(name) ?? [], b.desired.flows.get(name) ?? [])) return false;
  }
  return true;
}

function sameOurPorts(a: ReadonlyMap<string, PortInfo>, b: ReadonlyMap<string, PortInfo>): boolean {
  for (const [name, p] of a) {
    if (!isOurPort(name)) continue;
    const q = b.get(name);
    if (q === undefined || q.ofport !== p.ofport || q.type !== p.type || q.peer !== p.peer || q.error !== p.error) return false;
  }
  return true;
}

function echoKey(kind: 'added' | 'deleted', table: number, cookie: bigint, match: string): string {
  return `${kind}|${table}|${cookie.toString(16)}|${match}`;
}

/** Equal lists of flows; cheap when they are the same objects (DesiredCache keeps them). */
function sameFlows(a: readonly Flow[], b: readonly Flow[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Flow;
    const y = b[i] as Flow;
    if (x !== y && !sameFlow(x, y)) return false;
  }
  return true;
}
