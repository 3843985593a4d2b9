// The data plane on a real Open vSwitch: one reconcile pass (per-bridge reads, of the channel's
// table or a dump, started at once, alongside the topology and the desired flows → stale ports
// deleted → per bridge: diff, one bundle → new patch ports), driven by the loop in loop.ts and
// triggered by store commits, the interval, the backstop's per-bridge dumps spread over the
// interval (backstop.ts), and drift reported by the installed-flow table (installed.ts). The
// pass's work queue is pass.ts; what is reported per peering is report.ts; the storm guard (a
// bridge whose flows do not converge) is guard.ts. This module owns the OVS part of `status`, the
// per-peering `dataplane` object, `reconcile.run` and `peering.flows`; the text of the changes it
// reports is changes.ts, where a peering lives on this host peering-detail.ts.
import type { StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';
import type { Logger } from '../log/logger.js';
import { type Flow, flowText, sameFlows } from '../ovs/flow.js';
import { EXACT_COOKIE_MASK, type Ovs, type PatchPair, type PortRef } from '../ovs/ovs.js';
import { OvsError } from '../ovs/runner.js';
import type { Topology } from '../ovs/topology-parser.js';
import { createBackstop } from './backstop.js';
import { createChangeLog, type ChangeLog, type Detail } from './changes.js';
import { type BridgeStatus, type Dataplane, DataplaneError, type OvsStatus, type ReconcileRequest, type ReconcileResult } from './dataplane.js';
import { canaryCookie, canaryFlow, type Desired, peeringCookie } from './desired.js';
import { createDesiredEngine } from './desired-engine.js';
import { createConvergenceGuard, REPAIRS_BEFORE_GUARD } from './guard.js';
import { createInstalledFlows, type Dumped, type FlowSource } from './installed.js';
import { createReconcileLoop, type ReconcileLoop, type Scope } from './loop.js';
import { createBridgeRetries } from './retry.js';
import { BRIDGE_CONCURRENCY, createPass, drain, type Pass, type PassMode, type Prepared, takeDrift, type TopologyRead } from './pass.js';
import { type FlowPlan, isPatchTo, planFlows, plannedTopology, planPorts, type PortPlan, sameOfports, withRequestedOfports } from './plan.js';
import { localBridges, peeringBridges } from './peering-detail.js';
import { type BridgeResult, CommitSeqs, peeringState } from './report.js';
import { topologyChange } from './topology-diff.js';

export { BRIDGE_CONCURRENCY } from './pass.js';

export interface OvsDataplaneOptions {
  readonly ovs: Ovs;
  /** The state; every change to it must be reported through onCommit (the desired flows are reused until then). */
  readonly view: () => StateView;
  readonly cookiePrefix: number;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now?: () => Date;
  /**
   * Told the duration of every pass that is not a dry run, when it ends (metrics), and whether
   * it may have changed what peering() shows (a bridge's result, the topology, the desired
   * flows, OVS's state): the gossip host report is rebuilt only then, not once per backstop read.
   */
  readonly onReconciled?: (durationMs: number, viewChanged: boolean) => void;
  /** How long reconcile.run may take before it replies with what is done (RECONCILE_RUN_DEADLINE_MS). */
  readonly runDeadlineMs?: number;
  /**
   * TEST ONLY (VPC_PEERD_TEST_UNCONVERGING_BRIDGE, see docs/TESTING.md): this bridge is given one
   * more desired flow, written in a spelling OVS prints otherwise, so that its flows never
   * converge and the storm guard must catch it. Never set in production.
   */
  readonly unconvergingBridge?: string;
}

export interface OvsDataplane extends Dataplane {
  /** Opens the channels of the bridges the rundir shows, then starts the loop (its first pass waits for them, briefly). */
  start(): void;
  /** `ovs.reconcileIntervalMs` changed (SIGHUP): the loop's pass over everything and the backstop's rounds follow it. */
  setIntervalMs(ms: number): void;
  /** Marks what a store commit touched as dirty (wired to Store.onCommit, with the commit's seq). */
  onCommit(mutations: readonly Mutation[], seq: number): void;
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
/**
 * reconcile.run replies within this, with what was done by then (the pass goes on): below the
 * client's default 30 s timeout, above a pass of the largest host measured (10k peerings).
 */
export const RECONCILE_RUN_DEADLINE_MS = 20_000;
/** Flows of each side listed in the one log line of a bridge that does not converge. */
const LOGGED_FLOWS = 20;
/**
 * How long the first pass waits for the channels start() opened to hold their tables: a few ms
 * on a live vswitchd (100 bridges: tens of ms). Only sockets a dead vswitchd (or a deleted
 * bridge) left behind make it wait this long; the pass then finds OVS down by itself.
 */
const CHANNEL_WAIT_MS = 1_000;

type PassError = ReconcileResult['errors'][number];
/** What a pass did on one bridge. `lostAll`: found without its canary (its flows were lost). */
interface BridgeOutcome {
  readonly added: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly error: Omit<PassError, 'bridge'> | null;
  readonly lostAll: boolean;
  /** The flows changed (or, in a dry run, to change) on the bridge; null when none were. */
  readonly plan: FlowPlan | null;
}
/** A bridge's result as reconcileBridge sets it; the rest defaults to what the last result said. */
type Recorded = Pick<BridgeResult, 'ok' | 'at' | 'added' | 'removed' | 'error' | 'reason' | 'want' | 'converged' | 'installed'> &
  Partial<Pick<BridgeResult, 'flowsLost' | 'flowsDoNotConverge' | 'retryAt'>>;
/** What a pass has done so far: reconcile.run replies with it at its deadline. */
interface Progress {
  readonly bridges: string[];
  added: number;
  removed: number;
  unchanged: number;
  readonly errors: PassError[];
  /** With `detail` 'changes' (dryRun, verbose): what was changed per bridge; null otherwise. */
  readonly changes: ChangeLog | null;
}

export function createOvsDataplane(opts: OvsDataplaneOptions): OvsDataplane {
  const { ovs, logger, cookiePrefix } = opts;
  const now = opts.now ?? (() => new Date());
  const bridges = new Map<string, BridgeResult>();
  /** Something peering() reads changed since the last onReconciled. */
  let viewChanged = true;
  /** Sets a bridge's result, noting whether peering() could see the change (report.ts peeringState). */
  const setResult = (bridge: string, r: BridgeResult): void => {
    const was = bridges.get(bridge);
    viewChanged ||= was === undefined || was.ok !== r.ok || was.reason !== r.reason || was.error !== r.error || was.seq !== r.seq || !sameCounts(was.installed, r.installed);
    bridges.set(bridge, r);
  };
  let state: OvsStatus['state'] = 'unavailable';
  let lastError: string | null = null;
  let lastReconcileAt: string | null = null;
  let lastAttemptAt: string | null = null;
  let lastReconcileDurationMs: number | null = null;
  let driftRepaired = 0;
  let portsRepaired = 0;
  let restartsDetected = 0;
  let channelDisagreements = 0;
  /** ovs-vswitchd's pid as last read: a different one means it restarted. */
  let vswitchdPid: number | null = null;
  /**
   * Without a readable pid: the bridges found without their canary since the restart last
   * counted. A restart wipes every bridge, and their passes come one by one as their channels
   * reconnect: a bridge found lost again is a new restart, another bridge lost is the same one.
   */
  const lostSinceRestart = new Set<string>();
  /**
   * Bridges whose backstop read is due (backstop.ts): the next pass that reads one of them in
   * `apply` mode reads it with ovs-ofctl dump-flows, whatever the channel holds, and the flag
   * stays until such a read succeeds.
   */
  const backstopDue = new Set<string>();
  /** Set by start(): the channels of the rundir's bridges opening; the loop starts once they hold their tables. */
  let opening: Promise<void> | null = null;
  const guard = createConvergenceGuard();
  /** One object, so that an unchanged desired set stays the same objects from pass to pass. */
  const hookFlow = opts.unconvergingBridge === undefined ? null : unconvergingFlow(cookiePrefix);
  const retries = createBridgeRetries((b) => loop.trigger(b));
  const commitSeqs = new CommitSeqs();
  let lastDesired: Desired | null = null;
  let lastTopology: Topology | null = null;
  let desiredGeneration = 0;
  /** The desired flows, redone from what changed since the last compute (desired-engine.ts). */
  const engine = createDesiredEngine();
  let appliedGeneration = 0;
  /**
   * The topology as last read, or as our own port changes left it. A cycle of some bridges (a
   * commit, drift) reads it again only when one of them is not in it (a new bridge); every pass
   * over everything reads it (see cycle), so ports changed by someone else are seen by the next.
   */
  let known: Topology | null = null;
  /**
   * The topology as the last pass left it by its own account (what it read, with the ports it
   * deleted and made), or as the last look after an OVSDB change read it (inspectTopology): a
   * change that differs from it is someone else's, or one a pass did not see. A read made after
   * our own transaction equals it, so our own changes never start a pass of their own.
   */
  let expected: Topology | null = null;
  /** Set by watchTopology: removes our listener (close). */
  let unwatch: (() => void) | null = null;
  /** A look at the topology after an OVSDB change is queued or running; `movedAgain`: another change came since it read. */
  let inspecting = false;
  let movedAgain = false;
  /**
   * The seq of the last store commit announced (onCommit): the desired flows of an unchanged
   * state and topology are reused, and a bridge's result records the seq its flows reflect.
   */
  let stateVersion = 0;
  let computed: Computed | null = null;
  let pass: Pass | null = null;
  const installed = createInstalledFlows({
    ovs,
    cookiePrefix,
    logger,
    onDrift: (bridge) => {
      // A bridge held by the storm guard is looked at again when its backoff ends, not on each event.
      if (isHeld(bridge)) return;
      // A pass running now takes the bridge next (once it knows the topology); otherwise a pass follows.
      const p = pass;
      if (p?.open && p.prepared === null) p.early.add(bridge);
      else if (p?.open) takeDrift(p, bridge, stateVersion, (b) => loop.trigger(b));
      else loop.trigger([bridge]);
    },
    // The switch committed our bundle as written: that repair converged, and a later drift is not a storm.
    onCommitted: (bridge) => guard.settled(bridge),
    onDisagreement: () => {
      channelDisagreements += 1;
    },
  });

  const backstop = createBackstop({
    intervalMs: opts.intervalMs,
    onDue: (bridge) => {
      backstopDue.add(bridge);
      loop.trigger([bridge]);
    },
  });

  const loop = createReconcileLoop({
    cycle: async (scope) => {
      // Every commit at or below this generation marked its bridges dirty before this cycle
      // took the dirty set, so a cycle that converges has applied them all.
      const generation = desiredGeneration;
      const { ok, errors } = await cycle(scope, 'apply', 'reuse', newProgress('counts'));
      if (ok && errors.length === 0) appliedGeneration = Math.max(appliedGeneration, generation);
      // A bridge in error is retried on its own timer (retry.ts): the loop backs off only
      // while OVS does not answer, so one failing bridge never holds back the others.
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
    const desired = desiredOf(topology);
    computed = { version, topology, desired, ports: planPorts(desired, topology) };
    return computed;
  }

  /**
   * computeDesired's result (from the engine: the cost of what changed since the last call, the
   * planned topology of prepare() included), plus the test hook's flow (unconvergingBridge).
   */
  function desiredOf(topology: Topology): Desired {
    const desired = engine.compute({ view: opts.view(), topology, cookiePrefix });
    const hooked = opts.unconvergingBridge;
    if (hooked === undefined || hookFlow === null || !topology.bridges.has(hooked)) return desired;
    const flows = new Map(desired.flows);
    flows.set(hooked, [...(flows.get(hooked) ?? [canaryFlow(cookiePrefix)]), hookFlow]);
    return { ...desired, flows };
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
   * compute the desired flows first, whatever the scope (reconcile.run). What is done is added to
   * `result` as it is done (with its changes, when it keeps them). `ok`: the pass reached OVS
   * (per-bridge errors are in `errors`).
   */
  async function cycle(scope: Scope, mode: PassMode, read: TopologyRead, result: Progress): Promise<ReconcileResult & { ok: boolean }> {
    const dryRun = mode === 'dry-run';
    const started = performance.now();
    const stateBefore = state;
    const errorBefore = lastError;
    const current: Pass = createPass(mode);
    if (!dryRun) pass = current;
    try {
      const full = scope.all || read === 'fresh';
      const provisional = scope.all && read === 'reuse' ? provisionalFrom(known) : null;
      // reconcile.run and dry runs read every bridge with ovs-ofctl; the loop's passes, the
      // interval's over everything included, take the channel's table where it holds one, and
      // a bridge whose backstop read is due (backstopDue) is dumped.
      const source: FlowSource = read === 'fresh' || dryRun ? 'dump' : 'trusted';
      const readFlows = (bridge: string): Promise<Dumped> => {
        const due = !dryRun && backstopDue.delete(bridge);
        const dumped = installed.read(bridge, due ? 'dump' : source);
        if (due) {
          void dumped.then((d) => {
            if (d.flows === null) backstopDue.add(bridge);
          });
        }
        return dumped;
      };
      current.prepared = provisional;
      const guess = scope.all ? (known ? [...known.bridges.keys()] : await ovs.bridgeHints()) : [...scope.bridges];
      current.queue.push(...[...new Set(guess)].sort());
      const attempted = new Set<string>();
      const done = new Set<string>();
      /** Bridges diffed against the provisional topology. */
      const doneEarly: string[] = [];
      /** The bridges of this pass found without their canary (their flows were lost). */
      const canaryLost = new Set<string>();
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
          dumped = await (ahead ?? readFlows(bridge));
          if (dumped.flows !== null) waitForDump?.();
        }
        const prep = current.prepared;
        if (prep === null) {
          current.parked.set(bridge, dumped);
          return;
        }
        const outcome = await reconcileBridge(bridge, dumped, prep, mode);
        // The provisional topology was replaced meanwhile: this bridge is done again with the read one.
        if (current.prepared !== prep) current.queue.push(bridge);
        else if (prep === provisional) doneEarly.push(bridge);
        if (outcome === null) return;
        if (outcome.lostAll) canaryLost.add(bridge);
        if (!done.has(bridge)) result.bridges.push(bridge);
        done.add(bridge);
        result.added += outcome.added;
        result.removed += outcome.removed;
        result.unchanged += outcome.unchanged;
        if (outcome.error) result.errors.push({ bridge, ...outcome.error });
        if (outcome.plan !== null) result.changes?.flows(bridge, outcome.plan);
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
          const dump = readFlows(bridge);
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
        for (const side of repairedSides(safe, prep.topology, lastTopology)) {
          portsRepaired += 1;
          logger.info('patch port repaired', { bridge: side.bridge, port: side.port });
        }
        final = await ovs.topology();
        if (!sameOfports(pairs, final)) {
          // vswitchd gave other numbers than asked: the next cycle renders flows for the real ones.
          logger.warn('patch ports got other ofports than requested; reconciling again');
          loop.trigger(touched);
        }
      }
      result.changes?.ports(created, prep.doomed, prep.topology);
      if (!dryRun) {
        viewChanged ||= lastDesired !== desired || lastTopology !== final;
        lastDesired = desired;
        lastTopology = final;
        known = final;
        expected = created.length === pairs.length ? prep.planned : plannedTopology(prep.topology, created, prep.doomed);
        installed.follow(final);
        backstop.setBridges(final.bridges.keys());
        for (const bridge of [...bridges.keys()]) if (!final.bridges.has(bridge)) forgetBridge(bridge);
        await noteRestart(canaryLost);
        lastReconcileAt = now().toISOString();
      }
      state = 'enabled';
      lastError = result.errors[0]?.error ?? null;
      return { ovs: state, ...sortedResult(result), durationMs: ms(started), ok: true };
    } catch (err) {
      installed.distrustAll();
      if (!(err instanceof OvsError)) throw err;
      if (state !== 'unavailable') logger.warn('OVS unavailable; retrying with backoff', { err: err.message });
      const down = err.kind === 'unavailable' || err.kind === 'timeout';
      if (down) state = 'unavailable';
      lastError = err.message;
      const failure: PassError = { bridge: '*', reason: down ? 'OVS_UNAVAILABLE' : 'OVS_COMMAND_FAILED', error: err.message };
      // What the last passes found is no longer known to hold: no bridge stays `ok`.
      if (!dryRun) {
        const at = now().toISOString();
        for (const [bridge, r] of bridges) setResult(bridge, { ...r, ok: false, at, error: err.message, reason: failure.reason });
      }
      result.errors.push(failure);
      return { ovs: state, ...sortedResult(result), durationMs: ms(started), ok: false };
    } finally {
      current.open = false;
      if (pass === current) pass = null;
      // Drift this pass took but did not get to (it failed, or the event came late).
      const left = [...current.early, ...current.drifted];
      if (left.length > 0) loop.trigger(left);
      if (!dryRun) {
        lastAttemptAt = now().toISOString();
        lastReconcileDurationMs = ms(started);
        viewChanged ||= state !== stateBefore || lastError !== errorBefore;
        opts.onReconciled?.(lastReconcileDurationMs, viewChanged);
        viewChanged = false;
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
    const desired = pairs.length === 0 && doomed.length === 0 ? first : desiredOf(planned);
    const touched = new Set(pairs.flatMap((p) => [p.bridge, p.peerBridge]));
    const inScope = [...topology.bridges.keys()].filter((b) => scope.all || scope.bridges.has(b) || touched.has(b)).sort();
    return { version, topology, desired, pairs, doomed, planned, inScope, touched };
  }

  /** Diffs and patches one bridge from its dump; null when the topology does not list it (not here). */
  async function reconcileBridge(bridge: string, dumped: Dumped, prep: Prepared, mode: PassMode): Promise<BridgeOutcome | null> {
    const started = performance.now();
    const dryRun = mode === 'dry-run';
    // A guessed bridge that the topology does not list is not ours to look at, whatever the dump said.
    if (!prep.topology.bridges.has(bridge)) return null;
    const want = prep.desired.flows.get(bridge) ?? [];
    const previous = bridges.get(bridge);
    const record = (r: Recorded): void => {
      setResult(bridge, {
        durationMs: ms(started),
        seq: prep.version,
        flowsLost: previous?.flowsLost ?? 0,
        flowsDoNotConverge: previous?.flowsDoNotConverge ?? 0,
        lastReconciledAt: r.ok ? r.at : (previous?.lastReconciledAt ?? null),
        retryAt: null,
        ...r,
      });
    };
    try {
      if (dumped.flows === null) throw dumped.err;
      const found = dumped.flows;
      // ovs.dumpFlows returns the very array of the last dump when OVS printed the same: a
      // steady bridge is not diffed again.
      const steady = previous?.ok === true && previous.converged === found && sameFlows(previous.want, want);
      const plan = steady ? { add: [], modify: [], remove: [], unchanged: want.length } : planFlows(want, found, cookiePrefix);
      const added = plan.add.length + plan.modify.length;
      const removed = plan.remove.length;
      const canary = canaryCookie(cookiePrefix);
      const lostAll = previous !== undefined && want.length > 0 && !found.some((f) => f.cookie === canary) && sameFlows(previous.want, want);
      if (dryRun) return { added, removed, unchanged: plan.unchanged, error: null, lostAll: false, plan };
      const at = now().toISOString();
      // A wiped table (vswitchd restarted) gives the same diff every time: that is loss, not a storm.
      if (lostAll) guard.forget(bridge);
      const verdict = guard.observe(bridge, want, plan, Date.now());
      if (verdict.kind === 'apply' && verdict.recovered) logger.info('flows of the bridge converge again', { bridge });
      if (verdict.kind === 'tripped') logger.error('flows do not converge; not applied again until the backoff ends', { bridge, ...differing(plan) });
      if (verdict.kind !== 'hold' && verdict.kind !== 'tripped' && added + removed > 0) {
        await installed.apply(bridge, plan);
      }
      if (verdict.kind !== 'apply') {
        // Held: what OVS has stays; a retry applied once more. Either way in error until a pass finds nothing to do.
        const retryAt = new Date(verdict.retryAt).toISOString();
        const error =
          `The flows of ${bridge} do not converge: the same ${added} flows to add and ${removed} to remove came back after ` +
          `${REPAIRS_BEFORE_GUARD} repairs with no change of desired state; looked at again at ${retryAt}.`;
        const applied = verdict.kind === 'retry';
        record({
          ok: false, at, added: applied ? added : 0, removed: applied ? removed : 0, error, reason: 'FLOWS_DO_NOT_CONVERGE',
          want, converged: null, installed: applied ? countByCookie(want) : countByCookie(found), retryAt,
          flowsDoNotConverge: (previous?.flowsDoNotConverge ?? 0) + (verdict.kind === 'tripped' ? 1 : 0),
        });
        retries.after(bridge, verdict.retryAt - Date.now());
        return {
          added: applied ? added : 0,
          removed: applied ? removed : 0,
          unchanged: plan.unchanged,
          error: { reason: 'FLOWS_DO_NOT_CONVERGE', error },
          lostAll: false,
          plan: applied ? plan : null,
        };
      }
      if (previous !== undefined && added + removed > 0 && sameFlows(previous.want, want)) {
        driftRepaired += added + removed;
        logger.info('drift repaired', { bridge, added, removed, flowsLost: lostAll });
      }
      const converged = added + removed === 0 ? found : null;
      const counted = steady && previous ? previous.installed : countByCookie(want);
      record({ ok: true, at, added, removed, error: null, reason: null, want, converged, installed: counted, flowsLost: (previous?.flowsLost ?? 0) + (lostAll ? 1 : 0) });
      retries.clear(bridge);
      return { added, removed, unchanged: plan.unchanged, error: null, lostAll, plan };
    } catch (err) {
      // A bridge deleted between the topology read and the dump is not an error: it is not here.
      // Its channel's link drops as it goes ('unavailable', like a dead vswitchd): the database,
      // read again, tells the two apart, so one bridge going does not fail the pass.
      if (err instanceof OvsError && (err.kind === 'no-such-bridge' || (err.kind === 'unavailable' && (await topologyIfUp())?.bridges.has(bridge) === false))) {
        forgetBridge(bridge);
        installed.distrust(bridge);
        known = null;
        return { added: 0, removed: 0, unchanged: 0, error: null, lostAll: false, plan: null };
      }
      if (err instanceof OvsError && err.kind !== 'failed') throw err;
      const error = err instanceof Error ? err.message : String(err);
      logger.error('reconcile of a bridge failed', { bridge, err: error });
      if (!dryRun) {
        installed.distrust(bridge);
        const retryAt = new Date(Date.now() + retries.failed(bridge)).toISOString();
        record({ ok: false, at: now().toISOString(), added: 0, removed: 0, error, reason: 'OVS_COMMAND_FAILED', want: [], converged: null, installed: previous?.installed ?? new Map(), retryAt });
      }
      return { added: 0, removed: 0, unchanged: 0, error: { reason: 'OVS_COMMAND_FAILED', error }, lostAll: false, plan: null };
    }
  }

  /**
   * After an OVSDB change (watchTopology): once no pass runs (a pass's own transactions end
   * before it does), reads the topology and passes again the bridges that differ from what the
   * last pass expected (topologyChange): a bridge that appeared or went changes peerings on
   * other bridges too, so that is a pass over everything; a port of ours changed is a pass of
   * its bridge, whose port plan pulls in the peer bridge of a pair it makes again. Changes that
   * come while it waits are one look; one that comes after its read, another.
   */
  function onTopologyMoved(): void {
    movedAgain = true;
    if (inspecting) return;
    inspecting = true;
    void (async () => {
      try {
        while (movedAgain && unwatch !== null) await loop.exclusive(inspectTopology);
      } catch (err) {
        logger.error('looking at a changed topology failed', { err: err instanceof Error ? err.message : String(err) });
      } finally {
        inspecting = false;
      }
    })();
  }

  async function inspectTopology(): Promise<void> {
    movedAgain = false;
    const topology = await topologyIfUp();
    // OVS does not answer: the loop is retrying (or will be, at its next pass), and repairs then.
    if (topology === null) return;
    const before = expected;
    // Kept current for other ports too: a pass of some bridges plans from it (new pairs' ofports).
    known = topology;
    // No pass has completed yet: the first (or its retry) reads the topology itself.
    if (before === null) return;
    expected = topology;
    const change = topologyChange(before, topology);
    if (change.bridges.length > 0) loop.trigger('all');
    else if (change.ourPorts.length > 0) loop.trigger(change.ourPorts);
  }

  /**
   * Resolves when `bridge` is on this host: in the known topology, or in a fresh read (the OVSDB
   * monitor's rows, so no ovs-ofctl is ever started for a bridge known to be absent). If OVS does not answer,
   * the pass that follows reports that.
   */
  async function requireBridge(bridge: string): Promise<void> {
    if (known?.bridges.has(bridge)) return;
    const topology = await topologyIfUp();
    if (topology === null) return;
    known = topology;
    if (!topology.bridges.has(bridge)) throw bridgeNotFound(bridge);
  }

  /** The topology, or null when OVS does not answer (OvsError). */
  async function topologyIfUp(): Promise<Topology | null> {
    try {
      return await ovs.topology();
    } catch (err) {
      if (err instanceof OvsError) return null;
      throw err;
    }
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

  function isHeld(bridge: string): boolean {
    const until = guard.heldUntil(bridge);
    return until !== null && until > Date.now();
  }

  function forgetBridge(bridge: string): void {
    viewChanged ||= bridges.delete(bridge);
    guard.forget(bridge);
    retries.clear(bridge);
  }

  /**
   * Counts a restart of ovs-vswitchd once, whatever the number of bridges it wiped and however
   * many passes find them: by its pid changing; when no pid can be read, by a bridge found
   * without its canary a second time since the restart last counted (lostSinceRestart). A new
   * pid also reconnects every channel at once, rather than when its backoff ends.
   */
  async function noteRestart(canaryLost: ReadonlySet<string>): Promise<void> {
    const pid = await ovs.vswitchdPid();
    if (pid !== null) {
      if (pid !== vswitchdPid) installed.kick();
      if (vswitchdPid !== null && pid !== vswitchdPid) restartsDetected += 1;
      vswitchdPid = pid;
      lostSinceRestart.clear();
      return;
    }
    if (canaryLost.size === 0) return;
    if (lostSinceRestart.size === 0 || [...canaryLost].some((b) => lostSinceRestart.has(b))) {
      restartsDetected += 1;
      lostSinceRestart.clear();
      // Counted: the new vswitchd's pid, once its pidfile names it, is not a second restart.
      vswitchdPid = null;
    }
    for (const b of canaryLost) lostSinceRestart.add(b);
  }

  return {
    loop,
    start() {
      // Every channel connects at once, before the first pass reads any bridge: that pass then
      // plans from their tables and writes over them, instead of dumping and writing with
      // ovs-ofctl while the channels come up behind it, each asking for a pass of its own. A
      // close() meanwhile ends the wait (installed.close) and the loop, stopped, never starts.
      // Meanwhile the OVSDB connection is made and the desired flows computed from its topology:
      // the first pass finds both done (the same topology object, so compute() reuses them) unless
      // something changed. The loop does not wait for it: a database that hangs is the first
      // pass's to hang on, where the watchdog sees it. If OVS does not answer, that pass says so.
      if (opening) return;
      unwatch = ovs.watchTopology(onTopologyMoved);
      const channels = ovs
        .bridgeHints()
        .then((hints) => installed.expect(hints, CHANNEL_WAIT_MS))
        .catch((err: unknown) => logger.warn('the OpenFlow channels could not be opened before the first pass', { err: (err as Error).message }));
      void ovs
        .topology()
        .then((topology) => void compute(topology, true))
        .catch((err: unknown) => logger.debug('no desired flows before the first pass', { err: (err as Error).message }));
      opening = channels.then(() => loop.start());
    },
    setIntervalMs(ms) {
      loop.setIntervalMs(ms);
      backstop.setIntervalMs(ms);
    },
    onCommit(mutations, seq) {
      stateVersion = seq;
      commitSeqs.note(mutations, seq);
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
      lastAttemptAt,
      lastReconcileDurationMs,
      driftRepaired,
      portsRepaired,
      desiredGeneration,
      appliedGeneration,
      restartsDetected,
      channelDisagreements,
      channelsSynced: installed.synced(),
      lastError,
      perBridge: Object.fromEntries([...bridges].map(([b, r]) => [b, bridgeStatus(r)])),
    }),
    peering: (p) => {
      const view = opts.view();
      const reported = peeringState(p, {
        view,
        topology: lastTopology,
        desired: lastDesired,
        bridges,
        cookiePrefix,
        ovs: state,
        ovsError: lastAttemptAt === null ? null : lastError,
        lastReconcileAt,
        lastAttemptAt,
        changedSeq: (q) => commitSeqs.of(q),
      });
      return { ...reported, bridges: peeringBridges(p, { view, topology: lastTopology, bridges, cookiePrefix }) };
    },
    reconcile: (req: ReconcileRequest) => {
      const bridge = req.bridge;
      const scope: Scope = bridge === undefined ? { all: true } : { all: false, bridges: new Set([bridge]) };
      const progress = newProgress(req.dryRun === true || req.verbose === true ? 'changes' : 'counts');
      const started = performance.now();
      const run = loop.exclusive(async () => {
        if (bridge !== undefined) await requireBridge(bridge);
        const { ok: _ok, ...result } = await cycle(scope, req.dryRun === true ? 'dry-run' : 'apply', 'fresh', progress);
        // The bridge went away between the check and the pass's own topology read.
        if (bridge !== undefined && result.errors.length === 0 && !result.bridges.includes(bridge)) throw bridgeNotFound(bridge);
        return result;
      });
      return withDeadline(run, opts.runDeadlineMs ?? RECONCILE_RUN_DEADLINE_MS, (deadlineMs) => {
        const error = `The pass did not end within ${deadlineMs} ms; it goes on, and status shows its outcome per bridge when it ends.`;
        const partial = sortedResult(progress);
        return { ovs: state, ...partial, durationMs: ms(started), errors: [...partial.errors, { bridge: '*', reason: 'RECONCILE_DEADLINE_EXCEEDED', error }] };
      });
    },
    async peeringFlows(p) {
      const cookie = peeringCookie(cookiePrefix, p.id);
      const topology = known ?? (await readTopology());
      const dump = async (bridge: string): Promise<{ bridge: string; flows: string[] } | null> => {
        try {
          return { bridge, flows: await ovs.dumpFlowLines(bridge, cookie, EXACT_COOKIE_MASK) };
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
      unwatch?.();
      unwatch = null;
      retries.close();
      backstop.close();
      await loop.stop();
      await installed.close();
      // The OVSDB connection is the data plane's alone (chooseDataplane builds the Ovs for it).
      ovs.close();
    },
  };
}

function bridgeNotFound(bridge: string): DataplaneError {
  return new DataplaneError('BRIDGE_NOT_FOUND', `The bridge ${bridge} is not on this host (Open vSwitch's database lists no bridge of that name).`);
}

function ms(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

/**
 * The sides of `pairs` that are repairs: ports the last pass left in place (in `last`, its final
 * topology, the patch they should be) that `now` lacks or holds otherwise (deleted, or pointed
 * elsewhere, by someone else). The other side of such a pair, whose peer was missing for a while,
 * is not remade; a new peering's first ports were in no earlier topology.
 */
function repairedSides(pairs: readonly PatchPair[], now: Topology, last: Topology | null): PortRef[] {
  if (last === null) return [];
  const out: PortRef[] = [];
  const check = (bridge: string, port: string, peer: string): void => {
    const placed = isPatchTo(last.bridges.get(bridge)?.ports.get(port), peer);
    if (placed && !isPatchTo(now.bridges.get(bridge)?.ports.get(port), peer)) out.push({ bridge, port });
  };
  for (const p of pairs) {
    check(p.bridge, p.port, p.peerPort);
    check(p.peerBridge, p.peerPort, p.port);
  }
  return out;
}

/**
 * Whether two preparations make the same changes: no port change, the same bridges and ports of
 * ours (all that the desired flows and the port plan read from a topology), the same desired flows.
 */
function sameOutcome(a: Prepared, b: Prepared): boolean {
  if (a.pairs.length + b.pairs.length > 0) return false;
  const change = topologyChange(a.topology, b.topology);
  if (change.bridges.length + change.ourPorts.length > 0) return false;
  for (const name of a.topology.bridges.keys()) {
    if (!sameFlows(a.desired.flows.get(name) ?? [], b.desired.flows.get(name) ?? [])) return false;
  }
  return true;
}

/**
 * The test hook's flow: a MAC written in capitals, which OVS prints in lower case (the canonical
 * form keeps a MAC as written: the daemon never writes one). In table 251, which nothing of ours
 * uses, with the canary's cookie, so that it is ours and removable.
 */
function unconvergingFlow(cookiePrefix: number): Flow {
  return { table: 251, priority: 1, cookie: canaryCookie(cookiePrefix), match: 'dl_src=AA:00:00:00:00:01', actions: 'drop' };
}

function newProgress(detail: Detail): Progress {
  return { bridges: [], added: 0, removed: 0, unchanged: 0, errors: [], changes: detail === 'changes' ? createChangeLog() : null };
}

/** A copy of `p` with its bridges sorted (a pass finishes them in any order), with its changes when kept. */
function sortedResult(p: Progress): Omit<ReconcileResult, 'durationMs' | 'ovs'> {
  const counts = { bridges: [...p.bridges].sort(), added: p.added, removed: p.removed, unchanged: p.unchanged, errors: [...p.errors] };
  return p.changes === null ? counts : { ...counts, changes: p.changes.list() };
}

/** Our flows by cookie. */
function countByCookie(flows: readonly Flow[]): Map<bigint, number> {
  const counts = new Map<bigint, number>();
  for (const f of flows) counts.set(f.cookie, (counts.get(f.cookie) ?? 0) + 1);
  return counts;
}

/** Equal flow counts by cookie; cheap when they are one map (a steady pass keeps its result's). */
function sameCounts(a: ReadonlyMap<bigint, number>, b: ReadonlyMap<bigint, number>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [cookie, n] of a) if (b.get(cookie) !== n) return false;
  return true;
}

/** The flows of a plan that does not converge, for its one log line (LOGGED_FLOWS of each side at most). */
function differing(plan: FlowPlan): { wanted: string[]; found: string[]; more: number } {
  const wanted = [...plan.add, ...plan.modify].map(flowText);
  const found = plan.remove.map(flowText);
  const more = Math.max(0, wanted.length - LOGGED_FLOWS) + Math.max(0, found.length - LOGGED_FLOWS);
  return { wanted: wanted.slice(0, LOGGED_FLOWS), found: found.slice(0, LOGGED_FLOWS), more };
}

/** The public part of a bridge's result (status.ovs.perBridge). */
function bridgeStatus(r: BridgeResult): BridgeStatus {
  const { ok, at, durationMs, added, removed, error, reason, lastReconciledAt, retryAt, flowsLost, flowsDoNotConverge } = r;
  let flows = 0;
  for (const n of r.installed.values()) flows += n;
  return { ok, at, durationMs, added, removed, error, reason, lastReconciledAt, retryAt, flowsLost, flowsDoNotConverge, flows };
}

/** `work`'s outcome, or `late(deadlineMs)` if it has not settled by then (work goes on). */
function withDeadline<T>(work: Promise<T>, deadlineMs: number, late: (deadlineMs: number) => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late(deadlineMs)), deadlineMs);
  });
  // A pass that fails after the deadline was already answered for; its failure is in status.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
