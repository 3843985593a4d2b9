// Every host's data plane, per peering (SPEC §5 `hosts`, §8; docs/GOSSIP.md "Host reports"). Each
// daemon publishes a report of its own data-plane state for every peering it holds; reports
// spread over the mesh like records (a newer report of a node replaces the older one and is
// forwarded on, an older or equal one stops here), but they are observations, not desired state:
// they live in memory only, are never merged into the store, and a restarted daemon learns them
// again from its peers on connect. Every host also sends a small heartbeat (a HostBeat) every
// few anti-entropy intervals, flooded the same way, so that a host that went quiet can be told
// from one that went away: a report whose host has not been heard from for STALE_BEATS of its
// heartbeats is shown `unknown` (stale), and one not heard from for FORGET_AFTER_MS is dropped.
// Everything here is plain data over an injected clock (no timers, no sockets).
import { peeringIdProblem, reasonProblem, reasonText, timestampProblem } from '../domain/records.js';
import { NODE_ID_PATTERN, type PeeringDataplaneState, PeeringDataplaneStates } from '../domain/types.js';


/** One peering in a report, as a tuple to keep reports small: `[id, state, flows, error?]`. */
export type ReportEntry = readonly [id: string, state: PeeringDataplaneState, flows: number, error?: string];

/**
 * One part of one host's data plane at one instant. `at` (ISO-8601, ms) grows strictly per node
 * and orders its reports; a report of many peerings is sent as `parts` frames (`part` 0 to
 * parts − 1), each at most REPORT_PART_ENTRIES entries, so none nears the 1 MiB frame limit.
 */
export interface HostReport {
  readonly nodeId: string;
  readonly at: string;
  readonly part: number;
  readonly parts: number;
  readonly peerings: readonly ReportEntry[];
}

/** One host's whole report once every part of it arrived: its entries by peering id. */
export interface FullReport {
  readonly nodeId: string;
  readonly at: string;
  readonly peerings: ReadonlyMap<string, ReportEntry>;
}

/**
 * A heartbeat: "`nodeId` was alive `age` ms ago". `beat` (ISO-8601, the origin's clock) grows
 * strictly per node and only orders its beats (no host compares it with its own clock); `every`
 * is the origin's heartbeat interval (ms), so receivers judge staleness by the sender's pace;
 * `age` is how long the sender has held the beat since it heard it, by the sender's own clock
 * (0 from the origin), so a receiver dates it on its own clock without trusting anyone's.
 */
export interface HostBeat {
  readonly nodeId: string;
  readonly beat: string;
  readonly every: number;
  readonly age: number;
}

/**
 * `hosts` frame body: report parts the sender holds (its own, or ones it forwards), and
 * heartbeats (`alive`, optional: a daemon of an earlier version ignores the member, and sends none).
 */
export interface HostsBody {
  readonly reports: readonly HostReport[];
  readonly alive?: readonly HostBeat[];
}

/** Report parts per frame at most (the daemon sends one per frame). */
export const MAX_REPORTS_PER_FRAME = 64;

/** Entries per report part: ~50 bytes each, so a part stays far below a frame (1 MiB). */
export const REPORT_PART_ENTRIES = 8192;

/** Heartbeats per frame at most (~80 bytes each): a new link is sent every beat held, in frames of this many. */
export const MAX_BEATS_PER_FRAME = 4096;

/** A host sends a heartbeat every this many gossip.antiEntropyIntervalMs (10 s at the default 2 s). */
export const HEARTBEAT_ROUNDS = 5;

/** A host not heard from for this many of its heartbeat intervals is shown stale (`unknown`): 30 s at the defaults. */
export const STALE_BEATS = 3;

/** A host not heard from for this long (ms) is forgotten: its report is dropped, so memory stays bounded (1 h). */
export const FORGET_AFTER_MS = 3_600_000;

/** A heartbeat interval a peer may announce (ms): above any gossip.antiEntropyIntervalMs × HEARTBEAT_ROUNDS. */
const MAX_EVERY_MS = FORGET_AFTER_MS;

/** Parts of one report at most: 8,192 × 128 peerings per host, far above what one host holds. */
const MAX_PARTS = 128;

/** Flows one peering can have on one host: a bound for the check, far above what §7 installs. */
const MAX_FLOWS = 1_000_000;

