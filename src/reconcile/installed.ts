// The installed side of the data plane, as OVN's ofctrl keeps it beside the desired side: per
// bridge, our flows as the switch holds them, kept from the bridge's own OpenFlow channel
// (src/ovs/openflow/channel.ts). On connect a flow monitor lists the table and subscribes in one
// step; our bundles update the table when their commit is acknowledged, and the monitor's full
// updates (other controllers, a hand `ovs-ofctl del-flows`) update it and are drift. Both are
// taken in the order the switch sent them (the channel's inOrder hooks), so the table is exact,
// and a pass of a commit or of drift reads it instead of starting ovs-ofctl.
//
// `ovs-ofctl dump-flows` stays as an independent reader: the backstop's read of each bridge once
// per interval (backstop.ts) and reconcile.run dump, and a dump that disagrees with the table
// (nothing changed on the channel meanwhile) is a blind spot of the codec: logged once per bridge
// with both views, counted, and the dump wins. What the codec cannot express (a flow of ours with a field the
// OpenFlow subset does not type, a desired flow it cannot encode) leaves the bridge to the
// ovs-ofctl path until a read over the channel shows a table it can hold again.
import type { Logger } from '../log/logger.js';
import { compareFlows, type Flow, flowKey, MatchSyntaxError, sameFlow, sameFlows } from '../ovs/flow.js';
import { OfChannelError, OfErrorReply, type OfChannel, type Unsent } from '../ovs/openflow/channel.js';
import { fromReported, toOfFlow } from '../ovs/openflow/flows.js';
import { type FlowMod, type FlowUpdate, OfCodecError, type ReportedFlow } from '../ovs/openflow/messages.js';
import { OvsError, type Ovs } from '../ovs/ovs.js';
import type { Topology } from '../ovs/topology-parser.js';
import { cookieMask } from './desired.js';
import { bundleFor, type FlowPlan } from './plan.js';

/**
 * Where a pass takes a bridge's installed flows from: `dump` always asks ovs-ofctl (the
 * backstop); `trusted` takes the channel's table when it holds one, and dumps otherwise.
 */
export type FlowSource = 'dump' | 'trusted';

/** A bridge's flows of ours, as read, or why they could not be. */
export type Dumped = { readonly flows: readonly Flow[]; readonly err: null } | { readonly flows: null; readonly err: unknown };

export interface InstalledFlowsOptions {
  readonly ovs: Ovs;
  readonly cookiePrefix: number;
  readonly logger: Logger;
  /** A flow of ours changed on `bridge` and it was not our own bundle, or the table was (re)read after a gap: a pass of it. */
  readonly onDrift: (bridge: string) => void;
  /** A bundle of ours on `bridge` was committed over the channel: the switch holds it as written. */
  readonly onCommitted: (bridge: string) => void;
  /** The backstop's dump of `bridge` disagreed with the channel's table (a codec blind spot). */
  readonly onDisagreement?: (bridge: string) => void;
}

export interface InstalledFlows {
  /** The bridge's flows of ours, sorted by compareFlows. */
  read(bridge: string, source: FlowSource): Promise<Dumped>;
  /**
   * Applies `plan` to `bridge` as one atomic bundle: over the channel when it is up and the
   * codec expresses every flow, through ovs-ofctl otherwise. Throws OvsError ('failed' when the
   * switch refused it, 'unavailable' when the link dropped).
   */
  apply(bridge: string, plan: FlowPlan): Promise<void>;
  /** Something may have changed `bridge` behind the channel: read its table again. */
  distrust(bridge: string): void;
  /** distrust() for every bridge (a pass failed as a whole). */
  distrustAll(): void;
  /** Bridges whose channel is up with its table read: their passes start no ovs-ofctl. */
  synced(): number;
  /** Keeps one channel per bridge of `topology` (opened and closed as bridges come and go). */
  follow(topology: Topology): void;
  /**
   * Opens a channel for each of `bridges` that has none (the rundir's hints, before any topology
   * read) and resolves once each of those holds its table, or after `waitMs` (ms), whichever is
   * first; at once when closed. A bridge the next follow() does not list has its channel closed.
   */
  expect(bridges: Iterable<string>, waitMs: number): Promise<void>;
  /** Every channel waiting out a reconnect backoff tries now (vswitchd was seen to restart). */
  kick(): void;
  close(): Promise<void>;
}

