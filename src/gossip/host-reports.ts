// Every host's data plane, per peering (SPEC §5 `hosts`, §8; docs/GOSSIP.md "Host reports"). Each
// daemon publishes a report of its own data-plane state for every peering it holds; reports
// spread over the mesh like records (a newer report of a node replaces the older one and is
// forwarded on, an older or equal one stops here), but they are observations, not desired state:
// they live in memory only, are never merged into the store, and a restarted daemon learns them
// again from its peers on connect.
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

/** `hosts` frame body: report parts the sender holds (its own, or ones it forwards). */
export interface HostsBody {
  readonly reports: readonly HostReport[];
}

/** Report parts per frame at most (the daemon sends one per frame). */
export const MAX_REPORTS_PER_FRAME = 64;

/** Entries per report part: ~50 bytes each, so a part stays far below a frame (1 MiB). */
export const REPORT_PART_ENTRIES = 8192;

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
  /** When the host made the report (ISO-8601). */
  readonly at: string;
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

/** The `hosts` body check (the gossip decoder's boundary): the body, or undefined when any part has the wrong shape. */
export function parseHostsBody(x: unknown): HostsBody | undefined {
  if (!isObject(x) || !Array.isArray(x.reports) || x.reports.length > MAX_REPORTS_PER_FRAME) return undefined;
  return x.reports.every(reportOk) ? (x as unknown as HostsBody) : undefined;
}

/** Another node's reports: the newest whole one (what is shown), and the parts of a newer one still arriving. */
interface NodeReports {
  full: FullReport | null;
  fullParts: readonly HostReport[];
  pending: { readonly at: number; readonly parts: (HostReport | undefined)[]; got: number } | null;
}

/** The reports one host holds: the newest whole report of each other node, and its own (publish()). */
export class HostReports {
  private readonly held = new Map<string, NodeReports>();
  private own: readonly HostReport[] = [];
  /** The last own state published, without `at`, to publish only what changed. */
  private ownKey: string | null = null;
  private ownAt = 0;

  constructor(
    readonly nodeId: string,
    private readonly now: () => number = Date.now,
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
      const node = this.held.get(r.nodeId) ?? { full: null, fullParts: [], pending: null };
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

  /** Every whole report held, as parts, this host's own first (what a new link is sent). */
  all(): HostReport[] {
    return [...this.own, ...this.nodes().flatMap((n) => n.fullParts)];
  }

  /** Other nodes' newest whole reports, by node id. */
  others(): FullReport[] {
    return this.nodes().flatMap((n) => (n.full ? [n.full] : []));
  }

  private nodes(): NodeReports[] {
    return [...this.held.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, n]) => n);
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
 * when none ran, as in no-op mode), then each other node's last report (`unknown` where that
 * report does not list the peering).
 */
export function peeringHosts(id: string, self: { readonly nodeId: string; readonly view: DataplaneView; readonly now: Date }, reports: readonly FullReport[]): PeeringHost[] {
  const { view } = self;
  const own: PeeringHost = {
    nodeId: self.nodeId,
    state: view.state,
    flows: view.flows,
    at: view.lastAttemptAt ?? self.now.toISOString(),
    ...(view.error === undefined ? {} : { error: view.error }),
  };
  const others = reports.map((r): PeeringHost => {
    const e = r.peerings.get(id);
    if (e === undefined) return { nodeId: r.nodeId, state: 'unknown', flows: 0, at: r.at };
    return { nodeId: r.nodeId, state: e[1], flows: e[2], at: r.at, ...(e[3] === undefined ? {} : { error: e[3] }) };
  });
  return [own, ...others];
}

/** One report entry from a peering's data-plane view (its error text, if any, cut to the reason bound of records.ts). */
export function reportEntry(id: string, dp: DataplaneView): ReportEntry {
  return dp.error === undefined ? [id, dp.state, dp.flows] : [id, dp.state, dp.flows, reasonText(dp.error)];
}