/** `peering.get` `hosts[]` (SPEC §5): one host's data plane for one peering, as last reported. */
export interface PeeringHost {
  readonly nodeId: string;
  /** A reported state, or `unknown` when the host's last report does not list the peering (it had not seen it yet). */
  readonly state: PeeringDataplaneState | 'unknown';
  readonly flows: number;
  /** When the host made the report (ISO-8601): the last change of its data plane, not the last time it was heard from. */
  readonly at: string;
  /**
   * When this host last knew the host to be alive (ISO-8601, this host's clock: the heartbeat's
   * arrival less the time relays held it), null when no heartbeat of it arrived yet; this host's
   * own entry: now.
   */
  readonly heardAt: string | null;
  /** Not heard from for STALE_BEATS of its heartbeats (or never): `state` is then `unknown`, `lastState` what it last reported. */
  readonly stale?: true;
  readonly lastState?: PeeringDataplaneState;
  readonly error?: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function entryOk(e: unknown): boolean {
  if (!Array.isArray(e) || e.length < 3 || e.length > 4) return false;
  const [id, state, flows, error] = e as unknown[];
  return (
    peeringIdProblem(id) === null &&
    (PeeringDataplaneStates as readonly unknown[]).includes(state) &&
    Number.isSafeInteger(flows) && (flows as number) >= 0 && (flows as number) <= MAX_FLOWS &&
    (e.length === 3 || reasonProblem(error) === null)
  );
}

function reportOk(r: unknown): r is HostReport {
  return (
    isObject(r) &&
    typeof r.nodeId === 'string' && NODE_ID_PATTERN.test(r.nodeId) &&
    timestampProblem(r.at) === null &&
    Number.isSafeInteger(r.parts) && (r.parts as number) >= 1 && (r.parts as number) <= MAX_PARTS &&
    Number.isSafeInteger(r.part) && (r.part as number) >= 0 && (r.part as number) < (r.parts as number) &&
    Array.isArray(r.peerings) && r.peerings.length <= REPORT_PART_ENTRIES && r.peerings.every(entryOk)
  );
}

function beatOk(b: unknown): b is HostBeat {
  return (
    isObject(b) &&
    typeof b.nodeId === 'string' && NODE_ID_PATTERN.test(b.nodeId) &&
    timestampProblem(b.beat) === null &&
    Number.isSafeInteger(b.every) && (b.every as number) >= 1 && (b.every as number) <= MAX_EVERY_MS &&
    Number.isSafeInteger(b.age) && (b.age as number) >= 0 && (b.age as number) <= FORGET_AFTER_MS
  );
}

/** The `hosts` body check (the gossip decoder's boundary): the body, or undefined when any part or beat has the wrong shape. */
export function parseHostsBody(x: unknown): HostsBody | undefined {
  if (!isObject(x) || !Array.isArray(x.reports) || x.reports.length > MAX_REPORTS_PER_FRAME) return undefined;
  if (x.alive !== undefined && (!Array.isArray(x.alive) || x.alive.length > MAX_BEATS_PER_FRAME || !x.alive.every(beatOk))) return undefined;
  return x.reports.every(reportOk) ? (x as unknown as HostsBody) : undefined;
}

/** Another node's newest whole report with what this host knows of the node's liveness (HostReports.others). */
export interface HeldReport extends FullReport {
  /** When this host last knew the node alive (ms, this host's clock), null if no heartbeat of it arrived. */
  readonly heardAt: number | null;
  /** Silent longer than this (ms: STALE_BEATS of the node's own heartbeat interval), the report is stale. */
  readonly staleAfterMs: number;
}

/** Another node's reports: the newest whole one (what is shown), the parts of a newer one still arriving, and its last heartbeat. */
interface NodeReports {
  full: FullReport | null;
  fullParts: readonly HostReport[];
  pending: { readonly at: number; readonly parts: (HostReport | undefined)[]; got: number } | null;
  /** The newest beat's `beat` (ms) and `every`, null before the first. */
  beat: { readonly at: number; readonly every: number } | null;
  /** Local ms: when the node was last known alive (null: never), and when this host first held anything of it. */
  heardAt: number | null;
  readonly firstSeen: number;
}

/** The reports one host holds: the newest whole report of each other node, and its own (publish()). */
export class HostReports {
  private readonly held = new Map<string, NodeReports>();
  private own: readonly HostReport[] = [];
  /** The last own state published, without `at`, to publish only what changed. */
  private ownKey: string | null = null;
  private ownAt = 0;
  private ownBeatAt = 0;