/** Flows of each side listed in the one log line of a disagreement. */
const LOGGED_FLOWS = 20;

interface Table {
  readonly channel: OfChannel;
  /** Our flows by flowKey; null while unknown (not connected, being read, or holding a flow the codec cannot type). */
  flows: Map<string, Flow> | null;
  /** `flows` sorted, made on demand; the same array while nothing changes (callers compare by identity). */
  sorted: readonly Flow[] | null;
  /** Bumped by every change the table takes: a dump is compared only if none came during it. */
  epoch: number;
  /** A disagreement with the backstop was logged for this bridge. */
  disagreed: boolean;
  /** A read of the table over the channel is on its way. */
  reading: boolean;
  /** The table changed behind the read on its way: its result is already stale, read again. */
  again: boolean;
  /** A pass of the bridge is owed once the read is in (reread's `drift`). */
  driftAfterRead: boolean;
}

export function createInstalledFlows(opts: InstalledFlowsOptions): InstalledFlows {
  const { ovs, cookiePrefix, logger } = opts;
  const cookie = BigInt(cookiePrefix) << 48n;
  const mask = cookieMask();
  const ours = (c: bigint): boolean => (c & mask) === (cookie & mask);
  const tables = new Map<string, Table>();
  let closed = false;
  /** Told of every change of any table (expect() waits with them). */
  const watchers = new Set<() => void>();

  /** The table from a full read (monitor's initial updates or flow stats); null if a flow of ours is beyond the codec. */
  const tableOf = (reported: readonly ReportedFlow[]): Map<string, Flow> | null => {
    const flows = new Map<string, Flow>();
    for (const r of reported) {
      if (!ours(r.cookie)) continue;
      const f = fromReported(r);
      if (f === null) return null;
      flows.set(flowKey(f), f);
    }
    return flows;
  };

  const change = (t: Table): void => {
    t.sorted = null;
    t.epoch++;
    for (const w of watchers) w();
  };

  /**
   * Reads the table over the channel again (after a monitor gap, a bundle through ovs-ofctl, a
   * failure). `drift`: changes may have been missed, so a pass of the bridge follows the read;
   * otherwise the pass that asked for the read has dealt with the bridge (and a failed one is
   * retried on its own backoff, never at once).
   */
  const reread = (bridge: string, t: Table, drift: boolean): void => {
    t.flows = null;
    change(t);
    t.driftAfterRead ||= drift;
    if (t.reading) {
      t.again = true;
      return;
    }
    if (!t.channel.connected) return;
    t.reading = true;
    t.again = false;
    t.channel
      .flowStats(cookie, mask, (reported) => {
        if (t.again) return;
        t.flows = tableOf(reported);
        change(t);
      })
      .then(
        () => {
          if (t.again || !t.driftAfterRead) return;
          t.driftAfterRead = false;
          opts.onDrift(bridge);
        },
        (err: unknown) => logger.debug('flow table read failed', { bridge, err: (err as Error).message }),
      )
      .finally(() => {
        t.reading = false;
        if (t.again && !closed) reread(bridge, t, false);
      });
  };

  const onUpdates = (bridge: string, t: Table, updates: readonly FlowUpdate[]): void => {
    let drift = false;
    for (const u of updates) {
      if (u.event === 'abbrev' || u.event === 'resumed') continue;
      if (u.event === 'paused') {
        // The switch stops reporting until it resumes: the table is unknown until read again.
        t.flows = null;
        change(t);
        drift = true;
        continue;
      }
      if (!('flow' in u)) continue;
      const mine = ours(u.flow.cookie);
      const f = fromReported(u.flow);
      if (!mine) {
        // Another controller's flow took the key of one of ours (an add over it, or an OpenFlow
        // 1.0 mod-flows, which sets the cookie to the one it was given: 0): ours is gone.
        if (u.event !== 'removed' && f !== null && t.flows?.delete(flowKey(f)) === true) {
          change(t);
          drift = true;
        }
        continue;
      }
      drift = true;
      if (t.flows === null) continue;
      if (f === null) {
        t.flows = null;
        change(t);
        continue;
      }
      if (u.event === 'removed') t.flows.delete(flowKey(f));
      else t.flows.set(flowKey(f), f);
      change(t);
    }
    const resumed = updates.some((u) => u.event === 'resumed');
    if (resumed) reread(bridge, t, true);
    else if (drift) opts.onDrift(bridge);
  };

  const open = (bridge: string): Table => {
    const t: Table = {
      channel: ovs.openFlow(bridge, {
        onConnect: () => {
          // The initial updates and the subscription are one step: nothing is missed in between.
          t.channel
            .monitor({ initial: true, noAbbrev: false }, (updates) => {
              t.flows = tableOf(updates.flatMap((u) => (u.event === 'initial' ? [u.flow] : [])));
              change(t);
            })
            // A pass of the bridge: after a vswitchd restart its table is empty, and this is the replay.
            .then(
              () => opts.onDrift(bridge),
              (err: unknown) => logger.warn('flow monitor refused', { bridge, err: (err as Error).message }),
            );
        },
        // vswitchd died or the bridge went away. Nothing to do until the bridge accepts a
        // connection again (onConnect replays); a bridge gone for good leaves the next topology read.
        onDisconnect: () => {
          t.flows = null;
          change(t);
        },
        onMonitorUpdates: (updates) => onUpdates(bridge, t, updates),
      }),
      flows: null,
      sorted: null,
      epoch: 0,
      disagreed: false,
      reading: false,
      again: false,
      driftAfterRead: false,
    };
    return t;
  };

  /** The channel is up and its table known: what a pass may plan from and write over. */
  const held = (t: Table | undefined): t is Table & { flows: Map<string, Flow> } => t !== undefined && t.flows !== null && t.channel.connected;

  const sortedOf = (t: Table & { flows: Map<string, Flow> }): readonly Flow[] => (t.sorted ??= Object.freeze([...t.flows.values()].sort(compareFlows)));

  /** The backstop's check: the dump against the table, when nothing reached the table during the dump. */
  const compare = (bridge: string, t: Table, held: readonly Flow[], epoch: number, dumped: readonly Flow[]): void => {
    if (t.epoch !== epoch || t.flows === null || sameFlows(held, dumped)) return;
    const only = (these: readonly Flow[], those: readonly Flow[]): Flow[] => {
      const byKey = new Map(those.map((f) => [flowKey(f), f]));
      return these.filter((f) => {
        const other = byKey.get(flowKey(f));
        return other === undefined || !sameFlow(f, other);
      });
    };
    const channelOnly = only(held, dumped);
    const dumpOnly = only(dumped, held);
    opts.onDisagreement?.(bridge);
    if (!t.disagreed) {
      t.disagreed = true;
      const text = (fs: readonly Flow[]): string[] => fs.slice(0, LOGGED_FLOWS).map((f) => `table=${f.table},priority=${f.priority},${f.match} actions=${f.actions}`);
      logger.error('the OpenFlow channel and ovs-ofctl dump-flows disagree on our flows; the dump wins', {
        bridge,
        channelOnly: text(channelOnly),
        dumpOnly: text(dumpOnly),
      });
    }
    // The dump is what OVS printed with nothing changing meanwhile: the table takes it.
    t.flows = new Map(dumped.map((f) => [flowKey(f), f]));
    change(t);
  };

  return {
    read(bridge, source) {
      const t = tables.get(bridge);
      if (t && !t.channel.connected && t.channel.unreachable) {
        // vswitchd is not there (dead, restarting, the bridge going): ovs-ofctl would fail the
        // same way at the cost of a process per bridge per retry. The retry asks the channel to
        // connect now instead of at the end of its backoff; once it does, its onConnect replays.
        t.channel.kick();
        return Promise.resolve({ flows: null, err: new OvsError('unavailable', `${bridge}: its OpenFlow management socket does not accept a connection`) });
      }
      const view = held(t) ? { table: t, flows: sortedOf(t), epoch: t.epoch } : null;
      if (view !== null && source === 'trusted') return Promise.resolve({ flows: view.flows, err: null });
      return ovs.dumpFlows(bridge, cookie, mask).then(
        (flows) => {
          if (view !== null) compare(bridge, view.table, view.flows, view.epoch, flows);
          return { flows, err: null };
        },
        (err: unknown) => ({ flows: null, err }),
      );
    },

    async apply(bridge, plan) {
      if (plan.add.length + plan.modify.length + plan.remove.length === 0) return;
      const t = tables.get(bridge);
      const mods = held(t) ? flowMods(plan) : null;
      if (t && mods) {
        let unexpressed = false;
        try {
          await t.channel.bundle(mods, () => {
            const flows = t.flows;
            if (flows === null) return;
            for (const f of plan.remove) flows.delete(flowKey(f));
            for (const f of [...plan.add, ...plan.modify]) flows.set(flowKey(f), f);
            change(t);
          });
        } catch (err) {
          // The channel encodes the whole bundle before it sends any of it: a flow beyond the
          // codec's subset has changed nothing, and the bundle goes through ovs-ofctl instead.
          if (!(err instanceof OfCodecError)) {
            reread(bridge, t, false);
            if (err instanceof OfErrorReply) throw new OvsError('failed', `${bridge}: ${err.message}`);
            if (err instanceof OfChannelError) throw new OvsError('unavailable', `${bridge}: ${err.message}`);
            throw err;
          }
          unexpressed = true;
        }
        if (!unexpressed) {
          opts.onCommitted(bridge);
          return;
        }
      }
      try {
        await ovs.applyBundle(bridge, bundleFor(plan));
      } finally {
        // What ovs-ofctl wrote is read back over the channel, in the codec's terms.
        if (t) reread(bridge, t, false);
      }
    },

    distrust(bridge) {
      const t = tables.get(bridge);
      if (t) reread(bridge, t, false);
    },

    distrustAll() {
      for (const [bridge, t] of tables) reread(bridge, t, false);
    },

    synced() {
      let n = 0;
      for (const t of tables.values()) if (held(t)) n++;
      return n;
    },

    follow(topology) {
      if (closed) return;
      for (const [bridge, t] of tables) {
        if (topology.bridges.has(bridge)) continue;
        t.channel.close();
        tables.delete(bridge);
      }
      for (const bridge of topology.bridges.keys()) if (!tables.has(bridge)) tables.set(bridge, open(bridge));
    },

    expect(bridges, waitMs) {
      if (closed) return Promise.resolve();
      const opened: Table[] = [];
      for (const bridge of bridges) {
        if (tables.has(bridge)) continue;
        const t = open(bridge);
        tables.set(bridge, t);
        opened.push(t);
      }
      const ready = (): boolean => closed || opened.every(held);
      if (ready()) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        const check = (): void => {
          if (ready()) done();
        };
        const timer = setTimeout(done, waitMs);
        watchers.add(check);
      });
    },

    kick() {
      for (const t of tables.values()) t.channel.kick();
    },

    close() {
      closed = true;
      for (const w of [...watchers]) w();
      for (const t of tables.values()) t.channel.close();
      tables.clear();
      return Promise.resolve();
    },
  };
}

/** The flow mods of `plan` (removals first, as in bundleFor), or null when the codec cannot express one of its flows. */
function flowMods(plan: FlowPlan): Unsent<FlowMod>[] | null {
  try {
    return [
      ...plan.remove.map((f): Unsent<FlowMod> => ({ type: 'flow_mod', command: 'delete_strict', flow: toOfFlow(f) })),
      // An add replaces the flow of the same key, actions and cookie included (OFPFC_ADD).
      ...[...plan.add, ...plan.modify].map((f): Unsent<FlowMod> => ({ type: 'flow_mod', command: 'add', flow: toOfFlow(f) })),
    ];
  } catch (err) {
    if (err instanceof OfCodecError || err instanceof MatchSyntaxError) return null;
    throw err;
  }
}
