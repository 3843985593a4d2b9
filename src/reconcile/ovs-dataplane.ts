// The data plane on a real Open vSwitch: one reconcile pass (per-bridge dumps, started at once,
// alongside the topology and the desired flows → stale ports deleted → per bridge: diff, one
// bundle → new patch ports), driven by the loop in loop.ts and triggered by store commits, the
// interval, and drift reported by the installed-flow cache (installed.ts). The pass's work queue
// is pass.ts; what is reported per peering is report.ts. This module owns the OVS part of
// `status`, the per-peering `dataplane` object, `reconcile.run` and `peering.flows`; the text of
// the changes it reports is changes.ts, where a peering lives on this host peering-detail.ts.
import type { StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import { type Flow, sameFlow } from '../ovs/flow.js';
import type { Ovs, PatchPair } from '../ovs/ovs.js';
import { OvsError } from '../ovs/runner.js';
import type { PortInfo, Topology } from '../ovs/topology-parser.js';
import { createChangeLog, type Detail } from './changes.js';
import { type Dataplane, DataplaneError, type OvsStatus, type ReconcileError, type ReconcileRequest, type ReconcileResult } from './dataplane.js';
import { canaryCookie, computeDesired, type Desired, DesiredCache, isOurPort, peeringCookie } from './desired.js';
import { createInstalledFlows, type Dumped, type FlowSource } from './installed.js';
import { createReconcileLoop, type ReconcileLoop, type Scope } from './loop.js';
import { BRIDGE_CONCURRENCY, createPass, drain, type Pass, type PassMode, type Prepared, takeDrift, type TopologyRead } from './pass.js';
import { bundleFor, type FlowPlan, planFlows, plannedTopology, planPorts, type PortPlan, sameOfports, withRequestedOfports } from './plan.js';
import { localBridges, peeringBridges } from './peering-detail.js';
import { type BridgeResult, peeringState } from './report.js';

export { BRIDGE_CONCURRENCY } from './pass.js';

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

/** computeDesired and planPorts for one state version and one topology. */
interface Computed {
  readonly version: number;
  readonly topology: Topology;
  readonly desired: Desired;
  readonly ports: PortPlan;
}

/** The longest wait between two attempts while OVS does not answer. */
const MAX_BACKOFF_MS = 250;

export function createOvsDataplane(opts: OvsDataplaneOptions): OvsDataplane {
  const { ovs, logger, cookiePrefix } = opts;
  const now = opts.now ?? (() => new Date());
  const bridges = new Map<string, BridgeResult>();
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
  const installed = createInstalledFlows({
    ovs,
    cookiePrefix,
    logger,
    onDrift: (bridge) => {
      // A pass running now takes the bridge next (once it knows the topology); otherwise a pass follows.
      const p = pass;
      if (p?.open && p.prepared === null) p.early.add(bridge);
      else if (p?.open) takeDrift(p, bridge, stateVersion, (b) => loop.trigger(b));
      else loop.trigger([bridge]);
    },
    // vswitchd died or the bridge went away: look at everything again (with backoff).
    onMonitorEnd: () => {
      if (!closed) loop.trigger('all');
    },
  });

  const loop = createReconcileLoop({
    cycle: async (scope) => {
      // Every commit at or below this generation marked its bridges dirty before this cycle
      // took the dirty set, so a cycle that converges has applied them all.
      const generation = desiredGeneration;
      const { ok } = await cycle(scope, 'apply', 'reuse');
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
   * the bridges or the desired flows turn out different. `read` 'fresh': read the topology and
   * compute the desired flows first, whatever the scope (reconcile.run). `detail` 'changes':
   * the result also lists what was changed (or would be, in a dry run) per bridge.
   */
  async function cycle(scope: Scope, mode: PassMode, read: TopologyRead, detail: Detail = 'counts'): Promise<ReconcileResult & { ok: boolean }> {
    const dryRun = mode === 'dry-run';
    const started = performance.now();
    const asOf = now().toISOString();
    const result = { bridges: [] as string[], added: 0, removed: 0, unchanged: 0, errors: [] as ReconcileError[] };
    const changes = detail === 'changes' ? createChangeLog() : null;
    const detailed = (): Pick<ReconcileResult, 'changes'> => (changes === null ? {} : { changes: changes.list() });
    const current: Pass = createPass(mode);
    if (!dryRun) pass = current;
    try {
      const full = scope.all || read === 'fresh';
      const provisional = scope.all && read === 'reuse' ? provisionalFrom(known) : null;
      // A pass over everything dumps every bridge; a pass of some bridges may take what the cache trusts.
      const source: FlowSource = full || dryRun ? 'dump' : 'trusted';
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
          dumped = await (ahead ?? installed.read(bridge, source, !dryRun));
          if (dumped.flows !== null) waitForDump?.();
        }
        const prep = current.prepared;
        if (prep === null) {
          current.parked.set(bridge, dumped);
          return;
        }
        const outcome = await reconcileBridge(bridge, dumped, prep, mode, asOf);
        // The provisional topology was replaced meanwhile: this bridge is done again with the read one.
        if (current.prepared !== prep) current.queue.push(bridge);
        else if (prep === provisional) doneEarly.push(bridge);
        if (outcome === null) return;
        done.add(bridge);
        result.added += outcome.added;
        result.removed += outcome.removed;
        result.unchanged += outcome.unchanged;
        if (outcome.error) result.errors.push({ bridge, ...outcome.error });
        if (outcome.plan !== null) changes?.flows(bridge, outcome.plan);
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
          const dump = installed.read(bridge, source, !dryRun);
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
        preparing ??= prepare(scope, full, mode).then((p) => {
          if (provisional === null) current.prepared = p;
          else if (!sameOutcome(provisional, p)) {
            current.prepared = p;
            current.queue.push(...doneEarly.splice(0));
          }
          for (const bridge of current.early) takeDrift(current, bridge, stateVersion, (b) => loop.trigger(b));
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
      /** The pairs created (or, in a dry run, to create). */
      let created: readonly PatchPair[] = dryRun ? pairs : [];
      if (!dryRun && pairs.length > 0) {
        const failed = new Set(result.errors.map((e) => e.bridge));
        // Only pairs whose flows are in on both sides.
        const safe = pairs.filter((p) => !failed.has(p.bridge) && !failed.has(p.peerBridge));
        if (safe.length > 0) await ovs.addPatchPairs(safe);
        created = safe;
        final = await ovs.topology();
        if (!sameOfports(pairs, final)) {
          // vswitchd gave other numbers than asked: the next cycle renders flows for the real ones.
          logger.warn('patch ports got other ofports than requested; reconciling again');
          loop.trigger(touched);
        }
      }
      changes?.ports(created, prep.doomed, prep.topology);
      if (!dryRun) {
        lastDesired = desired;
        lastTopology = final;
        known = final;
        installed.follow(final);
      }
      state = 'enabled';
      lastError = result.errors[0]?.error ?? null;
      result.bridges.sort();
      return { ovs: state, ...result, ...detailed(), durationMs: ms(started), ok: result.errors.length === 0 };
    } catch (err) {
      installed.distrustAll();
      if (!(err instanceof OvsError)) throw err;
      if (state !== 'unavailable') logger.warn('OVS unavailable; retrying with backoff', { err: err.message });
      if (err.kind === 'unavailable' || err.kind === 'timeout') state = 'unavailable';
      lastError = err.message;
      const errors = [{ bridge: '*', ...failure(err) }];
      return { ovs: state, ...result, ...detailed(), durationMs: ms(started), ok: false, errors };
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
    return { version, topology, desired, pairs: [], doomed: [], planned: topology, inScope, touched: new Set() };
  }

  /**
   * The topology (read unless `known` lists every bridge of a scoped cycle), the desired flows,
   * stale ports deleted (ports go before their flows, and come after them: a patch pair without
   * our flows would let the platform's NORMAL flow join two VPCs), and the new pairs, numbered
   * so that their flows can go in before the ports exist.
   */
  async function prepare(scope: Scope, full: boolean, mode: PassMode): Promise<Prepared> {
    const cached = !full && !scope.all && known !== null && [...scope.bridges].every((b) => known?.bridges.has(b)) ? known : null;
    const topology = cached ?? (await ovs.topology());
    if (topology !== cached) known = topology;
    const { version, desired: first, ports } = compute(topology, !full);
    const doomed = [...ports.remove, ...ports.replace];
    if (mode === 'apply' && doomed.length > 0) await ovs.deletePorts(doomed);
    const pairs = withRequestedOfports(ports.add, topology, doomed);
    const planned = plannedTopology(topology, pairs, doomed);
    const desired = pairs.length === 0 && doomed.length === 0 ? first : computeDesired({ view: opts.view(), topology: planned, cookiePrefix, cache });
    const touched = new Set(pairs.flatMap((p) => [p.bridge, p.peerBridge]));
    const inScope = [...topology.bridges.keys()].filter((b) => scope.all || scope.bridges.has(b) || touched.has(b)).sort();
    return { version, topology, desired, pairs, doomed, planned, inScope, touched };
  }

  /** Diffs and patches one bridge from its dump; null when the topology does not list it (not here). */
  async function reconcileBridge(
    bridge: string,
    dumped: Dumped,
    prep: Prepared,
    mode: PassMode,
    asOf: string,
  ): Promise<{ added: number; removed: number; unchanged: number; error: Omit<ReconcileError, 'bridge'> | null; plan: FlowPlan | null } | null> {
    const started = performance.now();
    const dryRun = mode === 'dry-run';
    // A guessed bridge that the topology does not list is not ours to look at, whatever the dump said.
    if (!prep.topology.bridges.has(bridge)) return null;
    const want = prep.desired.flows.get(bridge) ?? [];
    try {
      if (dumped.flows === null) throw dumped.err;
      const found = dumped.flows;
      const previous = bridges.get(bridge);
      // ovs.dumpFlows returns the very array of the last dump when OVS printed the same: a
      // steady bridge is not diffed again.
      const steady = previous?.converged === found && sameFlows(previous.want, want);
      const plan = steady ? { add: [], modify: [], remove: [], unchanged: want.length } : planFlows(want, found, cookiePrefix);
      const added = plan.add.length + plan.modify.length;
      const removed = plan.remove.length;
      if (!dryRun) {
        if (added + removed > 0) {
          installed.expectEchoes(bridge, plan);
          try {
            await ovs.applyBundle(bridge, bundleFor(plan));
          } catch (err) {
            installed.bundleFailed(bridge);
            throw err;
          }
        }
        if (previous?.ok && added + removed > 0 && sameFlows(previous.want, want)) {
          driftRepaired += added + removed;
          const canary = canaryCookie(cookiePrefix);
          const lostAll = want.length > 0 && !found.some((f) => f.cookie === canary);
          if (lostAll) restartsDetected += 1;
          logger.info('drift repaired', { bridge, added, removed, flowsLost: lostAll });
        }
        installed.applied(bridge, dumped, want);
        const converged = added + removed === 0 ? found : null;
        bridges.set(bridge, { ok: true, at: now().toISOString(), asOf, durationMs: ms(started), added, removed, error: null, want, converged });
      }
      return { added, removed, unchanged: plan.unchanged, error: null, plan };
    } catch (err) {
      // A bridge deleted between the topology read and the dump is not an error: it is not here.
      if (err instanceof OvsError && err.kind === 'no-such-bridge') {
        bridges.delete(bridge);
        installed.distrust(bridge);
        known = null;
        return { added: 0, removed: 0, unchanged: 0, error: null, plan: null };
      }
      if (err instanceof OvsError && err.kind !== 'failed') throw err;
      const error = err instanceof Error ? err.message : String(err);
      logger.error('reconcile of a bridge failed', { bridge, err: error });
      if (!dryRun) {
        installed.distrust(bridge);
        bridges.set(bridge, { ok: false, at: now().toISOString(), asOf, durationMs: ms(started), added: 0, removed: 0, error, want: [], converged: null });
      }
      return { added: 0, removed: 0, unchanged: 0, error: failure(err), plan: null };
    }
  }

  /**
   * Resolves when `bridge` is on this host: in the known topology, or in a fresh read (ovs-vsctl,
   * so no ovs-ofctl is ever started for a bridge known to be absent). If OVS does not answer,
   * the pass that follows reports that.
   */
  async function requireBridge(bridge: string): Promise<void> {
    if (known?.bridges.has(bridge)) return;
    let topology: Topology;
    try {
      topology = await ovs.topology();
    } catch (err) {
      if (err instanceof OvsError) return;
      throw err;
    }
    known = topology;
    if (!topology.bridges.has(bridge)) throw bridgeNotFound(bridge);
  }

  /**
   * The topology, for a call that may run beside a pass (so `known`, which a pass keeps, is left
   * alone); DataplaneError OVS_UNAVAILABLE when OVS does not answer.
   */
  async function readTopology(): Promise<Topology> {
    try {
      return await ovs.topology();
    } catch (err) {
      if (err instanceof OvsError) throw new DataplaneError('OVS_UNAVAILABLE', `Open vSwitch does not answer: ${err.message}`);
      throw err;
    }
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
    peering: (p) => {
      const view = opts.view();
      return {
        ...peeringState(p, { view, topology: lastTopology, desired: lastDesired, bridges, lastReconcileAt }),
        bridges: peeringBridges(p, { view, topology: lastTopology, bridges, cookiePrefix }),
      };
    },
    reconcile: (req: ReconcileRequest) =>
      loop.exclusive(async () => {
        const bridge = req.bridge;
        if (bridge !== undefined) await requireBridge(bridge);
        const scope: Scope = bridge === undefined ? { all: true } : { all: false, bridges: new Set([bridge]) };
        const mode = req.dryRun === true ? 'dry-run' : 'apply';
        const detail = req.dryRun === true || req.verbose === true ? 'changes' : 'counts';
        const { ok: _ok, ...result } = await cycle(scope, mode, 'fresh', detail);
        // The bridge went away between the check and the pass's own topology read.
        if (bridge !== undefined && result.errors.length === 0 && !result.bridges.includes(bridge)) throw bridgeNotFound(bridge);
        return result;
      }),
    async peeringFlows(p) {
      const cookie = peeringCookie(cookiePrefix, p.id);
      const topology = known ?? (await readTopology());
      const dump = async (bridge: string): Promise<{ bridge: string; flows: string[] } | null> => {
        try {
          return { bridge, flows: await ovs.dumpFlowLines(bridge, cookie, EXACT_MASK) };
        } catch (err) {
          if (!(err instanceof OvsError)) throw err;
          // ovs-ofctl says the same of a bridge that is gone as of a stopped vswitchd: the database tells.
          if (!(await readTopology()).bridges.has(bridge)) return null;
          throw new DataplaneError('OVS_UNAVAILABLE', `Open vSwitch cannot dump the flows of ${bridge}: ${err.message}`);
        }
      };
      const dumped = await Promise.all(localBridges(p, opts.view(), topology).map(dump));
      return { id: p.id, bridges: dumped.filter((d) => d !== null) };
    },
    async close() {
      closed = true;
      await loop.stop();
      await installed.close();
    },
  };
}

/** Selects one cookie exactly: `cookie=C/-1`. */
const EXACT_MASK = (1n << 64n) - 1n;

/** The reason in `ReconcileResult.errors` of each kind of OVS failure. */
const REASONS: Readonly<Record<OvsError['kind'], string>> = {
  unavailable: 'OVS_UNAVAILABLE',
  timeout: 'OVS_TIMEOUT',
  'no-such-bridge': 'BRIDGE_NOT_FOUND',
  failed: 'OVS_COMMAND_FAILED',
  'bad-output': 'OVS_BAD_OUTPUT',
  'missing-binary': 'OVS_MISSING',
};

function failure(err: unknown): Omit<ReconcileError, 'bridge'> {
  if (err instanceof OvsError) return { reason: REASONS[err.kind], error: err.message };
  return { reason: 'RECONCILE_FAILED', error: err instanceof Error ? err.message : String(err) };
}

function bridgeNotFound(bridge: string): DataplaneError {
  return new DataplaneError('BRIDGE_NOT_FOUND', `The bridge ${bridge} is not on this host (ovs-vsctl list-br does not show it).`);
}

function ms(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
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