  /**
   * `now`: this host's clock (ms); `heartbeatMs`: its heartbeat interval now (the daemon:
   * HEARTBEAT_ROUNDS × gossip.antiEntropyIntervalMs), announced in its beats.
   */
  constructor(
    readonly nodeId: string,
    private readonly now: () => number = Date.now,
    // The default: HEARTBEAT_ROUNDS of the default gossip.antiEntropyIntervalMs (2 s).
    private readonly heartbeatMs: () => number = () => HEARTBEAT_ROUNDS * 2000,
  ) {}

  /**
   * This host's report from its data plane now (`entries`, one per peering held): the parts of a
   * new report when it differs from the last one published, else null (nothing to send).
   */
  publish(entries: readonly ReportEntry[]): readonly HostReport[] | null {
    const key = JSON.stringify(entries);
    if (key === this.ownKey) return null;
    this.ownAt = Math.max(this.now(), this.ownAt + 1);
    const at = new Date(this.ownAt).toISOString();
    const parts = Math.max(1, Math.ceil(entries.length / REPORT_PART_ENTRIES));
    this.own = Array.from({ length: parts }, (_, part) => ({
      nodeId: this.nodeId, at, part, parts, peerings: entries.slice(part * REPORT_PART_ENTRIES, (part + 1) * REPORT_PART_ENTRIES),
    }));
    this.ownKey = key;
    return this.own;
  }

  /**
   * Received parts: keeps and returns those new here (to forward): a part of a report newer than
   * the newest whole one held, not yet held. This node's own come back ignored. A report shows
   * once all its parts are in; a newer one arriving drops the parts of an older one unfinished.
   */
  offer(reports: readonly HostReport[]): HostReport[] {
    const fresh: HostReport[] = [];
    for (const r of reports) {
      if (r.nodeId === this.nodeId) continue;
      const node = this.node(r.nodeId);
      const at = Date.parse(r.at);
      if (node.full !== null && Date.parse(node.full.at) >= at) continue;
      if (node.pending !== null && node.pending.at > at) continue;
      if (node.pending === null || node.pending.at < at || node.pending.parts.length !== r.parts) {
        node.pending = { at, parts: new Array<HostReport | undefined>(r.parts).fill(undefined), got: 0 };
      }
      if (node.pending.parts[r.part] !== undefined) continue;
      node.pending.parts[r.part] = r;
      node.pending.got++;
      fresh.push(r);
      if (node.pending.got === r.parts) {
        const parts = node.pending.parts as HostReport[];
        node.full = { nodeId: r.nodeId, at: r.at, peerings: new Map(parts.flatMap((p) => p.peerings.map((e) => [e[0], e] as const))) };
        node.fullParts = parts;
        node.pending = null;
      }
      this.held.set(r.nodeId, node);
    }
    return fresh;
  }

  /** This host's heartbeat now (age 0), its `beat` strictly after the last one even if the clock stepped back. */
  beat(): HostBeat {
    this.ownBeatAt = Math.max(this.now(), this.ownBeatAt + 1);
    return { nodeId: this.nodeId, beat: new Date(this.ownBeatAt).toISOString(), every: this.heartbeatMs(), age: 0 };
  }

  /**
   * Received heartbeats: the node is known alive at this host's now less the beat's age. Returns
   * those newer than the last beat held of their node (to forward, their age brought up to now);
   * this node's own, and older or equal beats, stop here (a flood ends, as for reports).
   */
  hear(beats: readonly HostBeat[]): HostBeat[] {
    const now = this.now();
    const fresh: HostBeat[] = [];
    for (const b of beats) {
      if (b.nodeId === this.nodeId) continue;
      const at = Date.parse(b.beat);
      const node = this.node(b.nodeId);
      if (node.beat !== null && node.beat.at >= at) continue;
      node.beat = { at, every: b.every };
      node.heardAt = Math.max(node.heardAt ?? -Infinity, now - b.age);
      this.held.set(b.nodeId, node);
      fresh.push({ ...b, age: now - node.heardAt });
    }
    return fresh;
  }

