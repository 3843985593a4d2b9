// The installed side of the data plane, as OVN's ofctrl keeps it beside the desired side: per
// bridge, what our flows are known to be, fed by one `ovs-ofctl monitor` per bridge. It tells the
// monitor events our own bundles cause (echoes) from drift, and remembers the flows a bundle left
// on a bridge while nothing else touched it, so that a pass over a few bridges may diff against
// that memory instead of dumping again (FlowSource 'trusted'). What it holds is a cache, never
// the source of truth: any event not our own, a monitor that ends and any failure drop it.
import type { Logger } from '../log/logger.js';
import type { Flow } from '../ovs/flow.js';
import type { FlowEvent, Ovs } from '../ovs/ovs.js';
import type { Topology } from '../ovs/topology-parser.js';
import { cookieMask } from './desired.js';
import type { FlowPlan } from './plan.js';

/**
 * Where a pass takes a bridge's installed flows from: `dump` always asks OVS; `trusted` takes
 * what the cache holds for the bridge, if it holds anything, and dumps otherwise.
 */
export type FlowSource = 'dump' | 'trusted';

/**
 * A bridge's flows of ours, as dumped or as the cache holds them. `epoch`: the bridge's drift
 * epoch when the read started, if its monitor was running then (see InstalledFlows.trust).
 */
export type Dumped =
  | { readonly flows: readonly Flow[]; readonly err: null; readonly epoch: number | null }
  | { readonly flows: null; readonly err: unknown; readonly epoch: null };

export interface InstalledFlowsOptions {
  readonly ovs: Ovs;
  readonly cookiePrefix: number;
  readonly logger: Logger;
  /** A flow of ours changed on `bridge` and it was not our own bundle: drift to repair. */
  readonly onDrift: (bridge: string) => void;
  /** A bridge's monitor ended by itself (vswitchd died, the bridge went away). */
  readonly onMonitorEnd: (bridge: string) => void;
  /**
   * Every monitor event our bundles on `bridge` were expected to cause came back, each flow's
   * match as we wrote it: those bundles converged (the events carry no actions, so only the
   * matches are confirmed).
   */
  readonly onEchoed: (bridge: string) => void;
}

export interface InstalledFlows {
  /** The bridge's flows of ours. `remember`: a real pass, whose dump makes the echoes of earlier bundles moot. */
  read(bridge: string, source: FlowSource, remember: boolean): Promise<Dumped>;
  /** Records the monitor events that applying `plan` to `bridge` will cause: they are not drift. */
  expectEchoes(bridge: string, plan: FlowPlan): void;
  /** A bundle of ours failed on `bridge`: expect nothing of it, trust nothing. */
  bundleFailed(bridge: string): void;
  /** After a bundle that was planned from `read`: the bridge holds `want`, unless its monitor said otherwise since. */
  applied(bridge: string, read: Dumped, want: readonly Flow[]): void;
  /** Something other than our own bundle changed `bridge` (or may have): forget what was trusted. */
  distrust(bridge: string): void;
  /** Forgets every trusted table (a pass failed as a whole). */
  distrustAll(): void;
  /** Makes the monitors follow the bridges of `topology` (started over turns of the event loop). */
  follow(topology: Topology): void;
  close(): Promise<void>;
}

/** Past this many lines a bundle's own monitor events are not told apart: they cost one more dump. */
const MAX_ECHOES = 20_000;

export function createInstalledFlows(opts: InstalledFlowsOptions): InstalledFlows {
  const { ovs, cookiePrefix, logger } = opts;
  const monitors = new Map<string, { stop(): void }>();
  /**
   * Per bridge, the monitor events our own last bundle will cause (`kind|table|cookie|match` →
   * count): they are not drift. Cleared when the bridge is dumped again, which sees the result.
   */
  const echoes = new Map<string, Map<string, number>>();
  /**
   * Per bridge, our flows as our last bundle left them, while its monitor has reported nothing
   * else since the dump that bundle was planned from: a pass of some bridges (a commit) diffs
   * against this instead of dumping again, which halves what an accept costs.
   */
  const trusted = new Map<string, readonly Flow[]>();
  /** Per bridge, bumped by every event not our own and every monitor end: a read older than that is not trusted. */
  const driftEpochs = new Map<string, number>();
  let closed = false;
  /** The topology the monitors must follow, while `follow` is starting them. */
  let target: Topology | null = null;
  let syncing = false;
  let sync: Promise<void> = Promise.resolve();

  function distrust(bridge: string): void {
    trusted.delete(bridge);
    driftEpochs.set(bridge, (driftEpochs.get(bridge) ?? 0) + 1);
  }

  function onFlowEvent(bridge: string, event: FlowEvent | null): void {
    const expected = echoes.get(bridge);
    if (event !== null && expected !== undefined && event.kind !== 'modified') {
      const key = echoKey(event.kind, event.table, event.cookie, event.match);
      const left = expected.get(key) ?? 0;
      if (left > 0) {
        if (left === 1) expected.delete(key);
        else expected.set(key, left - 1);
        if (expected.size === 0) {
          echoes.delete(bridge);
          opts.onEchoed(bridge);
        }
        return;
      }
    }
    distrust(bridge);
    opts.onDrift(bridge);
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
        logger.debug('flow monitor ended', { bridge, err: err?.message ?? null });
        opts.onMonitorEnd(bridge);
      },
    });
  }

  return {
    read(bridge, source, remember) {
      const epoch = monitors.has(bridge) ? (driftEpochs.get(bridge) ?? 0) : null;
      const held = source === 'trusted' ? trusted.get(bridge) : undefined;
      if (held !== undefined) return Promise.resolve({ flows: held, err: null, epoch });
      // The dump sees the result of our earlier bundles: their events no longer need telling apart.
      if (remember) echoes.delete(bridge);
      return ovs.dumpFlows(bridge, BigInt(cookiePrefix) << 48n, cookieMask()).then(
        (flows) => ({ flows, err: null, epoch }),
        (err: unknown) => ({ flows: null, err, epoch: null }),
      );
    },

    expectEchoes(bridge, plan) {
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
    },

    bundleFailed(bridge) {
      echoes.delete(bridge);
      distrust(bridge);
    },

    applied(bridge, read, want) {
      if (read.epoch !== null && read.epoch === (driftEpochs.get(bridge) ?? 0) && monitors.has(bridge)) trusted.set(bridge, want);
      else trusted.delete(bridge);
    },

    distrust,
    distrustAll: () => trusted.clear(),

    follow(topology) {
      // Each start is a process spawn (a few ms of blocked event loop), so they are spread over
      // turns of the event loop and the pass does not wait for them.
      target = topology;
      if (syncing) return;
      syncing = true;
      sync = (async () => {
        try {
          while (target !== null && !closed) {
            const want: Topology = target;
            target = null;
            for (const [bridge, m] of monitors) {
              if (!want.bridges.has(bridge)) {
                m.stop();
                monitors.delete(bridge);
                distrust(bridge);
              }
            }
            for (const bridge of want.bridges.keys()) {
              if (closed || target !== null) break;
              if (monitors.has(bridge)) continue;
              monitors.set(bridge, startMonitor(bridge));
              await new Promise((resolve) => setImmediate(resolve));
            }
          }
        } finally {
          syncing = false;
        }
      })();
    },

    async close() {
      closed = true;
      await sync;
      for (const m of monitors.values()) m.stop();
      monitors.clear();
    },
  };
}

function echoKey(kind: 'added' | 'deleted', table: number, cookie: bigint, match: string): string {
  return `${kind}|${table}|${cookie.toString(16)}|${match}`;
}