  /**
   * `nodeId`'s last heartbeat held, aged to now (what a relay passes on when it flushes a batch,
   * so the time the beat waited in it is counted), undefined when none is held or the node is
   * forgotten (not heard from for FORGET_AFTER_MS).
   */
  beatOf(nodeId: string): HostBeat | undefined {
    const n = this.held.get(nodeId);
    const now = this.now();
    if (n === undefined || n.beat === null || n.heardAt === null || n.heardAt < now - FORGET_AFTER_MS) return undefined;
    return { nodeId, beat: new Date(n.beat.at).toISOString(), every: n.beat.every, age: now - n.heardAt };
  }

  /** Every other node's last heartbeat held, aged to now (what a new link is sent, with this host's own fresh beat()). */
  beats(): HostBeat[] {
    const now = this.now();
    return [...this.live()].flatMap(([nodeId, n]) =>
      n.beat === null || n.heardAt === null ? [] : [{ nodeId, beat: new Date(n.beat.at).toISOString(), every: n.beat.every, age: now - n.heardAt }],
    );
  }

  /** Every whole report held, as parts, this host's own first (what a new link is sent). */
  all(): HostReport[] {
    return [...this.own, ...[...this.live()].flatMap(([, n]) => n.fullParts)];
  }

  /** Other nodes' newest whole reports with their liveness, by node id. */
  others(): HeldReport[] {
    return [...this.live()].flatMap(([, n]) =>
      n.full ? [{ ...n.full, heardAt: n.heardAt, staleAfterMs: STALE_BEATS * (n.beat?.every ?? this.heartbeatMs()) }] : [],
    );
  }

  private node(nodeId: string): NodeReports {
    return this.held.get(nodeId) ?? { full: null, fullParts: [], pending: null, beat: null, heardAt: null, firstSeen: this.now() };
  }

  /**
   * The nodes held, by id, after forgetting those not heard from for FORGET_AFTER_MS (counted
   * from when this host first held anything of a node never heard alive).
   */
  private live(): [string, NodeReports][] {
    const cutoff = this.now() - FORGET_AFTER_MS;
    for (const [id, n] of this.held) if ((n.heardAt ?? n.firstSeen) < cutoff) this.held.delete(id);
    return [...this.held.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
}

/** A peering's data plane on one host as the data plane shows it (reconcile/dataplane.ts PeeringDataplane). */
export interface DataplaneView {
  readonly state: PeeringDataplaneState;
  readonly flows: number;
  readonly lastAttemptAt: string | null;
  readonly error?: string;
}

/**
 * `hosts` of one peering (SPEC §5): this host's live view first (`at`: its last pass, or `now`
 * when none ran, as in no-op mode; `heardAt`: now), then each other node's last report
 * (`unknown` where that report does not list the peering; `unknown` and `stale`, with the last
 * state reported as `lastState`, where the node has not been heard from for its `staleAfterMs`).
 */
export function peeringHosts(id: string, self: { readonly nodeId: string; readonly view: DataplaneView; readonly now: Date }, reports: readonly HeldReport[]): PeeringHost[] {
  const { view, now } = self;
  const own: PeeringHost = {
    nodeId: self.nodeId,
    state: view.state,
    flows: view.flows,
    at: view.lastAttemptAt ?? now.toISOString(),
    heardAt: now.toISOString(),
    ...(view.error === undefined ? {} : { error: view.error }),
  };
  const others = reports.map((r): PeeringHost => {
    const e = r.peerings.get(id);
    const heardAt = r.heardAt === null ? null : new Date(r.heardAt).toISOString();
    const stale = r.heardAt === null || now.getTime() - r.heardAt > r.staleAfterMs;
    const base = { nodeId: r.nodeId, flows: e?.[2] ?? 0, at: r.at, heardAt, ...(e?.[3] === undefined ? {} : { error: e[3] }) };
    if (stale) return { ...base, state: 'unknown', stale: true, ...(e === undefined ? {} : { lastState: e[1] }) };
    return { ...base, state: e?.[1] ?? 'unknown' };
  });
  return [own, ...others];
}

/** One report entry from a peering's data-plane view (its error text, if any, cut to the reason bound of records.ts). */
export function reportEntry(id: string, dp: DataplaneView): ReportEntry {
  return dp.error === undefined ? [id, dp.state, dp.flows] : [id, dp.state, dp.flows, reasonText(dp.error)];
}
